// The capture file format: what `tcptrail --record` writes and `tcptrail replay`
// reads. It records the reconstruction's input (core::EventStream) call by call.
//
// Format version 1, all integers little-endian:
//
//   header  "TCPTRAIL"  u16 format version  u16 event ABI (TT_EVENT_ABI)
//           u32 header length (bytes from the start of the file to the first record)
//           i64 realtime_minus_monotonic_ns
//           str host  str kernel release  str tcptrail version  str filters
//           (str: u16 length, then that many bytes; at most kMaxHeaderString)
//   records u8 kind  u8 reserved  u16 flags (0)  u32 payload length  payload
//           EVENT    the 128 bytes of struct tt_event, verbatim (the event ABI)
//           LOST     u64 count  u8 reason (core::LossReason)
//           ADVANCE  u64 now_ns
//           FINISH   u64 now_ns; the last record of a complete capture
//
// Readers skip header bytes after the fields they know, so version 1 can grow a
// header field without breaking older readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "tcptrail/events.h"

namespace tcptrail::capture {

inline constexpr char kMagic[8] = {'T', 'C', 'P', 'T', 'R', 'A', 'I', 'L'};
inline constexpr uint16_t kFormatVersion = 1;
inline constexpr size_t kFixedHeaderBytes = 16;  // magic, version, ABI, header length
inline constexpr size_t kMaxHeaderString = 4096;
inline constexpr size_t kMinHeaderBytes = kFixedHeaderBytes + 8 + 4 * 2;  // four empty strings
inline constexpr size_t kMaxHeaderBytes = 64 * 1024;

inline constexpr size_t kRecordHeaderBytes = 8;
// Larger lengths are rejected before anything is read or allocated.
inline constexpr uint32_t kMaxPayloadBytes = 64 * 1024;

enum class RecordKind : uint8_t { Event = 1, Lost = 2, Advance = 3, Finish = 4 };

inline constexpr uint32_t kEventPayloadBytes = sizeof(tt_event);
inline constexpr uint32_t kLostPayloadBytes = 9;
inline constexpr uint32_t kTimePayloadBytes = 8;

// The payload length of each kind, 0 for kinds this version does not know.
inline uint32_t payload_bytes(uint8_t kind) {
    switch (static_cast<RecordKind>(kind)) {
        case RecordKind::Event: return kEventPayloadBytes;
        case RecordKind::Lost: return kLostPayloadBytes;
        case RecordKind::Advance:
        case RecordKind::Finish: return kTimePayloadBytes;
    }
    return 0;
}

inline const char* kind_name(uint8_t kind) {
    switch (static_cast<RecordKind>(kind)) {
        case RecordKind::Event: return "EVENT";
        case RecordKind::Lost: return "LOST";
        case RecordKind::Advance: return "ADVANCE";
        case RecordKind::Finish: return "FINISH";
    }
    return "unknown";
}

// Where and how a capture was made.
struct CaptureHeader {
    int64_t realtime_minus_monotonic_ns = 0;  // sinks::TimeBase of the live run
    std::string host;
    std::string kernel_release;
    std::string tcptrail_version;
    std::string filters;  // the filters in force, as command-line options

    // Host name and kernel release of the machine this runs on.
    static CaptureHeader of_this_host(int64_t realtime_minus_monotonic_ns, std::string tcptrail_version,
                                      std::string filters);
};

// A capture that cannot be written or read; what() is one line naming the file
// and, for reading, the byte offset of the problem.
class CaptureError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Little-endian encoding, independent of the host's byte order.
inline void put_u16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
}
inline void put_u32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_u64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
inline uint32_t get_u32(const uint8_t* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = v << 8 | p[i];
    return v;
}
inline uint64_t get_u64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
    return v;
}

}  // namespace tcptrail::capture
