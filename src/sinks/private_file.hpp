// Output files that hold addresses (--record, --perfetto): created owner-only.
#pragma once

#include <cstddef>
#include <string>

namespace tcptrail::sinks {

enum class CreateStep { Create, Restrict };

// Creates or truncates `path` for writing with mode 0600, also when it existed
// with a wider mode (regular files only: a device such as /dev/null keeps its
// mode). Returns the descriptor, or -errno with `failed` telling which step.
int create_private_file(const std::string& path, CreateStep& failed);

// Writes all of [data, data+len); returns 0 or the errno that stopped it, with
// the number of bytes that did get written in `done`.
int write_all(int fd, const void* data, size_t len, size_t& done);

}  // namespace tcptrail::sinks
