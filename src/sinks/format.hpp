// Small formatting helpers shared by the text sinks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "core/record.hpp"

namespace tcptrail::sinks {

std::string addr_string(uint8_t family, const uint8_t* addr);  // family 4 or 6
void append_addr(fmt::memory_buffer& out, uint8_t family, const uint8_t* addr);
// The same written at p (room for kMaxAddrText bytes); returns the end.
constexpr size_t kMaxAddrText = 45;
char* write_addr(char* p, uint8_t family, const uint8_t* addr);
inline std::string laddr_string(const core::SocketTuple& t) { return addr_string(t.family, t.laddr.data()); }
inline std::string raddr_string(const core::SocketTuple& t) { return addr_string(t.family, t.raddr.data()); }
// "10.0.0.1:80" or "[fd00::1]:80"
std::string endpoint_string(const core::SocketTuple& t, bool local);
void append_endpoint(fmt::memory_buffer& out, const core::SocketTuple& t, bool local);
// "addr:port", or "[addr]:port" for IPv6, written at p (room for
// kMaxEndpointText bytes); returns the end.
constexpr size_t kMaxEndpointText = 1 + kMaxAddrText + 2 + 5;
char* write_endpoint(char* p, const core::SocketTuple& t, bool local);

// Appends s as a JSON string literal (quotes included). Bytes outside printable
// ASCII are escaped as \u00XX so any comm or path stays valid JSON.
void append_json_string(fmt::memory_buffer& out, std::string_view s);
// The same written at p (room for json_string_bound(s.size()) bytes); returns the end.
char* write_json_string(char* p, std::string_view s);
// The most bytes an n-byte string takes as a JSON string: \u00XX each, and the quotes.
constexpr size_t json_string_bound(size_t n) { return 6 * n + 2; }

// What moved counters of a namespace mean, as one sentence for a WARNING line,
// e.g. "listen queue overflowed 3 times in netns 4026532712: ...". Call only when
// a counter moved.
std::string listen_queue_warning(uint32_t netns, const core::NetstatCounters& moved);

}  // namespace tcptrail::sinks
