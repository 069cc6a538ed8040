#include "sinks/table_sink.hpp"

#include <cstring>

#include "core/tcp_state.hpp"
#include "sinks/format.hpp"

namespace tcptrail::sinks {

namespace {
using It = fmt::appender;  // writes straight into the buffer (a back_inserter goes through a copy)
// Per-field scratch space on the stack: a line costs no heap allocation.
using Field = fmt::memory_buffer;

// Appends `s` padded with spaces to `width` (left-aligned unless `right`).
void append_padded(fmt::memory_buffer& out, std::string_view s, size_t width, bool right = false) {
    static constexpr std::string_view kSpaces = "                                ";  // widest column
    const std::string_view pad = kSpaces.substr(0, s.size() < width ? width - s.size() : 0);
    if (right) out.append(pad);
    out.append(s);
    if (!right) out.append(pad);
}

std::string_view view(const Field& f) { return {f.data(), f.size()}; }

// Microseconds as milliseconds with three decimals, by integer arithmetic: the
// same text as "{:.3f}" of us / 1000.0, without formatting a double.
void append_ms3(Field& f, uint64_t us) {
    const fmt::format_int whole(us / 1000);
    f.append(std::string_view(whole.data(), whole.size()));
    const auto frac = static_cast<unsigned>(us % 1000);
    const char digits[4] = {'.', static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                            static_cast<char>('0' + frac % 10)};
    f.append(std::string_view(digits, 4));
}

void append_uint(Field& f, uint64_t v) {
    const fmt::format_int s(v);
    f.append(std::string_view(s.data(), s.size()));
}

// A task's name as the kernel holds it may have any byte but NUL: control
// characters would break the line (or forge one), so they show as '?'.
void append_comm_padded(fmt::memory_buffer& out, std::string_view comm, size_t width) {
    Field f;
    for (unsigned char ch : comm) f.push_back(ch < 0x20 || ch == 0x7f ? '?' : static_cast<char>(ch));
    append_padded(out, view(f), width);
}

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
    fmt::memory_buffer& out = out_.buffer();
    Field f;
    if (r.open) {
        append_padded(out, "open", 12);
    } else {
        time_.append_rfc3339(f, r.end_ns);
        out.append(view(f).substr(11, 12));  // time of day to the millisecond: HH:MM:SS.mmm
    }
    out.push_back(' ');
    f.clear();
    if (r.pid) append_uint(f, *r.pid);
    append_padded(out, r.pid ? view(f) : "-", 7, true);
    out.push_back(' ');
    append_comm_padded(out, r.pid ? std::string_view(r.comm) : "-", 15);
    out.push_back(' ');
    append_padded(out, core::role_name(r.role), 7);
    out.push_back(' ');
    for (bool local : {true, false}) {
        f.clear();
        append_endpoint(f, r.tuple, local);
        append_padded(out, view(f), 28);
        out.push_back(' ');
    }
    f.clear();
    if (r.handshake_us) append_ms3(f, *r.handshake_us);
    append_padded(out, r.handshake_us ? view(f) : "-", 9, true);
    out.push_back(' ');
    f.clear();
    append_uint(f, uint64_t{r.syn_retrans} + r.synack_retrans + r.retrans + r.fin_retrans);
    append_padded(out, view(f), 7, true);
    out.push_back(' ');
    const char* closed = core::closed_by_name(r.closed_by);
    append_padded(out, closed ? closed : "open", 12);
    out.push_back(' ');
    f.clear();
    append_ms3(f, r.duration_us);
    append_padded(out, view(f), 10, true);
    for (uint64_t bytes : {r.bytes_sent, r.bytes_received}) {
        out.push_back(' ');
        f.clear();
        append_uint(f, bytes);
        append_padded(out, view(f), 9, true);
    }
    out.append(std::string_view("  "));
    for (size_t i = 0; i < r.states.size(); ++i) {
        if (i) out.push_back('>');
        out.append(std::string_view(core::state_name(r.states[i].state)));
    }
    if (r.partial) out.append(std::string_view(" (partial)"));
    if (r.error) {
        out.push_back(' ');
        out.append(std::string_view(core::errno_name(r.error)));
    }
    out.push_back('\n');
    out_.end_record();
}

void TableSink::on_event(const core::EventRecord& ev) {
    // --events writes ~11 of these lines per connection: formatted straight into
    // the output buffer, with no string built on the heap.
    const tt_event& e = *ev.ev;
    const core::SocketTuple t = core::tuple_of(e);
    fmt::memory_buffer& out = out_.buffer();
    Field f;
    time_.append_rfc3339(f, e.ts_ns);
    out.append(std::string_view("  "));
    out.append(view(f).substr(11, 12));  // HH:MM:SS.mmm, as in clock_time
    out.append(std::string_view(" event id="));
    if (ev.conn_id) {
        fmt::format_to(It(out), "{}", ev.conn_id);
    } else {
        out.push_back('-');
    }
    out.push_back(' ');
    append_endpoint(out, t, true);
    out.push_back(' ');
    append_endpoint(out, t, false);
    out.push_back(' ');
    switch (e.type) {
        case TT_EV_STATE:
            fmt::format_to(It(out), "{} -> {}", core::state_name(e.old_state), core::state_name(e.new_state));
            break;
        case TT_EV_RETRANSMIT: fmt::format_to(It(out), "retransmit in {}", core::state_name(e.new_state)); break;
        case TT_EV_SYNACK_RETRANS: fmt::format_to(It(out), "SYN-ACK retransmit #{}", e.aux); break;
        case TT_EV_RESET_SENT: out.append(std::string_view("RST sent")); break;
        case TT_EV_RESET_RECEIVED: out.append(std::string_view("RST received")); break;
        case TT_EV_ACCEPT:
            fmt::format_to(It(out), "accepted by {} (", e.pid);
            append_comm_padded(out, std::string_view(e.comm, strnlen(e.comm, sizeof(e.comm))), 0);
            out.push_back(')');
            break;
        case TT_EV_EXISTING: fmt::format_to(It(out), "existing, {}", core::state_name(e.new_state)); break;
        default: out.push_back('?'); break;
    }
    out.push_back('\n');
    out_.end_record();
}

void TableSink::on_close_wait(const core::ConnRecord& r, uint64_t age_us) {
    fmt::memory_buffer comm;
    append_comm_padded(comm, r.pid ? std::string_view(r.comm) : "?", 0);
    fmt::format_to(It(out_.buffer()), "WARNING: {} -> {} ({} {}) in CLOSE_WAIT for {:.1f} s: the peer closed, this side never did\n",
                   endpoint_string(r.tuple, true), endpoint_string(r.tuple, false), view(comm),
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
