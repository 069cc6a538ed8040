// Buffered writer to a file descriptor: sinks format into memory and the
// buffer goes out in one write per batch. A closed reader (EPIPE) is not an
// error: it marks the stream closed so the tracer can stop cleanly.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace tcptrail::sinks {

class OutputStream {
public:
    explicit OutputStream(int fd, size_t flush_threshold = 256 * 1024) : fd_(fd), threshold_(flush_threshold) {}
    OutputStream(const OutputStream&) = delete;
    OutputStream& operator=(const OutputStream&) = delete;
    ~OutputStream();

    fmt::memory_buffer& buffer() { return buf_; }
    // Call after appending one complete line/record: writes out when the buffer is full.
    void end_record() {
        if (buf_.size() >= threshold_) flush();
    }
    // Writes everything buffered; false once the reader is gone or writing failed.
    bool flush();
    bool reader_gone() const { return reader_gone_; }
    const std::string& error() const { return error_; }  // non-empty on a real write error

private:
    int fd_;
    size_t threshold_;
    fmt::memory_buffer buf_;
    bool reader_gone_ = false;
    std::string error_;
};

}  // namespace tcptrail::sinks
