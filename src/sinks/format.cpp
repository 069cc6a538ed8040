#include "sinks/format.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <vector>

namespace tcptrail::sinks {

std::string addr_string(uint8_t family, const uint8_t* addr) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, sizeof(buf))) return "?";
    return buf;
}

void append_addr(fmt::memory_buffer& out, uint8_t family, const uint8_t* addr) {
    if (family == 4) {  // the common case, without inet_ntop's sprintf
        char buf[16];
        size_t n = 0;
        for (int i = 0; i < 4; ++i) {
            unsigned v = addr[i];
            if (i) buf[n++] = '.';
            if (v >= 100) buf[n++] = static_cast<char>('0' + v / 100);
            if (v >= 10) buf[n++] = static_cast<char>('0' + v / 10 % 10);
            buf[n++] = static_cast<char>('0' + v % 10);
        }
        out.append(buf, buf + n);
        return;
    }
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, sizeof(buf))) {
        out.push_back('?');
        return;
    }
    out.append(buf, buf + strnlen(buf, sizeof(buf)));
}

void append_endpoint(fmt::memory_buffer& out, const core::SocketTuple& t, bool local) {
    if (t.family == 6) out.push_back('[');
    append_addr(out, t.family, local ? t.laddr.data() : t.raddr.data());
    if (t.family == 6) out.push_back(']');
    out.push_back(':');
    fmt::format_to(fmt::appender(out), "{}", local ? t.lport : t.rport);
}

std::string endpoint_string(const core::SocketTuple& t, bool local) {
    fmt::memory_buffer b;
    append_endpoint(b, t, local);
    return fmt::to_string(b);
}

void append_json_string(fmt::memory_buffer& out, std::string_view s) {
    out.push_back('"');
    for (unsigned char ch : s) {
        switch (ch) {
            case '"': out.append(std::string_view("\\\"")); break;
            case '\\': out.append(std::string_view("\\\\")); break;
            case '\n': out.append(std::string_view("\\n")); break;
            case '\t': out.append(std::string_view("\\t")); break;
            default:
                if (ch < 0x20 || ch >= 0x7f) {
                    fmt::format_to(fmt::appender(out), "\\u{:04x}", static_cast<unsigned>(ch));
                } else {
                    out.push_back(static_cast<char>(ch));
                }
        }
    }
    out.push_back('"');
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
