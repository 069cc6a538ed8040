#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

#include "core/socket_table.hpp"

namespace tcptrail::testing {
namespace {

using core::SocketTable;

struct Item {
    uint64_t cookie = 0;
    uint64_t value = 0;
};

TEST(SocketTableTest, FindsWhatWasInsertedAndNotWhatWasErased) {
    SocketTable<Item> t;
    const auto a = t.insert(7);
    t.at(a).value = 70;
    const auto b = t.insert(8);
    t.at(b).value = 80;
    EXPECT_EQ(t.size(), 2u);
    EXPECT_EQ(t.find(7), a);
    EXPECT_EQ(t.at(t.find(8)).value, 80u);
    EXPECT_EQ(t.find(9), SocketTable<Item>::kNoSlot);
    t.erase(a);
    EXPECT_EQ(t.find(7), SocketTable<Item>::kNoSlot);
    EXPECT_EQ(t.find(8), b);
    EXPECT_EQ(t.size(), 1u);
    // An erased slot is reused, reset.
    const auto c = t.insert(9);
    EXPECT_EQ(c, a);
    EXPECT_EQ(t.at(c).value, 0u);
    EXPECT_EQ(t.at(c).cookie, 9u);
}

TEST(SocketTableTest, AgreesWithUnorderedMapThroughGrowthAndErasure) {
    SocketTable<Item> t;
    std::unordered_map<uint64_t, uint64_t> want;  // cookie -> value
    std::mt19937_64 rng(4);
    const Item* first = nullptr;
    for (int step = 0; step < 200'000; ++step) {
        // Near-sequential cookies, as the kernel hands them out, and some far apart.
        const uint64_t cookie = (rng() % 4 == 0) ? rng() : 1000 + rng() % 20'000;
        const auto s = t.find(cookie);
        auto it = want.find(cookie);
        ASSERT_EQ(s != SocketTable<Item>::kNoSlot, it != want.end()) << step;
        if (it == want.end()) {
            const auto n = t.insert(cookie);
            t.at(n).value = step;
            want[cookie] = step;
            if (!first) first = &t.at(n);
        } else {
            ASSERT_EQ(t.at(s).value, it->second) << step;
            if (rng() % 2) {
                t.erase(s);
                want.erase(it);
            }
        }
        ASSERT_EQ(t.size(), want.size());
    }
    size_t seen = 0;
    t.for_each_slot([&](auto s) {
        ++seen;
        EXPECT_EQ(want.at(t.at(s).cookie), t.at(s).value);
    });
    EXPECT_EQ(seen, want.size());
    EXPECT_EQ(&t.at(0), first);  // items never move
}

}  // namespace
}  // namespace tcptrail::testing
