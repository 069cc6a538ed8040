#include "core/summary.hpp"

#include <algorithm>

#include <arpa/inet.h>

#include <fmt/format.h>

#include "core/tcp_state.hpp"

namespace tcptrail::core {

namespace {

std::string endpoint(uint8_t family, const std::array<uint8_t, 16>& addr, uint16_t port) {
    char buf[INET6_ADDRSTRLEN] = "?";
    inet_ntop(family == 4 ? AF_INET : AF_INET6, addr.data(), buf, sizeof(buf));
    return family == 6 ? fmt::format("[{}]:{}", buf, port) : fmt::format("{}:{}", buf, port);
}

}  // namespace

std::string peer_key(const ConnRecord& r) {
    if (r.role == Role::Server) return fmt::format(":{}", r.tuple.lport);
    return endpoint(r.tuple.family, r.tuple.raddr, r.tuple.rport);
}

std::string process_key(const ConnRecord& r) { return r.pid ? r.comm : std::string("?"); }

template <typename Map>
typename Map::mapped_type& Summary::group(Map& m, const std::string& key) {
    auto it = m.find(key);
    if (it != m.end()) return it->second;
    if (m.size() >= kMaxGroups) {
        ++folded_groups;
        return m["other"];
    }
    return m[key];
}

void Summary::keep_top(std::vector<ConnBrief>& list, ConnBrief b) {
    auto pos = std::find_if(list.begin(), list.end(), [&](const ConnBrief& x) { return x.value < b.value; });
    if (pos == list.end() && list.size() >= kTopN) return;
    list.insert(pos, std::move(b));
    if (list.size() > kTopN) list.pop_back();
}

void Summary::on_lost(uint64_t count, LossReason reason) { lost[loss_reason_name(reason)] += count; }

void Summary::on_netstat(const NetstatDelta& d) {
    ++netstat_samples;
    uint32_t key = d.netns;
    if (!listen_queue_by_netns.count(key) && listen_queue_by_netns.size() >= kMaxGroups) {
        ++folded_groups;
        key = 0;
    }
    NetstatCounters& c = listen_queue_by_netns[key];
    for (size_t i = 0; i < c.size(); ++i) {
        c[i] += d.moved[i];
        listen_queue_total[i] += d.moved[i];
    }
}

void Summary::on_conn(const ConnRecord& r) {
    ++connections;
    if (r.open) ++open_at_end;
    const std::string role = role_name(r.role);
    const std::string proc = process_key(r);
    const std::string peer = peer_key(r);
    auto brief = [&](uint64_t value) {
        return ConnBrief{r.id,
                         proc,
                         endpoint(r.tuple.family, r.tuple.laddr, r.tuple.lport),
                         endpoint(r.tuple.family, r.tuple.raddr, r.tuple.rport),
                         role,
                         value,
                         r.syn_retrans,
                         r.synack_retrans};
    };

    if (r.handshake_us) {
        const bool retransmitted = r.syn_retrans + r.synack_retrans > 0;
        const std::string by_endpoint = fmt::format("{} {}", role, peer);
        const std::string by_process = fmt::format("{} {}", role, proc);
        for (LatencyGroup* g : {&group(handshake_by_role, role), &group(handshake_by_endpoint, by_endpoint),
                                &group(handshake_by_process, by_process)}) {
            g->handshake_us.record(*r.handshake_us);
            if (retransmitted) ++g->handshake_retrans;
        }
        if (retransmitted) keep_top(slow_retransmitted_handshakes, brief(*r.handshake_us));
    }

    if (!r.open) {
        CloseTally& t = group(closers, fmt::format("{} {} {}", proc, role, peer));
        ++t.by_closed_by[closed_by_name(r.closed_by)];
        ++t.total;
    }
    if (r.time_wait) {
        ++group(time_wait_by_local_port, fmt::format("{}", r.tuple.lport));
        ++group(time_wait_by_process, proc);
    }
    if (r.open && !r.states.empty() && r.states.back().state == TT_CLOSE_WAIT) {
        ++close_wait_total;
        keep_top(close_wait_open, brief(r.duration_us));
    }

    RetransGroup& rg = group(retrans_by_endpoint, fmt::format("{} {}", role, peer));
    ++rg.connections;
    rg.retrans += r.retrans;
    rg.resets_sent += r.resets_sent;
    rg.resets_received += r.resets_received;
    if (r.retrans) keep_top(top_retrans, brief(r.retrans));
}

}  // namespace tcptrail::core
