#include "sinks/output_stream.hpp"

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace tcptrail::sinks {

OutputStream::~OutputStream() { flush(); }

bool OutputStream::flush() {
    if (reader_gone_ || !error_.empty()) {
        buf_.clear();
        return false;
    }
    const char* p = buf_.data();
    size_t left = buf_.size();
    while (left > 0) {
        ssize_t n = ::write(fd_, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EPIPE) {
                reader_gone_ = true;
            } else {
                error_ = std::strerror(errno);
            }
            buf_.clear();
            return false;
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
    buf_.clear();
    return true;
}

}  // namespace tcptrail::sinks
