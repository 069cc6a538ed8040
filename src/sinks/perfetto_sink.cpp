#include "sinks/perfetto_sink.hpp"

#include <unistd.h>
#include <algorithm>
#include <cstring>

#include "core/tcp_state.hpp"
#include "sinks/format.hpp"
#include "sinks/json_sink.hpp"
#include "sinks/json_writer.hpp"
#include "sinks/private_file.hpp"

namespace tcptrail::sinks {

namespace {

constexpr std::string_view kClosing = "\n]}\n";

// The format's unit is the microsecond; keep the nanoseconds as decimals.
void ts_value(JsonWriter& w, uint64_t ns) {
    w.num(ns / 1000);
    const auto frac = static_cast<unsigned>(ns % 1000);
    const char digits[4] = {'.', static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                            static_cast<char>('0' + frac % 10)};
    w.raw(std::string_view(digits, 4));
}

const char* marker_name(const tt_event& e) {
    switch (e.type) {
        case TT_EV_RETRANSMIT:
            if (e.new_state == TT_SYN_SENT) return "SYN retransmit";
            if (core::is_fin_state(e.new_state)) return "FIN retransmit";
            return "retransmit";
        case TT_EV_SYNACK_RETRANS: return "SYN-ACK retransmit";
        case TT_EV_RESET_SENT: return "RST sent";
        case TT_EV_RESET_RECEIVED: return "RST received";
        default: return nullptr;
    }
}

}  // namespace

PerfettoSink::PerfettoSink(std::string path, TimeBase time, size_t flush_threshold)
    : path_(std::move(path)), time_(time), threshold_(flush_threshold) {
    // Holds addresses: owner-only, like --record.
    CreateStep step{};
    fd_ = create_private_file(path_, step);
    if (fd_ < 0) {
        const int err = -fd_;
        fd_ = -1;
        throw PerfettoError(
            step == CreateStep::Create
                ? fmt::format("cannot create perfetto trace {}: {}", path_, std::strerror(err))
                : fmt::format("cannot restrict perfetto trace {} to mode 0600: {}", path_, std::strerror(err)));
    }
    // What makes the times wall-clock times, first: a file cut short keeps it.
    JsonWriter w(buf_);
    w.raw("{\"displayTimeUnit\":\"ms\",\"otherData\":{\"tool\":\"tcptrail\",\"clock\":\"CLOCK_MONOTONIC\"");
    w.key("ts_unit").plain("us");
    w.key("realtime_minus_monotonic_ns").raw(fmt::format_int(time_.realtime_minus_monotonic_ns).str());
    w.raw("},\"traceEvents\":[");
    if (!flush()) {
        const std::string err = error_;
        throw PerfettoError(err);
    }
}

PerfettoSink::~PerfettoSink() { (void)finish(); }

void PerfettoSink::begin_event(JsonWriter& w) {
    w.raw(first_event_ ? "\n{" : ",\n{");
    first_event_ = false;
}

void PerfettoSink::owner_metadata(uint32_t pid, const core::ConnRecord& r) {
    if (!named_pids_.insert(pid).second) return;
    JsonWriter w(buf_);
    begin_event(w);
    w.raw("\"ph\":\"M\",\"name\":\"process_name\"");
    w.key("pid").num(pid);
    w.raw(",\"args\":{\"name\":");
    if (r.pid) {
        w.text(r.comm);
    } else {
        w.plain("unknown owner");
    }
    w.raw("}}");
}

void PerfettoSink::marker(const tt_event& e, uint64_t conn_id, uint32_t pid) {
    JsonWriter w(buf_);
    begin_event(w);
    w.raw("\"ph\":\"i\",\"s\":\"t\",\"cat\":\"tcp.event\"");
    w.key("name").plain(marker_name(e));
    w.key("pid").num(pid);
    w.key("tid").num(conn_id);
    w.key("ts");
    ts_value(w, e.ts_ns);
    w.key("args");
    write_event_json(w, core::EventRecord{&e, conn_id}, time_);
    w.ch('}');
    min_ts_ns_ = std::min<uint64_t>(min_ts_ns_, e.ts_ns);
}

void PerfettoSink::on_conn(const core::ConnRecord& r) {
    if (finished_ || failed()) return;
    ++connections_;
    const uint32_t pid = r.pid.value_or(kUnknownOwnerPid);
    owner_metadata(pid, r);

    JsonWriter w(buf_);
    // The track: one thread per connection, in connection order.
    begin_event(w);
    w.raw("\"ph\":\"M\",\"name\":\"thread_name\"");
    w.key("pid").num(pid);
    w.key("tid").num(r.id);
    w.raw(",\"args\":{\"name\":");
    w.plain(fmt::format("{} {} \u2192 {}", core::role_name(r.role), endpoint_string(r.tuple, true),
                        endpoint_string(r.tuple, false)));
    w.raw("}}");
    begin_event(w);
    w.raw("\"ph\":\"M\",\"name\":\"thread_sort_index\"");
    w.key("pid").num(pid);
    w.key("tid").num(r.id);
    w.raw(",\"args\":{\"sort_index\":");
    w.num(r.id);
    w.raw("}}");

    // An open connection lasts to the end of tracing (its duration says when that was).
    uint64_t end_ns = r.open ? r.start_ns + r.duration_us * 1000 : r.end_ns;
    if (!r.states.empty()) end_ns = std::max(end_ns, r.states.back().ts_ns);
    end_ns = std::max(end_ns, r.start_ns);
    min_ts_ns_ = std::min(min_ts_ns_, r.start_ns);

    // The whole life, with the record itself as its arguments.
    begin_event(w);
    w.raw("\"ph\":\"X\",\"cat\":\"tcp.conn\"");
    const char* outcome = core::closed_by_name(r.closed_by);
    w.key("name").plain(fmt::format("conn {} ({})", r.id, outcome ? outcome : "open"));
    w.key("pid").num(pid);
    w.key("tid").num(r.id);
    w.key("ts");
    ts_value(w, r.start_ns);
    w.key("dur");
    ts_value(w, end_ns - r.start_ns);
    w.key("args");
    write_conn_json(w, r, time_);
    w.ch('}');

    // A slice per state, to the next state (the last one to the end).
    for (size_t i = 0; i < r.states.size(); ++i) {
        const uint64_t from = r.states[i].ts_ns;
        const uint64_t to = i + 1 < r.states.size() ? r.states[i + 1].ts_ns : end_ns;
        begin_event(w);
        w.raw("\"ph\":\"X\",\"cat\":\"tcp.state\"");
        w.key("name").plain(core::state_name(r.states[i].state));
        w.key("pid").num(pid);
        w.key("tid").num(r.id);
        w.key("ts");
        ts_value(w, from);
        w.key("dur");
        ts_value(w, to > from ? to - from : 0);
        w.raw(",\"args\":{\"t_us\":");
        w.num(from > r.start_ns ? (from - r.start_ns) / 1000 : 0);
        w.raw("}}");
    }

    // Markers that waited for this record. A server's SYN-ACK retransmits were
    // traced on its listener before this socket existed: matched by tuple.
    if (r.role == core::Role::Server) {
        if (auto it = pending_synack_.find(key_of(r.tuple)); it != pending_synack_.end()) {
            auto& v = it->second;
            auto split =
                std::stable_partition(v.begin(), v.end(), [&](const tt_event& e) { return e.ts_ns <= r.start_ns; });
            for (auto m = v.begin(); m != split; ++m) marker(*m, r.id, pid);
            pending_count_ -= static_cast<size_t>(split - v.begin());
            v.erase(v.begin(), split);
            if (v.empty()) pending_synack_.erase(it);
        }
    }
    if (auto it = pending_.find(r.id); it != pending_.end()) {
        for (const tt_event& e : it->second) marker(e, r.id, pid);
        pending_count_ -= it->second.size();
        pending_.erase(it);
    }
    // Whole connections only: a write error leaves the file cut between two.
    if (buf_.size() >= threshold_) flush();
}

void PerfettoSink::on_event(const core::EventRecord& ev) {
    const tt_event& e = *ev.ev;
    if (finished_ || failed() || !marker_name(e)) return;
    // The owner (this event's process) is only known once the record comes.
    if (ev.conn_id) {
        pending_[ev.conn_id].push_back(e);
    } else if (e.type == TT_EV_SYNACK_RETRANS) {
        pending_synack_[key_of(core::tuple_of(e))].push_back(e);
    } else {
        return;  // e.g. the RST answering a SYN nobody listens for: no connection
    }
    ++pending_count_;
    cap_pending();
}

void PerfettoSink::cap_pending() {
    while (pending_count_ > kMaxPendingMarkers) {
        size_t dropped = 0;
        if (!pending_.empty()) {
            dropped = pending_.begin()->second.size();  // the oldest connection
            pending_.erase(pending_.begin());
        } else {
            for (const auto& [key, v] : pending_synack_) dropped += v.size();
            pending_synack_.clear();
        }
        pending_count_ -= dropped;
        orphan_markers_ += dropped;
    }
}

void PerfettoSink::on_lost(uint64_t count, core::LossReason reason) {
    (void)reason;
    lost_events_ += count;
}

// Every write ends with the closing "]}" after the last whole event and the next
// one starts over it: the file is complete JSON after each write, also if the
// tracer is killed, and a failed write can put the closing back in space the
// file already had (on a full disk too).
bool PerfettoSink::flush(bool last) {
    if (failed() || fd_ < 0) return false;
    const size_t events = buf_.size();
    if (!last) buf_.append(kClosing);
    size_t done = 0;
    int err = lseek(fd_, static_cast<off_t>(committed_), SEEK_SET) < 0 ? errno : 0;
    if (!err) err = write_all(fd_, buf_.data(), buf_.size(), done);
    if (err) {
        fail(err);
        return false;
    }
    committed_ += events;
    buf_.clear();
    return true;
}

void PerfettoSink::fail(int err) {
    error_ = fmt::format("cannot write perfetto trace {}: {}", path_, std::strerror(err));
    buf_.clear();
    if (fd_ < 0) return;
    if (committed_ > 0 && ftruncate(fd_, static_cast<off_t>(committed_ + kClosing.size())) == 0 &&
        lseek(fd_, static_cast<off_t>(committed_), SEEK_SET) >= 0) {
        size_t done = 0;
        (void)write_all(fd_, kClosing.data(), kClosing.size(), done);
    }
    ::close(fd_);
    fd_ = -1;
}

bool PerfettoSink::finish() {
    if (finished_) return !failed();
    finished_ = true;
    if (failed()) return false;
    // Markers whose connection was never reported (filtered out or evicted).
    orphan_markers_ += pending_count_;
    pending_.clear();
    pending_synack_.clear();
    pending_count_ = 0;

    JsonWriter w(buf_);
    w.raw("\n],\"summary\":{\"first_time\":");
    if (min_ts_ns_ != UINT64_MAX) {
        w.ch('"');
        time_.append_rfc3339(w.buffer(), min_ts_ns_);
        w.ch('"');
    } else {
        w.null();
    }
    w.key("connections").num(connections_);
    w.key("lost_events").num(lost_events_);
    w.key("markers_without_record").num(orphan_markers_);
    w.raw("}}\n");
    if (!flush(true)) return false;
    const int fd = fd_;
    fd_ = -1;
    // close() reports delayed write errors of some file systems (NFS, quotas).
    if (::close(fd) != 0 && errno != EINTR) {
        error_ = fmt::format("cannot write perfetto trace {}: {}", path_, std::strerror(errno));
        return false;
    }
    return true;
}

}  // namespace tcptrail::sinks
