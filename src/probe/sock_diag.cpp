#include "probe/sock_diag.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include <fmt/format.h>

#include "core/event_stream.hpp"
#include "probe/netns.hpp"

namespace tcptrail::probe {

namespace {

constexpr uint32_t kAllFullSocketStates = (1u << TT_ESTABLISHED) | (1u << TT_SYN_SENT) | (1u << TT_SYN_RECV) |
                                          (1u << TT_FIN_WAIT1) | (1u << TT_FIN_WAIT2) | (1u << TT_CLOSE_WAIT) |
                                          (1u << TT_LAST_ACK) | (1u << TT_LISTEN) | (1u << TT_CLOSING);

struct Owner {
    uint32_t pid;
    std::string comm;
};

std::string read_comm(const std::string& pid) {
    int fd = ::open(fmt::format("/proc/{}/comm", pid).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    char buf[64] = {};
    ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
    ::close(fd);
    std::string s(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
}

// Socket inode -> first process holding it, from /proc/*/fd.
void scan_owners(std::unordered_map<uint64_t, Owner>& owners) {
    DIR* proc = opendir("/proc");
    if (!proc) return;
    while (dirent* d = readdir(proc)) {
        if (!all_digits(d->d_name)) continue;
        std::string pid = d->d_name;
        std::string fd_dir = fmt::format("/proc/{}/fd", pid);
        DIR* fds = opendir(fd_dir.c_str());
        if (!fds) continue;
        std::string comm;
        while (dirent* f = readdir(fds)) {
            if (!all_digits(f->d_name)) continue;
            char target[64];
            ssize_t n = readlinkat(dirfd(fds), f->d_name, target, sizeof(target) - 1);
            if (n <= 9 || std::memcmp(target, "socket:[", 8) != 0) continue;
            target[n] = 0;
            uint64_t ino = std::strtoull(target + 8, nullptr, 10);
            if (owners.count(ino)) continue;
            if (comm.empty()) comm = read_comm(pid);
            owners.emplace(ino, Owner{static_cast<uint32_t>(std::strtoul(pid.c_str(), nullptr, 10)), comm});
        }
        closedir(fds);
    }
    closedir(proc);
}

bool port_ok(const ProbeConfig& cfg, uint16_t lport, uint16_t rport) {
    if (cfg.ports.empty()) return true;
    return std::any_of(cfg.ports.begin(), cfg.ports.end(), [&](uint16_t p) { return p == lport || p == rport; });
}

// Sends one inet_diag dump request: `req` behind a netlink header of `type`.
template <class Request>
bool send_dump_request(int nl, uint16_t type, const Request& req) {
    struct {
        nlmsghdr nlh;
        Request req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof(msg);
    msg.nlh.nlmsg_type = type;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.req = req;
    return ::send(nl, &msg, sizeof(msg), 0) >= 0;
}

// Asks for a dump of TCP sockets of `family`, or of both families with AF_UNSPEC.
// Each dump walks the kernel's whole established hash, shared by IPv4 and IPv6,
// so both families come from one walk: the older TCPDIAG_GETSOCK request does
// that (the kernel still serves it, as inet_diag's compatibility path); the
// SOCK_DIAG_BY_FAMILY request takes one family only.
bool request_dump(int nl, uint8_t family) {
    constexpr uint8_t kWithTcpInfo = 1 << (INET_DIAG_INFO - 1);
    if (family == AF_UNSPEC) {
        inet_diag_req req{};
        req.idiag_family = AF_UNSPEC;
        req.idiag_states = kAllFullSocketStates;
        req.idiag_ext = kWithTcpInfo;
        return send_dump_request(nl, TCPDIAG_GETSOCK, req);
    }
    inet_diag_req_v2 req{};
    req.sdiag_family = family;
    req.sdiag_protocol = IPPROTO_TCP;
    req.idiag_states = kAllFullSocketStates;
    req.idiag_ext = kWithTcpInfo;
    return send_dump_request(nl, SOCK_DIAG_BY_FAMILY, req);
}

// One inet_diag dump (see request_dump) on `nl`, a socket in the target netns.
bool dump_sockets(int nl, uint8_t family, uint32_t netns, const ProbeConfig& cfg, uint64_t now_ns,
                  const std::unordered_map<uint64_t, Owner>& owners, std::vector<tt_event>& out) {
    if (!request_dump(nl, family)) return false;

    std::vector<char> buf(64 * 1024);
    for (;;) {
        ssize_t n = ::recv(nl, buf.data(), buf.size(), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (n == 0) return true;
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, static_cast<unsigned>(n));
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) return true;
            if (h->nlmsg_type == NLMSG_ERROR) {  // e.g. inet_diag / tcp_diag modules not loaded
                const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
                errno = err->error ? -err->error : EPROTO;
                return false;
            }
            auto* m = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
            // TIME_WAIT-table mini-sockets (timer 3) report their substate, FIN_WAIT2
            // included; their connection's full socket has already closed.
            if (m->idiag_timer == 3) continue;
            tt_event e{};
            e.ts_ns = now_ns;
            e.type = TT_EV_EXISTING;
            e.family = m->idiag_family;
            e.new_state = m->idiag_state;
            e.netns = netns;
            e.lport = ntohs(m->id.idiag_sport);
            e.rport = ntohs(m->id.idiag_dport);
            if (!port_ok(cfg, e.lport, e.rport) && m->idiag_state != TT_LISTEN) continue;
            std::memcpy(e.laddr, m->id.idiag_src, 16);
            std::memcpy(e.raddr, m->id.idiag_dst, 16);
            e.cookie =
                static_cast<uint64_t>(m->id.idiag_cookie[0]) | (static_cast<uint64_t>(m->id.idiag_cookie[1]) << 32);
            if (auto it = owners.find(m->idiag_inode); m->idiag_inode && it != owners.end()) {
                e.pid = it->second.pid;
                std::strncpy(e.comm, it->second.comm.c_str(), sizeof(e.comm) - 1);
                e.flags |= TT_F_OWNER_KNOWN;
            }
            e.flags |= TT_F_NO_COUNTERS;
            // What the BPF side reads from sk_flags and the sequence numbers, told
            // here by the state: the kernel's byte counters include the FINs.
            if (e.new_state == TT_CLOSE_WAIT || e.new_state == TT_LAST_ACK || e.new_state == TT_CLOSING) {
                e.sk_bits |= TT_SK_PEER_FIN;
            }
            if (e.new_state == TT_FIN_WAIT2) e.sk_bits |= TT_SK_ALL_ACKED;
            int attr_len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
            for (auto* a = reinterpret_cast<rtattr*>(m + 1); RTA_OK(a, attr_len); a = RTA_NEXT(a, attr_len)) {
                if (a->rta_type == INET_DIAG_INFO && RTA_PAYLOAD(a) >= offsetof(tcp_info, tcpi_bytes_received) + 8) {
                    tcp_info ti{};
                    std::memcpy(&ti, RTA_DATA(a), std::min<size_t>(RTA_PAYLOAD(a), sizeof(ti)));
                    e.bytes_acked = ti.tcpi_bytes_acked;
                    e.bytes_received = ti.tcpi_bytes_received;
                    e.total_retrans = ti.tcpi_total_retrans;
                    e.srtt_us8 = ti.tcpi_rtt * 8;
                    e.flags &= ~TT_F_NO_COUNTERS;
                } else if (a->rta_type == INET_DIAG_CGROUP_ID && RTA_PAYLOAD(a) >= 8) {
                    std::memcpy(&e.cgroup_id, RTA_DATA(a), 8);
                }
            }
            out.push_back(e);
        }
    }
}

// Dumps the sockets of the namespace the calling thread is in.
std::string read_namespace(uint64_t ino, const ProbeConfig& cfg, uint64_t now_ns,
                           const std::unordered_map<uint64_t, Owner>& owners, std::vector<tt_event>& out) {
    int nl = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0) return fmt::format("sock_diag unavailable in namespace {}: {}", ino, std::strerror(errno));
    const uint8_t family = cfg.family == 4 ? AF_INET : cfg.family == 6 ? AF_INET6 : AF_UNSPEC;
    std::string problem;
    if (!dump_sockets(nl, family, static_cast<uint32_t>(ino), cfg, now_ns, owners, out)) {
        problem = fmt::format("sock_diag dump failed in namespace {}: {}", ino, std::strerror(errno));
    }
    ::close(nl);
    return problem;
}

}  // namespace

ExistingSockets snapshot_existing_sockets(const ProbeConfig& cfg, uint64_t now_ns, bool final_snapshot) {
    ExistingSockets result;
    std::unordered_map<uint64_t, Owner> owners;
    scan_owners(owners);
    const std::vector<NetnsRef> spaces = list_network_namespaces(cfg.netns);
    std::vector<std::vector<tt_event>> found(spaces.size());
    const std::vector<NamespaceResult> results = in_each_network_namespace(
        spaces, [&](size_t i) { return read_namespace(spaces[i].ino, cfg, now_ns, owners, found[i]); });
    for (size_t i = 0; i < spaces.size(); ++i) {
        if (!results[i].problem.empty()) result.problems.push_back(results[i].problem);
        result.events.insert(result.events.end(), found[i].begin(), found[i].end());
    }
    // Listeners first: the tracker infers a socket's role from the listening ports.
    std::stable_partition(result.events.begin(), result.events.end(),
                          [](const tt_event& e) { return e.new_state == TT_LISTEN; });
    if (final_snapshot) {
        for (tt_event& e : result.events) e.flags |= TT_F_FINAL;
        if (result.problems.empty()) result.events.push_back(core::snapshot_end_marker(now_ns, TT_SNAPSHOT_AT_EXIT));
    }
    return result;
}

}  // namespace tcptrail::probe
