// What the reconstruction produces: one ConnRecord per socket, plus the events
// and loss notices it passes through. Times are CLOCK_MONOTONIC nanoseconds;
// sinks turn them into wall-clock time with a TimeBase.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/netstat.hpp"
#include "tcptrail/events.h"

namespace tcptrail::core {

enum class Role : uint8_t { Unknown, Client, Server };

enum class ClosedBy : uint8_t {
    Open,         // still open: JSON null
    Local,        // this side sent the first FIN
    Remote,       // the peer sent the first FIN
    Both,         // simultaneous close (CLOSING)
    ResetLocal,   // this side aborted with RST
    ResetRemote,  // a RST from the peer ended it
    Refused,      // RST in answer to our SYN
    Timeout,      // handshake never completed, or the kernel gave up (ETIMEDOUT)
    Unknown,      // ended in a way the observed events do not explain
};

// What the kernel gave up on, when closed_by is Timeout.
enum class TimeoutKind : uint8_t { None, Handshake, Retransmissions, Keepalive };

const char* role_name(Role r);
const char* timeout_kind_name(TimeoutKind k);  // nullptr for None
const char* closed_by_name(ClosedBy c);        // nullptr for Open

struct StateStamp {
    uint8_t state;
    uint64_t ts_ns;
};

struct SocketTuple {
    uint8_t family = 0;  // 4 or 6
    std::array<uint8_t, 16> laddr{};
    std::array<uint8_t, 16> raddr{};
    uint16_t lport = 0;
    uint16_t rport = 0;
    uint32_t netns = 0;

    bool operator==(const SocketTuple&) const = default;
};

// Canonical tuple of an event: IPv4-mapped IPv6 sockets are reported as IPv4.
SocketTuple tuple_of(const tt_event& e);

// Tracker::record_of() assigns every field: a new one must be added there too.
struct ConnRecord {
    uint64_t id = 0;
    SocketTuple tuple;
    uint64_t cgroup_id = 0;
    Role role = Role::Unknown;
    std::optional<uint32_t> pid;
    std::string comm;  // empty when pid is unknown
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;       // 0 while open
    uint64_t duration_us = 0;  // to the end, or to the end of tracing while open
    std::vector<StateStamp> states;
    std::optional<uint64_t> handshake_us;
    std::optional<uint64_t> accept_wait_us;
    uint32_t syn_retrans = 0;
    uint32_t synack_retrans = 0;
    uint32_t retrans = 0;
    uint32_t fin_retrans = 0;
    uint32_t resets_sent = 0;
    uint32_t resets_received = 0;
    ClosedBy closed_by = ClosedBy::Open;
    int error = 0;  // errno, 0 = none
    TimeoutKind timeout = TimeoutKind::None;
    bool time_wait = false;
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
    uint32_t srtt_us = 0;
    bool partial = false;
    bool open = false;
};

// A kernel event as passed to sinks in --events mode, with the connection it belongs to.
struct EventRecord {
    const tt_event* ev;
    uint64_t conn_id;  // 0 when it belongs to no tracked connection
};

// How a network namespace's listen-queue / SYN-cookie counters changed since its
// previous sample. The first sample of a namespace has interval_ns 0 and moved
// all zero: counting starts there.
struct NetstatDelta {
    uint64_t ts_ns = 0;
    uint32_t netns = 0;
    uint64_t interval_ns = 0;
    NetstatCounters moved{};

    bool any() const {
        for (uint64_t v : moved) {
            if (v) return true;
        }
        return false;
    }
};

// UnreadAtExit: in the kernel when tracing stopped, but out of reach (a ring
// record or a CPU's staging batch still being written after the programs were
// detached and their writers given time to finish).
// InTransit: put in the ring buffer by the programs, by their own count, and
// never read (found at exit; a defect if it ever shows).
// StateGap: state changes no event reported, seen by the gap they left (the
// tracker's count, at least one per gap: Tracker::note_state_gap).
enum class LossReason : uint8_t { RingbufFull, Recursion, Evicted, UnreadAtExit, InTransit, StateGap };
const char* loss_reason_name(LossReason r);

// Where reconstruction results go. Implemented by the sinks (src/sinks).
class Output {
public:
    virtual ~Output() = default;
    virtual void on_conn(const ConnRecord& rec) = 0;
    virtual void on_event(const EventRecord& ev) = 0;
    virtual void on_lost(uint64_t count, LossReason reason) = 0;
    // A connection whose handshake was traced reached ESTABLISHED (once per
    // connection; never for sockets found at start, which are `partial`).
    // `rec` is the record so far: role, tuple, owner, handshake_us.
    virtual void on_open(const ConnRecord& rec) { (void)rec; }
    // A socket the peer closed has sat in CLOSE_WAIT (this side never closed it)
    // for `age_us`: likely a leak. `rec` is the connection so far.
    virtual void on_close_wait(const ConnRecord& rec, uint64_t age_us) {
        (void)rec;
        (void)age_us;
    }
    // A sample of a namespace's kernel counters (every one, moved or not).
    virtual void on_netstat(const NetstatDelta& d) { (void)d; }
};

}  // namespace tcptrail::core
