// Writes a synthetic capture for replay benchmarks: realistic loopback
// connection lifecycles (client and server sockets, 11 kernel events per
// connection), interleaved, with the live loop's 100 ms ADVANCE ticks.
//
//   make_capture OUT.tt --events N           closing connections, ~N events
//   make_capture OUT.tt --open N             N connections left open (memory bench)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "capture/capture_writer.hpp"

namespace {

using tcptrail::capture::CaptureHeader;
using tcptrail::capture::CaptureWriter;

struct Gen {
    CaptureWriter& w;
    uint64_t now = 1'000'000'000;
    uint64_t next_tick = 0;
    uint64_t events = 0;

    tt_event base(uint64_t cookie, uint8_t type, uint16_t lport, uint16_t rport, uint32_t pid) {
        tt_event e{};
        e.ts_ns = now;
        e.cookie = cookie;
        e.cgroup_id = 1;
        e.netns = 4026531840u;
        e.pid = pid;
        std::strncpy(e.comm, pid ? "bench" : "swapper/0", sizeof(e.comm) - 1);
        e.type = type;
        e.family = 2;
        e.lport = lport;
        e.rport = rport;
        const uint8_t lo[4] = {127, 0, 0, 1};
        std::memcpy(e.laddr, lo, 4);
        std::memcpy(e.raddr, lo, 4);
        return e;
    }
    void emit(const tt_event& e) {
        w.event(e);
        ++events;
        now += 2'000;  // 2 us apart: ~500k events/s of event time
        if (now >= next_tick) {
            w.advance(now);
            next_tick = now + 100'000'000;
        }
    }
    void state(uint64_t cookie, uint16_t lport, uint16_t rport, uint8_t from, uint8_t to, uint32_t pid = 0) {
        tt_event e = base(cookie, TT_EV_STATE, lport, rport, pid);
        e.old_state = from;
        e.new_state = to;
        e.bytes_acked = to == TT_CLOSE ? 1001 : 1;
        e.bytes_received = to == TT_CLOSE ? 2000 : 0;
        e.srtt_us8 = 8 * 30;
        e.sk_bits = to == TT_CLOSE ? (TT_SK_ALL_ACKED | TT_SK_PEER_FIN) : 0;
        emit(e);
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4 || (std::strcmp(argv[2], "--events") != 0 && std::strcmp(argv[2], "--open") != 0)) {
        std::fprintf(stderr, "usage: make_capture OUT.tt --events N | --open N\n");
        return 2;
    }
    const bool open_only = std::strcmp(argv[2], "--open") == 0;
    const uint64_t n = std::strtoull(argv[3], nullptr, 10);
    CaptureHeader h;
    h.host = "synthetic";
    h.kernel_release = "synthetic";
    h.tcptrail_version = "bench";
    try {
        CaptureWriter w(argv[1], h, 4 << 20);
        Gen g{w};
        tt_event listen = g.base(1, TT_EV_STATE, 8080, 0, 100);
        listen.old_state = TT_CLOSE;
        listen.new_state = TT_LISTEN;
        g.emit(listen);
        uint64_t cookie = 1000;
        for (uint64_t conn = 0;; ++conn) {
            if (open_only ? conn >= n : g.events >= n) break;
            const uint64_t c = ++cookie, s = ++cookie;
            const auto port = static_cast<uint16_t>(10000 + conn % 50000);
            g.state(c, 0, 8080, TT_CLOSE, TT_SYN_SENT, 200);
            g.state(c, port, 8080, TT_SYN_SENT, TT_ESTABLISHED);
            g.state(s, 8080, port, TT_LISTEN, TT_SYN_RECV);
            g.state(s, 8080, port, TT_SYN_RECV, TT_ESTABLISHED);
            if (open_only) continue;
            g.emit(g.base(s, TT_EV_ACCEPT, 8080, port, 100));
            g.state(c, port, 8080, TT_ESTABLISHED, TT_FIN_WAIT1, 200);
            g.state(s, 8080, port, TT_ESTABLISHED, TT_CLOSE_WAIT);
            g.state(c, port, 8080, TT_FIN_WAIT1, TT_FIN_WAIT2);
            g.state(s, 8080, port, TT_CLOSE_WAIT, TT_LAST_ACK, 100);
            g.state(s, 8080, port, TT_LAST_ACK, TT_CLOSE);
            g.state(c, port, 8080, TT_FIN_WAIT2, TT_CLOSE);
        }
        w.finish(g.now);
        if (w.failed()) {
            std::fprintf(stderr, "make_capture: %s\n", w.error().c_str());
            return 1;
        }
        std::printf("events=%llu file_bytes=%llu\n", static_cast<unsigned long long>(g.events),
                    static_cast<unsigned long long>(w.bytes_written()));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make_capture: %s\n", e.what());
        return 1;
    }
    return 0;
}
