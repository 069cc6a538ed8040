#include "cli/output_setup.hpp"

#include <fmt/format.h>

#include "sinks/json_sink.hpp"
#include "sinks/table_sink.hpp"

namespace tcptrail::cli {

std::unique_ptr<core::Output> make_sink(const TraceOptions& opts, sinks::OutputStream& out,
                                        const sinks::TimeBase& time_base) {
    if (opts.json) return std::make_unique<sinks::JsonSink>(out, time_base);
    return std::make_unique<sinks::TableSink>(out, time_base);
}

core::TrackerOptions tracker_options(const TraceOptions& opts) {
    core::TrackerOptions topts;
    topts.emit_events = opts.events;
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
