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
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/event_stream.hpp"
#include "core/interner.hpp"
#include "core/record.hpp"
#include "core/socket_table.hpp"
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
    // the RST of an aborting socket is traced after its CLOSE, microseconds
    // later. Short, so that the sockets waiting stay in the CPU's caches (at
    // 40,000 connections/s, 50 ms held ~4,000 of them).
    uint64_t close_grace_ns = 5'000'000;
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
    // Child sockets that lost the race for their request (lost_race_to_sibling()): not reported.
    uint64_t duplicate_children = 0;
    // State changes traced twice by the kernel side (TT_F_RESCUED, made_transition()): dropped.
    uint64_t duplicate_events = 0;
    // State changes that no event reported, at least (note_state_gap()).
    uint64_t state_gaps = 0;
    // Those of them beyond every loss the kernel side counted: reported as lost
    // (reason state_gap). The others may be the counted losses themselves.
    uint64_t unexplained_state_gaps = 0;
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
    // number; states beyond the array are not counted).
    using StateCounts = std::array<uint64_t, 16>;
    const StateCounts& open_by_state() const { return open_by_state_; }
    const TrackerStats& stats() const { return stats_; }

private:
    using Slot = SocketSlot;
    static constexpr Slot kNoSlot = kNoSocketSlot;

    // What few sockets need before they close (more than two states, SYN or
    // SYN-ACK retransmits, resets), allocated on first need to keep Conn small.
    struct ConnExtra {
        std::vector<StateStamp> later_states;  // after the two held in Conn
        std::optional<uint64_t> first_synack_us;
        uint32_t syn_retrans = 0;
        uint32_t synack_retrans = 0;
        uint32_t fin_retrans = 0;
        uint32_t resets_sent = 0;
        uint32_t resets_received = 0;
        // Set when the socket closes.
        uint64_t end_ns = 0;
        uint8_t state_before_close = 0;
        uint8_t err_at_close = 0;
        uint8_t probes_out_at_close = 0;  // keepalive / zero-window probes unanswered

        // As new, but later_states keeps its buffer (spare ConnExtras are reused).
        void reset() {
            std::vector<StateStamp> states = std::move(later_states);
            *this = ConnExtra{};
            states.clear();
            later_states = std::move(states);
        }
    };
    // A tracked socket: only what reconstruction needs, compactly (issue #4: at
    // most 200 bytes per open socket, table included). Its ConnRecord is built
    // when it is handed to the Output (record_of()).
    struct Conn {
        // First the fields most events and the release of closed sockets touch.
        uint64_t cookie = 0;
        uint64_t id = 0;
        Slot slot = kNoSlot;      // its own, for the LRU links
        Slot lru_prev = kNoSlot;  // least-recently-active order, for eviction
        Slot lru_next = kNoSlot;
        uint8_t state = 0;
        Role role = Role::Unknown;
        bool partial : 1 = false;
        bool pid_known : 1 = false;
        bool have_retrans_base : 1 = false;
        bool has_handshake : 1 = false;
        bool has_accept_wait : 1 = false;
        bool fin_sent : 1 = false;
        bool saw_fin_wait1 : 1 = false;
        bool saw_close_wait : 1 = false;
        bool saw_closing : 1 = false;
        bool reset_received : 1 = false;
        bool closed : 1 = false;
        bool time_wait : 1 = false;
        bool in_final_snapshot : 1 = false;
        bool end_unobserved : 1 = false;        // gone from the kernel, its CLOSE event lost
        std::array<uint8_t, 2> first_states{};  // the first two states; later ones in extra
        uint8_t first_state_count = 0;
        uint8_t sk_bits = 0;  // enum tt_sock_bits of the latest counter snapshot
        uint32_t local = 0;   // family, local address and netns: index into local_addrs_
        uint16_t lport = 0;
        uint16_t rport = 0;
        uint32_t pid = 0;   // if pid_known
        uint32_t comm = 0;  // index into comms_, if pid_known
        uint32_t srtt_us = 0;
        uint32_t total_retrans = 0;
        uint32_t retrans_base = 0;  // kernel total_retrans when data transfer began
        uint64_t cgroup_id = 0;
        uint64_t start_ns = 0;  // also the first state's time: a socket is created by the event giving its first state
        uint64_t second_state_ns = 0;
        uint64_t last_event_ns = 0;
        uint64_t syn_recv_ns = 0;
        uint64_t established_ns = 0;
        uint64_t bytes_acked = 0;  // raw kernel counters, latest snapshot
        uint64_t bytes_received = 0;
        uint64_t handshake_us = 0;    // if has_handshake
        uint64_t accept_wait_us = 0;  // if has_accept_wait
        std::array<uint8_t, 16> raddr{};
        std::unique_ptr<ConnExtra> extra;
    };
    static_assert(sizeof(void*) != 8 || sizeof(Conn) <= 168, "Conn grew: mind the memory per socket (issue #4)");
    struct Owner {
        uint32_t pid = 0;
        uint32_t comm = 0;   // index into comms_
        bool known = false;  // listeners found at start may have no known owner
    };
    struct LocalAddr {
        std::array<uint64_t, 2> addr{};  // the 16 address bytes as words: compared inline, not by memcmp()
        uint32_t netns = 0;
        uint8_t family = 0;
        // Word by word: std::array's == is a memcmp() call, and every socket interns its address.
        bool operator==(const LocalAddr& o) const {
            return addr[0] == o.addr[0] && addr[1] == o.addr[1] && netns == o.netns && family == o.family;
        }
    };
    struct LocalAddrHash {
        size_t operator()(const LocalAddr& a) const;
    };
    struct TupleHash {
        size_t operator()(const SocketTuple& t) const;
    };
    struct NetstatSample {
        uint64_t ts_ns;
        NetstatCounters values;
    };
    struct Closed {
        uint64_t cookie;
        uint64_t id;      // of the socket that closed: the cookie may name a later one by release time
        uint64_t end_ns;  // its end, at hand without a look into its ConnExtra
    };
    struct SynackNote {
        uint64_t first_synack_us;
        uint64_t seen_ns;
    };
    struct RecentChild {
        uint64_t key = 0;  // child_key() of its tuple
        uint64_t cookie = 0;
    };

    void on_state(const tt_event& e);
    void on_retransmit(const tt_event& e);
    void on_synack_retransmit(const tt_event& e);
    void on_reset(const tt_event& e, bool sent);
    void on_accept(const tt_event& e);
    void on_existing(const tt_event& e);
    void on_netstat(const tt_event& e);
    bool adopt_early_child(const tt_event& e);
    bool made_transition(const Conn& c, uint8_t from, uint8_t to) const;
    void note_recent_child(const Conn& c);
    bool lost_race_to_sibling(const Conn& c) const;
    void reconcile_with_final_snapshot(const tt_event& end);

    Conn* find(uint64_t cookie);
    Conn& create(const tt_event& e, Role role, bool partial);
    Conn& create_midlife(const tt_event& e, Role role, uint8_t state);
    void take_counters(Conn& c, const tt_event& e);
    void set_owner(Conn& c, const tt_event& e);
    void set_tuple(Conn& c, const SocketTuple& t);
    SocketTuple tuple_of_conn(const Conn& c) const;
    uint32_t intern_comm(const tt_event& e);
    static uint64_t listener_key(uint32_t netns, uint16_t lport);

    ConnExtra& extra_of(Conn& c);
    void push_state(Conn& c, uint8_t state, uint64_t ts_ns);
    void insert_before_last_state(Conn& c, StateStamp s);
    void mark_closed(Conn& c);
    void count_open(const Conn& c, int delta);

    void lru_touch(Conn& c);
    void lru_unlink(Conn& c);
    void erase(Conn& c);
    void evict_over_cap();
    void report_losses(bool final);
    void note_state_gap(uint64_t missed);

    void release_closed(uint64_t watermark_ns);
    void warn_close_wait(uint64_t now_ns);
    ConnRecord& record_of(const Conn& c);
    void finalize(const Conn& c, bool still_open, uint64_t now_ns = 0);
    void emit_event(const tt_event& e, uint64_t conn_id);

    Output& out_;
    TrackerOptions opts_;
    TrackerStats stats_;
    uint64_t next_id_ = 1;
    SocketTable<Conn> conns_;  // by socket cookie
    StateCounts open_by_state_{};
    // Nearly every socket needs a ConnExtra before it closes: those of released
    // sockets are kept for the next ones instead of two allocations each.
    static constexpr size_t kMaxSpareExtras = 4096;
    std::vector<std::unique_ptr<ConnExtra>> spare_extras_;
    Interner<std::string> comms_;
    Interner<LocalAddr, LocalAddrHash> local_addrs_;
    ConnRecord record_;                                        // reused by record_of(): no allocation per record
    std::unordered_map<uint64_t, Owner> listeners_;            // by listener_key()
    std::unordered_map<uint64_t, uint64_t> listener_cookies_;  // cookie -> listener_key
    std::unordered_map<SocketTuple, SynackNote, TupleHash> synack_notes_;
    std::unordered_map<uint32_t, NetstatSample> netstat_last_;  // by netns
    std::deque<Closed> closed_queue_;                           // in close order
    uint64_t last_note_sweep_ns_ = 0;
    static constexpr size_t kMaxEarlyChildren = 4096;
    std::deque<tt_event> early_children_;  // LISTEN -> SYN_RECV seen before the child had its cookie
    std::deque<std::pair<uint64_t, uint64_t>> close_wait_watch_;  // (cookie, entered CLOSE_WAIT)
    // The latest passive children, oldest overwritten first: where a child that
    // lost the race for its request looks for the sibling that won it.
    static constexpr size_t kRecentChildren = 4096;  // a power of two
    std::vector<RecentChild> recent_children_ = std::vector<RecentChild>(kRecentChildren);
    size_t recent_children_next_ = 0;
    Slot lru_oldest_ = kNoSlot;
    Slot lru_newest_ = kNoSlot;
    uint64_t unreported_evictions_ = 0;
    uint64_t counted_kernel_losses_ = 0;   // ringbuf_full, recursion, unread_at_exit, in_transit
    uint64_t state_gaps_last_round_ = 0;  // stats_.state_gaps at the previous advance()
    // When the start-up dump of existing sockets ended (its SNAPSHOT_END marker,
    // not TT_F_FINAL): a socket accepted before then may predate tracing.
    std::optional<uint64_t> startup_snapshot_end_ns_;
};

}  // namespace tcptrail::core
