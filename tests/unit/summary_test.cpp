// Histogram quantiles and the summary's aggregates, against hand-computed values.
#include <gtest/gtest.h>

#include "core/histogram.hpp"
#include "core/summary.hpp"

namespace tcptrail::core {
namespace {

TEST(LogHistogram, ExactBelow128) {
    LogHistogram h;
    for (uint64_t v = 1; v <= 100; ++v) h.record(v);
    EXPECT_EQ(h.count(), 100u);
    EXPECT_EQ(h.quantile(0.5), 50u);
    EXPECT_EQ(h.quantile(0.9), 90u);
    EXPECT_EQ(h.quantile(0.99), 99u);
    EXPECT_EQ(h.quantile(1.0), 100u);
    EXPECT_EQ(h.max(), 100u);
    EXPECT_EQ(h.min(), 1u);
}

TEST(LogHistogram, RelativeErrorBoundHoldsAcrossMagnitudes) {
    for (uint64_t v : {128ULL, 129ULL, 1000ULL, 123'456ULL, 1'000'000ULL, 987'654'321ULL, (1ULL << 40) + 12345}) {
        unsigned idx = LogHistogram::bucket_of(v);
        uint64_t high = LogHistogram::bucket_high(idx);
        EXPECT_GE(high, v);
        EXPECT_LE(static_cast<double>(high - v), v * LogHistogram::kRelativeError) << v;
        EXPECT_EQ(LogHistogram::bucket_of(high), idx);
        EXPECT_NE(LogHistogram::bucket_of(high + 1), idx);
    }
}

TEST(LogHistogram, QuantilesOfASkewedSample) {
    // 90 fast handshakes of 200 us, 9 of 1 s (one SYN retransmit), one of 3 s.
    LogHistogram h;
    for (int i = 0; i < 90; ++i) h.record(200);
    for (int i = 0; i < 9; ++i) h.record(1'000'000);
    h.record(3'000'000);
    EXPECT_EQ(h.quantile(0.5), 200u);  // below 256 buckets are one value wide
    EXPECT_EQ(h.quantile(0.9), 200u);  // rank 90 is the last fast one
    EXPECT_NEAR(static_cast<double>(h.quantile(0.99)), 1'000'000, 1'000'000 * LogHistogram::kRelativeError);
    EXPECT_EQ(h.quantile(1.0), 3'000'000u);
    EXPECT_EQ(h.max(), 3'000'000u);
}

ConnRecord conn(uint64_t id, Role role, const char* comm, uint16_t lport, uint16_t rport, ClosedBy closed,
                std::optional<uint64_t> hs) {
    ConnRecord r;
    r.id = id;
    r.role = role;
    r.pid = 100;
    r.comm = comm;
    r.tuple.family = 4;
    r.tuple.laddr = {10, 0, 0, 1};
    r.tuple.raddr = {10, 0, 0, 5};
    r.tuple.lport = lport;
    r.tuple.rport = rport;
    r.closed_by = closed;
    r.handshake_us = hs;
    r.states.push_back({TT_ESTABLISHED, 0});
    return r;
}

TEST(Summary, WhoClosesAndTimeWaitTallies) {
    Summary s;
    for (uint64_t i = 0; i < 49; ++i) {
        auto r = conn(i, Role::Server, "nginx", 443, 40000 + i, ClosedBy::Local, 100);
        r.time_wait = true;
        s.on_conn(r);
    }
    s.on_conn(conn(50, Role::Server, "nginx", 443, 41000, ClosedBy::Remote, 100));
    s.on_conn(conn(51, Role::Client, "curl", 40000, 443, ClosedBy::Remote, 300));
    ASSERT_EQ(s.connections, 51u);
    const auto& t = s.closers.at("nginx server :443");
    EXPECT_EQ(t.total, 50u);
    EXPECT_EQ(t.by_closed_by.at("local"), 49u);
    EXPECT_EQ(t.by_closed_by.at("remote"), 1u);
    EXPECT_EQ(s.closers.at("curl client 10.0.0.5:443").by_closed_by.at("remote"), 1u);
    EXPECT_EQ(s.time_wait_by_local_port.at("443"), 49u);
    EXPECT_EQ(s.time_wait_by_process.at("nginx"), 49u);
    EXPECT_EQ(s.handshake_by_role.at("server").handshake_us.count(), 50u);
    EXPECT_EQ(s.handshake_by_endpoint.at("client 10.0.0.5:443").handshake_us.quantile(0.5), 300u);
}

TEST(Summary, RetransmittedHandshakesCloseWaitAndRetransmits) {
    Summary s;
    auto slow = conn(1, Role::Client, "app", 40000, 80, ClosedBy::Local, 1'000'500);
    slow.syn_retrans = 1;
    s.on_conn(slow);
    auto stuck = conn(2, Role::Server, "leaky", 8080, 50000, ClosedBy::Open, 50);
    stuck.open = true;
    stuck.states.push_back({TT_CLOSE_WAIT, 10});
    stuck.duration_us = 42'000'000;
    s.on_conn(stuck);
    auto lossy = conn(3, Role::Client, "app", 40001, 80, ClosedBy::ResetRemote, 100);
    lossy.retrans = 7;
    lossy.resets_received = 1;
    s.on_conn(lossy);
    s.on_lost(5, LossReason::RingbufFull);

    ASSERT_EQ(s.slow_retransmitted_handshakes.size(), 1u);
    EXPECT_EQ(s.slow_retransmitted_handshakes[0].value, 1'000'500u);
    EXPECT_EQ(s.handshake_by_role.at("client").handshake_retrans, 1u);
    EXPECT_EQ(s.close_wait_total, 1u);
    ASSERT_EQ(s.close_wait_open.size(), 1u);
    EXPECT_EQ(s.close_wait_open[0].value, 42'000'000u);
    EXPECT_EQ(s.close_wait_open[0].process, "leaky");
    const auto& g = s.retrans_by_endpoint.at("client 10.0.0.5:80");
    EXPECT_EQ(g.connections, 2u);
    EXPECT_EQ(g.retrans, 7u);
    EXPECT_EQ(g.resets_received, 1u);
    ASSERT_EQ(s.top_retrans.size(), 1u);
    EXPECT_EQ(s.top_retrans[0].id, 3u);
    EXPECT_EQ(s.lost.at("ringbuf_full"), 5u);
    EXPECT_EQ(s.open_at_end, 1u);
}

TEST(Summary, GroupCountIsBounded) {
    Summary s;
    for (uint64_t i = 0; i < Summary::kMaxGroups + 50; ++i) {
        auto r = conn(i, Role::Client, "c", 40000, 80, ClosedBy::Local, 10);
        r.tuple.raddr = {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
        s.on_conn(r);
    }
    EXPECT_LE(s.handshake_by_endpoint.size(), Summary::kMaxGroups + 1);
    EXPECT_GT(s.folded_groups, 0u);
}

}  // namespace
}  // namespace tcptrail::core
