#include "core/socket_filter.hpp"

#include <algorithm>
#include <sys/socket.h>

namespace tcptrail::core {

bool SocketFilter::passes(const tt_event& e) const {
    if (e.type == TT_EV_EXISTING && (e.flags & TT_F_SNAPSHOT_END)) return true;  // about no socket
    // A namespace's counters: no socket, so only the namespace filter applies.
    if (e.type == TT_EV_NETSTAT) return !netns || e.netns == netns;
    if (family && e.family != (family == 4 ? AF_INET : AF_INET6)) return false;
    if (netns && e.netns != netns) return false;
    if (ports.empty()) return true;
    // Live, listeners found at start pass the port filter so that the tracker
    // knows every listening port (probe/sock_diag.cpp); replay must keep them too.
    if (e.type == TT_EV_EXISTING && e.new_state == TT_LISTEN) return true;
    return std::any_of(ports.begin(), ports.end(), [&](uint16_t p) { return p == e.lport || p == e.rport; });
}

}  // namespace tcptrail::core
