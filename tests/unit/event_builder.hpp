// Builds synthetic kernel event sequences for unit tests.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "core/record.hpp"
#include "tcptrail/events.h"

namespace tcptrail::testing {

constexpr uint64_t kMs = 1'000'000;

// One socket as the kernel would describe it; each call appends an event at time t_ms.
class SocketScript {
public:
    SocketScript(uint64_t cookie, uint16_t lport, uint16_t rport, uint32_t netns = 4026531840u)
        : cookie_(cookie), lport_(lport), rport_(rport), netns_(netns) {}

    tt_event base(uint8_t type, double t_ms) const {
        tt_event e{};
        e.ts_ns = static_cast<uint64_t>(t_ms * kMs) + 1'000'000'000ULL;
        e.cookie = cookie_;
        e.cgroup_id = 77;
        e.netns = netns_;
        e.type = type;
        e.family = 2;
        e.lport = lport_;
        e.rport = rport_;
        const uint8_t l[4] = {10, 0, 0, 1}, r[4] = {10, 0, 0, 2};
        std::memcpy(e.laddr, l, 4);
        std::memcpy(e.raddr, r, 4);
        e.pid = softirq_pid;
        std::strncpy(e.comm, "swapper/1", sizeof(e.comm));
        e.bytes_acked = bytes_acked;
        e.bytes_received = bytes_received;
        e.total_retrans = total_retrans;
        e.srtt_us8 = srtt_us8;
        e.sk_bits = sk_bits;
        return e;
    }
    tt_event state(uint8_t from, uint8_t to, double t_ms) const {
        tt_event e = base(TT_EV_STATE, t_ms);
        e.old_state = from;
        e.new_state = to;
        return e;
    }
    // The same event, as run in a process's context.
    static tt_event in_task(tt_event e, uint32_t pid, const char* comm) {
        e.pid = pid;
        std::memset(e.comm, 0, sizeof(e.comm));
        std::strncpy(e.comm, comm, sizeof(e.comm) - 1);
        return e;
    }
    tt_event simple(uint8_t type, uint8_t sk_state, double t_ms) const {
        tt_event e = base(type, t_ms);
        e.new_state = sk_state;
        return e;
    }

    // Counters carried by the following events.
    uint64_t bytes_acked = 0;
    uint64_t bytes_received = 0;
    uint32_t total_retrans = 0;
    uint32_t srtt_us8 = 0;
    uint8_t sk_bits = 0;
    uint32_t softirq_pid = 0;

private:
    uint64_t cookie_;
    uint16_t lport_, rport_;
    uint32_t netns_;
};

// Collects what the tracker outputs.
class CollectingOutput : public core::Output {
public:
    void on_conn(const core::ConnRecord& r) override { conns.push_back(r); }
    void on_event(const core::EventRecord& e) override { events.push_back({*e.ev, e.conn_id}); }
    void on_lost(uint64_t count, core::LossReason reason) override { losses.push_back({count, reason}); }
    void on_close_wait(const core::ConnRecord& r, uint64_t age_us) override { close_waits.push_back({r.id, age_us}); }
    void on_open(const core::ConnRecord& r) override { opens.push_back(r); }

    struct Event {
        tt_event ev;
        uint64_t conn_id;
    };
    std::vector<core::ConnRecord> conns;
    std::vector<core::ConnRecord> opens;  // on_open: the record at ESTABLISHED
    std::vector<Event> events;
    std::vector<std::pair<uint64_t, core::LossReason>> losses;
    std::vector<std::pair<uint64_t, uint64_t>> close_waits;  // (id, age_us)
};


}  // namespace tcptrail::testing
