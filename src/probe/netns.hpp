// The network namespaces of this host and a way into each: shared by the
// sock_diag snapshots and the netstat sampler.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tcptrail::probe {

struct NetnsRef {
    uint64_t ino;      // namespace inode (what events carry as netns)
    std::string path;  // a file that opens it: /proc/PID/ns/net or /run/netns/NAME
};

// A /proc entry that is a number (a pid, an fd).
bool all_digits(const char* s);

// Every network namespace in use: those of processes and named ones (ip netns add),
// each once. Processes we may not inspect are skipped.
std::vector<NetnsRef> list_network_namespaces();

// Runs `work` on a short-lived thread inside `ns` (setns() changes only the calling
// thread; sockets and /proc/thread-self/net stay in the namespace of their thread).
// Returns work's result, or one line saying why the namespace could not be entered;
// `gone` is set when it no longer exists at that path (its last process exited).
std::string in_network_namespace(const NetnsRef& ns, const std::function<std::string()>& work, bool& gone);

}  // namespace tcptrail::probe
