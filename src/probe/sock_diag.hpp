// Sockets that already exist when tracing starts, read from the kernel's
// sock_diag netlink interface (in every network namespace we can reach), turned
// into TT_EV_EXISTING events so they enter the same reconstruction path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "probe/probe.hpp"
#include "tcptrail/events.h"

namespace tcptrail::probe {

struct ExistingSockets {
    std::vector<tt_event> events;       // listeners first
    std::vector<std::string> problems;  // namespaces that could not be read, one line each
};

// `now_ns` (CLOCK_MONOTONIC) stamps the events. Applies the kernel-side filters of cfg.
// With `final_snapshot`, the events are marked TT_F_FINAL and, when every namespace
// was read, end with a TT_F_SNAPSHOT_END marker.
ExistingSockets snapshot_existing_sockets(const ProbeConfig& cfg, uint64_t now_ns, bool final_snapshot = false);

}  // namespace tcptrail::probe
