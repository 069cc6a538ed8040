#include "cli/trace_command.hpp"

#include <csignal>
#include <ctime>
#include <memory>
#include <unistd.h>

#include <fmt/format.h>

#include "core/tracker.hpp"
#include "probe/probe.hpp"
#include "sinks/json_sink.hpp"
#include "sinks/output_stream.hpp"
#include "sinks/table_sink.hpp"
#include "sinks/time_base.hpp"

namespace tcptrail::cli {

namespace {

volatile sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    // A closed stdout shows up as EPIPE from write(), handled as a clean stop.
    signal(SIGPIPE, SIG_IGN);
}

// Probe -> reconstruction input: the live path's only per-event hop.
class StreamFeed : public probe::EventHandler {
public:
    explicit StreamFeed(core::EventStream& s) : stream_(s) {}
    void on_event(const tt_event& e) override { stream_.on_event(e); }

private:
    core::EventStream& stream_;
};

// Reports growth of a cumulative kernel counter as loss.
struct LossCounter {
    uint64_t reported = 0;
    uint64_t take(uint64_t cumulative) {
        uint64_t delta = cumulative > reported ? cumulative - reported : 0;
        reported = cumulative;
        return delta;
    }
};

}  // namespace

int run_trace(const TraceOptions& opts) {
    install_signal_handlers();
    const sinks::TimeBase time_base = sinks::TimeBase::now();
    sinks::OutputStream out(STDOUT_FILENO);
    std::unique_ptr<core::Output> sink;
    if (opts.json) {
        sink = std::make_unique<sinks::JsonSink>(out, time_base);
    } else {
        sink = std::make_unique<sinks::TableSink>(out, time_base);
    }

    core::TrackerOptions topts;
    topts.emit_events = opts.events;
    topts.filter.pid = opts.pid;
    topts.filter.comm = opts.comm;
    if (opts.min_handshake_ms) topts.filter.min_handshake_us = static_cast<uint64_t>(*opts.min_handshake_ms * 1000.0);
    core::Tracker tracker(*sink, topts);
    core::EventStream& input = tracker;
    StreamFeed feed(input);

    probe::ProbeConfig pcfg;
    pcfg.family = opts.ipv4_only ? 4 : opts.ipv6_only ? 6 : 0;
    pcfg.netns = opts.netns;
    pcfg.ports = opts.ports;
    pcfg.ringbuf_mb = opts.ringbuf_mb;

    std::vector<std::string> notes;
    std::unique_ptr<probe::Probe> probe;
    try {
        probe = std::make_unique<probe::Probe>(pcfg, feed, notes);
    } catch (const probe::ProbeError& e) {
        fmt::print(stderr, "tcptrail: {}\n", e.what());
        return 1;
    }
    for (const auto& n : notes) fmt::print(stderr, "tcptrail: note: {}\n", n);
    fmt::print(stderr, "tcptrail: tracing ({} programs attached)\n", probe->attached_programs());

    const uint64_t start_ns = monotonic_ns();
    const uint64_t deadline_ns =
        opts.duration_s ? start_ns + static_cast<uint64_t>(*opts.duration_s * 1e9) : UINT64_MAX;
    LossCounter drops, misses;
    auto account_losses = [&] {
        input.on_lost(drops.take(probe->ringbuf_drops()), core::LossReason::RingbufFull);
        input.on_lost(misses.take(probe->recursion_misses()), core::LossReason::Recursion);
    };

    int exit_code = 0;
    while (!g_stop) {
        uint64_t now = monotonic_ns();
        if (now >= deadline_ns) break;
        int wait_ms = opts.poll_ms;
        if (deadline_ns != UINT64_MAX) {
            wait_ms = static_cast<int>(std::min<uint64_t>(wait_ms, (deadline_ns - now) / 1'000'000 + 1));
        }
        probe->wait(wait_ms);
        // Everything stamped before `now` is in the buffer: drain it, then let the
        // tracker release records whose grace period ended.
        now = monotonic_ns();
        probe->drain();
        account_losses();
        input.advance(now);
        if (!out.flush()) break;
    }
    // Final drain, then report what is still open.
    probe->drain();
    account_losses();
    input.finish(monotonic_ns());
    out.flush();
    if (!out.error().empty()) {
        fmt::print(stderr, "tcptrail: cannot write output: {}\n", out.error());
        exit_code = 1;
    }
    if (probe->bad_records()) {
        fmt::print(stderr, "tcptrail: {} malformed ring buffer records skipped\n", probe->bad_records());
    }
    return exit_code;
}

}  // namespace tcptrail::cli
