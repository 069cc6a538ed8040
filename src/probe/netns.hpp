// The network namespaces of this host and a way into each: shared by the
// sock_diag snapshots and the netstat sampler.
#pragma once

#include <cstddef>
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
// each once. Processes we may not inspect are skipped. `only` != 0 keeps just
// that namespace (--netns).
std::vector<NetnsRef> list_network_namespaces(uint64_t only = 0);

// How one namespace went: `problem` is one line saying why it could not be
// entered or read, "" when work(i) ran and succeeded; `gone` is set when it no
// longer exists at its path (its last process exited).
struct NamespaceResult {
    std::string problem;
    bool gone = false;
};
// At most this many namespaces are worked on at once.
constexpr size_t kMaxNamespaceThreads = 8;
// Runs work(i) inside spaces[i] for every i, on a few short-lived threads
// (setns() changes only the calling thread; sockets and /proc/thread-self/net
// stay in the namespace of their thread). Several namespaces are read at once:
// a sock_diag dump walks the kernel's whole socket hash once per namespace, so
// on a host of many containers one after the other added up. work must be safe
// to run concurrently for different i. Results are in the order of spaces.
std::vector<NamespaceResult> in_each_network_namespace(const std::vector<NetnsRef>& spaces,
                                                       const std::function<std::string(size_t)>& work);

}  // namespace tcptrail::probe
