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
#include "sinks/perfetto_sink.hpp"
#include "sinks/time_base.hpp"

namespace tcptrail::cli {

std::unique_ptr<core::Output> make_sink(const TraceOptions& opts, sinks::OutputStream& out,
                                        const sinks::TimeBase& time_base);

// Everything one run prints: the per-connection sink, with --summary (or for
// `report`) the summary written at the end, and the --perfetto file.
class RunOutput {
public:
    // Throws sinks::PerfettoError when the --perfetto file cannot be created.
    RunOutput(const TraceOptions& opts, sinks::OutputStream& out, const sinks::TimeBase& time_base);
    core::Output& output() { return fanout_; }
    void add(core::Output& target) { fanout_.targets.push_back(&target); }  // e.g. --metrics
    void finish();  // call after the tracker's finish()
    void flush() {  // once per live tick
        if (perfetto_) perfetto_->flush_buffered();
    }
    // A file output (--perfetto) failed: stop, report error() and exit non-zero.
    bool failed() const { return perfetto_ && perfetto_->failed(); }
    std::string error() const { return perfetto_ ? perfetto_->error() : std::string(); }

private:
    class FanOut : public core::Output {
    public:
        std::vector<core::Output*> targets;
        std::vector<core::Output*> event_targets;  // --events also for the records sink
        void on_conn(const core::ConnRecord& r) override;
        void on_event(const core::EventRecord& e) override;
        void on_lost(uint64_t count, core::LossReason reason) override;
        void on_close_wait(const core::ConnRecord& r, uint64_t age_us) override;
        void on_netstat(const core::NetstatDelta& d) override;
        void on_open(const core::ConnRecord& r) override;
    };
    bool json_;
    sinks::OutputStream& out_;
    std::unique_ptr<core::Output> records_;
    std::unique_ptr<core::Summary> summary_;
    std::unique_ptr<sinks::PerfettoSink> perfetto_;
    FanOut fanout_;
};
// --perfetto needs the retransmit and reset events even without --events:
// RunOutput passes them to the records sink only with --events.
// The RunOutput for a command, or nullptr after printing the one-line reason
// (the --perfetto file cannot be created: a usage error, exit 2).
std::unique_ptr<RunOutput> open_run_output(const TraceOptions& opts, sinks::OutputStream& out,
                                           const sinks::TimeBase& time_base);
core::TrackerOptions tracker_options(const TraceOptions& opts);
// --port, -4/-6, --netns: applied by the BPF programs live, by replay in user space.
core::SocketFilter socket_filter(const TraceOptions& opts);
// The filters in force as command-line options, e.g. "--port 80 -4 -c curl"; empty if none.
std::string describe_filters(const TraceOptions& opts);

}  // namespace tcptrail::cli
