// Thin wrapper around the libbpf skeleton: preflight checks, load, attach,
// ring buffer consumption and the kernel-side loss counters.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tcptrail/events.h"

struct tcptrail_bpf;
struct bpf_program;
struct bpf_link;

namespace tcptrail::probe {

// A problem that stops tracing; what() is one line that names it.
class ProbeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct ProbeConfig {
    uint8_t family = 0;  // 0 any, 4 or 6
    uint32_t netns = 0;  // 0 any
    std::vector<uint16_t> ports;
    uint32_t ringbuf_mb = 16;  // power of two
};

// Receives each event, in time order (see Probe::drain).
class EventHandler {
public:
    virtual ~EventHandler() = default;
    virtual void on_event(const tt_event& e) = 0;
};

// The clock the BPF side stamps events with (bpf_ktime_get_ns: CLOCK_MONOTONIC).
uint64_t monotonic_ns();

// tcp_send_reset carries the kernel's reason (enum sk_rst_reason) from 6.10 on.
bool kernel_has_reset_reasons();
inline constexpr const char* kNoResetReasons =
    "resets: reason unavailable on this kernel (tcp_send_reset has it from 6.10)";

class Probe {
public:
    // Loads and attaches everything; throws ProbeError. `notes` gets one line per
    // feature that is unavailable on this kernel (tracing continues without it).
    Probe(const ProbeConfig& cfg, EventHandler& handler, std::vector<std::string>& notes);
    ~Probe();
    Probe(const Probe&) = delete;
    Probe& operator=(const Probe&) = delete;

    // Turns on per-CPU staging in the BPF programs (fewer ring buffer
    // reservations) once a flush has worked on every CPU. Call it after any
    // privilege drop: flushing needs the bpf() syscall. Returns "" or, if
    // staging stays off, why (tracing goes on, each event reserved on its own).
    std::string enable_staging();

    // Sleeps until the BPF side signals a full batch or timeout_ms passes.
    void wait(int timeout_ms);
    // Flushes every CPU's staged events, reads the ring buffer, and delivers, in
    // time order, the events stamped before until_ns; later ones are held for
    // the next call. Returns the time before which every event has now been
    // delivered: until_ns, or less if a CPU could not be flushed this time or
    // the ring buffer could not be read to its end (a record still being written).
    // UINT64_MAX delivers everything (at exit).
    uint64_t drain(uint64_t until_ns);

    uint64_t ringbuf_drops() const;     // cumulative failed reservations (kernel count)
    uint64_t recursion_misses() const;  // cumulative, all programs but the nested copy (kernel count)
    uint64_t nested_rescued() const;    // cumulative: set_state events the nested copy traced
    uint64_t bad_records() const { return bad_records_; }
    // Events the last drain could not reach (LossReason::UnreadAtExit).
    uint64_t unread_at_exit() const { return unread_at_exit_; }
    // After the last drain: events the programs put in the ring buffer that
    // were never read (LossReason::InTransit). Should be 0: a check that
    // nothing goes missing between the programs and the tracker unseen.
    uint64_t lost_in_transit() const;
    // Stops every program (no new events); the last drain then collects what
    // the ones already running write.
    void detach();
    int attached_programs() const { return attached_; }

private:
    std::string map_ring();  // "" or why not
    void unmap_ring();
    // What read_ring found: the consumer position after the records it read, and
    // whether it read up to the producers (not stopped at a record still being written).
    struct RingRead {
        uint64_t end;
        bool to_producer;
    };
    RingRead read_ring(bool last);
    void on_record(const uint8_t* data, uint32_t size);
    void add_pending(const uint8_t* raw);  // one event, in the ring or in held_, to order_
    // True if every CPU's staged events are in the ring buffer. The last one
    // tries longer and counts what stays out of reach in unread_at_exit_.
    bool flush_staged(bool last = false);
    std::vector<tt_stage> read_stages() const;  // every CPU's, or none if the map cannot be read
    uint64_t staged_count(int cpu) const;        // events in that CPU's staging batch
    // A program that traces only the hits its tracepoint's first copy missed (bpf/tcptrail.bpf.c).
    bool is_second_copy(const bpf_program* prog) const;

    tcptrail_bpf* skel_ = nullptr;
    // The ring buffer, mapped: the consumer position (ours to write), the
    // producer position, and the data pages.
    uint64_t* consumer_pos_ = nullptr;
    const uint64_t* producer_pos_ = nullptr;
    const uint8_t* ring_data_ = nullptr;
    uint64_t ring_size_ = 0;
    size_t page_size_ = 0;
    int wake_fd_ = -1;  // edge-triggered epoll on the ring buffer
    EventHandler& handler_;
    bool staging_ = false;
    int flush_fd_ = -1;
    std::string flush_error_;       // why the last flush_staged failed
    uint64_t delivered_until_ = 0;  // every event stamped before this has been delivered
    // An event as the ring carries it (TT_RINGBUF_RECORD_SIZE bytes).
    using RawEvent = std::array<uint8_t, TT_RINGBUF_RECORD_SIZE>;
    struct Pending {
        uint64_t ts;
        const uint8_t* raw;  // in the ring buffer, in held_, or in a drain's backlog copy
    };
    std::vector<RawEvent> held_;  // read, but stamped after what drain could deliver
    std::vector<RawEvent> held_next_;
    std::vector<Pending> order_;  // drain's scratch
    std::vector<Pending> sort_scratch_;
    uint64_t bad_records_ = 0;
    uint64_t unread_at_exit_ = 0;
    uint64_t unread_records_at_exit_ = 0;  // the part of it in ring records still being written
    uint64_t received_ = 0;                // events read from the ring buffer
    int attached_ = 0;
    std::vector<int> prog_fds_;              // first copies: their recursion misses are losses
    std::vector<bpf_link**> second_copy_links_;  // detached first
};

}  // namespace tcptrail::probe
