// --metrics: the Prometheus metrics of a live run. The main loop owns the
// metric state and renders it; the HTTP threads only serve what was published.
#pragma once

#include <cstdint>
#include <memory>

#include "cli/options.hpp"
#include "core/tracker.hpp"
#include "metrics/http_server.hpp"
#include "metrics/tcp_metrics.hpp"

namespace tcptrail::cli {

class MetricsExporter {
public:
    // Binds the listening socket; throws metrics::ServerError.
    MetricsExporter(const metrics::ListenAddress& addr, size_t max_series);
    core::Output& output() { return metrics_; }
    void start(const core::Tracker& tracker, uint64_t now_ns);
    // Called by the main loop after each drain: renders and publishes a new
    // exposition when something changed or a scrape came in, at most every kMinRenderNs.
    void tick(const core::Tracker& tracker, uint64_t now_ns);

private:
    static constexpr uint64_t kMinRenderNs = 200'000'000;
    void publish(const core::Tracker& tracker, uint64_t now_ns);

    metrics::TcpMetrics metrics_;
    metrics::MetricsServer server_;
    uint64_t last_render_ns_ = 0;
};

}  // namespace tcptrail::cli
