#include "sinks/summary_report.hpp"

#include <algorithm>
#include <vector>

#include "sinks/format.hpp"

namespace tcptrail::sinks {

namespace {

using It = fmt::appender;  // writes straight into the buffer (a back_inserter goes through a copy)
using core::Summary;

// Groups ordered by how many samples they hold, largest first.
template <typename Map, typename Count>
std::vector<typename Map::const_pointer> by_size(const Map& m, Count count, size_t limit) {
    std::vector<typename Map::const_pointer> v;
    v.reserve(m.size());
    for (const auto& kv : m) v.push_back(&kv);
    std::stable_sort(v.begin(), v.end(), [&](auto a, auto b) { return count(a->second) > count(b->second); });
    if (v.size() > limit) v.resize(limit);
    return v;
}

std::string ms(uint64_t us) { return fmt::format("{:.3f}", us / 1000.0); }

void latency_rows(fmt::memory_buffer& b, const std::map<std::string, Summary::LatencyGroup>& groups, size_t limit) {
    fmt::format_to(It(b), "  {:<40} {:>8} {:>10} {:>10} {:>10} {:>10} {:>8}\n", "", "count", "p50_ms", "p90_ms",
                   "p99_ms", "max_ms", "retx");
    for (auto* g : by_size(groups, [](const auto& x) { return x.handshake_us.count(); }, limit)) {
        const auto& h = g->second.handshake_us;
        fmt::format_to(It(b), "  {:<40} {:>8} {:>10} {:>10} {:>10} {:>10} {:>8}\n", g->first, h.count(),
                       ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)), ms(h.max()),
                       g->second.handshake_retrans);
    }
}

void json_latency(fmt::memory_buffer& b, const std::map<std::string, Summary::LatencyGroup>& groups) {
    b.push_back('{');
    bool first = true;
    for (const auto& [key, g] : groups) {
        if (!first) b.push_back(',');
        first = false;
        append_json_string(b, key);
        const auto& h = g.handshake_us;
        fmt::format_to(It(b),
                       ":{{\"count\":{},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"max_us\":{},\"retransmitted\":{}}}",
                       h.count(), h.quantile(0.5), h.quantile(0.9), h.quantile(0.99), h.max(), g.handshake_retrans);
    }
    b.push_back('}');
}

void json_counts(fmt::memory_buffer& b, const std::map<std::string, uint64_t>& m) {
    b.push_back('{');
    bool first = true;
    for (const auto& [k, v] : m) {
        if (!first) b.push_back(',');
        first = false;
        append_json_string(b, k);
        fmt::format_to(It(b), ":{}", v);
    }
    b.push_back('}');
}

void json_briefs(fmt::memory_buffer& b, const std::vector<Summary::ConnBrief>& list, const char* value_name) {
    b.push_back('[');
    for (size_t i = 0; i < list.size(); ++i) {
        const auto& c = list[i];
        if (i) b.push_back(',');
        fmt::format_to(It(b), "{{\"id\":{},\"process\":", c.id);
        append_json_string(b, c.process);
        fmt::format_to(It(b), ",\"role\":\"{}\",\"local\":\"{}\",\"remote\":\"{}\",\"{}\":{},\"syn_retrans\":{},"
                              "\"synack_retrans\":{}}}",
                       c.role, c.local, c.remote, value_name, c.value, c.syn_retrans, c.synack_retrans);
    }
    b.push_back(']');
}

uint64_t moved_total(const core::NetstatCounters& c) {
    uint64_t n = 0;
    for (uint64_t v : c) n += v;
    return n;
}

void listen_queue_text(fmt::memory_buffer& b, const Summary& s) {
    fmt::format_to(It(b), "\nListen queue and SYN cookies (kernel TcpExt counters, change over the trace)\n");
    if (!s.netstat_samples) {
        fmt::format_to(It(b), "  not sampled (a capture from a tcptrail without it)\n");
        return;
    }
    const char* row = "  {:<24} {:>16} {:>12} {:>15} {:>15} {:>17}\n";
    fmt::format_to(It(b), fmt::runtime(row), "netns", "ListenOverflows", "ListenDrops", "SyncookiesSent",
                   "SyncookiesRecv", "SyncookiesFailed");
    auto print_row = [&](const std::string& name, const core::NetstatCounters& c) {
        fmt::format_to(It(b), fmt::runtime(row), name, c[0], c[1], c[2], c[3], c[4]);
    };
    const auto moved = by_size(s.listen_queue_by_netns, moved_total, 10);
    for (const auto* g : moved) {
        if (moved_total(g->second)) print_row(g->first ? fmt::format("{}", g->first) : "other", g->second);
    }
    print_row(fmt::format("all {} namespaces", s.listen_queue_by_netns.size()), s.listen_queue_total);
    for (const auto* g : moved) {
        if (moved_total(g->second)) fmt::format_to(It(b), "WARNING: {}\n", listen_queue_warning(g->first, g->second));
    }
}

void listen_queue_json(fmt::memory_buffer& b, const Summary& s) {
    b.append(std::string_view(",\"listen_queue\":"));
    if (!s.netstat_samples) {
        b.append(std::string_view("null"));
        return;
    }
    auto counters = [&](const core::NetstatCounters& c) {
        for (size_t i = 0; i < c.size(); ++i) {
            fmt::format_to(It(b), "{}\"{}\":{}", i ? "," : "{", core::netstat_json_name(i), c[i]);
        }
        b.push_back('}');
    };
    fmt::format_to(It(b), "{{\"namespaces\":{},\"total\":", s.listen_queue_by_netns.size());
    counters(s.listen_queue_total);
    b.append(std::string_view(",\"by_netns\":{"));
    bool first = true;
    for (const auto& [netns, c] : s.listen_queue_by_netns) {
        fmt::format_to(It(b), "{}\"{}\":", first ? "" : ",", netns ? fmt::format("{}", netns) : "other");
        first = false;
        counters(c);
    }
    b.append(std::string_view("}}"));
}

}  // namespace

void write_summary_text(const Summary& s, OutputStream& out) {
    auto& b = out.buffer();
    fmt::format_to(It(b), "\n=== tcptrail summary: {} connections ({} still open)\n", s.connections, s.open_at_end);
    for (const auto& [reason, n] : s.lost) fmt::format_to(It(b), "WARNING: lost {} events ({})\n", n, reason);

    fmt::format_to(It(b), "\nHandshake latency (quantiles within {:.1f}%)\n", Summary::LatencyGroup{}.handshake_us.kRelativeError * 100);
    latency_rows(b, s.handshake_by_role, 10);
    fmt::format_to(It(b), " by remote endpoint (client) / listening port (server):\n");
    latency_rows(b, s.handshake_by_endpoint, 10);
    fmt::format_to(It(b), " by process:\n");
    latency_rows(b, s.handshake_by_process, 10);
    if (!s.slow_retransmitted_handshakes.empty()) {
        fmt::format_to(It(b), " handshakes that needed retransmits (slowest first):\n");
        for (const auto& c : s.slow_retransmitted_handshakes) {
            fmt::format_to(It(b), "  {:>10} ms  {} {} {} -> {}  syn_retrans={} synack_retrans={}\n", ms(c.value),
                           c.process, c.role, c.local, c.remote, c.syn_retrans, c.synack_retrans);
        }
    }

    fmt::format_to(It(b), "\nWho closes (process role peer: closed_by tally)\n");
    for (auto* g : by_size(s.closers, [](const auto& t) { return t.total; }, 15)) {
        fmt::format_to(It(b), "  {:<48} {:>7}  ", g->first, g->second.total);
        for (const auto& [who, n] : g->second.by_closed_by) {
            fmt::format_to(It(b), " {} {:.0f}%", who, 100.0 * n / g->second.total);
        }
        b.push_back('\n');
    }
    fmt::format_to(It(b), " entering TIME_WAIT by local port:");
    for (auto* g : by_size(s.time_wait_by_local_port, [](uint64_t n) { return n; }, 10)) {
        fmt::format_to(It(b), " {}={}", g->first, g->second);
    }
    fmt::format_to(It(b), "\n entering TIME_WAIT by process:");
    for (auto* g : by_size(s.time_wait_by_process, [](uint64_t n) { return n; }, 10)) {
        fmt::format_to(It(b), " {}={}", g->first, g->second);
    }
    fmt::format_to(It(b), "\n still in CLOSE_WAIT (peer closed, this side never did): {}\n", s.close_wait_total);
    for (const auto& c : s.close_wait_open) {
        fmt::format_to(It(b), "  age {:>10} ms  {} {} -> {}\n", ms(c.value), c.process, c.local, c.remote);
    }

    fmt::format_to(It(b), "\nRetransmits and resets (by peer)\n");
    fmt::format_to(It(b), "  {:<40} {:>8} {:>8} {:>9} {:>9}\n", "", "conns", "retrans", "rst_sent", "rst_recv");
    for (auto* g : by_size(s.retrans_by_endpoint,
                           [](const auto& r) { return r.retrans * 1'000'000 + r.resets_sent + r.resets_received; }, 10)) {
        fmt::format_to(It(b), "  {:<40} {:>8} {:>8} {:>9} {:>9}\n", g->first, g->second.connections, g->second.retrans,
                       g->second.resets_sent, g->second.resets_received);
    }
    if (!s.top_retrans.empty()) {
        fmt::format_to(It(b), " connections with the most data retransmits:\n");
        for (const auto& c : s.top_retrans) {
            fmt::format_to(It(b), "  {:>6}  {} {} {} -> {} (id {})\n", c.value, c.process, c.role, c.local, c.remote, c.id);
        }
    }
    listen_queue_text(b, s);
    out.end_record();
}

void write_summary_json(const Summary& s, OutputStream& out) {
    auto& b = out.buffer();
    fmt::format_to(It(b), "{{\"type\":\"summary\",\"connections\":{},\"open_at_end\":{},\"lost\":", s.connections,
                   s.open_at_end);
    json_counts(b, s.lost);
    fmt::format_to(It(b), ",\"handshake\":{{\"relative_error\":{},\"by_role\":", core::LogHistogram::kRelativeError);
    json_latency(b, s.handshake_by_role);
    b.append(std::string_view(",\"by_endpoint\":"));
    json_latency(b, s.handshake_by_endpoint);
    b.append(std::string_view(",\"by_process\":"));
    json_latency(b, s.handshake_by_process);
    b.append(std::string_view(",\"retransmitted\":"));
    json_briefs(b, s.slow_retransmitted_handshakes, "handshake_us");
    b.append(std::string_view("},\"closers\":{"));
    bool first = true;
    for (const auto& [key, t] : s.closers) {
        if (!first) b.push_back(',');
        first = false;
        append_json_string(b, key);
        b.push_back(':');
        json_counts(b, t.by_closed_by);
    }
    b.append(std::string_view("},\"time_wait_by_local_port\":"));
    json_counts(b, s.time_wait_by_local_port);
    b.append(std::string_view(",\"time_wait_by_process\":"));
    json_counts(b, s.time_wait_by_process);
    fmt::format_to(It(b), ",\"close_wait\":{{\"count\":{},\"oldest\":", s.close_wait_total);
    json_briefs(b, s.close_wait_open, "age_us");
    b.append(std::string_view("},\"retransmits_by_peer\":{"));
    first = true;
    for (const auto& [key, g] : s.retrans_by_endpoint) {
        if (!first) b.push_back(',');
        first = false;
        append_json_string(b, key);
        fmt::format_to(It(b), ":{{\"connections\":{},\"retrans\":{},\"resets_sent\":{},\"resets_received\":{}}}",
                       g.connections, g.retrans, g.resets_sent, g.resets_received);
    }
    b.append(std::string_view("},\"top_retrans\":"));
    json_briefs(b, s.top_retrans, "retrans");
    listen_queue_json(b, s);
    fmt::format_to(It(b), ",\"folded_groups\":{}}}\n", s.folded_groups);
    out.end_record();
}

}  // namespace tcptrail::sinks
