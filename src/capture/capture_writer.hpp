// Writing captures (`tcptrail --record FILE`): CaptureWriter encodes records into
// a buffer and appends it to the file; CaptureTee records an EventStream while
// passing it on.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "capture/capture_format.hpp"
#include "core/event_stream.hpp"

namespace tcptrail::capture {

class CaptureWriter {
public:
    static constexpr size_t kDefaultBufferBytes = 256 * 1024;
    // While events keep coming, the buffer goes out at least this often (event time).
    static constexpr uint64_t kFlushIntervalNs = 1'000'000'000;

    // Creates `path` with mode 0600 (truncating an existing file) and writes the
    // header. Throws CaptureError if the file cannot be created or written.
    CaptureWriter(std::string path, const CaptureHeader& header, size_t buffer_bytes = kDefaultBufferBytes);
    ~CaptureWriter();
    CaptureWriter(const CaptureWriter&) = delete;
    CaptureWriter& operator=(const CaptureWriter&) = delete;

    void event(const tt_event& e);
    void lost(uint64_t count, core::LossReason reason);  // count 0 is not recorded
    void advance(uint64_t now_ns);
    // Writes the FINISH record, flushes and closes the file.
    void finish(uint64_t now_ns);
    // Writes out the buffer; false once recording has failed.
    bool flush();

    // After a write error nothing more is recorded; the file ends at the last
    // whole record, so it stays readable.
    bool failed() const { return failed_; }
    const std::string& error() const { return error_; }  // "cannot write capture FILE: REASON"
    const std::string& path() const { return path_; }
    uint64_t bytes_written() const { return file_bytes_; }

private:
    uint8_t* reserve(RecordKind kind, uint32_t payload_len);
    void put_time_record(RecordKind kind, uint64_t now_ns);
    size_t whole_records_in(size_t prefix) const;
    void fail(int err);
    void close_file();

    std::string path_;
    int fd_ = -1;
    std::unique_ptr<uint8_t[]> buf_;
    size_t capacity_;
    size_t used_ = 0;
    uint64_t file_bytes_ = 0;  // written to the file; always a record boundary
    uint64_t last_flush_ns_ = 0;
    bool failed_ = false;
    std::string error_;
};

// Records everything that passes through, then forwards it to `next`. Recording
// failures never disturb the forwarding: the live output goes on regardless.
class CaptureTee : public core::EventStream {
public:
    CaptureTee(CaptureWriter& writer, core::EventStream& next) : writer_(writer), next_(next) {}

    void on_event(const tt_event& e) override {
        writer_.event(e);
        next_.on_event(e);
    }
    void on_lost(uint64_t count, core::LossReason reason) override {
        writer_.lost(count, reason);
        next_.on_lost(count, reason);
    }
    void advance(uint64_t now_ns) override {
        writer_.advance(now_ns);
        next_.advance(now_ns);
    }
    void finish(uint64_t now_ns) override {
        writer_.finish(now_ns);
        next_.finish(now_ns);
    }

private:
    CaptureWriter& writer_;
    core::EventStream& next_;
};

}  // namespace tcptrail::capture
