#include "sinks/format.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace tcptrail::sinks {

std::string addr_string(uint8_t family, const uint8_t* addr) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, sizeof(buf))) return "?";
    return buf;
}

void append_addr(fmt::memory_buffer& out, uint8_t family, const uint8_t* addr) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, sizeof(buf))) {
        out.push_back('?');
        return;
    }
    out.append(buf, buf + strnlen(buf, sizeof(buf)));
}

std::string endpoint_string(const core::SocketTuple& t, bool local) {
    std::string a = local ? laddr_string(t) : raddr_string(t);
    uint16_t port = local ? t.lport : t.rport;
    return t.family == 6 ? fmt::format("[{}]:{}", a, port) : fmt::format("{}:{}", a, port);
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
                    fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(ch));
                } else {
                    out.push_back(static_cast<char>(ch));
                }
        }
    }
    out.push_back('"');
}

}  // namespace tcptrail::sinks
