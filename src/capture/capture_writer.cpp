#include "capture/capture_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "sinks/private_file.hpp"

namespace tcptrail::capture {

namespace {

void put_string(std::vector<uint8_t>& out, const std::string& s) {
    const size_t len = std::min(s.size(), kMaxHeaderString);
    uint8_t n[2];
    put_u16(n, static_cast<uint16_t>(len));
    out.insert(out.end(), n, n + 2);
    out.insert(out.end(), s.begin(), s.begin() + static_cast<std::ptrdiff_t>(len));
}

std::vector<uint8_t> encode_header(const CaptureHeader& h) {
    std::vector<uint8_t> out(kFixedHeaderBytes + 8);
    std::memcpy(out.data(), kMagic, sizeof(kMagic));
    put_u16(&out[8], kFormatVersion);
    put_u16(&out[10], TT_EVENT_ABI);
    put_u64(&out[16], static_cast<uint64_t>(h.realtime_minus_monotonic_ns));
    put_string(out, h.host);
    put_string(out, h.kernel_release);
    put_string(out, h.tcptrail_version);
    put_string(out, h.filters);
    put_u32(&out[12], static_cast<uint32_t>(out.size()));
    return out;
}

}  // namespace

CaptureHeader CaptureHeader::of_this_host(int64_t realtime_minus_monotonic_ns, std::string tcptrail_version,
                                          std::string filters) {
    CaptureHeader h;
    h.realtime_minus_monotonic_ns = realtime_minus_monotonic_ns;
    utsname u{};
    if (uname(&u) == 0) {
        h.host = u.nodename;
        h.kernel_release = u.release;
    }
    h.tcptrail_version = std::move(tcptrail_version);
    h.filters = std::move(filters);
    return h;
}

CaptureWriter::CaptureWriter(std::string path, const CaptureHeader& header, size_t buffer_bytes)
    : path_(std::move(path)), capacity_(std::max<size_t>(buffer_bytes, kRecordHeaderBytes + kEventPayloadBytes)) {
    // The file holds addresses: owner-only.
    sinks::CreateStep step{};
    fd_ = sinks::create_private_file(path_, step);
    if (fd_ < 0) {
        const int err = -fd_;
        fd_ = -1;
        throw CaptureError(step == sinks::CreateStep::Create
                               ? fmt::format("cannot create capture {}: {}", path_, std::strerror(err))
                               : fmt::format("cannot restrict capture {} to mode 0600: {}", path_, std::strerror(err)));
    }
    const std::vector<uint8_t> head = encode_header(header);
    size_t done = 0;
    if (int err = sinks::write_all(fd_, head.data(), head.size(), done)) {
        if (done) (void)ftruncate(fd_, 0);
        close_file();
        throw CaptureError(fmt::format("cannot write capture {}: {}", path_, std::strerror(err)));
    }
    file_bytes_ = head.size();
    buf_ = std::make_unique<uint8_t[]>(capacity_);
}

CaptureWriter::~CaptureWriter() {
    flush();
    close_file();
}

// Room for one record in the buffer, its 8-byte record header filled in; the
// caller writes the payload. nullptr once recording has failed.
uint8_t* CaptureWriter::reserve(RecordKind kind, uint32_t payload_len) {
    const size_t need = kRecordHeaderBytes + payload_len;
    if (used_ + need > capacity_ && !flush()) return nullptr;
    if (failed_) return nullptr;
    uint8_t* p = buf_.get() + used_;
    p[0] = static_cast<uint8_t>(kind);
    p[1] = 0;
    put_u16(p + 2, 0);
    put_u32(p + 4, payload_len);
    used_ += need;
    return p + kRecordHeaderBytes;
}

void CaptureWriter::event(const tt_event& e) {
    if (uint8_t* p = reserve(RecordKind::Event, kEventPayloadBytes)) std::memcpy(p, &e, kEventPayloadBytes);
}

void CaptureWriter::lost(uint64_t count, core::LossReason reason) {
    if (count == 0) return;  // the live loop reports "no new loss" every tick
    if (uint8_t* p = reserve(RecordKind::Lost, kLostPayloadBytes)) {
        put_u64(p, count);
        p[8] = static_cast<uint8_t>(reason);
    }
}

void CaptureWriter::put_time_record(RecordKind kind, uint64_t now_ns) {
    if (uint8_t* p = reserve(kind, kTimePayloadBytes)) put_u64(p, now_ns);
}

void CaptureWriter::advance(uint64_t now_ns) {
    put_time_record(RecordKind::Advance, now_ns);
    // Bounds what a crash can lose to about a second of events.
    if (now_ns - last_flush_ns_ >= kFlushIntervalNs) {
        flush();
        last_flush_ns_ = now_ns;
    }
}

void CaptureWriter::finish(uint64_t now_ns) {
    put_time_record(RecordKind::Finish, now_ns);
    flush();
    close_file();
}

bool CaptureWriter::flush() {
    if (failed_) return false;
    if (used_ == 0) return true;
    size_t done = 0;
    if (fd_ < 0) {
        fail(EBADF);  // records after finish()
        return false;
    }
    if (int err = sinks::write_all(fd_, buf_.get(), used_, done)) {
        // Keep the file readable: cut a partly written record off its end.
        const size_t whole = whole_records_in(done);
        if (whole != done) (void)ftruncate(fd_, static_cast<off_t>(file_bytes_ + whole));
        file_bytes_ += whole;
        fail(err);
        return false;
    }
    file_bytes_ += used_;
    used_ = 0;
    return true;
}

// The length of the longest run of whole records at the start of the buffer
// that fits in `prefix` bytes.
size_t CaptureWriter::whole_records_in(size_t prefix) const {
    size_t pos = 0;
    while (pos + kRecordHeaderBytes <= used_) {
        const size_t len = kRecordHeaderBytes + get_u32(buf_.get() + pos + 4);
        if (pos + len > prefix) break;
        pos += len;
    }
    return pos;
}

void CaptureWriter::fail(int err) {
    failed_ = true;
    error_ = fmt::format("cannot write capture {}: {}", path_, std::strerror(err));
    used_ = 0;
    close_file();
}

void CaptureWriter::close_file() {
    if (fd_ < 0) return;
    const int fd = fd_;
    fd_ = -1;
    // close() reports delayed write errors of some file systems (NFS, quotas).
    if (::close(fd) != 0 && errno != EINTR && !failed_) fail(errno);
}

}  // namespace tcptrail::capture
