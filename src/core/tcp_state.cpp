#include "core/tcp_state.hpp"

#include <array>
#include <cerrno>

#include "tcptrail/events.h"

namespace tcptrail::core {

namespace {
constexpr std::array<std::string_view, 13> kStateNames = {
    "UNKNOWN",   "ESTABLISHED", "SYN_SENT",   "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT",
    "CLOSE",     "CLOSE_WAIT",  "LAST_ACK",   "LISTEN",   "CLOSING",   "NEW_SYN_RECV",
};
}  // namespace

bool is_valid_state(uint8_t state) { return state >= TT_ESTABLISHED && state <= TT_NEW_SYN_RECV; }

bool is_fin_state(uint8_t state) { return state == TT_FIN_WAIT1 || state == TT_CLOSING || state == TT_LAST_ACK; }

std::string_view state_name(uint8_t state) {
    return is_valid_state(state) ? kStateNames[state] : kStateNames[0];
}

std::optional<uint8_t> state_from_name(std::string_view name) {
    for (uint8_t s = TT_ESTABLISHED; s <= TT_NEW_SYN_RECV; ++s) {
        if (kStateNames[s] == name) return s;
    }
    return std::nullopt;
}

std::string_view errno_name(int err) {
    switch (err) {
        case ECONNREFUSED: return "ECONNREFUSED";
        case ECONNRESET: return "ECONNRESET";
        case ETIMEDOUT: return "ETIMEDOUT";
        case EPIPE: return "EPIPE";
        case EHOSTUNREACH: return "EHOSTUNREACH";
        case ENETUNREACH: return "ENETUNREACH";
        case ECONNABORTED: return "ECONNABORTED";
        case EPROTO: return "EPROTO";
        case EMSGSIZE: return "EMSGSIZE";
        case ENOBUFS: return "ENOBUFS";
        case EPERM: return "EPERM";
        case EACCES: return "EACCES";
        case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
        case ENETDOWN: return "ENETDOWN";
        case EHOSTDOWN: return "EHOSTDOWN";
        case ENOPROTOOPT: return "ENOPROTOOPT";
        default: return {};
    }
}

}  // namespace tcptrail::core
