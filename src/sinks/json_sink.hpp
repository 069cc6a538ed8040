// JSON Lines: {"type":"conn"}, {"type":"event"}, {"type":"lost"} objects, one per line;
// warnings as {"type":"close_wait"} and {"type":"listen_queue"}.
#pragma once

#include <string_view>

#include "core/record.hpp"
#include "sinks/output_stream.hpp"
#include "sinks/time_base.hpp"

namespace tcptrail::sinks {

class JsonWriter;

class JsonSink : public core::Output {
public:
    JsonSink(OutputStream& out, TimeBase time) : out_(out), time_(time) {}

    void on_conn(const core::ConnRecord& rec) override;
    void on_event(const core::EventRecord& ev) override;
    void on_lost(uint64_t count, core::LossReason reason) override;
    void on_close_wait(const core::ConnRecord& rec, uint64_t age_us) override;
    void on_netstat(const core::NetstatDelta& d) override;

private:
    void time_field(JsonWriter& w, std::string_view name, uint64_t mono_ns);

    OutputStream& out_;
    TimeBase time_;
};

}  // namespace tcptrail::sinks
