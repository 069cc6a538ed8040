// Log-linear histogram for latencies (HDR-style): exact below 128, above that
// 128 sub-buckets per power of two, so any reported quantile is within 1/128
// (0.8%) of the true sample value. Sparse: memory grows with the number of
// distinct buckets hit (latencies cluster), so one per group is affordable.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace tcptrail::core {

class LogHistogram {
public:
    static constexpr unsigned kSubBits = 7;
    static constexpr uint64_t kSub = 1u << kSubBits;
    static constexpr double kRelativeError = 1.0 / kSub;

    void record(uint64_t v);
    uint64_t count() const { return count_; }
    uint64_t max() const { return max_; }
    uint64_t min() const { return count_ ? min_ : 0; }
    // Smallest recorded-bucket value v such that at least q of the samples are <= v
    // (reported as the bucket's highest equivalent value, capped at max()).
    uint64_t quantile(double q) const;
    void merge(const LogHistogram& other);

    static unsigned bucket_of(uint64_t v);
    static uint64_t bucket_high(unsigned idx);  // highest value that maps to idx

private:
    void add(unsigned idx, uint64_t n);

    std::vector<std::pair<uint32_t, uint64_t>> buckets_;  // (bucket index, count), sorted
    uint64_t count_ = 0;
    uint64_t max_ = 0;
    uint64_t min_ = UINT64_MAX;
};

}  // namespace tcptrail::core
