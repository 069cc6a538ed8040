// Listen-queue / SYN-cookie counters: parsing /proc/net/netstat, per-namespace
// deltas through the tracker into the summary, the warnings, the capture round
// trip and the --netns filter, against hand-computed values.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "capture/capture_reader.hpp"
#include "capture/capture_writer.hpp"
#include "core/netstat.hpp"
#include "core/socket_filter.hpp"
#include "core/summary.hpp"
#include "core/tracker.hpp"
#include "event_builder.hpp"
#include "sinks/json_sink.hpp"
#include "sinks/summary_report.hpp"
#include "sinks/table_sink.hpp"

namespace tcptrail::testing {
namespace {

using core::NetstatCounters;

constexpr uint32_t kNsA = 4026532001u, kNsB = 4026532002u;
constexpr uint64_t kSec = 1'000'000'000ULL;

// TcpExt lines as 6.x kernels print them, shortened; the order differs from our enum.
const char* kNetstat =
    "TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts ListenOverflows ListenDrops "
    "TCPFastOpenListenOverflow\n"
    "TcpExt: 5 4 1 0 37 40 9\n"
    "IpExt: InNoRoutes ListenOverflows\n"
    "IpExt: 0 999\n";

TEST(Netstat, ParsesCountersByName) {
    std::string err;
    auto c = core::parse_netstat(kNetstat, err);
    ASSERT_TRUE(c) << err;
    EXPECT_EQ(*c, (NetstatCounters{37, 40, 5, 4, 1}));
}

TEST(Netstat, BadFilesAreOneLineErrors) {
    std::string err;
    EXPECT_FALSE(core::parse_netstat("", err));
    EXPECT_EQ(err, "no TcpExt counters");
    EXPECT_FALSE(core::parse_netstat("TcpExt: ListenOverflows ListenDrops\nTcpExt: 1\n", err));
    EXPECT_EQ(err, "TcpExt names and values do not match");
    EXPECT_FALSE(core::parse_netstat("TcpExt: ListenOverflows ListenDrops\nTcpExt: 1 2\n", err));
    EXPECT_EQ(err, "no TcpExt counter SyncookiesSent");
    EXPECT_FALSE(core::parse_netstat(
        "TcpExt: ListenOverflows ListenDrops SyncookiesSent SyncookiesRecv SyncookiesFailed\nTcpExt: 1 2 x 4 5\n",
        err));
    EXPECT_EQ(err, "bad value for TcpExt SyncookiesSent");
}

TEST(Netstat, EventCarriesTheCountersInTheUnusedAddressBytes) {
    const tt_event e = core::netstat_event(7, kNsA, NetstatCounters{1, 2, 3, 4, 0xffffffffffffULL});
    EXPECT_EQ(e.type, TT_EV_NETSTAT);
    EXPECT_EQ(e.netns, kNsA);
    EXPECT_EQ(e.ts_ns, 7u);
    EXPECT_EQ(core::netstat_of(e), (NetstatCounters{1, 2, 3, 4, 0xffffffffffffULL}));
    EXPECT_EQ(e.cookie, 0u);
    EXPECT_EQ(e.bytes_acked, 0u);
}

// The samples of a short trace: A overflows, B sends SYN cookies, C appears
// late, D vanishes, and A's inode is reused by a new namespace at the end.
std::vector<tt_event> trace_samples() {
    return {
        core::netstat_event(1 * kSec, kNsA, {100, 110, 0, 0, 0}),
        core::netstat_event(1 * kSec, kNsB, {0, 0, 50, 40, 2}),
        core::netstat_event(1 * kSec, 4026532004u, {7, 7, 0, 0, 0}),
        core::netstat_event(2 * kSec, kNsA, {112, 122, 0, 0, 0}),     // +12 +12
        core::netstat_event(2 * kSec, kNsB, {0, 0, 50, 40, 2}),       // nothing
        core::netstat_event(2 * kSec, 4026532004u, {8, 9, 0, 0, 0}),  // +1 +2, then gone
        core::netstat_event(2 * kSec, 4026532003u, {3, 3, 0, 0, 0}),  // new: counts from here
        core::netstat_event(3 * kSec, kNsA, {130, 140, 0, 0, 0}),     // +18 +18
        core::netstat_event(3 * kSec, kNsB, {0, 5, 75, 61, 3}),       // +0 +5 +25 +21 +1
        core::netstat_event(3 * kSec, 4026532003u, {4, 4, 0, 0, 0}),  // +1 +1
        core::netstat_event(4 * kSec, kNsA, {2, 2, 0, 0, 0}),         // went down: a new namespace
        core::netstat_event(5 * kSec, kNsA, {3, 4, 0, 0, 0}),         // +1 +2
    };
}

TEST(Netstat, TrackerDeltasAddUpInTheSummary) {
    core::Summary s;
    core::Tracker tracker(s, core::TrackerOptions{});
    for (const tt_event& e : trace_samples()) tracker.on_event(e);
    tracker.finish(6 * kSec);

    EXPECT_EQ(s.netstat_samples, 12u);
    EXPECT_EQ(s.listen_queue_by_netns.size(), 4u);
    EXPECT_EQ(s.listen_queue_by_netns.at(kNsA), (NetstatCounters{12 + 18 + 1, 12 + 18 + 2, 0, 0, 0}));
    EXPECT_EQ(s.listen_queue_by_netns.at(kNsB), (NetstatCounters{0, 5, 25, 21, 1}));
    EXPECT_EQ(s.listen_queue_by_netns.at(4026532003u), (NetstatCounters{1, 1, 0, 0, 0}));
    EXPECT_EQ(s.listen_queue_by_netns.at(4026532004u), (NetstatCounters{1, 2, 0, 0, 0}));
    EXPECT_EQ(s.listen_queue_total, (NetstatCounters{33, 40, 25, 21, 1}));
}

TEST(Netstat, TrackerReportsEachSampleWithItsInterval) {
    class Deltas : public CollectingOutput {
    public:
        void on_netstat(const core::NetstatDelta& d) override { got.push_back(d); }
        std::vector<core::NetstatDelta> got;
    } out;
    core::Tracker tracker(out, core::TrackerOptions{});
    const auto samples = trace_samples();
    for (const tt_event& e : samples) tracker.on_event(e);
    ASSERT_EQ(out.got.size(), samples.size());
    EXPECT_FALSE(out.got[0].any());  // a first sample only sets the base
    EXPECT_EQ(out.got[0].interval_ns, 0u);
    EXPECT_EQ(out.got[3].netns, kNsA);
    EXPECT_EQ(out.got[3].interval_ns, kSec);
    EXPECT_EQ(out.got[3].moved, (NetstatCounters{12, 12, 0, 0, 0}));
    EXPECT_FALSE(out.got[4].any());
    EXPECT_FALSE(out.got[10].any());  // counters went down: restart, not a huge delta
    EXPECT_EQ(out.got[10].interval_ns, 0u);
    EXPECT_EQ(out.got[11].interval_ns, kSec);
    EXPECT_TRUE(out.conns.empty());
    EXPECT_TRUE(out.events.empty());  // never in the --events stream
}

// Everything a sink printed, read from its buffer.
template <typename Sink>
std::string printed(const std::vector<core::NetstatDelta>& deltas) {
    sinks::OutputStream out(-1);
    Sink sink(out, sinks::TimeBase{1'700'000'000'000'000'000LL});
    for (const auto& d : deltas) sink.on_netstat(d);
    std::string s = fmt::to_string(out.buffer());
    out.buffer().clear();
    return s;
}

core::NetstatDelta delta(uint32_t netns, NetstatCounters moved) {
    core::NetstatDelta d;
    d.ts_ns = 2 * kSec;
    d.netns = netns;
    d.interval_ns = kSec;
    d.moved = moved;
    return d;
}

TEST(Netstat, LiveWarningsOnlyWhenACounterMoved) {
    const std::vector<core::NetstatDelta> deltas = {delta(kNsA, {}), delta(kNsA, {12, 12, 0, 0, 0}),
                                                    delta(kNsB, {0, 0, 25, 21, 1})};
    EXPECT_EQ(printed<sinks::JsonSink>(deltas),
              "{\"type\":\"listen_queue\",\"time\":\"2023-11-14T22:13:22.000000Z\",\"netns\":4026532001,"
              "\"interval_us\":1000000,\"listen_overflows\":12,\"listen_drops\":12,\"syncookies_sent\":0,"
              "\"syncookies_recv\":0,\"syncookies_failed\":0}\n"
              "{\"type\":\"listen_queue\",\"time\":\"2023-11-14T22:13:22.000000Z\",\"netns\":4026532002,"
              "\"interval_us\":1000000,\"listen_overflows\":0,\"listen_drops\":0,\"syncookies_sent\":25,"
              "\"syncookies_recv\":21,\"syncookies_failed\":1}\n");
    EXPECT_EQ(printed<sinks::TableSink>(deltas),
              "WARNING: listen queue overflowed 12 times in netns 4026532001: the accept queue of a listener was "
              "full (accept() too slow, or backlog too small); listeners dropped 12 SYNs or handshake ACKs "
              "(in the 1.0 s to 22:13:22.000)\n"
              "WARNING: SYN cookies sent 25 (SYN queue full, or tcp_syncookies=2), received 21, failed 1 in netns "
              "4026532002 (in the 1.0 s to 22:13:22.000)\n");
}

std::string summary_text(const core::Summary& s, bool json) {
    sinks::OutputStream out(-1);
    json ? sinks::write_summary_json(s, out) : sinks::write_summary_text(s, out);
    std::string text = fmt::to_string(out.buffer());
    out.buffer().clear();
    return text;
}

TEST(Netstat, SummarySectionAndWarnings) {
    core::Summary s;
    core::Tracker tracker(s, core::TrackerOptions{});
    for (const tt_event& e : trace_samples()) tracker.on_event(e);
    const std::string json = summary_text(s, true);
    EXPECT_NE(json.find(",\"listen_queue\":{\"namespaces\":4,\"total\":{\"listen_overflows\":33,\"listen_drops\":40,"
                        "\"syncookies_sent\":25,\"syncookies_recv\":21,\"syncookies_failed\":1},\"by_netns\":{"
                        "\"4026532001\":{\"listen_overflows\":31,\"listen_drops\":32,\"syncookies_sent\":0,"
                        "\"syncookies_recv\":0,\"syncookies_failed\":0},"),
              std::string::npos)
        << json;
    const std::string text = summary_text(s, false);
    EXPECT_NE(text.find("\nWARNING: listen queue overflowed 31 times in netns 4026532001: "), std::string::npos)
        << text;
    EXPECT_NE(text.find("\nWARNING: listeners dropped 5 SYNs or handshake ACKs in netns 4026532002; SYN cookies sent "
                        "25 (SYN queue full, or tcp_syncookies=2), received 21, failed 1\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("  all 4 namespaces                       33           40              25              21"),
              std::string::npos)
        << text;

    core::Summary quiet;
    EXPECT_NE(summary_text(quiet, true).find(",\"listen_queue\":null,"), std::string::npos);
    EXPECT_NE(summary_text(quiet, false).find("  not sampled"), std::string::npos);
}

TEST(Netstat, NetnsFilterKeepsOnlyThatNamespacesSamples) {
    core::SocketFilter f;
    f.netns = kNsB;
    f.ports = {80};
    f.family = 4;  // samples have no family or ports: only the namespace decides
    EXPECT_TRUE(f.passes(core::netstat_event(1, kNsB, {})));
    EXPECT_FALSE(f.passes(core::netstat_event(1, kNsA, {})));
    EXPECT_TRUE(core::SocketFilter{}.passes(core::netstat_event(1, kNsA, {})));
}

TEST(Netstat, CaptureRoundTripGivesTheSameSummary) {
    char path[] = "/tmp/tcptrail-netstat-XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    core::Summary live;
    {
        core::Tracker tracker(live, core::TrackerOptions{});
        capture::CaptureWriter w(path, capture::CaptureHeader{});
        capture::CaptureTee tee(w, tracker);
        for (const tt_event& e : trace_samples()) tee.on_event(e);
        tee.finish(6 * kSec);
        ASSERT_FALSE(w.failed()) << w.error();
    }
    core::Summary replayed;
    core::Tracker tracker(replayed, core::TrackerOptions{});
    const int in = open(path, O_RDONLY | O_CLOEXEC);
    ASSERT_GE(in, 0);
    {
        capture::CaptureReader r(in, path);
        while (r.next(tracker)) {
        }
        EXPECT_TRUE(r.saw_finish());
    }
    close(in);
    unlink(path);
    EXPECT_EQ(replayed.netstat_samples, 12u);
    EXPECT_EQ(replayed.listen_queue_by_netns, live.listen_queue_by_netns);
    EXPECT_EQ(summary_text(replayed, true), summary_text(live, true));
}

}  // namespace
}  // namespace tcptrail::testing
