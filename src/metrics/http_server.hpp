// The /metrics endpoint (cpp-httplib, own threads). It never touches the
// tracer's state: the main loop publishes each rendered exposition as an
// immutable string and handlers only copy the pointer, so a scrape never waits
// for event processing and event processing never waits for a scrape.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "metrics/listen_address.hpp"

namespace tcptrail::metrics {

class ServerError : public std::runtime_error {
    using std::runtime_error::runtime_error;
};

class MetricsServer {
public:
    // Binds now (so it can happen before privileges are dropped); throws ServerError.
    explicit MetricsServer(const ListenAddress& addr);
    ~MetricsServer();  // stops serving and joins every thread
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    void start();  // serving threads; SIGINT/SIGTERM stay with the calling thread
    void publish(std::shared_ptr<const std::string> text);
    // True once per batch of scrapes since the last call: a fresh render is wanted.
    bool take_scrape_request();
    uint64_t scrapes() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tcptrail::metrics
