#include "metrics/listen_address.hpp"

#include <arpa/inet.h>

#include <charconv>

#include <fmt/format.h>

namespace tcptrail::metrics {

std::string ListenAddress::display() const {
    return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

std::optional<ListenAddress> parse_listen_address(std::string_view s, std::string& error) {
    const size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) {
        error = fmt::format("'{}': expected ADDR:PORT, e.g. :9464 or 127.0.0.1:9464", s);
        return std::nullopt;
    }
    std::string_view host = s.substr(0, colon), port = s.substr(colon + 1);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
        error = fmt::format("'{}': port must be a number from 1 to 65535", s);
        return std::nullopt;
    }
    ListenAddress a;
    a.port = static_cast<uint16_t>(value);
    unsigned char buf[16];
    if (host.empty()) {
        a.host = "0.0.0.0";
    } else if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        a.host = std::string(host.substr(1, host.size() - 2));
        if (inet_pton(AF_INET6, a.host.c_str(), buf) != 1) {
            error = fmt::format("'{}': not an IPv6 address", s);
            return std::nullopt;
        }
    } else {
        a.host = std::string(host);
        if (inet_pton(AF_INET, a.host.c_str(), buf) != 1) {
            error = fmt::format("'{}': not an IP address (IPv6 goes in brackets: [::1]:9464)", s);
            return std::nullopt;
        }
    }
    return a;
}

}  // namespace tcptrail::metrics
