// Connection reconstruction: turns the kernel's event stream into per-socket
// timelines and their derived figures. Pure (no I/O, no clock): live tracing and
// replay feed it the same inputs and get the same outputs.
//
// Its input is an EventStream; finish() flushes every pending record and
// reports still-open sockets.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/event_stream.hpp"
#include "core/record.hpp"
#include "tcptrail/events.h"

namespace tcptrail::core {

// Filters that need the reconstructed connection (the rest run in the kernel).
struct RecordFilter {
    std::optional<uint32_t> pid;
    std::string comm;  // empty: any
    std::optional<uint64_t> min_handshake_us;

    bool passes(const ConnRecord& r) const;
};

struct TrackerOptions {
    RecordFilter filter;
    bool emit_events = false;
    // A closed socket's record waits this long (in event time) for stragglers:
    // the RST of an aborting socket is traced after its CLOSE.
    uint64_t close_grace_ns = 50'000'000;
    // Forget SYN-ACK retransmit notes whose child never appeared.
    uint64_t synack_note_ttl_ns = 300'000'000'000ULL;
    // Cap on tracked sockets; beyond it the least recently active one is evicted
    // (reported as lost, reason "evicted").
    size_t max_conns = 1'000'000;
    // Warn once about a socket still in CLOSE_WAIT this long after the peer's FIN (0: never).
    uint64_t close_wait_warn_ns = 0;
};

struct TrackerStats {
    uint64_t events = 0;
    uint64_t records = 0;
    uint64_t filtered = 0;
    uint64_t evicted = 0;
};

class Tracker : public EventStream {
public:
    Tracker(Output& out, TrackerOptions opts);

    void on_event(const tt_event& e) override;
    void on_lost(uint64_t count, LossReason reason) override;
    void advance(uint64_t now_ns) override;
    void finish(uint64_t now_ns) override;

    size_t open_connections() const { return conns_.size(); }
    // Tracked sockets not yet closed, by their current TCP state (index = state
    // number). O(tracked sockets): meant for periodic reports, not per event.
    using StateCounts = std::array<uint64_t, 16>;
    StateCounts open_by_state() const;
    const TrackerStats& stats() const { return stats_; }

private:
    struct Conn {
        ConnRecord rec;
        uint8_t state = 0;
        uint64_t syn_recv_ns = 0;
        uint64_t established_ns = 0;
        uint32_t srtt8_at_established = 0;
        uint32_t retrans_base = 0;  // kernel total_retrans when data transfer began
        bool have_retrans_base = false;
        uint32_t total_retrans = 0;
        uint64_t bytes_acked = 0;     // raw kernel counters, latest snapshot
        uint64_t bytes_received = 0;
        uint8_t sk_bits = 0;          // enum tt_sock_bits of that snapshot
        bool fin_sent = false;
        bool saw_fin_wait1 = false, saw_close_wait = false, saw_closing = false;
        bool reset_received = false;
        bool closed = false;
        uint8_t state_before_close = 0;
        uint8_t err_at_close = 0;
        uint8_t probes_out_at_close = 0;  // keepalive / zero-window probes unanswered
        bool peer_fin_at_close = false;
        std::optional<uint64_t> first_synack_us;
        uint64_t last_event_ns = 0;
        bool in_final_snapshot = false;
        bool end_unobserved = false;  // gone from the kernel, its CLOSE event lost
        uint64_t cookie = 0;
        Conn* lru_prev = nullptr;  // least-recently-active order, for eviction
        Conn* lru_next = nullptr;
    };
    struct Owner {
        uint32_t pid = 0;
        std::string comm;
        bool known = false;  // listeners found at start may have no known owner
    };
    struct TupleHash {
        size_t operator()(const SocketTuple& t) const;
    };
    struct NetstatSample {
        uint64_t ts_ns;
        NetstatCounters values;
    };
    struct SynackNote {
        uint64_t first_synack_us;
        uint64_t seen_ns;
    };

    void on_state(const tt_event& e);
    void on_retransmit(const tt_event& e);
    void on_synack_retransmit(const tt_event& e);
    void on_reset(const tt_event& e, bool sent);
    void on_accept(const tt_event& e);
    void on_existing(const tt_event& e);
    void on_netstat(const tt_event& e);
    bool adopt_early_child(const tt_event& e);
    void reconcile_with_final_snapshot(const tt_event& end);

    Conn* find(uint64_t cookie);
    Conn& create(const tt_event& e, Role role, bool partial);
    void take_counters(Conn& c, const tt_event& e);
    void set_owner(Conn& c, const tt_event& e);
    static uint64_t listener_key(uint32_t netns, uint16_t lport);

    void lru_touch(Conn& c);
    void lru_unlink(Conn& c);
    void erase(Conn& c);
    void evict_over_cap();
    void report_evictions();

    void release_closed(uint64_t watermark_ns);
    void warn_close_wait(uint64_t now_ns);
    void finalize(Conn& c, bool still_open);
    void emit_event(const tt_event& e, uint64_t conn_id);

    Output& out_;
    TrackerOptions opts_;
    TrackerStats stats_;
    uint64_t next_id_ = 1;
    std::unordered_map<uint64_t, Conn> conns_;             // by socket cookie
    std::unordered_map<uint64_t, Owner> listeners_;        // by listener_key()
    std::unordered_map<uint64_t, uint64_t> listener_cookies_;  // cookie -> listener_key
    std::unordered_map<SocketTuple, SynackNote, TupleHash> synack_notes_;
    std::unordered_map<uint32_t, NetstatSample> netstat_last_;  // by netns
    std::deque<uint64_t> closed_queue_;  // cookies of closed sockets, in close order
    uint64_t last_note_sweep_ns_ = 0;
    static constexpr size_t kMaxEarlyChildren = 4096;
    std::deque<tt_event> early_children_;  // LISTEN -> SYN_RECV seen before the child had its cookie
    std::deque<std::pair<uint64_t, uint64_t>> close_wait_watch_;  // (cookie, entered CLOSE_WAIT)
    Conn* lru_oldest_ = nullptr;
    Conn* lru_newest_ = nullptr;
    uint64_t unreported_evictions_ = 0;
};

}  // namespace tcptrail::core
