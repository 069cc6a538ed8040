// libFuzzer target: arbitrary bytes as a capture file, played through what
// `tcptrail replay` runs (reader -> socket filter -> tracker -> JSON and table
// sinks). A capture is untrusted input: no input may crash, hang or exhaust memory.
#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <span>

#include "capture/capture_reader.hpp"
#include "core/socket_filter.hpp"
#include "core/tracker.hpp"
#include "sinks/json_sink.hpp"
#include "sinks/output_stream.hpp"
#include "sinks/table_sink.hpp"
#include "sinks/time_base.hpp"

namespace {

using namespace tcptrail;

// Hands every call to two streams.
class Fanout : public core::EventStream {
public:
    Fanout(core::EventStream& a, core::EventStream& b) : a_(a), b_(b) {}
    void on_event(const tt_event& e) override { a_.on_event(e), b_.on_event(e); }
    void on_lost(uint64_t n, core::LossReason r) override { a_.on_lost(n, r), b_.on_lost(n, r); }
    void advance(uint64_t t) override { a_.advance(t), b_.advance(t); }
    void finish(uint64_t t) override { a_.finish(t), b_.finish(t); }

private:
    core::EventStream& a_;
    core::EventStream& b_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    try {
        capture::CaptureReader reader(std::span<const uint8_t>(data, size), "fuzz.tt");
        const sinks::TimeBase time{reader.header().realtime_minus_monotonic_ns};
        sinks::OutputStream out(devnull);
        sinks::JsonSink json(out, time);
        sinks::TableSink table(out, time);
        core::TrackerOptions with_events;
        with_events.emit_events = true;
        core::Tracker json_tracker(json, with_events);
        core::Tracker table_tracker(table, core::TrackerOptions{});
        core::SocketFilter ports;
        ports.ports = {80, 443};
        core::FilteredStream filtered(ports, table_tracker);
        Fanout both(json_tracker, filtered);
        while (reader.next(both)) {
        }
        if (!reader.saw_finish()) both.finish(reader.last_ns());
    } catch (const capture::CaptureError&) {
        // A clean, reported rejection is the expected outcome for most inputs.
    }
    return 0;
}
