#include "core/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace tcptrail::core {

unsigned LogHistogram::bucket_of(uint64_t v) {
    if (v < kSub) return static_cast<unsigned>(v);
    const unsigned exp = 63u - static_cast<unsigned>(__builtin_clzll(v));  // >= kSubBits
    const unsigned shift = exp - kSubBits;
    const auto sub = static_cast<unsigned>((v >> shift) - kSub);
    return static_cast<unsigned>(kSub + shift * kSub + sub);
}

uint64_t LogHistogram::bucket_high(unsigned idx) {
    if (idx < kSub) return idx;
    const unsigned shift = (idx - kSub) / kSub;
    const uint64_t sub = (idx - kSub) % kSub;
    const uint64_t low = (kSub + sub) << shift;
    return low + ((1ULL << shift) - 1);
}

void LogHistogram::add(unsigned idx, uint64_t n) {
    auto it = std::lower_bound(buckets_.begin(), buckets_.end(), idx,
                               [](const auto& b, unsigned i) { return b.first < i; });
    if (it != buckets_.end() && it->first == idx) {
        it->second += n;
    } else {
        buckets_.insert(it, {idx, n});
    }
}

void LogHistogram::record(uint64_t v) {
    add(bucket_of(v), 1);
    ++count_;
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
}

uint64_t LogHistogram::quantile(double q) const {
    if (count_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
    uint64_t seen = 0;
    for (const auto& [idx, n] : buckets_) {
        seen += n;
        if (seen >= rank) return std::min(bucket_high(idx), max_);
    }
    return max_;
}

void LogHistogram::merge(const LogHistogram& o) {
    for (const auto& [idx, n] : o.buckets_) add(idx, n);
    count_ += o.count_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
}

}  // namespace tcptrail::core
