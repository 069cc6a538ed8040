// Aggregates finished (and still-open) connection records into the answers
// users bring: how slow are handshakes, who closes, where are the retransmits
// and resets, what piles up in TIME_WAIT and CLOSE_WAIT, did listen queues
// overflow. Pure; the sinks print it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/histogram.hpp"
#include "core/record.hpp"

namespace tcptrail::core {

class Summary : public Output {
public:
    static constexpr size_t kMaxGroups = 10'000;  // beyond this, new keys fold into "other"
    static constexpr size_t kTopN = 10;

    struct LatencyGroup {
        LogHistogram handshake_us;
        uint64_t handshake_retrans = 0;  // connections that needed SYN / SYN-ACK retransmits
    };
    struct CloseTally {
        std::map<std::string, uint64_t> by_closed_by;  // "local" -> n
        uint64_t total = 0;
    };
    struct RetransGroup {
        uint64_t connections = 0;
        uint64_t retrans = 0;
        uint64_t resets_sent = 0;
        uint64_t resets_received = 0;
    };
    struct ConnBrief {  // one connection, for top lists
        uint64_t id;
        std::string process;
        std::string local;
        std::string remote;
        std::string role;
        uint64_t value;  // what it was ranked by
        uint32_t syn_retrans;
        uint32_t synack_retrans;
    };

    void on_conn(const ConnRecord& r) override;
    void on_event(const EventRecord&) override {}
    void on_lost(uint64_t count, LossReason reason) override;
    void on_netstat(const NetstatDelta& d) override;

    uint64_t connections = 0;
    uint64_t open_at_end = 0;
    std::map<std::string, uint64_t> lost;  // reason -> count
    std::map<std::string, LatencyGroup> handshake_by_role;      // "client", "server"
    std::map<std::string, LatencyGroup> handshake_by_endpoint;  // "client 10.0.0.5:443", "server :8080"
    std::map<std::string, LatencyGroup> handshake_by_process;   // "client curl"
    std::vector<ConnBrief> slow_retransmitted_handshakes;        // top by handshake_us
    std::map<std::string, CloseTally> closers;                  // "nginx -> 10.0.0.5:443"
    std::map<std::string, uint64_t> time_wait_by_local_port;    // "8080"
    std::map<std::string, uint64_t> time_wait_by_process;
    std::vector<ConnBrief> close_wait_open;                      // still in CLOSE_WAIT at the end, oldest first
    uint64_t close_wait_total = 0;
    std::map<std::string, RetransGroup> retrans_by_endpoint;
    std::vector<ConnBrief> top_retrans;                          // top connections by data retransmits
    // Listen-queue / SYN-cookie counters: their change over the trace, per sampled
    // network namespace (0 collects namespaces beyond kMaxGroups) and in all.
    std::map<uint32_t, NetstatCounters> listen_queue_by_netns;
    NetstatCounters listen_queue_total{};
    uint64_t netstat_samples = 0;  // 0: not sampled (e.g. a capture from before sampling existed)
    uint64_t folded_groups = 0;                                  // keys folded into "other"

private:
    template <typename Map>
    typename Map::mapped_type& group(Map& m, const std::string& key);
    static void keep_top(std::vector<ConnBrief>& list, ConnBrief b);
};

// Where a record's peer is, for grouping: a client's remote endpoint, or a server's
// listening port (its peers' ephemeral ports would make every group unique).
std::string peer_key(const ConnRecord& r);
std::string process_key(const ConnRecord& r);

}  // namespace tcptrail::core
