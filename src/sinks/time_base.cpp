#include "sinks/time_base.hpp"

#include <ctime>

#include <fmt/format.h>

namespace tcptrail::sinks {

namespace {
int64_t ns_of(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

TimeBase TimeBase::now() {
    // Bracket the realtime read between two monotonic reads to halve the error.
    int64_t m1 = ns_of(CLOCK_MONOTONIC);
    int64_t r = ns_of(CLOCK_REALTIME);
    int64_t m2 = ns_of(CLOCK_MONOTONIC);
    return TimeBase{r - (m1 + (m2 - m1) / 2)};
}

std::string TimeBase::rfc3339(uint64_t mono_ns) const {
    uint64_t rt = to_realtime_ns(mono_ns);
    time_t secs = static_cast<time_t>(rt / 1'000'000'000);
    auto usec = static_cast<unsigned>((rt % 1'000'000'000) / 1000);
    tm utc{};
    gmtime_r(&secs, &utc);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                       utc.tm_hour, utc.tm_min, utc.tm_sec, usec);
}

}  // namespace tcptrail::sinks
