// Dropping root after the BPF programs are attached: the ring buffer and map
// file descriptors stay valid, so tracing goes on with no capabilities at all.
#pragma once

#include <optional>
#include <string>

namespace tcptrail::cli {

// `user` is a name from /etc/passwd or a numeric uid. Returns an empty string on
// success, else a one-line reason.
std::string drop_privileges(const std::string& user);

// Sets the calling thread's niceness (threads it starts later inherit it) to
// `wanted`, or, if unset, to kDefaultNiceness when it runs at the default 0.
// Returns an empty string on success, else a one-line reason; tracing goes on.
constexpr int kDefaultNiceness = -5;
std::string set_niceness(std::optional<int> wanted);

}  // namespace tcptrail::cli
