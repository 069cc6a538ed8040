#include "core/time_order.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace {

struct Item {
    uint64_t ts;
    uint32_t arrival;
};

// The reference: std::stable_sort by ts.
std::vector<Item> reference(std::vector<Item> v) {
    std::stable_sort(v.begin(), v.end(), [](const Item& a, const Item& b) { return a.ts < b.ts; });
    return v;
}

void expect_same(const std::vector<Item>& got, const std::vector<Item>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].ts, want[i].ts) << "at " << i;
        EXPECT_EQ(got[i].arrival, want[i].arrival) << "at " << i;
    }
}

// Two CPUs' batches of 16, interleaved as the ring buffer delivers them, with
// many equal stamps: the radix path must sort them and keep ties in arrival order.
TEST(TimeOrder, InterleavedBatchesWithTiesMatchStableSort) {
    std::mt19937_64 rng(42);
    const uint64_t base = 1'000'000'000'000ULL;
    std::vector<Item> v;
    uint64_t t[2] = {base, base + 5};
    while (v.size() < 20000) {
        const int cpu = static_cast<int>(rng() % 2);
        for (int k = 0; k < 16; ++k) {
            t[cpu] += rng() % 4;  // 0: a tie
            v.push_back(Item{t[cpu], static_cast<uint32_t>(v.size())});
        }
    }
    std::reverse(v.begin() + 100, v.begin() + 300);  // and some plain disorder
    for (uint32_t i = 0; i < v.size(); ++i) v[i].arrival = i;
    const std::vector<Item> want = reference(v);
    std::vector<Item> scratch;
    tcptrail::core::sort_by_time(v, scratch);
    expect_same(v, want);
}

// Stamps uniformly spread over the whole radix range (just under 2^33 ns):
// every digit matters.
TEST(TimeOrder, FullRadixRange) {
    std::mt19937_64 rng(7);
    std::vector<Item> v;
    for (uint32_t i = 0; i < 5000; ++i) v.push_back(Item{500 + rng() % ((uint64_t{1} << 33) - 1), i});
    const std::vector<Item> want = reference(v);
    std::vector<Item> scratch;
    tcptrail::core::sort_by_time(v, scratch);
    expect_same(v, want);
}

// A span of 2^33 ns or more takes the std::stable_sort path: same result.
TEST(TimeOrder, WideSpanFallsBackAndStaysStable) {
    std::vector<Item> v = {{uint64_t{1} << 40, 0}, {3, 1}, {uint64_t{1} << 40, 2}, {3, 3}, {0, 4}};
    const std::vector<Item> want = reference(v);
    std::vector<Item> scratch;
    tcptrail::core::sort_by_time(v, scratch);
    expect_same(v, want);
    EXPECT_EQ(v.front().arrival, 4u);
}

TEST(TimeOrder, EmptyAndSingle) {
    std::vector<Item> v, scratch;
    tcptrail::core::sort_by_time(v, scratch);
    EXPECT_TRUE(v.empty());
    v.push_back(Item{9, 0});
    tcptrail::core::sort_by_time(v, scratch);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].ts, 9u);
}

}  // namespace
