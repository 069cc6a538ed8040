// Converts the kernel's CLOCK_MONOTONIC timestamps into wall-clock time.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

namespace tcptrail::sinks {

struct TimeBase {
    TimeBase() = default;
    explicit TimeBase(int64_t offset_ns) : realtime_minus_monotonic_ns(offset_ns) {}

    int64_t realtime_minus_monotonic_ns = 0;

    static TimeBase now();  // samples both clocks on this host
    uint64_t to_realtime_ns(uint64_t mono_ns) const { return mono_ns + realtime_minus_monotonic_ns; }
    // RFC 3339, UTC, microseconds: 2026-11-23T11:40:01.123456Z
    std::string rfc3339(uint64_t mono_ns) const;
    void append_rfc3339(fmt::memory_buffer& out, uint64_t mono_ns) const;
    static constexpr size_t kRfc3339Size = 27;
    char* write_rfc3339(char* p, uint64_t mono_ns) const;  // writes kRfc3339Size bytes

private:
    // The date-and-time part of the last second formatted: timestamps come in order.
    mutable int64_t cached_sec_ = -1;
    mutable char cached_prefix_[20] = {};  // "YYYY-MM-DDTHH:MM:SS"
};

}  // namespace tcptrail::sinks
