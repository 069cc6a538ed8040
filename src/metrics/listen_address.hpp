// --metrics ADDR:PORT: ":9464" (every IPv4 address), "127.0.0.1:9464",
// "[::1]:9464", "[::]:9464" (IPv6, and IPv4 too unless the host sets bindv6only).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tcptrail::metrics {

struct ListenAddress {
    std::string host;  // an IP literal, without brackets
    uint16_t port = 0;
    std::string display() const;  // "127.0.0.1:9464", "[::1]:9464"
};

// nullopt and a reason in `error` for anything else (host names included).
std::optional<ListenAddress> parse_listen_address(std::string_view s, std::string& error);

}  // namespace tcptrail::metrics
