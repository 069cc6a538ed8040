// Parsed command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "metrics/listen_address.hpp"

namespace tcptrail::cli {

struct TraceOptions {
    bool json = false;
    bool events = false;
    std::optional<double> duration_s;
    std::optional<uint32_t> pid;
    std::string comm;
    std::vector<uint16_t> ports;
    bool ipv4_only = false;
    bool ipv6_only = false;
    uint32_t netns = 0;
    std::optional<double> min_handshake_ms;
    // About a second of events at the maximum churn measured (bench/): a stalled
    // writer (slow disk, full pipe) does not lose events at once.
    uint32_t ringbuf_mb = 64;
    int poll_ms = 100;
    // --nice: tcptrail's own niceness. Under full CPU load a tracer at the
    // default priority gets no more than its fair share and can fall behind the
    // load it traces, and then loses events. Unset: -5 (as auditd's
    // priority_boost) if started at the default priority, else left as started.
    std::optional<int> nice;
    std::string record_path;    // --record: capture file, empty for none
    std::string perfetto_path;  // --perfetto: trace-event JSON file, empty for none
    bool summary = false;       // --summary: aggregate report at the end
    bool records = true;        // per-connection output (off for `report`)
    std::optional<double> close_wait_warn_s;
    size_t max_conns = 1'000'000;
    std::string user;                               // --user: drop to this user once attached
    std::optional<metrics::ListenAddress> metrics;  // --metrics: serve /metrics there
    size_t metrics_max_series = 1000;               // --metrics-max-series
};

}  // namespace tcptrail::cli
