// Samples the listen-queue / SYN-cookie counters (TcpExt in /proc/net/netstat)
// of every traced network namespace, as TT_EV_NETSTAT events: there is no
// tracepoint for SYN floods, accept-queue overflows or SYN cookies.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "tcptrail/events.h"

namespace tcptrail::probe {

class NetstatSampler {
public:
    // `only_netns`: 0 samples every namespace, else just that one (--netns).
    explicit NetstatSampler(uint32_t only_netns) : only_netns_(only_netns) {}

    // One event per namespace read, stamped `now_ns`. A namespace that cannot be
    // read gets one line in `notes`, the first time only; one that vanished is
    // silently left out (its counts so far stand).
    std::vector<tt_event> sample(uint64_t now_ns, std::vector<std::string>& notes);

private:
    uint32_t only_netns_;
    std::set<uint64_t> noted_;  // namespaces whose problem was reported
};

}  // namespace tcptrail::probe
