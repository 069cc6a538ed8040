// The process collector's figures for this process, from /proc/self.
#pragma once

#include "metrics/tcp_metrics.hpp"

namespace tcptrail::metrics {

// Fields that cannot be read stay 0.
ProcessStats read_process_stats();

}  // namespace tcptrail::metrics
