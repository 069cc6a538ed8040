// The user-space copy of the kernel-side socket filters, used by replay.
#include <gtest/gtest.h>

#include "core/socket_filter.hpp"
#include "event_builder.hpp"

namespace tcptrail::testing {
namespace {

tt_event event(uint8_t family, uint32_t netns, uint16_t lport, uint16_t rport) {
    tt_event e = SocketScript(1, lport, rport, netns).state(TT_CLOSE, TT_SYN_SENT, 0);
    e.family = family;
    return e;
}

TEST(SocketFilterTest, EmptyFilterPassesEverything) {
    core::SocketFilter f;
    EXPECT_FALSE(f.any());
    EXPECT_TRUE(f.passes(event(2, 1, 80, 4000)));
    EXPECT_TRUE(f.passes(event(10, 2, 0, 0)));
}

TEST(SocketFilterTest, PortsMatchLocalOrRemote) {
    core::SocketFilter f;
    f.ports = {80, 443};
    EXPECT_TRUE(f.any());
    EXPECT_TRUE(f.passes(event(2, 1, 80, 40000)));
    EXPECT_TRUE(f.passes(event(2, 1, 40000, 443)));
    EXPECT_FALSE(f.passes(event(2, 1, 40000, 8080)));
}

TEST(SocketFilterTest, ListenersFoundAtStartPassThePortFilter) {
    core::SocketFilter f;
    f.ports = {80};
    tt_event listener = event(2, 1, 8080, 0);
    listener.type = TT_EV_EXISTING;
    listener.new_state = TT_LISTEN;
    EXPECT_TRUE(f.passes(listener));
    tt_event established = listener;
    established.new_state = TT_ESTABLISHED;
    EXPECT_FALSE(f.passes(established));
    f.family = 6;
    EXPECT_FALSE(f.passes(listener));  // but not the family or namespace filter
}

TEST(SocketFilterTest, FamilyAndNetns) {
    core::SocketFilter f;
    f.family = 6;
    EXPECT_TRUE(f.passes(event(10, 1, 1, 2)));
    EXPECT_FALSE(f.passes(event(2, 1, 1, 2)));
    f.family = 4;
    EXPECT_TRUE(f.passes(event(2, 1, 1, 2)));
    EXPECT_FALSE(f.passes(event(10, 1, 1, 2)));
    f.family = 0;
    f.netns = 4026531840u;
    EXPECT_TRUE(f.passes(event(2, 4026531840u, 1, 2)));
    EXPECT_FALSE(f.passes(event(2, 4026531841u, 1, 2)));
}

TEST(SocketFilterTest, FilteredStreamDropsOnlyRejectedEvents) {
    struct Count : core::EventStream {
        int events = 0, lost = 0, ticks = 0, finished = 0;
        void on_event(const tt_event&) override { ++events; }
        void on_lost(uint64_t, core::LossReason) override { ++lost; }
        void advance(uint64_t) override { ++ticks; }
        void finish(uint64_t) override { ++finished; }
    } next;
    core::SocketFilter f;
    f.ports = {80};
    core::FilteredStream s(f, next);
    s.on_event(event(2, 1, 80, 1234));
    s.on_event(event(2, 1, 81, 1234));
    s.on_lost(5, core::LossReason::RingbufFull);
    s.advance(1);
    s.finish(2);
    EXPECT_EQ(next.events, 1);
    EXPECT_EQ(next.lost, 1);
    EXPECT_EQ(next.ticks, 1);
    EXPECT_EQ(next.finished, 1);
}

}  // namespace
}  // namespace tcptrail::testing
