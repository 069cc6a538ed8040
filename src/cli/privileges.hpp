// Dropping root after the BPF programs are attached: the ring buffer and map
// file descriptors stay valid, so tracing goes on with no capabilities at all.
#pragma once

#include <string>

namespace tcptrail::cli {

// `user` is a name from /etc/passwd or a numeric uid. Returns an empty string on
// success, else a one-line reason.
std::string drop_privileges(const std::string& user);

}  // namespace tcptrail::cli
