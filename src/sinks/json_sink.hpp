// JSON Lines: {"type":"conn"}, {"type":"event"}, {"type":"lost"} objects, one per line;
// warnings as {"type":"close_wait"} and {"type":"listen_queue"}.
#pragma once

#include <string_view>

#include "core/record.hpp"
#include "sinks/output_stream.hpp"
#include "sinks/time_base.hpp"

namespace tcptrail::sinks {

class JsonWriter;

// One {"type":"conn"} / {"type":"event"} object, without the newline; other
// formats embed them too.
void write_conn_json(JsonWriter& w, const core::ConnRecord& r, const TimeBase& time);
void write_event_json(JsonWriter& w, const core::EventRecord& ev, const TimeBase& time);
// The most bytes those can write (they reserve it, then write without checks).
size_t conn_json_bound(const core::ConnRecord& r);
size_t event_json_bound(const tt_event& e);

class JsonSink : public core::Output {
public:
    JsonSink(OutputStream& out, TimeBase time) : out_(out), time_(time) {}

    void on_conn(const core::ConnRecord& rec) override;
    void on_event(const core::EventRecord& ev) override;
    void on_lost(uint64_t count, core::LossReason reason) override;
    void on_close_wait(const core::ConnRecord& rec, uint64_t age_us) override;
    void on_netstat(const core::NetstatDelta& d) override;

private:
    OutputStream& out_;
    TimeBase time_;
};

}  // namespace tcptrail::sinks
