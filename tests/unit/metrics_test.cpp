// Prometheus metrics: registry, exposition text, cardinality guard, --metrics addresses.
#include <gtest/gtest.h>

#include "core/record.hpp"
#include "metrics/listen_address.hpp"
#include "metrics/registry.hpp"
#include "metrics/tcp_metrics.hpp"

namespace tcptrail::testing {
namespace {

using core::ClosedBy;
using core::ConnRecord;
using core::Role;
using metrics::LabelSpec;
using metrics::Registry;

TEST(Registry, RendersCountersGaugesAndCumulativeHistogramsExactly) {
    Registry reg(100);
    auto& c = reg.counter("t_requests_total", "Requests.", {{"code", false}, {"path", true}});
    auto& g = reg.gauge("t_open", "Open things.", {});
    auto& h = reg.histogram("t_latency_seconds", "Latency.", {{"role", false}}, {1'000'000, 100, 1'500'000});
    reg.add(c, {"200", "/b"}, 2);
    reg.add(c, {"200", "/a"});
    reg.add(c, {"404", "/\"x\"\\\n"});
    reg.set(g, {}, 7);
    reg.observe(h, {"client"}, 100);         // le 0.0001 (bounds are inclusive)
    reg.observe(h, {"client"}, 1'010'852);   // le 1.5
    reg.observe(h, {"client"}, 20'000'000);  // +Inf only
    std::string out;
    reg.render(out);
    EXPECT_EQ(out,
              "# HELP t_requests_total Requests.\n"
              "# TYPE t_requests_total counter\n"
              "t_requests_total{code=\"200\",path=\"/a\"} 1\n"
              "t_requests_total{code=\"200\",path=\"/b\"} 2\n"
              "t_requests_total{code=\"404\",path=\"/\\\"x\\\"\\\\\\n\"} 1\n"
              "# HELP t_open Open things.\n"
              "# TYPE t_open gauge\n"
              "t_open 7\n"
              "# HELP t_latency_seconds Latency.\n"
              "# TYPE t_latency_seconds histogram\n"
              "t_latency_seconds_bucket{role=\"client\",le=\"0.0001\"} 1\n"
              "t_latency_seconds_bucket{role=\"client\",le=\"1\"} 1\n"
              "t_latency_seconds_bucket{role=\"client\",le=\"1.5\"} 2\n"
              "t_latency_seconds_bucket{role=\"client\",le=\"+Inf\"} 3\n"
              "t_latency_seconds_sum{role=\"client\"} 21.010952\n"
              "t_latency_seconds_count{role=\"client\"} 3\n"
              "# HELP tcptrail_metrics_label_overflow_total Updates whose open-ended label values were folded into "
              "\"other\" because the metric had reached its series limit (--metrics-max-series).\n"
              "# TYPE tcptrail_metrics_label_overflow_total counter\n");
}

TEST(Registry, GuardFoldsOpenEndedLabelsIntoOtherAndCountsEachFold) {
    Registry reg(2);
    auto& c = reg.counter("t_total", "T.", {{"role", false}, {"port", true}});
    reg.add(c, {"client", "1"});
    reg.add(c, {"server", "2"});
    reg.add(c, {"client", "1"});  // existing series: no fold
    reg.add(c, {"client", "3"});  // folds into {client, other}
    reg.add(c, {"client", "4"});  // same folded series
    reg.add(c, {"server", "5"});  // {server, other}: a third and fourth series, bounded by role
    std::string out;
    reg.render(out);
    EXPECT_NE(out.find("t_total{role=\"client\",port=\"1\"} 2\n"
                       "t_total{role=\"client\",port=\"other\"} 2\n"
                       "t_total{role=\"server\",port=\"2\"} 1\n"
                       "t_total{role=\"server\",port=\"other\"} 1\n"),
              std::string::npos)
        << out;
    EXPECT_EQ(reg.overflow("t_total"), 3u);
    EXPECT_NE(out.find("tcptrail_metrics_label_overflow_total{metric=\"t_total\"} 3\n"), std::string::npos) << out;
}

ConnRecord conn(Role role, uint16_t lport, uint16_t rport, const char* comm) {
    ConnRecord r;
    r.role = role;
    r.tuple.lport = lport;
    r.tuple.rport = rport;
    r.comm = comm;
    return r;
}

// The lines of `text` that start with `prefix`, joined.
std::string lines(const std::string& text, const std::string& prefix) {
    std::string out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        std::string line = text.substr(pos, end - pos);
        if (line.rfind(prefix, 0) == 0) out += line + "\n";
        pos = end == std::string::npos ? text.size() : end + 1;
    }
    return out;
}

TEST(TcpMetrics, CountsOpensClosesRetransmitsAndLatencyByRoleAndPort) {
    metrics::TcpMetrics m;
    ConnRecord cli = conn(Role::Client, 40000, 8080, "curl");
    cli.handshake_us = 1'010'000;
    cli.syn_retrans = 1;
    m.on_open(cli);
    cli.closed_by = ClosedBy::Local;
    cli.retrans = 2;
    cli.resets_received = 1;
    m.on_conn(cli);
    ConnRecord srv = conn(Role::Server, 8080, 40000, "nginx");
    srv.handshake_us = 80;
    m.on_open(srv);
    srv.closed_by = ClosedBy::Remote;
    srv.accept_wait_us = 300;
    srv.synack_retrans = 1;
    m.on_conn(srv);
    ConnRecord refused = conn(Role::Client, 40001, 9, "curl");
    refused.closed_by = ClosedBy::Refused;
    m.on_conn(refused);
    ConnRecord still_open = conn(Role::Client, 40002, 8080, "curl");
    still_open.open = true;
    m.on_conn(still_open);  // open at exit: not a close
    ConnRecord old = conn(Role::Unknown, 22, 50000, "sshd");
    old.partial = true;
    old.closed_by = ClosedBy::Remote;
    m.on_conn(old);
    m.on_lost(5, core::LossReason::RingbufFull);

    metrics::LiveView live;
    live.open_by_state[TT_ESTABLISHED] = 3;
    live.sockets_tracked = 4;
    EXPECT_TRUE(m.changed());
    const std::string text = m.render(live, nullptr);
    EXPECT_FALSE(m.changed());

    EXPECT_EQ(lines(text, "tcptrail_connections_opened_total{"),
              "tcptrail_connections_opened_total{role=\"client\",port=\"8080\",comm=\"curl\"} 1\n"
              "tcptrail_connections_opened_total{role=\"server\",port=\"8080\",comm=\"nginx\"} 1\n");
    EXPECT_EQ(lines(text, "tcptrail_connections_closed_total{"),
              "tcptrail_connections_closed_total{role=\"client\",closed_by=\"local\",port=\"8080\",comm=\"curl\"} 1\n"
              "tcptrail_connections_closed_total{role=\"client\",closed_by=\"refused\",port=\"9\",comm=\"curl\"} 1\n"
              "tcptrail_connections_closed_total{role=\"server\",closed_by=\"remote\",port=\"8080\",comm=\"nginx\"} 1\n"
              "tcptrail_connections_closed_total{role=\"unknown\",closed_by=\"remote\",port=\"22\",comm=\"sshd\"} 1\n");
    EXPECT_EQ(lines(text, "tcptrail_handshake_duration_seconds_bucket{role=\"client\""),
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"0.0001\"} 0\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"0.00025\"} 0\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"0.0005\"} 0\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"0.001\"} 0\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"0.0025\"} 0\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"0.005\"} 0\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"0.01\"} 0\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"0.025\"} 0\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"0.05\"} 0\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"0.1\"} 0\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"0.25\"} 0\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"0.5\"} 0\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"1\"} 0\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"1.5\"} 1\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"2\"} 1\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"3\"} 1\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"3.5\"} 1\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"5\"} 1\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"7.5\"} 1\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"10\"} 1\n"
              "tcptrail_handshake_duration_seconds_bucket{role=\"client\",port=\"8080\",le=\"+Inf\"} 1\n");
    EXPECT_EQ(lines(text, "tcptrail_handshake_duration_seconds_sum"),
              "tcptrail_handshake_duration_seconds_sum{role=\"client\",port=\"8080\"} 1.01\n"
              "tcptrail_handshake_duration_seconds_sum{role=\"server\",port=\"8080\"} 8e-05\n");
    EXPECT_EQ(lines(text, "tcptrail_accept_wait_seconds_count"),
              "tcptrail_accept_wait_seconds_count{port=\"8080\"} 1\n");
    EXPECT_EQ(lines(text, "tcptrail_syn_retransmits_total{"),
              "tcptrail_syn_retransmits_total{port=\"8080\"} 1\n"
              "tcptrail_syn_retransmits_total{port=\"9\"} 0\n");
    EXPECT_EQ(lines(text, "tcptrail_synack_retransmits_total{"),
              "tcptrail_synack_retransmits_total{port=\"8080\"} 1\n");
    EXPECT_EQ(lines(text, "tcptrail_retransmits_total{role=\"client\""),
              "tcptrail_retransmits_total{role=\"client\",port=\"8080\"} 2\n"
              "tcptrail_retransmits_total{role=\"client\",port=\"9\"} 0\n");
    EXPECT_EQ(lines(text, "tcptrail_resets_received_total{role=\"client\",port=\"8080\"}"),
              "tcptrail_resets_received_total{role=\"client\",port=\"8080\"} 1\n");
    EXPECT_EQ(lines(text, "tcptrail_connections_open{"),
              "tcptrail_connections_open{state=\"CLOSE_WAIT\"} 0\n"
              "tcptrail_connections_open{state=\"CLOSING\"} 0\n"
              "tcptrail_connections_open{state=\"ESTABLISHED\"} 3\n"
              "tcptrail_connections_open{state=\"FIN_WAIT1\"} 0\n"
              "tcptrail_connections_open{state=\"FIN_WAIT2\"} 0\n"
              "tcptrail_connections_open{state=\"LAST_ACK\"} 0\n"
              "tcptrail_connections_open{state=\"SYN_RECV\"} 0\n"
              "tcptrail_connections_open{state=\"SYN_SENT\"} 0\n");
    EXPECT_EQ(lines(text, "tcptrail_sockets_tracked"), "tcptrail_sockets_tracked 4\n");
    EXPECT_EQ(lines(text, "tcptrail_lost_events_total{"),
              "tcptrail_lost_events_total{reason=\"evicted\"} 0\n"
              "tcptrail_lost_events_total{reason=\"in_transit\"} 0\n"
              "tcptrail_lost_events_total{reason=\"recursion\"} 0\n"
              "tcptrail_lost_events_total{reason=\"ringbuf_full\"} 5\n"
              "tcptrail_lost_events_total{reason=\"state_gap\"} 0\n"
              "tcptrail_lost_events_total{reason=\"unread_at_exit\"} 0\n");
    EXPECT_EQ(lines(text, "process_"), "");  // no process figures given
}

TEST(TcpMetrics, ProcessCollectorFiguresUseClientGolangNames) {
    metrics::TcpMetrics m;
    metrics::ProcessStats p;
    p.cpu_seconds = 1.25;
    p.resident_memory_bytes = 4096;
    p.virtual_memory_bytes = 8192;
    p.open_fds = 12;
    p.max_fds = 1024;
    p.start_time_seconds = 1700000000.5;
    const std::string text = m.render({}, &p);
    EXPECT_EQ(lines(text, "process_"),
              "process_cpu_seconds_total 1.25\n"
              "process_resident_memory_bytes 4096\n"
              "process_virtual_memory_bytes 8192\n"
              "process_open_fds 12\n"
              "process_max_fds 1024\n"
              "process_start_time_seconds 1700000000.5\n");
}

TEST(TcpMetrics, CommFoldsPastTheSeriesLimit) {
    metrics::TcpMetrics m(2);
    for (const char* comm : {"a", "b", "c", "d"}) m.on_open(conn(Role::Client, 40000, 443, comm));
    const std::string text = m.render({}, nullptr);
    EXPECT_EQ(lines(text, "tcptrail_connections_opened_total{"),
              "tcptrail_connections_opened_total{role=\"client\",port=\"443\",comm=\"a\"} 1\n"
              "tcptrail_connections_opened_total{role=\"client\",port=\"443\",comm=\"b\"} 1\n"
              "tcptrail_connections_opened_total{role=\"client\",port=\"other\",comm=\"other\"} 2\n");
    EXPECT_EQ(m.registry().overflow("tcptrail_connections_opened_total"), 2u);
}

TEST(TcpMetrics, ListenQueueCountersAddUpPerNamespace) {
    metrics::TcpMetrics m;
    core::NetstatDelta first;  // a namespace's first sample: its series exist at 0
    first.netns = 4026531840u;
    m.on_netstat(first);
    core::NetstatDelta later = first;
    later.moved = {18, 18, 2, 2, 0};  // ListenOverflows, ListenDrops, SyncookiesSent/Recv/Failed
    m.on_netstat(later);
    m.on_netstat(later);
    const std::string text = m.render({}, nullptr);
    EXPECT_EQ(lines(text, "tcptrail_listen_overflows_total{"),
              "tcptrail_listen_overflows_total{netns=\"4026531840\"} 36\n");
    EXPECT_EQ(lines(text, "tcptrail_syncookies_recv_total{"), "tcptrail_syncookies_recv_total{netns=\"4026531840\"} 4\n");
    EXPECT_EQ(lines(text, "tcptrail_syncookies_failed_total{"),
              "tcptrail_syncookies_failed_total{netns=\"4026531840\"} 0\n");
    EXPECT_NE(text.find("# TYPE tcptrail_listen_drops_total counter\n"), std::string::npos);
}

TEST(TcpMetrics, PortLabelIsTheServicePort) {
    EXPECT_EQ(metrics::port_label(conn(Role::Client, 40000, 443, "")), "443");
    EXPECT_EQ(metrics::port_label(conn(Role::Server, 8080, 51000, "")), "8080");
    EXPECT_EQ(metrics::port_label(conn(Role::Unknown, 51000, 22, "")), "22");
    EXPECT_EQ(metrics::port_label(conn(Role::Unknown, 0, 22, "")), "22");
}

TEST(ListenAddress, AcceptsPortAloneIPv4AndBracketedIPv6) {
    std::string err;
    auto a = metrics::parse_listen_address(":9464", err);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "0.0.0.0");
    EXPECT_EQ(a->port, 9464);
    a = metrics::parse_listen_address("127.0.0.1:1", err);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->display(), "127.0.0.1:1");
    a = metrics::parse_listen_address("[::1]:65535", err);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "::1");
    EXPECT_EQ(a->display(), "[::1]:65535");
}

TEST(ListenAddress, RejectsBadAddressesAndPortsWithAReason) {
    for (const char* bad : {"9464", ":0", ":65536", ":", ":94a", "localhost:9464", "::1:9464", "[::1:9464",
                            "[1.2.3.4]:80", "1.2.3:80", "[]:80"}) {
        std::string err;
        EXPECT_FALSE(metrics::parse_listen_address(bad, err)) << bad;
        EXPECT_NE(err.find(bad), std::string::npos) << bad << " -> " << err;
    }
}

}  // namespace
}  // namespace tcptrail::testing
