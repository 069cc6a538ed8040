#include "sinks/table_sink.hpp"

#include <cassert>
#include <cstring>

#include "core/tcp_state.hpp"
#include "sinks/format.hpp"

namespace tcptrail::sinks {

namespace {
using It = fmt::appender;  // writes straight into the buffer (a back_inserter goes through a copy)

// A task's name as the kernel holds it may have any byte but NUL: control
// characters would break the line (or forge one), so they show as '?'.
char printable(unsigned char c) { return c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c); }

void append_comm(fmt::memory_buffer& out, std::string_view comm) {
    for (unsigned char c : comm) out.push_back(printable(c));
}

// Time of day to the millisecond (HH:MM:SS.mmm), in `stamp`: a table is read
// live; JSON carries full timestamps.
std::string_view clock_time(const TimeBase& tb, uint64_t mono_ns, char (&stamp)[TimeBase::kRfc3339Size]) {
    tb.write_rfc3339(stamp, mono_ns);
    return {stamp + 11, 12};
}

// A connection's line, written through a cursor into room reserved once (as
// JSON records are, sinks/json_writer.hpp): one line a connection is the hot
// path of the default mode, and a capacity check per character was a tenth of
// the tracer's time. The caller's bound covers the widest value of each field.
class LineCursor {
public:
    LineCursor(fmt::memory_buffer& out, size_t bound) : out_(out) {
        const size_t at = out_.size();
        out_.resize(at + bound);
        p_ = out_.data() + at;
        end_ = p_ + bound;
    }
    ~LineCursor() {
        assert(p_ <= end_);
        out_.resize(static_cast<size_t>(p_ - out_.data()));
    }
    LineCursor(const LineCursor&) = delete;
    LineCursor& operator=(const LineCursor&) = delete;

    char* pos() const { return p_; }
    void set(char* p) { p_ = p; }
    void ch(char c) { *p_++ = c; }
    void str(std::string_view s) {
        std::memcpy(p_, s.data(), s.size());
        p_ += s.size();
    }
    void spaces(size_t n) {
        std::memset(p_, ' ', n);
        p_ += n;
    }
    // Spaces after what was written since `from`, up to `width` (left-aligned).
    void pad_from(const char* from, size_t width) {
        const auto used = static_cast<size_t>(p_ - from);
        if (used < width) spaces(width - used);
    }
    // `s` right-aligned in `width`.
    void right(std::string_view s, size_t width) {
        if (s.size() < width) spaces(width - s.size());
        str(s);
    }
    void right_uint(uint64_t v, size_t width) {
        const fmt::format_int t(v);
        right({t.data(), t.size()}, width);
    }
    // Microseconds as milliseconds with three decimals, right-aligned: the same
    // text as "{:.3f}" of us / 1000.0, by integer arithmetic.
    void right_ms3(uint64_t us, size_t width) {
        const fmt::format_int whole(us / 1000);
        const size_t n = whole.size() + 4;
        if (n < width) spaces(width - n);
        str({whole.data(), whole.size()});
        const auto frac = static_cast<unsigned>(us % 1000);
        ch('.');
        ch(static_cast<char>('0' + frac / 100));
        ch(static_cast<char>('0' + frac / 10 % 10));
        ch(static_cast<char>('0' + frac % 10));
    }
    void comm(std::string_view s) {
        for (unsigned char c : s) ch(printable(c));
    }

private:
    fmt::memory_buffer& out_;
    char* p_;
    char* end_;
};

// One connection's table line (TableSink::on_conn).
void write_conn_line(LineCursor& c, const core::ConnRecord& r, std::string_view error, const TimeBase& time) {
    if (r.open) {
        c.str("open");
        c.spaces(8);
    } else {
        char stamp[TimeBase::kRfc3339Size];
        c.str(clock_time(time, r.end_ns, stamp));
    }
    c.ch(' ');
    if (r.pid) {
        c.right_uint(*r.pid, 7);
    } else {
        c.right("-", 7);
    }
    c.ch(' ');
    const char* at = c.pos();
    if (r.pid) {
        c.comm(r.comm);
    } else {
        c.ch('-');
    }
    c.pad_from(at, 15);
    c.ch(' ');
    at = c.pos();
    c.str(core::role_name(r.role));
    c.pad_from(at, 7);
    c.ch(' ');
    for (bool local : {true, false}) {
        at = c.pos();
        c.set(write_endpoint(c.pos(), r.tuple, local));
        c.pad_from(at, 28);
        c.ch(' ');
    }
    if (r.handshake_us) {
        c.right_ms3(*r.handshake_us, 9);
    } else {
        c.right("-", 9);
    }
    c.ch(' ');
    c.right_uint(uint64_t{r.syn_retrans} + r.synack_retrans + r.retrans + r.fin_retrans, 7);
    c.ch(' ');
    at = c.pos();
    const char* closed = core::closed_by_name(r.closed_by);
    c.str(closed ? closed : "open");
    c.pad_from(at, 12);
    c.ch(' ');
    c.right_ms3(r.duration_us, 10);
    c.ch(' ');
    c.right_uint(r.bytes_sent, 9);
    c.ch(' ');
    c.right_uint(r.bytes_received, 9);
    c.str("  ");
    for (size_t i = 0; i < r.states.size(); ++i) {
        if (i) c.ch('>');
        c.str(core::state_name(r.states[i].state));
    }
    if (r.partial) c.str(" (partial)");
    if (r.error) {
        c.ch(' ');
        c.str(error);
    }
    c.ch('\n');
}
}  // namespace

void TableSink::header() {
    if (header_done_) return;
    header_done_ = true;
    fmt::format_to(It(out_.buffer()),
                   "{:<12} {:>7} {:<15} {:<7} {:<28} {:<28} {:>9} {:>7} {:<12} {:>10} {:>9} {:>9}  {}\n", "END(UTC)",
                   "PID", "COMM", "ROLE", "LOCAL", "REMOTE", "HS_MS", "RETRANS", "CLOSED_BY", "DUR_MS", "TX_B", "RX_B",
                   "STATES");
}

void TableSink::on_conn(const core::ConnRecord& r) {
    header();
    const std::string_view error = r.error ? core::errno_name(r.error) : std::string_view();
    // Every field at its widest: numbers of 20 digits, a 16-byte name, IPv6
    // endpoints, a state name of up to 11 characters a state.
    const size_t bound = 12 + 1 + 20 + 1 + 16 + 1 + 7 + 1 + 2 * (kMaxEndpointText + 1) + 24 + 1 + 20 + 1 + 12 + 1 + 24 +
                         2 * (1 + 20) + 2 + 12 * r.states.size() + 10 + 1 + error.size() + 1;
    {
        LineCursor c(out_.buffer(), bound);
        write_conn_line(c, r, error, time_);
    }  // the cursor gives back the room it did not use
    out_.end_record();
}

void TableSink::on_event(const core::EventRecord& ev) {
    // --events writes ~11 of these lines per connection: formatted straight into
    // the output buffer, with no string built on the heap.
    const tt_event& e = *ev.ev;
    const core::SocketTuple t = core::tuple_of(e);
    fmt::memory_buffer& out = out_.buffer();
    char stamp[TimeBase::kRfc3339Size];
    out.append(std::string_view("  "));
    out.append(clock_time(time_, e.ts_ns, stamp));
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
            append_comm(out, std::string_view(e.comm, strnlen(e.comm, sizeof(e.comm))));
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
    append_comm(comm, r.pid ? std::string_view(r.comm) : "?");
    fmt::format_to(It(out_.buffer()),
                   "WARNING: {} -> {} ({} {}) in CLOSE_WAIT for {:.1f} s: the peer closed, this side never did\n",
                   endpoint_string(r.tuple, true), endpoint_string(r.tuple, false),
                   std::string_view(comm.data(), comm.size()), r.pid ? fmt::format("{}", *r.pid) : "-", age_us / 1e6);
    out_.end_record();
}

void TableSink::on_netstat(const core::NetstatDelta& d) {
    if (!d.any()) return;
    char stamp[TimeBase::kRfc3339Size];
    fmt::format_to(It(out_.buffer()), "WARNING: {} (in the {:.1f} s to {})\n", listen_queue_warning(d.netns, d.moved),
                   d.interval_ns / 1e9, clock_time(time_, d.ts_ns, stamp));
    out_.end_record();
}

void TableSink::on_lost(uint64_t count, core::LossReason reason) {
    fmt::format_to(It(out_.buffer()), "WARNING: lost {} events ({})\n", count, core::loss_reason_name(reason));
    out_.end_record();
}

}  // namespace tcptrail::sinks
