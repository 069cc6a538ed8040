// Reading captures (`tcptrail replay FILE`). A capture is untrusted input: every
// problem is a CaptureError naming the byte offset, memory use is bounded by the
// read buffer whatever the file says, and nothing is skipped silently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "capture/capture_format.hpp"
#include "core/event_stream.hpp"

namespace tcptrail::capture {

class CaptureReader {
public:
    static constexpr size_t kDefaultBufferBytes = 1024 * 1024;

    // Reads from `fd` (not owned; any readable descriptor, pipes included).
    // `name` prefixes error messages. Reads and checks the header; throws CaptureError.
    CaptureReader(int fd, std::string name, size_t buffer_bytes = kDefaultBufferBytes);
    // Reads a capture held in memory (which must outlive the reader).
    CaptureReader(std::span<const uint8_t> data, std::string name);
    CaptureReader(const CaptureReader&) = delete;
    CaptureReader& operator=(const CaptureReader&) = delete;

    const CaptureHeader& header() const { return header_; }

    // Plays the next record into `out`. False at the end of the capture: after the
    // FINISH record, or at a record boundary where the file ends without one (a
    // tracer that stopped abruptly; see saw_finish()). Throws CaptureError.
    bool next(core::EventStream& out);

    bool saw_finish() const { return saw_finish_; }
    // The latest time the capture mentions (event, ADVANCE or FINISH): where a
    // capture without a FINISH record ends.
    uint64_t last_ns() const { return last_ns_; }
    uint64_t records() const { return records_; }
    uint64_t offset() const { return base_ + pos_; }  // of the next unread byte

private:
    void read_header();
    // Makes `n` bytes available at pos_ (n <= capacity); false if the input ends first.
    bool ensure(size_t n) {
        return end_ - pos_ >= n || fill(n);
    }
    bool fill(size_t n);
    size_t left() const { return end_ - pos_; }
    [[noreturn]] void fail(const std::string& what) const;  // what: names the byte offset

    std::string name_;
    int fd_ = -1;  // -1: reading from memory
    std::unique_ptr<uint8_t[]> owned_;
    const uint8_t* data_ = nullptr;
    size_t capacity_ = 0;
    size_t pos_ = 0;     // next unread byte in data_
    size_t end_ = 0;     // end of valid bytes in data_
    uint64_t base_ = 0;  // file offset of data_[0]
    bool eof_ = false;

    CaptureHeader header_;
    bool saw_finish_ = false;
    bool done_ = false;
    uint64_t last_ns_ = 0;
    uint64_t records_ = 0;
};

}  // namespace tcptrail::capture
