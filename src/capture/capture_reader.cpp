#include "capture/capture_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unistd.h>

#include <fmt/format.h>

namespace tcptrail::capture {

CaptureReader::CaptureReader(int fd, std::string name, size_t buffer_bytes)
    : name_(std::move(name)), fd_(fd), capacity_(std::max(buffer_bytes, kMaxHeaderBytes)) {
    owned_ = std::make_unique<uint8_t[]>(capacity_);
    data_ = owned_.get();
    read_header();
}

CaptureReader::CaptureReader(std::span<const uint8_t> data, std::string name)
    : name_(std::move(name)), data_(data.data()), capacity_(data.size()), end_(data.size()), eof_(true) {
    read_header();
}

void CaptureReader::fail(const std::string& what) const {
    throw CaptureError(fmt::format("{}: {}", name_, what));
}

bool CaptureReader::fill(size_t n) {
    if (eof_) return false;
    // Move the unread tail to the front, then read as much as fits.
    if (pos_ > 0) {
        std::memmove(owned_.get(), owned_.get() + pos_, end_ - pos_);
        base_ += pos_;
        end_ -= pos_;
        pos_ = 0;
    }
    while (end_ < n) {
        ssize_t got = ::read(fd_, owned_.get() + end_, capacity_ - end_);
        if (got < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            fail(fmt::format("read error at byte {}: {}", base_ + end_, std::strerror(err)));
        }
        if (got == 0) {
            eof_ = true;
            return false;
        }
        end_ += static_cast<size_t>(got);
    }
    return true;
}

namespace {

// Header strings end up on a terminal: no control characters.
std::string printable(const uint8_t* p, size_t n) {
    std::string s(reinterpret_cast<const char*>(p), n);
    for (char& c : s) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    return s;
}

}  // namespace

void CaptureReader::read_header() {
    if (!ensure(kFixedHeaderBytes)) {
        const size_t k = std::min(left(), sizeof(kMagic));
        if (k > 0 && std::memcmp(data_ + pos_, kMagic, k) != 0) fail("not a tcptrail capture (bad magic at byte 0)");
        fail(fmt::format("truncated header at byte 0 (need {} bytes, {} left)", kFixedHeaderBytes, left()));
    }
    const uint8_t* p = data_ + pos_;
    if (std::memcmp(p, kMagic, sizeof(kMagic)) != 0) fail("not a tcptrail capture (bad magic at byte 0)");
    if (uint16_t v = get_u16(p + 8); v != kFormatVersion) {
        fail(fmt::format("unsupported capture format version {} at byte 8 (this tcptrail reads version {})", v,
                            kFormatVersion));
    }
    if (uint16_t abi = get_u16(p + 10); abi != TT_EVENT_ABI) {
        fail(fmt::format("unsupported event ABI {} at byte 10 (this tcptrail reads ABI {})", abi, TT_EVENT_ABI));
    }
    const uint32_t header_len = get_u32(p + 12);
    if (header_len < kMinHeaderBytes || header_len > kMaxHeaderBytes) {
        fail(fmt::format("bad header length {} at byte 12 (must be {} to {})", header_len, kMinHeaderBytes,
                             kMaxHeaderBytes));
    }
    if (!ensure(header_len)) {
        fail(fmt::format("truncated header at byte {} (need {} bytes, {} left)", kFixedHeaderBytes,
                                            header_len - kFixedHeaderBytes, left() - kFixedHeaderBytes));
    }
    p = data_ + pos_;
    header_.realtime_minus_monotonic_ns = static_cast<int64_t>(get_u64(p + kFixedHeaderBytes));
    size_t at = kFixedHeaderBytes + 8;
    for (std::string* field : {&header_.host, &header_.kernel_release, &header_.tcptrail_version, &header_.filters}) {
        if (at + 2 > header_len) {
            fail(fmt::format("header string at byte {} overruns the header ({} bytes)", at, header_len));
        }
        const size_t len = get_u16(p + at);
        if (len > kMaxHeaderString) {
            fail(fmt::format("header string length {} too large at byte {} (at most {})", len, at,
                                 kMaxHeaderString));
        }
        if (at + 2 + len > header_len) {
            fail(fmt::format("header string at byte {} overruns the header ({} bytes)", at, header_len));
        }
        *field = printable(p + at + 2, len);
        at += 2 + len;
    }
    // Bytes after the known fields belong to a later revision of version 1: skipped.
    pos_ += header_len;
}

bool CaptureReader::next(core::EventStream& out) {
    if (done_) return false;
    const uint64_t at = offset();
    if (!ensure(kRecordHeaderBytes)) {
        if (left() == 0) {  // ends at a record boundary: complete, or cut short by a crash
            done_ = true;
            return false;
        }
        fail(fmt::format("truncated record header at byte {} (need {} bytes, {} left)", at, kRecordHeaderBytes,
                             left()));
    }
    const uint8_t kind = data_[pos_];
    const uint32_t len = get_u32(data_ + pos_ + 4);
    if (len > kMaxPayloadBytes) {
        fail(fmt::format("record length {} too large at byte {} (at most {})", len, at, kMaxPayloadBytes));
    }
    const uint32_t expected = payload_bytes(kind);
    if (expected == 0) fail(fmt::format("unknown record kind {} at byte {}", kind, at));
    if (len != expected) {
        fail(fmt::format("bad length {} for {} record at byte {} (expected {})", len, kind_name(kind), at,
                             expected));
    }
    if (!ensure(kRecordHeaderBytes + len)) {
        fail(fmt::format("truncated {} record at byte {} (need {} payload bytes, {} left)", kind_name(kind), at,
                             len, left() - kRecordHeaderBytes));
    }
    const uint8_t* p = data_ + pos_ + kRecordHeaderBytes;
    pos_ += kRecordHeaderBytes + len;
    ++records_;

    switch (static_cast<RecordKind>(kind)) {
        case RecordKind::Event: {
            tt_event e;
            std::memcpy(&e, p, sizeof(e));  // the buffer gives no alignment guarantee
            last_ns_ = std::max<uint64_t>(last_ns_, e.ts_ns);
            out.on_event(e);
            break;
        }
        case RecordKind::Lost: {
            const uint8_t reason = p[8];
            if (reason > static_cast<uint8_t>(core::LossReason::StateGap)) {
                fail(fmt::format("bad loss reason {} in LOST record at byte {}", reason, at));
            }
            out.on_lost(get_u64(p), static_cast<core::LossReason>(reason));
            break;
        }
        case RecordKind::Advance: {
            const uint64_t now = get_u64(p);
            last_ns_ = std::max(last_ns_, now);
            out.advance(now);
            break;
        }
        case RecordKind::Finish: {
            const uint64_t now = get_u64(p);
            if (ensure(1)) {
                fail(fmt::format("unexpected data after the FINISH record at byte {}", offset()));
            }
            last_ns_ = std::max(last_ns_, now);
            saw_finish_ = true;
            done_ = true;
            out.finish(now);
            break;
        }
    }
    return true;
}

}  // namespace tcptrail::capture
