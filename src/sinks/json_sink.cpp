#include "sinks/json_sink.hpp"

#include <optional>

#include "core/tcp_state.hpp"
#include "sinks/format.hpp"

namespace tcptrail::sinks {

namespace {

using It = std::back_insert_iterator<fmt::memory_buffer>;

template <typename T>
void append_optional(fmt::memory_buffer& b, const std::optional<T>& v) {
    if (v) {
        fmt::format_to(It(b), "{}", *v);
    } else {
        b.append(std::string_view("null"));
    }
}

void append_tuple(fmt::memory_buffer& b, const core::SocketTuple& t) {
    fmt::format_to(It(b), ",\"family\":{},\"laddr\":\"{}\",\"lport\":{},\"raddr\":\"{}\",\"rport\":{},\"netns\":{}",
                   t.family, laddr_string(t), t.lport, raddr_string(t), t.rport, t.netns);
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

}  // namespace

void JsonSink::on_conn(const core::ConnRecord& r) {
    auto& b = out_.buffer();
    fmt::format_to(It(b), "{{\"type\":\"conn\",\"id\":{}", r.id);
    append_tuple(b, r.tuple);
    fmt::format_to(It(b), ",\"cgroup_id\":{},\"role\":\"{}\",\"pid\":", r.cgroup_id, core::role_name(r.role));
    append_optional(b, r.pid);
    b.append(std::string_view(",\"comm\":"));
    if (r.pid) {
        append_json_string(b, r.comm);
    } else {
        b.append(std::string_view("null"));
    }
    fmt::format_to(It(b), ",\"start_time\":\"{}\",\"end_time\":", time_.rfc3339(r.start_ns));
    if (r.open) {
        b.append(std::string_view("null"));
    } else {
        fmt::format_to(It(b), "\"{}\"", time_.rfc3339(r.end_ns));
    }
    fmt::format_to(It(b), ",\"duration_us\":{},\"states\":[", r.duration_us);
    for (size_t i = 0; i < r.states.size(); ++i) {
        fmt::format_to(It(b), "{}{{\"state\":\"{}\",\"t_us\":{}}}", i ? "," : "", core::state_name(r.states[i].state),
                       (r.states[i].ts_ns - r.start_ns) / 1000);
    }
    b.append(std::string_view("],\"handshake_us\":"));
    append_optional(b, r.handshake_us);
    b.append(std::string_view(",\"accept_wait_us\":"));
    append_optional(b, r.accept_wait_us);
    fmt::format_to(It(b),
                   ",\"syn_retrans\":{},\"synack_retrans\":{},\"retrans\":{},\"fin_retrans\":{},"
                   "\"resets_sent\":{},\"resets_received\":{},\"closed_by\":",
                   r.syn_retrans, r.synack_retrans, r.retrans, r.fin_retrans, r.resets_sent, r.resets_received);
    if (const char* cb = core::closed_by_name(r.closed_by)) {
        fmt::format_to(It(b), "\"{}\"", cb);
    } else {
        b.append(std::string_view("null"));
    }
    b.append(std::string_view(",\"error\":"));
    std::string_view err = core::errno_name(r.error);
    if (!err.empty()) {
        fmt::format_to(It(b), "\"{}\"", err);
    } else if (r.error) {
        fmt::format_to(It(b), "\"errno {}\"", r.error);
    } else {
        b.append(std::string_view("null"));
    }
    b.append(std::string_view(",\"timeout\":"));
    if (const char* kind = core::timeout_kind_name(r.timeout)) {
        fmt::format_to(It(b), "\"{}\"", kind);
    } else {
        b.append(std::string_view("null"));
    }
    fmt::format_to(It(b),
                   ",\"time_wait\":{},\"bytes_sent\":{},\"bytes_received\":{},\"srtt_us\":{},\"partial\":{},"
                   "\"open\":{}}}\n",
                   r.time_wait, r.bytes_sent, r.bytes_received, r.srtt_us, r.partial, r.open);
    out_.end_record();
}

void JsonSink::on_event(const core::EventRecord& ev) {
    const tt_event& e = *ev.ev;
    auto& b = out_.buffer();
    fmt::format_to(It(b), "{{\"type\":\"event\",\"event\":\"{}\",\"id\":", event_name(e.type));
    if (ev.conn_id) {
        fmt::format_to(It(b), "{}", ev.conn_id);
    } else {
        b.append(std::string_view("null"));
    }
    fmt::format_to(It(b), ",\"time\":\"{}\"", time_.rfc3339(e.ts_ns));
    append_tuple(b, core::tuple_of(e));
    if (e.type == TT_EV_STATE) {
        fmt::format_to(It(b), ",\"old_state\":\"{}\",\"new_state\":\"{}\"", core::state_name(e.old_state),
                       core::state_name(e.new_state));
    } else if (!(e.flags & TT_F_NO_SOCKET)) {
        fmt::format_to(It(b), ",\"state\":\"{}\"", core::state_name(e.new_state));
    }
    if (e.type == TT_EV_ACCEPT || (e.type == TT_EV_EXISTING && (e.flags & TT_F_OWNER_KNOWN)) ||
        (e.type == TT_EV_STATE && (e.new_state == TT_SYN_SENT || e.new_state == TT_LISTEN))) {
        fmt::format_to(It(b), ",\"pid\":{},\"comm\":", e.pid);
        append_json_string(b, std::string_view(e.comm, strnlen(e.comm, sizeof(e.comm))));
    }
    if (e.type == TT_EV_SYNACK_RETRANS) fmt::format_to(It(b), ",\"synack_retrans\":{}", e.aux);
    if ((e.type == TT_EV_RESET_SENT) && (e.flags & TT_F_HAS_REASON)) fmt::format_to(It(b), ",\"reason\":{}", e.aux);
    b.append(std::string_view("}\n"));
    out_.end_record();
}

void JsonSink::on_close_wait(const core::ConnRecord& r, uint64_t age_us) {
    auto& b = out_.buffer();
    fmt::format_to(It(b), "{{\"type\":\"close_wait\",\"id\":{}", r.id);
    append_tuple(b, r.tuple);
    fmt::format_to(It(b), ",\"role\":\"{}\",\"pid\":", core::role_name(r.role));
    append_optional(b, r.pid);
    b.append(std::string_view(",\"comm\":"));
    if (r.pid) {
        append_json_string(b, r.comm);
    } else {
        b.append(std::string_view("null"));
    }
    fmt::format_to(It(b), ",\"age_us\":{}}}\n", age_us);
    out_.end_record();
}

void JsonSink::on_lost(uint64_t count, core::LossReason reason) {
    fmt::format_to(It(out_.buffer()), "{{\"type\":\"lost\",\"count\":{},\"reason\":\"{}\"}}\n", count,
                   core::loss_reason_name(reason));
    out_.end_record();
}

}  // namespace tcptrail::sinks
