// tcptrail: TCP connection lifecycle tracer.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/options.hpp"
#include "cli/replay_command.hpp"
#include "cli/trace_command.hpp"
#include "probe/check.hpp"
#include "tcptrail/events.h"

namespace {

constexpr int kUsageError = 2;

using tcptrail::cli::TraceOptions;

// CLI11's own range validators print the whole double range; say it plainly.
CLI::Validator number_above(double floor, bool inclusive) {
    return CLI::Validator(
        [floor, inclusive](std::string& s) -> std::string {
            double v = 0;
            if (!CLI::detail::lexical_cast(s, v)) return fmt::format("'{}' is not a number", s);
            if (inclusive ? v < floor : v <= floor) {
                return fmt::format("{} must be {} {}", s, inclusive ? "at least" : "greater than", floor);
            }
            return {};
        },
        inclusive ? "NUMBER>=0" : "NUMBER>0");
}
const CLI::Validator kPositive = number_above(0, false);
const CLI::Validator kNonNegative = number_above(0, true);

// What to print and which connections: the same for live tracing and replay.
void add_output_options(CLI::App& app, TraceOptions& opts) {
    app.add_flag("--json", opts.json, "print JSON Lines instead of a table");
    app.add_flag("--events", opts.events, "also stream every state change, retransmit and reset as it happens");
    app.add_option("-p,--pid", opts.pid, "only connections owned by this process");
    app.add_option("-c,--comm", opts.comm, "only connections owned by processes with this command name");
    app.add_option("--port", opts.ports, "only connections with this local or remote port (repeatable, up to 8)")
        ->check(CLI::Range(1, 65535));
    auto* v4 = app.add_flag("-4,--ipv4", opts.ipv4_only, "only IPv4");
    auto* v6 = app.add_flag("-6,--ipv6", opts.ipv6_only, "only IPv6");
    v4->excludes(v6);
    app.add_option("--netns", opts.netns,
                   "only this network namespace (inode, e.g. from `stat -L -c %i /run/netns/NAME`)")
        ->check(kPositive);
    app.add_option("--min-handshake-ms", opts.min_handshake_ms, "only connections whose handshake took at least MS")
        ->check(kNonNegative);
    app.add_flag(
        "--summary", opts.summary,
        "at the end, print handshake latency quantiles, who closes, TIME_WAIT/CLOSE_WAIT and retransmit tallies");
    app.add_option("--close-wait-warn", opts.close_wait_warn_s,
                   "warn when a socket sits in CLOSE_WAIT (peer closed, this side did not) for SECONDS")
        ->check(kPositive);
    app.add_option("--perfetto", opts.perfetto_path,
                   "also write the connection timelines to FILE (mode 0600) as Chrome trace-event JSON, "
                   "for ui.perfetto.dev or chrome://tracing");
    app.add_option("--max-conns", opts.max_conns,
                   "track at most N sockets; the least recently active is evicted (reported as lost)")
        ->check(CLI::Range(size_t{1}, size_t{100'000'000}));
}

void check_output_options(const TraceOptions& opts) {
    if (opts.ports.size() > TT_MAX_PORT_FILTERS) {
        throw CLI::ValidationError("--port", fmt::format("at most {} ports", TT_MAX_PORT_FILTERS));
    }
}

int run_check() {
    using Status = tcptrail::probe::CheckLine::Status;
    const auto report = tcptrail::probe::check_system();
    for (const auto& l : report.lines) {
        const char* tag = l.status == Status::Ok ? "ok" : l.status == Status::Degraded ? "degraded" : "MISSING";
        fmt::print("[{:<8}] {}{}{}\n", tag, l.what, l.detail.empty() ? "" : ": ", l.detail);
    }
    fmt::print("tracing can work: {}\n", report.can_trace ? "yes" : "no");
    return report.can_trace ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    TraceOptions opts;
    CLI::App app{"tcptrail: trace every TCP connection's lifecycle with eBPF tracepoints"};
    app.set_version_flag("--version", "tcptrail 0.1.0");

    add_output_options(app, opts);
    app.add_option("--duration", opts.duration_s, "stop after SECONDS")->check(kPositive);
    app.add_option("--ringbuf-mb", opts.ringbuf_mb, "ring buffer size in MiB (power of two)")
        ->check(CLI::Range(1, 1024));
    app.add_option("--poll-ms", opts.poll_ms, "how often to drain the ring buffer when it is not filling up")
        ->check(CLI::Range(1, 1000));
    app.add_option("--nice", opts.nice,
                   "tcptrail's own scheduling niceness, -20..19 (default: -5 if started at niceness 0, so that it "
                   "keeps up with the load it traces on a saturated host; otherwise as started)")
        ->check(CLI::Range(-20, 19));
    app.add_option("--user", opts.user, "after attaching, switch to this unprivileged user and drop every capability");
    bool check = false;
    app.add_flag("--check", check, "print what this kernel supports and exit 0 only if tracing can work");
    app.add_option("--record", opts.record_path,
                   "also write the raw event stream to FILE (mode 0600), for `tcptrail replay FILE`");
    std::string metrics_addr;
    app.add_option("--metrics", metrics_addr,
                   "serve Prometheus metrics at http://ADDR:PORT/metrics (e.g. :9464, 127.0.0.1:9464, [::1]:9464); "
                   "without --json, prints no per-connection records");
    app.add_option("--metrics-max-series", opts.metrics_max_series,
                   "series per metric before new label values fold into \"other\"")
        ->check(CLI::Range(size_t{1}, size_t{1'000'000}));

    TraceOptions replay_opts;
    std::string capture_path;
    CLI::App* replay = app.add_subcommand(
        "replay", "print a capture written by --record as the live run did (needs no root and no BPF)");
    replay->add_option("FILE", capture_path, "capture file")->required();
    add_output_options(*replay, replay_opts);

    TraceOptions report_opts;
    std::string report_path;
    CLI::App* report = app.add_subcommand(
        "report", "summarise a capture: handshake latency, who closes, retransmits and resets (needs no root)");
    report->add_option("FILE", report_path, "capture file")->required();
    add_output_options(*report, report_opts);

    try {
        app.parse(argc, argv);
        if (*replay || *report) {
            for (const CLI::Option* o : app.get_options()) {
                if (o->count() > 0) {
                    throw CLI::ValidationError(o->get_name(),
                                               "is not a replay option (options go after `replay FILE`)");
                }
            }
            check_output_options(*replay ? replay_opts : report_opts);
        }
        check_output_options(opts);
        if (opts.ringbuf_mb & (opts.ringbuf_mb - 1)) {
            throw CLI::ValidationError("--ringbuf-mb", "must be a power of two");
        }
        if (!metrics_addr.empty()) {
            std::string err;
            opts.metrics = tcptrail::metrics::parse_listen_address(metrics_addr, err);
            if (!opts.metrics) throw CLI::ValidationError("--metrics", err);
        }
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        fmt::print(stderr, "tcptrail: {} (see --help)\n", e.what());
        return kUsageError;
    }
#ifndef TCPTRAIL_HAVE_METRICS
    if (opts.metrics) {
        fmt::print(stderr, "tcptrail was built without --metrics support\n");
        return kUsageError;
    }
#endif
    // A metrics daemon prints records only when asked to (--json).
    if (opts.metrics && !opts.json) opts.records = false;
    // Anything not handled where it happens (out of memory, no thread left under
    // a pids limit) still ends in one line and a non-zero exit, not an abort.
    try {
        if (check) return run_check();
        if (*replay) return tcptrail::cli::run_replay(capture_path, replay_opts);
        if (*report) {
            report_opts.summary = true;
            report_opts.records = false;
            report_opts.events = false;
            return tcptrail::cli::run_replay(report_path, report_opts);
        }
        return tcptrail::cli::run_trace(opts);
    } catch (const std::exception& e) {
        fmt::print(stderr, "tcptrail: cannot go on: {}\n", e.what());
        return 1;
    }
}
