#pragma once

#include <string>

#include "cli/options.hpp"

namespace tcptrail::cli {

// Plays a capture file through the reconstruction, printing what the live run
// would have printed with the same output options. Needs no privileges and no
// BPF. Returns the process exit code.
int run_replay(const std::string& path, const TraceOptions& opts);

}  // namespace tcptrail::cli
