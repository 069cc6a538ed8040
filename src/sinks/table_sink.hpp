// Human-readable table: one line per finished connection.
#pragma once

#include "core/record.hpp"
#include "sinks/output_stream.hpp"
#include "sinks/time_base.hpp"

namespace tcptrail::sinks {

class TableSink : public core::Output {
public:
    TableSink(OutputStream& out, TimeBase time) : out_(out), time_(time) {}

    void on_conn(const core::ConnRecord& rec) override;
    void on_event(const core::EventRecord& ev) override;
    void on_lost(uint64_t count, core::LossReason reason) override;
    void on_close_wait(const core::ConnRecord& rec, uint64_t age_us) override;
    void on_netstat(const core::NetstatDelta& d) override;

private:
    void header();

    OutputStream& out_;
    TimeBase time_;
    bool header_done_ = false;
};

}  // namespace tcptrail::sinks
