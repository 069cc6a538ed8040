// The reconstruction's input, as one interface: the live probe feeds it, a
// capture file records it verbatim, and replay plays a capture back into it.
// Because ticks and losses travel with the events, replay reproduces live output
// exactly.
#pragma once

#include <cstdint>

#include "core/record.hpp"
#include "tcptrail/events.h"

namespace tcptrail::core {

// The event that ends a dump of existing sockets (TT_F_SNAPSHOT_END): about no
// socket, it tells the reconstruction which dump is complete, and when.
inline tt_event snapshot_end_marker(uint64_t ts_ns, tt_snapshot_kind kind) {
    tt_event end{};
    end.ts_ns = ts_ns;
    end.type = TT_EV_EXISTING;
    end.flags = TT_F_SNAPSHOT_END | TT_F_NO_COUNTERS;
    end.aux = kind;
    return end;
}

class EventStream {
public:
    virtual ~EventStream() = default;
    virtual void on_event(const tt_event& e) = 0;
    // `count` events never arrived.
    virtual void on_lost(uint64_t count, LossReason reason) = 0;
    // Every event stamped before monotonic time `now_ns` has been delivered.
    virtual void advance(uint64_t now_ns) = 0;
    // End of the trace at `now_ns`.
    virtual void finish(uint64_t now_ns) = 0;
};

}  // namespace tcptrail::core
