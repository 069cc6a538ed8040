// Dropping root after the BPF programs are attached: the ring buffer and map
// file descriptors stay valid, so tracing goes on with no capabilities at all.
#pragma once

#include <string>

namespace tcptrail::cli {

// `user` is a name from /etc/passwd or a numeric uid. Returns an empty string on
// success, else a one-line reason.
std::string drop_privileges(const std::string& user);

// Sets the calling thread's niceness to `nice` (threads it starts later inherit
// it), unless it already runs at a higher priority and `nice` is negative.
// Returns an empty string on success, else a one-line reason; tracing goes on.
std::string set_niceness(int nice);

}  // namespace tcptrail::cli
