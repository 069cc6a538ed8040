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

// ,"family":4,"laddr":"...",...,"netns":N : at most kTupleBound bytes.
constexpr size_t kTupleBound = 64 + 2 * kMaxAddrText + 4 * 20;

void tuple_fields(JsonCursor& c, const core::SocketTuple& t) {
    c.key("family").num(t.family);
    c.key("laddr").ch('"').addr(t.family, t.laddr.data()).ch('"');
    c.key("lport").num(t.lport);
    c.key("raddr").ch('"').addr(t.family, t.raddr.data()).ch('"');
    c.key("rport").num(t.rport);
    c.key("netns").num(t.netns);
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
        char text[kTupleBound];
        JsonCursor c(text);
        tuple_fields(c, t);
        e.text.assign(text, c.position());
        e.tuple = t;
        e.valid = true;
    }
    return e.text;
}

// Per thread: the sinks of one tracer run on one thread, and the cache only
// saves formatting (the output is the same with or without it).
thread_local TupleTextCache tuple_text_cache;

void owner_fields(JsonCursor& c, const core::ConnRecord& r) {
    c.key("pid").opt(r.pid);
    c.key("comm");
    if (r.pid) {
        c.text(r.comm);
    } else {
        c.null();
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

template <size_t N>
void time_field(JsonCursor& c, const TimeBase& time, const char (&name)[N], uint64_t mono_ns) {
    c.key(name).ch('"').time(time, mono_ns).ch('"');
}

}  // namespace

size_t conn_json_bound(const core::ConnRecord& r) {
    // Some 35 keys and as many values of at most 20 bytes, the tuple, two
    // times and the error's name: under 1,500 bytes; each state under 64.
    return 2048 + json_string_bound(r.comm.size()) + 64 * r.states.size();
}

size_t event_json_bound(const tt_event& /*e*/) { return 512 + kTupleBound + json_string_bound(TT_COMM_LEN); }

void write_conn_json(JsonWriter& w, const core::ConnRecord& r, const TimeBase& time) {
    JsonCursor c = w.reserve(conn_json_bound(r));
    c.raw("{\"type\":\"conn\"");
    c.key("id").num(r.id);
    if (std::string_view cached = tuple_text_cache.find(r.tuple); !cached.empty()) {
        c.raw(cached);
    } else {
        tuple_fields(c, r.tuple);
    }
    c.key("cgroup_id").num(r.cgroup_id);
    c.key("role").plain(core::role_name(r.role));
    owner_fields(c, r);
    time_field(c, time, "start_time", r.start_ns);
    if (r.open) {
        c.key("end_time").null();
    } else {
        time_field(c, time, "end_time", r.end_ns);
    }
    c.key("duration_us").num(r.duration_us);
    c.key("states").ch('[');
    for (size_t i = 0; i < r.states.size(); ++i) {
        if (i) c.ch(',');
        c.raw("{\"state\":").plain(core::state_name(r.states[i].state));
        c.key("t_us").num((r.states[i].ts_ns - r.start_ns) / 1000);
        c.ch('}');
    }
    c.ch(']');
    c.key("handshake_us").opt(r.handshake_us);
    c.key("accept_wait_us").opt(r.accept_wait_us);
    c.key("syn_retrans").num(r.syn_retrans);
    c.key("synack_retrans").num(r.synack_retrans);
    c.key("retrans").num(r.retrans);
    c.key("fin_retrans").num(r.fin_retrans);
    c.key("resets_sent").num(r.resets_sent);
    c.key("resets_received").num(r.resets_received);
    c.key("closed_by").plain_or_null(core::closed_by_name(r.closed_by));
    c.key("error");
    if (std::string_view err = core::errno_name(r.error); !err.empty()) {
        c.plain(err);
    } else if (r.error) {
        c.raw("\"errno ");
        if (r.error < 0) c.ch('-');
        c.num(static_cast<uint64_t>(r.error < 0 ? -static_cast<int64_t>(r.error) : r.error)).ch('"');
    } else {
        c.null();
    }
    c.key("timeout").plain_or_null(core::timeout_kind_name(r.timeout));
    c.key("time_wait").boolean(r.time_wait);
    c.key("bytes_sent").num(r.bytes_sent);
    c.key("bytes_received").num(r.bytes_received);
    c.key("srtt_us").num(r.srtt_us);
    c.key("partial").boolean(r.partial);
    c.key("open").boolean(r.open);
    c.ch('}');
    w.commit(c);
}

void write_event_json(JsonWriter& w, const core::EventRecord& ev, const TimeBase& time) {
    const tt_event& e = *ev.ev;
    JsonCursor c = w.reserve(event_json_bound(e));
    c.raw("{\"type\":\"event\"");
    c.key("event").plain(event_name(e.type));
    c.key("id");
    if (ev.conn_id) {
        c.num(ev.conn_id);
    } else {
        c.null();
    }
    time_field(c, time, "time", e.ts_ns);
    c.raw(tuple_text_cache.get(core::tuple_of(e)));
    if (e.type == TT_EV_STATE) {
        c.key("old_state").plain(core::state_name(e.old_state));
        c.key("new_state").plain(core::state_name(e.new_state));
    } else if (!(e.flags & TT_F_NO_SOCKET)) {
        c.key("state").plain(core::state_name(e.new_state));
    }
    // The task is only meaningful where the kernel runs in the owner's context.
    if (e.type == TT_EV_STATE && (e.new_state == TT_SYN_SENT || e.new_state == TT_LISTEN)) {
        c.key("pid").num(e.pid);
        c.key("comm").text(std::string_view(e.comm, strnlen(e.comm, sizeof(e.comm))));
    }
    if (e.type == TT_EV_SYNACK_RETRANS) c.key("synack_retrans").num(e.aux);
    if (e.type == TT_EV_RESET_SENT) {  // the kernel's enum sk_rst_reason; null before 6.10
        c.key("reason");
        if (e.flags & TT_F_HAS_REASON) {
            c.num(e.aux);
        } else {
            c.null();
        }
    }
    c.ch('}');
    w.commit(c);
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
    JsonCursor c = w.reserve(kTupleBound + 64 + json_string_bound(r.comm.size()));
    tuple_fields(c, r.tuple);
    c.key("role").plain(core::role_name(r.role));
    owner_fields(c, r);
    w.commit(c);
    w.key("age_us").num(age_us);
    w.raw("}\n");
    out_.end_record();
}

void JsonSink::on_netstat(const core::NetstatDelta& d) {
    if (!d.any()) return;
    JsonWriter w(out_.buffer());
    w.raw("{\"type\":\"listen_queue\"");
    JsonCursor c = w.reserve(64);
    time_field(c, time_, "time", d.ts_ns);
    w.commit(c);
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
