#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/interner.hpp"

namespace tcptrail::testing {
namespace {

using core::Interner;

// Every hash lands in one slot of the recent-values cache: each lookup must
// still find its own value, not the slot's last occupant.
struct OneSlotHash {
    size_t operator()(const std::string&) const { return 0; }
};

TEST(InternerTest, EqualValuesShareAnIndexAndDistinctOnesDoNot) {
    Interner<std::string> in;
    const uint32_t a = in.intern("nginx");
    const uint32_t b = in.intern("curl");
    EXPECT_NE(a, b);
    EXPECT_EQ(in.intern("nginx"), a);
    EXPECT_EQ(in.intern("curl"), b);
    EXPECT_EQ(in[a], "nginx");
    EXPECT_EQ(in[b], "curl");
}

TEST(InternerTest, ValuesSharingACacheSlotKeepTheirOwnIndexes) {
    Interner<std::string, OneSlotHash> in;
    std::vector<uint32_t> first;
    for (int i = 0; i < 300; ++i) first.push_back(in.intern("v" + std::to_string(i)));
    // Rotating through all of them, as clients rotate over local addresses.
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 300; ++i) {
            ASSERT_EQ(in.intern("v" + std::to_string(i)), first[static_cast<size_t>(i)]) << i;
            ASSERT_EQ(in[first[static_cast<size_t>(i)]], "v" + std::to_string(i));
        }
    }
}

TEST(InternerTest, RandomOrderAgreesWithAFreshCount) {
    Interner<uint64_t> in;
    std::vector<uint32_t> index_of(1000, UINT32_MAX);
    std::mt19937_64 rng(7);
    uint32_t distinct = 0;
    for (int i = 0; i < 100000; ++i) {
        const uint64_t v = rng() % 1000;
        const uint32_t got = in.intern(v * 0x100000001ULL);
        if (index_of[v] == UINT32_MAX) {
            EXPECT_EQ(got, distinct++);
            index_of[v] = got;
        }
        ASSERT_EQ(got, index_of[v]);
        ASSERT_EQ(in[got], v * 0x100000001ULL);
    }
}

}  // namespace
}  // namespace tcptrail::testing
