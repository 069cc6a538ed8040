#include "core/record.hpp"

#include <algorithm>
#include <cstring>

namespace tcptrail::core {

namespace {
constexpr uint8_t kAfInet = 2;
constexpr uint8_t kAfInet6 = 10;

bool is_v4_mapped(const uint8_t* a) {
    static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(a, kPrefix, sizeof(kPrefix)) == 0;
}
}  // namespace

SocketTuple tuple_of(const tt_event& e) {
    SocketTuple t;
    t.lport = e.lport;
    t.rport = e.rport;
    t.netns = e.netns;
    if (e.family == kAfInet6 && is_v4_mapped(e.raddr) &&
        (is_v4_mapped(e.laddr) || std::all_of(e.laddr, e.laddr + 16, [](uint8_t b) { return b == 0; }))) {
        // A dual-stack socket talking IPv4: report it as what is on the wire.
        t.family = 4;
        std::memcpy(t.laddr.data(), e.laddr + 12, 4);
        std::memcpy(t.raddr.data(), e.raddr + 12, 4);
    } else if (e.family == kAfInet) {
        t.family = 4;
        std::memcpy(t.laddr.data(), e.laddr, 4);
        std::memcpy(t.raddr.data(), e.raddr, 4);
    } else {
        t.family = 6;
        std::memcpy(t.laddr.data(), e.laddr, 16);
        std::memcpy(t.raddr.data(), e.raddr, 16);
    }
    return t;
}

const char* role_name(Role r) {
    switch (r) {
        case Role::Client: return "client";
        case Role::Server: return "server";
        case Role::Unknown: break;
    }
    return "unknown";
}

const char* timeout_kind_name(TimeoutKind k) {
    switch (k) {
        case TimeoutKind::None: return nullptr;
        case TimeoutKind::Handshake: return "handshake";
        case TimeoutKind::Retransmissions: return "retransmissions";
        case TimeoutKind::Keepalive: return "keepalive";
    }
    return nullptr;
}

const char* closed_by_name(ClosedBy c) {
    switch (c) {
        case ClosedBy::Open: return nullptr;
        case ClosedBy::Local: return "local";
        case ClosedBy::Remote: return "remote";
        case ClosedBy::Both: return "both";
        case ClosedBy::ResetLocal: return "reset_local";
        case ClosedBy::ResetRemote: return "reset_remote";
        case ClosedBy::Refused: return "refused";
        case ClosedBy::Timeout: return "timeout";
        case ClosedBy::Unknown: break;
    }
    return "unknown";
}

const char* loss_reason_name(LossReason r) {
    switch (r) {
        case LossReason::RingbufFull: return "ringbuf_full";
        case LossReason::Recursion: return "recursion";
        case LossReason::Evicted: return "evicted";
        case LossReason::UnreadAtExit: return "unread_at_exit";
        case LossReason::InTransit: return "in_transit";
        case LossReason::StateGap: return "state_gap";
    }
    return "unknown";
}

}  // namespace tcptrail::core
