#pragma once

#include "cli/options.hpp"

namespace tcptrail::cli {

// Live tracing until Ctrl-C, SIGTERM, --duration, or the reader of stdout goes away.
// Returns the process exit code.
int run_trace(const TraceOptions& opts);

}  // namespace tcptrail::cli
