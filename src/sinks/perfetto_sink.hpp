// --perfetto FILE: connection timelines in the Chrome trace-event JSON format
// that ui.perfetto.dev and chrome://tracing open. A process per owner, a
// thread (track) per connection, a slice for the connection's whole life with
// a slice per state nested in it, and instant markers for retransmits and resets.
//
// Timestamps are CLOCK_MONOTONIC microseconds (since boot), so a live run and
// its replay write the same file; "otherData" carries the offset to wall-clock
// time. Written as records come, in record order (the viewers sort).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "core/record.hpp"
#include "sinks/time_base.hpp"

namespace tcptrail::sinks {

class JsonWriter;

class PerfettoError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class PerfettoSink : public core::Output {
public:
    // Connections whose owner is unknown share this process; no real process has pid 0.
    static constexpr uint32_t kUnknownOwnerPid = 0;
    // Markers waiting for their connection's record (or, for a SYN-ACK retransmit,
    // for the server socket it leads to). Markers of connections that are never
    // reported (filtered, evicted) would otherwise pile up; beyond this the oldest go.
    static constexpr size_t kMaxPendingMarkers = 65'536;

    // Creates (truncates) `path` with mode 0600 and writes the JSON header.
    // Throws PerfettoError with a one-line message.
    PerfettoSink(std::string path, TimeBase time, size_t flush_threshold = 64 * 1024);
    ~PerfettoSink() override;  // finishes the file if finish() was not called
    PerfettoSink(const PerfettoSink&) = delete;
    PerfettoSink& operator=(const PerfettoSink&) = delete;

    void on_conn(const core::ConnRecord& rec) override;
    void on_event(const core::EventRecord& ev) override;
    void on_lost(uint64_t count, core::LossReason reason) override;

    // Writes what is buffered (the file stays complete JSON): live runs call it
    // every tick, so the file can be opened while tracing goes on.
    void flush_buffered() {
        if (buf_.size() > 0) flush();
    }
    // Closes the JSON and the file. False on a write error (see error()).
    bool finish();
    bool failed() const { return !error_.empty(); }
    // "cannot write perfetto trace FILE: No space left on device"; empty if none.
    const std::string& error() const { return error_; }
    // Markers dropped because their connection was never reported or the cap was hit.
    uint64_t orphan_markers() const { return orphan_markers_; }

private:
    using TupleKey = std::tuple<uint32_t, uint16_t, uint16_t, std::array<uint8_t, 16>, std::array<uint8_t, 16>>;
    static TupleKey key_of(const core::SocketTuple& t) { return {t.netns, t.lport, t.rport, t.laddr, t.raddr}; }

    void begin_event(JsonWriter& w);
    void owner_metadata(uint32_t pid, const core::ConnRecord& r);
    void marker(const tt_event& e, uint64_t conn_id, uint32_t pid);
    void cap_pending();
    bool flush(bool last = false);
    void fail(int err);

    std::string path_;
    TimeBase time_;
    size_t threshold_;
    int fd_ = -1;
    fmt::memory_buffer buf_;
    uint64_t committed_ = 0;  // bytes of the file up to the end of the last whole event
    bool first_event_ = true;
    bool finished_ = false;
    std::string error_;

    std::unordered_set<uint32_t> named_pids_;
    std::map<uint64_t, std::vector<tt_event>> pending_;         // by connection id
    std::map<TupleKey, std::vector<tt_event>> pending_synack_;  // by the server socket's tuple
    size_t pending_count_ = 0;
    uint64_t orphan_markers_ = 0;
    uint64_t min_ts_ns_ = UINT64_MAX;
    uint64_t connections_ = 0;
    uint64_t lost_events_ = 0;
};

}  // namespace tcptrail::sinks
