#include "sinks/json_sink.hpp"

#include <array>
#include <cstring>
#include <string>

#include "core/tcp_state.hpp"
#include "sinks/json_writer.hpp"

namespace tcptrail::sinks {

namespace {

// In --events output a socket's tuple is repeated by each of its events and by
// its record: its JSON text is formatted once and kept in a small direct-mapped
// cache. Records alone never repeat one, so they only use what events left.
class TupleTextCache {
public:
    // The cached text, made now if missing.
    std::string_view get(const core::SocketTuple& t);
    // The cached text, or empty.
    std::string_view find(const core::SocketTuple& t) {
        const Entry& e = entries_[slot(t)];
        return e.valid && e.tuple == t ? std::string_view(e.text) : std::string_view();
    }

private:
    struct Entry {
        core::SocketTuple tuple;
        bool valid = false;
        std::string text;
    };
    static constexpr size_t kEntries = 256;  // a power of two
    static size_t slot(const core::SocketTuple& t);
    std::array<Entry, kEntries> entries_;
};

void tuple_fields(JsonWriter& w, const core::SocketTuple& t) {
    w.key("family").num(t.family);
    w.key("laddr").ch('"');
    append_addr(w.buffer(), t.family, t.laddr.data());
    w.ch('"');
    w.key("lport").num(t.lport);
    w.key("raddr").ch('"');
    append_addr(w.buffer(), t.family, t.raddr.data());
    w.ch('"');
    w.key("rport").num(t.rport);
    w.key("netns").num(t.netns);
}

size_t TupleTextCache::slot(const core::SocketTuple& t) {
    uint64_t r[2];
    std::memcpy(r, t.raddr.data(), sizeof(r));
    uint64_t h = (static_cast<uint64_t>(t.lport) << 48) ^ (static_cast<uint64_t>(t.rport) << 32) ^ t.netns;
    h = (h ^ r[0] ^ r[1]) * 0x9E3779B97F4A7C15ULL;
    return (h >> 56) & (kEntries - 1);
}

std::string_view TupleTextCache::get(const core::SocketTuple& t) {
    Entry& e = entries_[slot(t)];
    if (!e.valid || !(e.tuple == t)) {
        fmt::memory_buffer text;
        JsonWriter w(text);
        tuple_fields(w, t);
        e.text.assign(text.data(), text.size());
        e.tuple = t;
        e.valid = true;
    }
    return e.text;
}

// Per thread: the sinks of one tracer run on one thread, and the cache only
// saves formatting (the output is the same with or without it).
thread_local TupleTextCache tuple_text_cache;

void owner_fields(JsonWriter& w, const core::ConnRecord& r) {
    w.key("pid").opt(r.pid);
    w.key("comm");
    if (r.pid) {
        w.text(r.comm);
    } else {
        w.null();
    }
}

const char* event_name(uint8_t type) {
    switch (type) {
        case TT_EV_STATE: return "state";
        case TT_EV_RETRANSMIT: return "retransmit";
        case TT_EV_SYNACK_RETRANS: return "synack_retransmit";
        case TT_EV_RESET_SENT: return "reset_sent";
        case TT_EV_RESET_RECEIVED: return "reset_received";
        case TT_EV_ACCEPT: return "accept";
        case TT_EV_EXISTING: return "existing";
        default: return "unknown";
    }
}

void time_field(JsonWriter& w, const TimeBase& time, std::string_view name, uint64_t mono_ns) {
    w.key(name).ch('"');
    time.append_rfc3339(w.buffer(), mono_ns);
    w.ch('"');
}

}  // namespace

void write_conn_json(JsonWriter& w, const core::ConnRecord& r, const TimeBase& time) {
    w.raw("{\"type\":\"conn\"");
    w.key("id").num(r.id);
    if (std::string_view cached = tuple_text_cache.find(r.tuple); !cached.empty()) {
        w.raw(cached);
    } else {
        tuple_fields(w, r.tuple);
    }
    w.key("cgroup_id").num(r.cgroup_id);
    w.key("role").plain(core::role_name(r.role));
    owner_fields(w, r);
    time_field(w, time, "start_time", r.start_ns);
    if (r.open) {
        w.key("end_time").null();
    } else {
        time_field(w, time, "end_time", r.end_ns);
    }
    w.key("duration_us").num(r.duration_us);
    w.key("states").ch('[');
    for (size_t i = 0; i < r.states.size(); ++i) {
        w.raw(i ? ",{\"state\":" : "{\"state\":");
        w.plain(core::state_name(r.states[i].state));
        w.key("t_us").num((r.states[i].ts_ns - r.start_ns) / 1000);
        w.ch('}');
    }
    w.ch(']');
    w.key("handshake_us").opt(r.handshake_us);
    w.key("accept_wait_us").opt(r.accept_wait_us);
    w.key("syn_retrans").num(r.syn_retrans);
    w.key("synack_retrans").num(r.synack_retrans);
    w.key("retrans").num(r.retrans);
    w.key("fin_retrans").num(r.fin_retrans);
    w.key("resets_sent").num(r.resets_sent);
    w.key("resets_received").num(r.resets_received);
    w.key("closed_by").plain_or_null(core::closed_by_name(r.closed_by));
    w.key("error");
    std::string_view err = core::errno_name(r.error);
    if (!err.empty()) {
        w.plain(err);
    } else if (r.error) {
        w.plain(fmt::format("errno {}", r.error));
    } else {
        w.null();
    }
    w.key("timeout").plain_or_null(core::timeout_kind_name(r.timeout));
    w.key("time_wait").boolean(r.time_wait);
    w.key("bytes_sent").num(r.bytes_sent);
    w.key("bytes_received").num(r.bytes_received);
    w.key("srtt_us").num(r.srtt_us);
    w.key("partial").boolean(r.partial);
    w.key("open").boolean(r.open);
    w.ch('}');
}

void write_event_json(JsonWriter& w, const core::EventRecord& ev, const TimeBase& time) {
    const tt_event& e = *ev.ev;
    w.raw("{\"type\":\"event\"");
    w.key("event").plain(event_name(e.type));
    w.key("id");
    if (ev.conn_id) {
        w.num(ev.conn_id);
    } else {
        w.null();
    }
    time_field(w, time, "time", e.ts_ns);
    w.raw(tuple_text_cache.get(core::tuple_of(e)));
    if (e.type == TT_EV_STATE) {
        w.key("old_state").plain(core::state_name(e.old_state));
        w.key("new_state").plain(core::state_name(e.new_state));
    } else if (!(e.flags & TT_F_NO_SOCKET)) {
        w.key("state").plain(core::state_name(e.new_state));
    }
    // The task is only meaningful where the kernel runs in the owner's context.
    if (e.type == TT_EV_STATE && (e.new_state == TT_SYN_SENT || e.new_state == TT_LISTEN)) {
        w.key("pid").num(e.pid);
        w.key("comm").text(std::string_view(e.comm, strnlen(e.comm, sizeof(e.comm))));
    }
    if (e.type == TT_EV_SYNACK_RETRANS) w.key("synack_retrans").num(e.aux);
    if (e.type == TT_EV_RESET_SENT) {  // the kernel's enum sk_rst_reason; null before 6.10
        w.key("reason");
        if (e.flags & TT_F_HAS_REASON) {
            w.num(e.aux);
        } else {
            w.null();
        }
    }
    w.ch('}');
}

void JsonSink::on_conn(const core::ConnRecord& r) {
    JsonWriter w(out_.buffer());
    write_conn_json(w, r, time_);
    w.ch('\n');
    out_.end_record();
}

void JsonSink::on_event(const core::EventRecord& ev) {
    JsonWriter w(out_.buffer());
    write_event_json(w, ev, time_);
    w.ch('\n');
    out_.end_record();
}

void JsonSink::on_close_wait(const core::ConnRecord& r, uint64_t age_us) {
    JsonWriter w(out_.buffer());
    w.raw("{\"type\":\"close_wait\"");
    w.key("id").num(r.id);
    tuple_fields(w, r.tuple);
    w.key("role").plain(core::role_name(r.role));
    owner_fields(w, r);
    w.key("age_us").num(age_us);
    w.raw("}\n");
    out_.end_record();
}

void JsonSink::on_netstat(const core::NetstatDelta& d) {
    if (!d.any()) return;
    JsonWriter w(out_.buffer());
    w.raw("{\"type\":\"listen_queue\"");
    time_field(w, time_, "time", d.ts_ns);
    w.key("netns").num(d.netns);
    w.key("interval_us").num(d.interval_ns / 1000);
    for (size_t i = 0; i < d.moved.size(); ++i) w.key(core::netstat_json_name(i)).num(d.moved[i]);
    w.raw("}\n");
    out_.end_record();
}

void JsonSink::on_lost(uint64_t count, core::LossReason reason) {
    JsonWriter w(out_.buffer());
    w.raw("{\"type\":\"lost\"");
    w.key("count").num(count);
    w.key("reason").plain(core::loss_reason_name(reason));
    w.raw("}\n");
    out_.end_record();
}

}  // namespace tcptrail::sinks
