// Stable sort by timestamp for the probe's drain: events from different CPUs
// reach the ring buffer a batch at a time, out of time order.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace tcptrail::core {

// Sorts v by its elements' `ts` (uint64_t), keeping the input order of equal
// ones. A drain's events span well under a second, so an LSD radix sort of
// ts - min over three 11-bit digits (2^33 ns, 8.6 s) does it in six linear
// passes; std::sort took ~50 ns per event here. Wider spans fall back to
// std::stable_sort. scratch is working memory, reused across calls.
template <class T>
void sort_by_time(std::vector<T>& v, std::vector<T>& scratch) {
    if (v.size() < 2) return;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (const T& x : v) {
        lo = std::min(lo, x.ts);
        hi = std::max(hi, x.ts);
    }
    constexpr int kDigitBits = 11, kDigits = 3;
    constexpr uint64_t kMask = (uint64_t{1} << kDigitBits) - 1;
    if (hi - lo >= (uint64_t{1} << (kDigitBits * kDigits))) {
        std::stable_sort(v.begin(), v.end(), [](const T& a, const T& b) { return a.ts < b.ts; });
        return;
    }
    scratch.resize(v.size());
    std::array<uint32_t, kMask + 1> start{};
    for (int d = 0; d < kDigits; ++d) {
        const int shift = d * kDigitBits;
        start.fill(0);
        for (const T& x : v) ++start[((x.ts - lo) >> shift) & kMask];
        uint32_t sum = 0;
        for (uint32_t& s : start) {
            const uint32_t n = s;
            s = sum;
            sum += n;
        }
        for (const T& x : v) scratch[start[((x.ts - lo) >> shift) & kMask]++] = x;
        v.swap(scratch);
    }
}

}  // namespace tcptrail::core
