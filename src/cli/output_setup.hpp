// What live tracing and replay share, so both print the same thing for the same
// options: the sink (table or JSON), the reconstruction's options and the
// socket filters.
#pragma once

#include <memory>
#include <string>

#include "cli/options.hpp"
#include "core/record.hpp"
#include "core/socket_filter.hpp"
#include "core/tracker.hpp"
#include "sinks/output_stream.hpp"
#include "sinks/time_base.hpp"

namespace tcptrail::cli {

std::unique_ptr<core::Output> make_sink(const TraceOptions& opts, sinks::OutputStream& out,
                                        const sinks::TimeBase& time_base);
core::TrackerOptions tracker_options(const TraceOptions& opts);
// --port, -4/-6, --netns: applied by the BPF programs live, by replay in user space.
core::SocketFilter socket_filter(const TraceOptions& opts);
// The filters in force as command-line options, e.g. "--port 80 -4 -c curl"; empty if none.
std::string describe_filters(const TraceOptions& opts);

}  // namespace tcptrail::cli
