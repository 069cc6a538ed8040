#include "sinks/table_sink.hpp"

#include <cstring>

#include "core/tcp_state.hpp"
#include "sinks/format.hpp"

namespace tcptrail::sinks {

namespace {
using It = std::back_insert_iterator<fmt::memory_buffer>;

std::string endpoint(const core::SocketTuple& t, bool local) {
    std::string a = local ? laddr_string(t) : raddr_string(t);
    uint16_t port = local ? t.lport : t.rport;
    return t.family == 6 ? fmt::format("[{}]:{}", a, port) : fmt::format("{}:{}", a, port);
}

std::string ms(std::optional<uint64_t> us) { return us ? fmt::format("{:.3f}", *us / 1000.0) : "-"; }

// Time of day only: a table is read live; JSON carries full timestamps.
std::string clock_time(const TimeBase& tb, uint64_t mono_ns) { return tb.rfc3339(mono_ns).substr(11, 12); }
}  // namespace

void TableSink::header() {
    if (header_done_) return;
    header_done_ = true;
    fmt::format_to(It(out_.buffer()), "{:<12} {:>7} {:<15} {:<7} {:<28} {:<28} {:>9} {:>7} {:<12} {:>10} {:>9} {:>9}  {}\n",
                   "END(UTC)", "PID", "COMM", "ROLE", "LOCAL", "REMOTE", "HS_MS", "RETRANS", "CLOSED_BY", "DUR_MS",
                   "TX_B", "RX_B", "STATES");
}

void TableSink::on_conn(const core::ConnRecord& r) {
    header();
    std::string states;
    for (const auto& s : r.states) {
        if (!states.empty()) states += '>';
        states += core::state_name(s.state);
    }
    const char* closed = core::closed_by_name(r.closed_by);
    std::string retrans = fmt::format("{}", r.syn_retrans + r.synack_retrans + r.retrans + r.fin_retrans);
    fmt::format_to(It(out_.buffer()), "{:<12} {:>7} {:<15} {:<7} {:<28} {:<28} {:>9} {:>7} {:<12} {:>10} {:>9} {:>9}  {}{}{}\n",
                   r.open ? "open" : clock_time(time_, r.end_ns), r.pid ? fmt::format("{}", *r.pid) : "-",
                   r.pid ? r.comm : "-", core::role_name(r.role), endpoint(r.tuple, true), endpoint(r.tuple, false),
                   ms(r.handshake_us), retrans, closed ? closed : "open",
                   fmt::format("{:.3f}", r.duration_us / 1e3), r.bytes_sent, r.bytes_received,
                   states, r.partial ? " (partial)" : "",
                   r.error ? fmt::format(" {}", core::errno_name(r.error)) : "");
    out_.end_record();
}

void TableSink::on_event(const core::EventRecord& ev) {
    const tt_event& e = *ev.ev;
    core::SocketTuple t = core::tuple_of(e);
    std::string what;
    switch (e.type) {
        case TT_EV_STATE:
            what = fmt::format("{} -> {}", core::state_name(e.old_state), core::state_name(e.new_state));
            break;
        case TT_EV_RETRANSMIT: what = fmt::format("retransmit in {}", core::state_name(e.new_state)); break;
        case TT_EV_SYNACK_RETRANS: what = fmt::format("SYN-ACK retransmit #{}", e.aux); break;
        case TT_EV_RESET_SENT: what = "RST sent"; break;
        case TT_EV_RESET_RECEIVED: what = "RST received"; break;
        case TT_EV_ACCEPT:
            what = fmt::format("accepted by {} ({})", e.pid, std::string(e.comm, strnlen(e.comm, sizeof(e.comm))));
            break;
        case TT_EV_EXISTING: what = fmt::format("existing, {}", core::state_name(e.new_state)); break;
        default: what = "?"; break;
    }
    fmt::format_to(It(out_.buffer()), "  {} event id={} {} {} {}\n", clock_time(time_, e.ts_ns),
                   ev.conn_id ? fmt::format("{}", ev.conn_id) : "-", endpoint(t, true), endpoint(t, false), what);
    out_.end_record();
}

void TableSink::on_close_wait(const core::ConnRecord& r, uint64_t age_us) {
    fmt::format_to(It(out_.buffer()), "WARNING: {} -> {} ({} {}) in CLOSE_WAIT for {:.1f} s: the peer closed, this side never did\n",
                   endpoint(r.tuple, true), endpoint(r.tuple, false), r.pid ? r.comm : "?",
                   r.pid ? fmt::format("{}", *r.pid) : "-", age_us / 1e6);
    out_.end_record();
}

void TableSink::on_netstat(const core::NetstatDelta& d) {
    if (!d.any()) return;
    fmt::format_to(It(out_.buffer()), "WARNING: {} (in the {:.1f} s to {})\n", listen_queue_warning(d.netns, d.moved),
                   d.interval_ns / 1e9, clock_time(time_, d.ts_ns));
    out_.end_record();
}

void TableSink::on_lost(uint64_t count, core::LossReason reason) {
    fmt::format_to(It(out_.buffer()), "WARNING: lost {} events ({})\n", count, core::loss_reason_name(reason));
    out_.end_record();
}

}  // namespace tcptrail::sinks
