#include "sinks/format.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace tcptrail::sinks {

std::string addr_string(uint8_t family, const uint8_t* addr) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, sizeof(buf))) return "?";
    return buf;
}

char* write_addr(char* p, uint8_t family, const uint8_t* addr) {
    if (family == 4) {  // the common case, without inet_ntop's sprintf
        for (int i = 0; i < 4; ++i) {
            unsigned v = addr[i];
            if (i) *p++ = '.';
            if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
            if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
            *p++ = static_cast<char>('0' + v % 10);
        }
        return p;
    }
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, sizeof(buf))) {
        *p = '?';
        return p + 1;
    }
    const size_t n = strnlen(buf, sizeof(buf));
    std::memcpy(p, buf, n);
    return p + n;
}

void append_addr(fmt::memory_buffer& out, uint8_t family, const uint8_t* addr) {
    const size_t at = out.size();
    out.resize(at + kMaxAddrText);
    out.resize(static_cast<size_t>(write_addr(out.data() + at, family, addr) - out.data()));
}

char* write_endpoint(char* p, const core::SocketTuple& t, bool local) {
    if (t.family == 6) *p++ = '[';
    p = write_addr(p, t.family, local ? t.laddr.data() : t.raddr.data());
    if (t.family == 6) *p++ = ']';
    *p++ = ':';
    const fmt::format_int port(local ? t.lport : t.rport);
    return std::copy_n(port.data(), port.size(), p);
}

void append_endpoint(fmt::memory_buffer& out, const core::SocketTuple& t, bool local) {
    const size_t at = out.size();
    out.resize(at + kMaxEndpointText);
    out.resize(static_cast<size_t>(write_endpoint(out.data() + at, t, local) - out.data()));
}

std::string endpoint_string(const core::SocketTuple& t, bool local) {
    fmt::memory_buffer b;
    append_endpoint(b, t, local);
    return fmt::to_string(b);
}

char* write_json_string(char* p, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    *p++ = '"';
    for (unsigned char ch : s) {
        switch (ch) {
            case '"': p = std::copy_n("\\\"", 2, p); break;
            case '\\': p = std::copy_n("\\\\", 2, p); break;
            case '\n': p = std::copy_n("\\n", 2, p); break;
            case '\t': p = std::copy_n("\\t", 2, p); break;
            default:
                if (ch < 0x20 || ch >= 0x7f) {
                    p = std::copy_n("\\u00", 4, p);
                    *p++ = kHex[ch >> 4];
                    *p++ = kHex[ch & 15];
                } else {
                    *p++ = static_cast<char>(ch);
                }
        }
    }
    *p++ = '"';
    return p;
}

void append_json_string(fmt::memory_buffer& out, std::string_view s) {
    const size_t at = out.size();
    out.resize(at + json_string_bound(s.size()));
    out.resize(static_cast<size_t>(write_json_string(out.data() + at, s) - out.data()));
}

std::string listen_queue_warning(uint32_t netns, const core::NetstatCounters& c) {
    std::vector<std::string> parts;
    if (c[TT_NS_LISTEN_OVERFLOWS]) {
        parts.push_back(
            fmt::format("listen queue overflowed {} times in netns {}: the accept queue of a listener "
                        "was full (accept() too slow, or backlog too small)",
                        c[TT_NS_LISTEN_OVERFLOWS], netns));
    }
    if (c[TT_NS_LISTEN_DROPS])
        parts.push_back(fmt::format("listeners dropped {} SYNs or handshake ACKs", c[TT_NS_LISTEN_DROPS]));
    if (c[TT_NS_SYNCOOKIES_SENT] || c[TT_NS_SYNCOOKIES_RECV] || c[TT_NS_SYNCOOKIES_FAILED]) {
        parts.push_back(fmt::format("SYN cookies sent {} (SYN queue full, or tcp_syncookies=2), received {}, failed {}",
                                    c[TT_NS_SYNCOOKIES_SENT], c[TT_NS_SYNCOOKIES_RECV], c[TT_NS_SYNCOOKIES_FAILED]));
    }
    if (parts.empty()) return fmt::format("nothing moved in netns {}", netns);
    if (!c[TT_NS_LISTEN_OVERFLOWS]) parts.front() += fmt::format(" in netns {}", netns);
    return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace tcptrail::sinks
