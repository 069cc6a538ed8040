// floor: the reference tracer of issue #4 (floor.h), for bench/run_churn.sh to
// run beside tcptrail so that its overhead is read against the least any tracer
// of every state change costs on the same machine, the same day.
//
//   usage: floor [--poll-ms MS]     (root; runs until SIGINT or SIGTERM)
//
// Prints "floor: tracing" on stderr once attached, and at exit the events read
// and the events lost: those the BPF side found no room for, and the hits the
// kernel skipped because the program was already running on that CPU (its
// recursion misses: the reference design has no second copy to rescue them).
// Each kind lost is also a line {"type":"lost","count":N,"reason":"..."} on
// stdout, where run_churn.sh counts tcptrail's.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "floor.h"
#include "floor.skel.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Counts {
    uint64_t events = 0;
    uint64_t last_ts = 0;  // read from each event, so that draining touches it
};

int on_event(void* ctx, void* data, size_t size) {
    auto* c = static_cast<Counts*>(ctx);
    if (size >= sizeof(floor_event)) c->last_ts = static_cast<const floor_event*>(data)->ts_ns;
    ++c->events;
    return 0;
}

uint64_t sum_drops(int map_fd) {
    const int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return 0;
    std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
    uint32_t key = 0;
    if (bpf_map_lookup_elem(map_fd, &key, per_cpu.data()) != 0) return 0;
    uint64_t sum = 0;
    for (uint64_t v : per_cpu) sum += v;
    return sum;
}

}  // namespace

int main(int argc, char** argv) {
    int poll_ms = 100;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--poll-ms" && i + 1 < argc) {
            char* end = nullptr;
            const long v = std::strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 1 || v > 1000) {
                fmt::print(stderr, "floor: --poll-ms takes 1..1000, not '{}'\n", argv[i]);
                return 2;
            }
            poll_ms = static_cast<int>(v);
        } else {
            fmt::print(stderr, "usage: {} [--poll-ms MS]\n", argv[0]);
            return 2;
        }
    }
    (void)std::signal(SIGINT, on_signal);
    (void)std::signal(SIGTERM, on_signal);

    floor_bpf* skel = floor_bpf__open_and_load();
    if (!skel) {
        fmt::print(stderr, "floor: cannot load the BPF program: {}\n", std::strerror(errno));
        return 1;
    }
    if (floor_bpf__attach(skel) != 0) {
        fmt::print(stderr, "floor: cannot attach to sock:inet_sock_set_state: {}\n", std::strerror(errno));
        floor_bpf__destroy(skel);
        return 1;
    }
    Counts counts;
    ring_buffer* rb = ring_buffer__new(bpf_map__fd(skel->maps.floor_events), on_event, &counts, nullptr);
    if (!rb) {
        fmt::print(stderr, "floor: cannot set up the ring buffer: {}\n", std::strerror(errno));
        floor_bpf__destroy(skel);
        return 1;
    }
    fmt::print(stderr, "floor: tracing (1 program attached)\n");

    int exit_code = 0;
    while (!g_stop) {
        usleep(static_cast<useconds_t>(poll_ms) * 1000);  // polling on a timer: the BPF side never wakes us
        if (const int n = ring_buffer__consume(rb); n < 0 && n != -EINTR) {
            fmt::print(stderr, "floor: cannot read the ring buffer: {}\n", std::strerror(-n));
            exit_code = 1;
            break;
        }
    }
    (void)ring_buffer__consume(rb);
    const uint64_t full = sum_drops(bpf_map__fd(skel->maps.floor_drops));
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    const uint64_t skipped = bpf_obj_get_info_by_fd(bpf_program__fd(skel->progs.floor_set_state), &info, &len) == 0
                                 ? info.recursion_misses
                                 : 0;
    if (full) fmt::print("{{\"type\":\"lost\",\"count\":{},\"reason\":\"ringbuf_full\"}}\n", full);
    if (skipped) fmt::print("{{\"type\":\"lost\",\"count\":{},\"reason\":\"recursion\"}}\n", skipped);
    fmt::print(stderr, "floor: {} events read, {} lost (ring buffer full {}, recursion {})\n", counts.events,
               full + skipped, full, skipped);
    ring_buffer__free(rb);
    floor_bpf__destroy(skel);
    return exit_code;
}
