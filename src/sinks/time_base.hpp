// Converts the kernel's CLOCK_MONOTONIC timestamps into wall-clock time.
#pragma once

#include <cstdint>
#include <string>

namespace tcptrail::sinks {

struct TimeBase {
    int64_t realtime_minus_monotonic_ns = 0;

    static TimeBase now();  // samples both clocks on this host
    uint64_t to_realtime_ns(uint64_t mono_ns) const { return mono_ns + realtime_minus_monotonic_ns; }
    // RFC 3339, UTC, microseconds: 2026-11-23T11:40:01.123456Z
    std::string rfc3339(uint64_t mono_ns) const;
};

}  // namespace tcptrail::sinks
