#include "sinks/time_base.hpp"

#include <cstring>
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

char* TimeBase::write_rfc3339(char* p, uint64_t mono_ns) const {
    const uint64_t rt = to_realtime_ns(mono_ns);
    const auto secs = static_cast<int64_t>(rt / 1'000'000'000);
    if (secs != cached_sec_) {
        time_t t = static_cast<time_t>(secs);
        tm utc{};
        gmtime_r(&t, &utc);
        fmt::format_to(cached_prefix_, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", utc.tm_year + 1900, utc.tm_mon + 1,
                       utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
        cached_sec_ = secs;
    }
    std::memcpy(p, cached_prefix_, 19);
    char frac[8] = {'.', '0', '0', '0', '0', '0', '0', 'Z'};
    auto usec = static_cast<unsigned>((rt % 1'000'000'000) / 1000);
    for (int i = 6; i >= 1; --i, usec /= 10) frac[i] = static_cast<char>('0' + usec % 10);
    std::memcpy(p + 19, frac, 8);
    return p + kRfc3339Size;
}

void TimeBase::append_rfc3339(fmt::memory_buffer& out, uint64_t mono_ns) const {
    const size_t at = out.size();
    out.resize(at + kRfc3339Size);
    write_rfc3339(out.data() + at, mono_ns);
}

std::string TimeBase::rfc3339(uint64_t mono_ns) const {
    fmt::memory_buffer b;
    append_rfc3339(b, mono_ns);
    return fmt::to_string(b);
}

}  // namespace tcptrail::sinks
