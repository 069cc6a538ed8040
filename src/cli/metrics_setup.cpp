#include "cli/metrics_setup.hpp"

#include "metrics/process_stats.hpp"

namespace tcptrail::cli {

MetricsExporter::MetricsExporter(const metrics::ListenAddress& addr, size_t max_series)
    : metrics_(max_series), server_(addr) {}

void MetricsExporter::start(const core::Tracker& tracker, uint64_t now_ns) {
    publish(tracker, now_ns);  // the first scrape already gets a full exposition
    server_.start();
}

void MetricsExporter::tick(const core::Tracker& tracker, uint64_t now_ns) {
    if (now_ns - last_render_ns_ < kMinRenderNs) return;
    // take_scrape_request() is called only when a render is allowed, so a scrape
    // in the meantime is not forgotten.
    const bool scraped = server_.take_scrape_request();
    if (scraped || metrics_.changed()) publish(tracker, now_ns);
}

void MetricsExporter::publish(const core::Tracker& tracker, uint64_t now_ns) {
    metrics::LiveView live;
    live.open_by_state = tracker.open_by_state();
    live.sockets_tracked = tracker.open_connections();
    const metrics::ProcessStats process = metrics::read_process_stats();
    server_.publish(std::make_shared<const std::string>(metrics_.render(live, &process)));
    last_render_ns_ = now_ns;
}

}  // namespace tcptrail::cli
