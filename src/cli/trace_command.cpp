#include "cli/trace_command.hpp"

#include <unistd.h>
#include <algorithm>
#include <csignal>
#include <ctime>
#include <memory>

#include <fmt/format.h>

#include "capture/capture_writer.hpp"
#include "cli/output_setup.hpp"
#include "cli/privileges.hpp"
#ifdef TCPTRAIL_HAVE_METRICS
#include "cli/metrics_setup.hpp"
#endif
#include "core/event_stream.hpp"
#include "core/tracker.hpp"
#include "probe/netstat_sampler.hpp"
#include "probe/probe.hpp"
#include "probe/sock_diag.hpp"
#include "sinks/output_stream.hpp"
#include "sinks/time_base.hpp"

namespace tcptrail::cli {

namespace {

using probe::monotonic_ns;

// Listen-queue counters are sampled this often (a read of /proc per namespace).
constexpr uint64_t kNetstatIntervalNs = 1'000'000'000;

volatile sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, nullptr);
    (void)sigaction(SIGTERM, &sa, nullptr);
    // A closed stdout shows up as EPIPE from write(), handled as a clean stop.
    (void)signal(SIGPIPE, SIG_IGN);
    // A --record file over RLIMIT_FSIZE must fail with EFBIG, not kill the tracer.
    (void)signal(SIGXFSZ, SIG_IGN);
}

// Probe -> reconstruction input: the live path's only per-event hop.
class StreamFeed : public probe::EventHandler {
public:
    explicit StreamFeed(core::EventStream& s) : stream_(s) {}
    void on_event(const tt_event& e) override {
        ++traced_;
        stream_.on_event(e);
    }
    uint64_t traced() const { return traced_; }  // events from the kernel, for the closing tally

private:
    core::EventStream& stream_;
    uint64_t traced_ = 0;
};

// Reports growth of a cumulative kernel counter as loss.
struct LossCounter {
    uint64_t reported = 0;
    uint64_t take(uint64_t cumulative) {
        uint64_t delta = cumulative > reported ? cumulative - reported : 0;
        reported = std::max(reported, cumulative);
        return delta;
    }
};

// Recursion misses that no nested copy made up for. A miss is counted by the
// kernel just before the nested copy runs, so misses are taken one poll late:
// by then every rescue of those misses has been counted. A rescue that the
// tracker found to be a duplicate (TrackerStats::duplicate_events) made up for
// nothing.
struct RecursionLoss {
    uint64_t misses_before = 0;
    uint64_t cumulative(uint64_t misses_now, uint64_t rescued_now, uint64_t duplicates_now) {
        const uint64_t rescued = rescued_now > duplicates_now ? rescued_now - duplicates_now : 0;
        uint64_t lost = misses_before > rescued ? misses_before - rescued : 0;
        misses_before = misses_now;
        return lost;
    }
};

// The closing line, as tcpdump's: how much was traced, and whether anything was lost.
void print_tally(uint64_t traced, const core::TrackerStats& st, uint64_t lost_ringbuf, uint64_t lost_recursion,
                 uint64_t lost_unread, uint64_t lost_in_transit) {
    std::string dropped;
    if (st.filtered) dropped += fmt::format("{} filtered out", st.filtered);
    if (st.evicted) dropped += fmt::format("{}{} evicted over --max-conns", dropped.empty() ? "" : ", ", st.evicted);
    if (st.duplicate_events)
        dropped += fmt::format("{}{} duplicate event{} dropped", dropped.empty() ? "" : ", ", st.duplicate_events,
                               st.duplicate_events == 1 ? "" : "s");
    const uint64_t lost = lost_ringbuf + lost_recursion + lost_unread + lost_in_transit + st.unexplained_state_gaps;
    std::string unread = lost_unread ? fmt::format(", {} unread at exit", lost_unread) : "";
    if (lost_in_transit) unread += fmt::format(", {} sent but never read", lost_in_transit);
    if (st.unexplained_state_gaps) {
        unread += fmt::format(", {} state changes unreported (gaps)", st.unexplained_state_gaps);
    }
    fmt::print(
        stderr, "tcptrail: {} events, {} connection records{}, {} events lost{}\n", traced, st.records,
        dropped.empty() ? "" : fmt::format(" ({})", dropped), lost,
        lost ? fmt::format(" ({} ring buffer full, {} nested too deep{})", lost_ringbuf, lost_recursion, unread) : "");
}

}  // namespace

int run_trace(const TraceOptions& opts) {
    install_signal_handlers();
    // First: the threads started later inherit it, and --user drops the capability.
    if (std::string why = set_niceness(opts.nice); !why.empty()) fmt::print(stderr, "tcptrail: note: {}\n", why);
    const sinks::TimeBase time_base = sinks::TimeBase::now();
    sinks::OutputStream out(STDOUT_FILENO);
    // --perfetto, like --record below: created before the BPF programs load.
    std::unique_ptr<RunOutput> run_output = open_run_output(opts, out, time_base);
    if (!run_output) return 2;
    core::Tracker tracker(run_output->output(), tracker_options(opts));

    // --record: created before the BPF programs load, so a bad path fails fast.
    std::unique_ptr<capture::CaptureWriter> capture;
    std::unique_ptr<capture::CaptureTee> tee;
    if (!opts.record_path.empty()) {
        try {
            capture = std::make_unique<capture::CaptureWriter>(
                opts.record_path, capture::CaptureHeader::of_this_host(time_base.realtime_minus_monotonic_ns,
                                                                       TCPTRAIL_VERSION, describe_filters(opts)));
        } catch (const capture::CaptureError& e) {
            fmt::print(stderr, "tcptrail: {}\n", e.what());
            return 2;
        }
        tee = std::make_unique<capture::CaptureTee>(*capture, tracker);
    }
    core::EventStream& input = tee ? static_cast<core::EventStream&>(*tee) : tracker;

#ifdef TCPTRAIL_HAVE_METRICS
    // --metrics: bound now, before the BPF programs load (fail fast) and while
    // privileged ports can still be bound; served once tracing starts.
    std::unique_ptr<MetricsExporter> metrics;
    if (opts.metrics) {
        try {
            metrics = std::make_unique<MetricsExporter>(*opts.metrics, opts.metrics_max_series);
        } catch (const metrics::ServerError& e) {
            fmt::print(stderr, "tcptrail: {}\n", e.what());
            return 1;
        }
        run_output->add(metrics->output());
    }
#endif
    StreamFeed feed(input);

    probe::ProbeConfig pcfg;
    const core::SocketFilter socks = socket_filter(opts);
    pcfg.family = socks.family;
    pcfg.netns = socks.netns;
    pcfg.ports = socks.ports;
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

    // Sockets that predate us: known from the start, marked partial. The
    // programs are attached already and the dump takes a while (tens of ms on a
    // busy host, more with many namespaces), so a socket may change state, or be
    // born, between its dump time stamp and the moment the kernel reads it. Fed
    // first, such a socket would start its record in a state it reached later
    // (FIN_WAIT1, then SYN_SENT). So: listeners first (the tracker takes the
    // role and owner of their children from them), then every event up to the
    // end of the dump, then the other sockets. One whose events came first is
    // known by then and the snapshot only fills in what the events did not
    // (Tracker::on_existing); the others did not change state during the dump.
    probe::ExistingSockets existing = probe::snapshot_existing_sockets(pcfg, monotonic_ns());
    const uint64_t snapshot_end_ns = monotonic_ns();
    for (const auto& p : existing.problems) fmt::print(stderr, "tcptrail: note: {}\n", p);
    for (const tt_event& e : existing.events) {
        if (e.new_state == TT_LISTEN) input.on_event(e);
    }
    probe->drain(snapshot_end_ns);
    for (const tt_event& e : existing.events) {
        if (e.new_state != TT_LISTEN) input.on_event(e);
    }
    // The start-up dump is over (in the input, so that replay knows it too).
    input.on_event(core::snapshot_end_marker(snapshot_end_ns, TT_SNAPSHOT_AT_START));
    // Samples enter the input like kernel events, so --record / replay keep them.
    probe::NetstatSampler netstat(pcfg.netns);
    auto sample_netstat = [&](uint64_t ts_ns) {
        std::vector<std::string> problems;
        for (const tt_event& e : netstat.sample(ts_ns, problems)) input.on_event(e);
        for (const auto& p : problems) fmt::print(stderr, "tcptrail: note: {}\n", p);
    };
    sample_netstat(monotonic_ns());

    if (!opts.user.empty()) {
        if (std::string err = drop_privileges(opts.user); !err.empty()) {
            fmt::print(stderr, "tcptrail: {}\n", err);
            return 1;
        }
        // Entering a namespace needs CAP_SYS_ADMIN: from now on only our own is readable.
        fmt::print(stderr,
                   "tcptrail: note: --user: after start, listen-queue counters are sampled in this network "
                   "namespace only; the summary shows no change for the others\n");
    }
    // After any privilege drop: flushing the per-CPU batches needs the bpf() syscall.
    if (std::string why = probe->enable_staging(); !why.empty()) fmt::print(stderr, "tcptrail: note: {}\n", why);
#ifdef TCPTRAIL_HAVE_METRICS
    if (metrics) {
        metrics->start(tracker, monotonic_ns());
        fmt::print(stderr, "tcptrail: serving metrics at http://{}/metrics\n", opts.metrics->display());
    }
#endif
    fmt::print(stderr, "tcptrail: tracing ({} programs attached, {} existing socket{})\n", probe->attached_programs(),
               existing.events.size(), existing.events.size() == 1 ? "" : "s");

    const uint64_t start_ns = monotonic_ns();
    const uint64_t deadline_ns =
        opts.duration_s ? start_ns + static_cast<uint64_t>(*opts.duration_s * 1e9) : UINT64_MAX;
    LossCounter drops, misses;
    RecursionLoss recursion;
    auto account_losses = [&] {
        input.on_lost(drops.take(probe->ringbuf_drops()), core::LossReason::RingbufFull);
        const uint64_t misses_now = probe->recursion_misses();
        input.on_lost(
            misses.take(recursion.cumulative(misses_now, probe->nested_rescued(), tracker.stats().duplicate_events)),
            core::LossReason::Recursion);
    };

    int exit_code = 0;
    uint64_t next_netstat_ns = monotonic_ns() + kNetstatIntervalNs;
    while (!g_stop) {
        uint64_t now = monotonic_ns();
        if (now >= deadline_ns) break;
        int wait_ms = opts.poll_ms;
        if (deadline_ns != UINT64_MAX) {
            wait_ms = static_cast<int>(std::min<uint64_t>(wait_ms, (deadline_ns - now) / 1'000'000 + 1));
        }
        probe->wait(wait_ms);
        // Deliver everything stamped before `now` (normally all of it: see
        // Probe::drain), then let the tracker release records whose grace period ended.
        now = probe->drain(monotonic_ns());
        account_losses();
        if (now >= next_netstat_ns) {
            sample_netstat(now);  // stamped `now`, like the tick below: the events before it are in
            next_netstat_ns = now + kNetstatIntervalNs;
        }
        input.advance(now);
#ifdef TCPTRAIL_HAVE_METRICS
        if (metrics) metrics->tick(tracker, now);
#endif
        if (!out.flush()) break;
        run_output->flush();
        if (capture && capture->failed()) break;  // e.g. disk full: stop, keep what was recorded
        if (run_output->failed()) break;
    }
    // Ask the kernel what is still open (fresh counters: the last event may be long
    // past; and a socket missing from it closed even if its CLOSE event was lost),
    // then drain what happened up to now, then apply the snapshot.
    probe::ExistingSockets still_open = probe::snapshot_existing_sockets(pcfg, monotonic_ns(), true);
    // No new events from here: the last drain waits for the programs already
    // running to finish writing, and counts what it still cannot reach.
    probe->detach();
    probe->drain(UINT64_MAX);
    account_losses();
    account_losses();  // recursion misses are taken one round late
    input.on_lost(probe->unread_at_exit(), core::LossReason::UnreadAtExit);
    const uint64_t lost_in_transit = probe->lost_in_transit();
    input.on_lost(lost_in_transit, core::LossReason::InTransit);
    for (const tt_event& e : still_open.events) input.on_event(e);
    sample_netstat(monotonic_ns());
    input.finish(monotonic_ns());
    run_output->finish();
    out.flush();
    if (capture && capture->failed()) {
        fmt::print(stderr, "tcptrail: {}\n", capture->error());
        exit_code = 1;
    }
    if (run_output->failed()) {
        fmt::print(stderr, "tcptrail: {}\n", run_output->error());
        exit_code = 1;
    }
    if (!out.error().empty()) {
        fmt::print(stderr, "tcptrail: cannot write output: {}\n", out.error());
        exit_code = 1;
    }
    if (probe->bad_records()) {
        fmt::print(stderr, "tcptrail: {} malformed ring buffer records skipped\n", probe->bad_records());
    }
    if (exit_code == 0) {
        print_tally(feed.traced(), tracker.stats(), drops.reported, misses.reported, probe->unread_at_exit(),
                    lost_in_transit);
    }
    return exit_code;
}

}  // namespace tcptrail::cli
