// The socket filters that live tracing applies in the kernel (--port, -4/-6,
// --netns), in user space: replay has no kernel to apply them.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/event_stream.hpp"
#include "tcptrail/events.h"

namespace tcptrail::core {

struct SocketFilter {
    uint8_t family = 0;  // 0 any, 4 or 6
    uint32_t netns = 0;  // 0 any
    std::vector<uint16_t> ports;  // empty: any; else local or remote port must be one of them

    bool any() const { return family != 0 || netns != 0 || !ports.empty(); }
    // Same decision as live tracing: the BPF programs' sock_passes() (bpf/helpers.h)
    // and, for sockets found at start, probe/sock_diag.cpp.
    bool passes(const tt_event& e) const;
};

// Drops the events `filter` rejects; everything else goes on to `next` unchanged.
class FilteredStream : public EventStream {
public:
    FilteredStream(SocketFilter filter, EventStream& next) : filter_(std::move(filter)), next_(next) {}

    void on_event(const tt_event& e) override {
        if (filter_.passes(e)) next_.on_event(e);
    }
    void on_lost(uint64_t count, LossReason reason) override { next_.on_lost(count, reason); }
    void advance(uint64_t now_ns) override { next_.advance(now_ns); }
    void finish(uint64_t now_ns) override { next_.finish(now_ns); }

private:
    SocketFilter filter_;
    EventStream& next_;
};

}  // namespace tcptrail::core
