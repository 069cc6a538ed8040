// What live tracing and replay share, so both print the same thing for the same
// options: the sink (table or JSON), the reconstruction's options and the
// socket filters.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/options.hpp"
#include "core/record.hpp"
#include "core/socket_filter.hpp"
#include "core/summary.hpp"
#include "core/tracker.hpp"
#include "sinks/output_stream.hpp"
#include "sinks/time_base.hpp"

namespace tcptrail::cli {

std::unique_ptr<core::Output> make_sink(const TraceOptions& opts, sinks::OutputStream& out,
                                        const sinks::TimeBase& time_base);

// Everything one run prints: the per-connection sink and, with --summary (or for
// `report`), the summary written at the end.
class RunOutput {
public:
    RunOutput(const TraceOptions& opts, sinks::OutputStream& out, const sinks::TimeBase& time_base);
    core::Output& output() { return fanout_; }
    void add(core::Output& target) { fanout_.targets.push_back(&target); }  // e.g. --metrics
    void finish();  // call after the tracker's finish()

private:
    class FanOut : public core::Output {
    public:
        std::vector<core::Output*> targets;
        void on_conn(const core::ConnRecord& r) override;
        void on_event(const core::EventRecord& e) override;
        void on_lost(uint64_t count, core::LossReason reason) override;
        void on_close_wait(const core::ConnRecord& r, uint64_t age_us) override;
        void on_open(const core::ConnRecord& r) override;
    };
    bool json_;
    sinks::OutputStream& out_;
    std::unique_ptr<core::Output> records_;
    std::unique_ptr<core::Summary> summary_;
    FanOut fanout_;
};
core::TrackerOptions tracker_options(const TraceOptions& opts);
// --port, -4/-6, --netns: applied by the BPF programs live, by replay in user space.
core::SocketFilter socket_filter(const TraceOptions& opts);
// The filters in force as command-line options, e.g. "--port 80 -4 -c curl"; empty if none.
std::string describe_filters(const TraceOptions& opts);

}  // namespace tcptrail::cli
