// tcptrail's Prometheus metrics: a core::Output fed by the tracker (on_open,
// on_conn, on_lost), plus the tracker's live view and the process's own
// figures at render time. Pure: the caller reads /proc and serves the text.
//
// What is counted when:
// - opened: a traced handshake reached ESTABLISHED (Output::on_open). Sockets
//   found at start (partial) are never "opened"; refused or timed-out
//   handshakes are only "closed" (closed_by refused / timeout).
// - handshake histogram: at ESTABLISHED, from the record's handshake_us.
// - closed, accept wait, retransmits, resets: when the connection's record is
//   final (at close, after the tracker's grace period), including partial ones.
//   Records still open when tracing stops are not counted.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/record.hpp"
#include "core/tracker.hpp"
#include "metrics/registry.hpp"

namespace tcptrail::metrics {

// The process collector's figures (Prometheus client_golang names).
struct ProcessStats {
    double cpu_seconds = 0;
    uint64_t resident_memory_bytes = 0;
    uint64_t virtual_memory_bytes = 0;
    uint64_t open_fds = 0;
    uint64_t max_fds = 0;
    double start_time_seconds = 0;  // since the Unix epoch
};

struct LiveView {
    core::Tracker::StateCounts open_by_state{};
    uint64_t sockets_tracked = 0;
};

class TcpMetrics : public core::Output {
public:
    static constexpr size_t kDefaultMaxSeries = 1000;

    explicit TcpMetrics(size_t max_series = kDefaultMaxSeries);

    void on_open(const core::ConnRecord& r) override;
    void on_conn(const core::ConnRecord& r) override;
    void on_event(const core::EventRecord&) override {}
    void on_lost(uint64_t count, core::LossReason reason) override;
    // Listen-queue / SYN-cookie counters of a namespace: what moved since its last sample.
    void on_netstat(const core::NetstatDelta& d) override;

    // Counters or histograms changed since the last render().
    bool changed() const { return changed_; }
    std::string render(const LiveView& live, const ProcessStats* process);

    const Registry& registry() const { return reg_; }

private:
    Registry reg_;
    Registry::Metric& opened_;
    Registry::Metric& closed_;
    Registry::Metric& handshake_;
    Registry::Metric& accept_wait_;
    Registry::Metric& syn_retrans_;
    Registry::Metric& synack_retrans_;
    Registry::Metric& retrans_;
    Registry::Metric& fin_retrans_;
    Registry::Metric& resets_sent_;
    Registry::Metric& resets_received_;
    Registry::Metric& open_;
    Registry::Metric& tracked_;
    Registry::Metric& lost_;
    std::array<Registry::Metric*, TT_NETSTAT_COUNTERS> netstat_{};
    bool changed_ = true;
};

// The `port` label: a client's remote port, a server's local (listening) port;
// for a socket of unknown role, the lower of the two (ephemeral ports are high).
std::string port_label(const core::ConnRecord& r);

}  // namespace tcptrail::metrics
