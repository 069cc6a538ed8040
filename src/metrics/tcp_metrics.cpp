#include "metrics/tcp_metrics.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/netstat.hpp"
#include "core/tcp_state.hpp"

namespace tcptrail::metrics {

namespace {

// Seconds: 100 µs .. 10 s, with marks just past the SYN retransmit times
// (1 s, then 3 s and 7 s cumulative) so one or two lost SYNs land in their own buckets.
const std::vector<uint64_t> kLatencyBoundsUs = {
    100,     250,     500,       1'000,     2'500,     5'000,     10'000,    25'000,    50'000,    100'000,
    250'000, 500'000, 1'000'000, 1'500'000, 2'000'000, 3'000'000, 3'500'000, 5'000'000, 7'500'000, 10'000'000};

// Tracked sockets are never in these (TIME_WAIT lives in a mini-socket, listeners are not connections).
bool reported_state(uint8_t s) {
    return core::is_valid_state(s) && s != TT_TIME_WAIT && s != TT_LISTEN && s != TT_NEW_SYN_RECV && s != TT_CLOSE;
}

const LabelSpec kRole{"role", false};
const LabelSpec kPort{"port", true};
const LabelSpec kComm{"comm", true};

}  // namespace

std::string port_label(const core::ConnRecord& r) {
    const uint16_t l = r.tuple.lport, p = r.tuple.rport;
    switch (r.role) {
        case core::Role::Client: return std::to_string(p);
        case core::Role::Server: return std::to_string(l);
        case core::Role::Unknown: break;
    }
    return std::to_string(l && p ? std::min(l, p) : std::max(l, p));
}

TcpMetrics::TcpMetrics(size_t max_series)
    : reg_(max_series),
      opened_(reg_.counter("tcptrail_connections_opened_total",
                           "Connections whose traced handshake reached ESTABLISHED.", {kRole, kPort, kComm})),
      closed_(reg_.counter("tcptrail_connections_closed_total", "Connections that ended, by who or what closed them.",
                           {kRole, {"closed_by", false}, kPort, kComm})),
      handshake_(reg_.histogram("tcptrail_handshake_duration_seconds",
                                "Handshake duration: client SYN_SENT to ESTABLISHED, server first SYN-ACK to "
                                "ESTABLISHED, including SYN / SYN-ACK retransmissions.",
                                {kRole, kPort}, kLatencyBoundsUs)),
      accept_wait_(reg_.histogram("tcptrail_accept_wait_seconds",
                                  "Server connections: ESTABLISHED to accept() returning it (observed at close).",
                                  {kPort}, kLatencyBoundsUs)),
      syn_retrans_(reg_.counter("tcptrail_syn_retransmits_total", "SYN retransmissions by clients.", {kPort})),
      synack_retrans_(
          reg_.counter("tcptrail_synack_retransmits_total", "SYN-ACK retransmissions by servers.", {kPort})),
      retrans_(reg_.counter("tcptrail_retransmits_total",
                            "Data retransmissions after the handshake (FIN retransmissions excluded).",
                            {kRole, kPort})),
      fin_retrans_(reg_.counter("tcptrail_fin_retransmits_total",
                                "Retransmissions while this side's FIN was outstanding.", {kRole, kPort})),
      resets_sent_(reg_.counter("tcptrail_resets_sent_total", "RSTs sent by traced sockets.", {kRole, kPort})),
      resets_received_(
          reg_.counter("tcptrail_resets_received_total", "RSTs received by traced sockets.", {kRole, kPort})),
      open_(reg_.gauge("tcptrail_connections_open", "Tracked connections not yet closed, by TCP state.",
                       {{"state", false}})),
      tracked_(reg_.gauge("tcptrail_sockets_tracked",
                          "Sockets the tracker holds (open ones and closed ones in their grace period).", {})),
      lost_(reg_.counter("tcptrail_lost_events_total",
                         "Kernel events lost (ringbuf_full, recursion, unread_at_exit, in_transit, state_gap) and "
                         "sockets evicted (evicted).",
                         {{"reason", false}})) {
    for (auto reason : {core::LossReason::RingbufFull, core::LossReason::Recursion, core::LossReason::Evicted,
                        core::LossReason::UnreadAtExit, core::LossReason::InTransit, core::LossReason::StateGap}) {
        reg_.add(lost_, {core::loss_reason_name(reason)}, 0);
    }
    // SYN floods and full accept queues fire no tracepoint: the kernel's own
    // counters, sampled per network namespace, counted from the start of tracing.
    for (size_t i = 0; i < netstat_.size(); ++i) {
        netstat_[i] = &reg_.counter(fmt::format("tcptrail_{}_total", core::netstat_json_name(i)),
                                    fmt::format("Kernel TcpExt {} of the network namespace, since tracing began.",
                                                core::netstat_kernel_name(i)),
                                    {{"netns", true}});
    }
}

void TcpMetrics::on_netstat(const core::NetstatDelta& d) {
    const std::string netns = std::to_string(d.netns);
    for (size_t i = 0; i < netstat_.size(); ++i) reg_.add(*netstat_[i], {netns}, d.moved[i]);
    changed_ = true;
}

void TcpMetrics::on_open(const core::ConnRecord& r) {
    const std::string role = core::role_name(r.role), port = port_label(r);
    reg_.add(opened_, {role, port, r.comm});
    if (r.handshake_us) reg_.observe(handshake_, {role, port}, *r.handshake_us);
    changed_ = true;
}

void TcpMetrics::on_conn(const core::ConnRecord& r) {
    if (r.open) return;  // still open at exit: it did not close
    const std::string role = core::role_name(r.role), port = port_label(r);
    const char* closed_by = core::closed_by_name(r.closed_by);
    reg_.add(closed_, {role, closed_by ? closed_by : "unknown", port, r.comm});
    if (r.accept_wait_us) reg_.observe(accept_wait_, {port}, *r.accept_wait_us);
    if (r.role == core::Role::Client) reg_.add(syn_retrans_, {port}, r.syn_retrans);
    if (r.role == core::Role::Server) reg_.add(synack_retrans_, {port}, r.synack_retrans);
    reg_.add(retrans_, {role, port}, r.retrans);
    reg_.add(fin_retrans_, {role, port}, r.fin_retrans);
    reg_.add(resets_sent_, {role, port}, r.resets_sent);
    reg_.add(resets_received_, {role, port}, r.resets_received);
    changed_ = true;
}

void TcpMetrics::on_lost(uint64_t count, core::LossReason reason) {
    reg_.add(lost_, {core::loss_reason_name(reason)}, count);
    changed_ = true;
}

std::string TcpMetrics::render(const LiveView& live, const ProcessStats* process) {
    for (size_t s = 0; s < live.open_by_state.size(); ++s) {
        const auto state = static_cast<uint8_t>(s);
        if (reported_state(state)) reg_.set(open_, {std::string(core::state_name(state))}, live.open_by_state[s]);
    }
    reg_.set(tracked_, {}, live.sockets_tracked);
    std::string out;
    out.reserve(64 * 1024);
    reg_.render(out);
    if (process) {
        auto put = [&out](const char* name, const char* type, const char* help, auto value) {
            fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name,
                           value);
        };
        put("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
            process->cpu_seconds);
        put("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", process->resident_memory_bytes);
        put("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", process->virtual_memory_bytes);
        put("process_open_fds", "gauge", "Number of open file descriptors.", process->open_fds);
        put("process_max_fds", "gauge", "Maximum number of open file descriptors.", process->max_fds);
        put("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
            process->start_time_seconds);
    }
    changed_ = false;
    return out;
}

}  // namespace tcptrail::metrics
