// The kernel's listen-queue and SYN-cookie counters of a network namespace
// (TcpExt in /proc/net/netstat), and how a sample of them travels as a
// TT_EV_NETSTAT event: through the same EventStream as kernel events, so a
// capture replays them like the live run saw them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tcptrail/events.h"

namespace tcptrail::core {

using NetstatCounters = std::array<uint64_t, TT_NETSTAT_COUNTERS>;

// The kernel's name of counter `i` (e.g. "ListenOverflows") and ours (e.g. "listen_overflows").
const char* netstat_kernel_name(size_t i);
const char* netstat_json_name(size_t i);

// The counters from the text of a /proc/net/netstat file. On failure returns
// nullopt and says why in `error` (one line).
std::optional<NetstatCounters> parse_netstat(std::string_view text, std::string& error);

tt_event netstat_event(uint64_t ts_ns, uint32_t netns, const NetstatCounters& c);
NetstatCounters netstat_of(const tt_event& e);

}  // namespace tcptrail::core
