#include "cli/output_setup.hpp"

#include <fmt/format.h>

#include "sinks/json_sink.hpp"
#include "sinks/summary_report.hpp"
#include "sinks/table_sink.hpp"

namespace tcptrail::cli {

std::unique_ptr<core::Output> make_sink(const TraceOptions& opts, sinks::OutputStream& out,
                                        const sinks::TimeBase& time_base) {
    if (opts.json) return std::make_unique<sinks::JsonSink>(out, time_base);
    return std::make_unique<sinks::TableSink>(out, time_base);
}

RunOutput::RunOutput(const TraceOptions& opts, sinks::OutputStream& out, const sinks::TimeBase& time_base)
    : json_(opts.json), out_(out) {
    if (opts.records) {
        records_ = make_sink(opts, out, time_base);
        fanout_.targets.push_back(records_.get());
        if (opts.events) fanout_.event_targets.push_back(records_.get());
    }
    if (opts.summary) {
        summary_ = std::make_unique<core::Summary>();
        fanout_.targets.push_back(summary_.get());
    }
    if (!opts.perfetto_path.empty()) {
        perfetto_ = std::make_unique<sinks::PerfettoSink>(opts.perfetto_path, time_base);
        fanout_.targets.push_back(perfetto_.get());
        fanout_.event_targets.push_back(perfetto_.get());
    }
}

void RunOutput::finish() {
    if (perfetto_) perfetto_->finish();
    if (!summary_) return;
    if (json_) {
        sinks::write_summary_json(*summary_, out_);
    } else {
        sinks::write_summary_text(*summary_, out_);
    }
}

void RunOutput::FanOut::on_conn(const core::ConnRecord& r) {
    for (auto* t : targets) t->on_conn(r);
}
void RunOutput::FanOut::on_event(const core::EventRecord& e) {
    for (auto* t : event_targets) t->on_event(e);
}
void RunOutput::FanOut::on_lost(uint64_t count, core::LossReason reason) {
    for (auto* t : targets) t->on_lost(count, reason);
}
void RunOutput::FanOut::on_close_wait(const core::ConnRecord& r, uint64_t age_us) {
    for (auto* t : targets) t->on_close_wait(r, age_us);
}
void RunOutput::FanOut::on_open(const core::ConnRecord& r) {
    for (auto* t : targets) t->on_open(r);
}

void RunOutput::FanOut::on_netstat(const core::NetstatDelta& d) {
    for (auto* t : targets) t->on_netstat(d);
}

std::unique_ptr<RunOutput> open_run_output(const TraceOptions& opts, sinks::OutputStream& out,
                                           const sinks::TimeBase& time_base) {
    try {
        return std::make_unique<RunOutput>(opts, out, time_base);
    } catch (const sinks::PerfettoError& e) {
        fmt::print(stderr, "tcptrail: {}\n", e.what());
        return nullptr;
    }
}

core::TrackerOptions tracker_options(const TraceOptions& opts) {
    core::TrackerOptions topts;
    topts.max_conns = opts.max_conns;
    if (opts.close_wait_warn_s) topts.close_wait_warn_ns = static_cast<uint64_t>(*opts.close_wait_warn_s * 1e9);
    topts.emit_events = opts.events || !opts.perfetto_path.empty();
    topts.filter.pid = opts.pid;
    topts.filter.comm = opts.comm;
    if (opts.min_handshake_ms) topts.filter.min_handshake_us = static_cast<uint64_t>(*opts.min_handshake_ms * 1000.0);
    return topts;
}

core::SocketFilter socket_filter(const TraceOptions& opts) {
    core::SocketFilter f;
    f.family = opts.ipv4_only ? 4 : opts.ipv6_only ? 6 : 0;
    f.netns = opts.netns;
    f.ports = opts.ports;
    return f;
}

std::string describe_filters(const TraceOptions& opts) {
    std::string s;
    auto add = [&](std::string_view part) {
        if (!s.empty()) s += ' ';
        s += part;
    };
    for (uint16_t p : opts.ports) add(fmt::format("--port {}", p));
    if (opts.ipv4_only) add("-4");
    if (opts.ipv6_only) add("-6");
    if (opts.netns) add(fmt::format("--netns {}", opts.netns));
    if (opts.pid) add(fmt::format("-p {}", *opts.pid));
    if (!opts.comm.empty()) add(fmt::format("-c {}", opts.comm));
    if (opts.min_handshake_ms) add(fmt::format("--min-handshake-ms {}", *opts.min_handshake_ms));
    return s;
}

}  // namespace tcptrail::cli
