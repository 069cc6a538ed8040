// Thin wrapper around the libbpf skeleton: preflight checks, load, attach,
// ring buffer consumption and the kernel-side loss counters.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tcptrail/events.h"

struct tcptrail_bpf;
struct ring_buffer;

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

// Receives each event, in ring buffer order.
class EventHandler {
public:
    virtual ~EventHandler() = default;
    virtual void on_event(const tt_event& e) = 0;
};

// tcp_send_reset carries the kernel's reason (enum sk_rst_reason) from 6.10 on.
bool kernel_has_reset_reasons();
inline constexpr const char* kNoResetReasons = "resets: reason unavailable on this kernel (tcp_send_reset has it from 6.10)";

class Probe {
public:
    // Loads and attaches everything; throws ProbeError. `notes` gets one line per
    // feature that is unavailable on this kernel (tracing continues without it).
    Probe(const ProbeConfig& cfg, EventHandler& handler, std::vector<std::string>& notes);
    ~Probe();
    Probe(const Probe&) = delete;
    Probe& operator=(const Probe&) = delete;

    // Sleeps until the BPF side signals a full batch or timeout_ms passes.
    void wait(int timeout_ms);
    // Delivers everything in the ring buffer now; returns the number of events.
    uint64_t drain();

    uint64_t ringbuf_drops() const;     // cumulative failed reservations (kernel count)
    uint64_t recursion_misses() const;  // cumulative, all programs but the nested copy (kernel count)
    uint64_t nested_rescued() const;    // cumulative: of those misses, events the nested copy kept
    uint64_t bad_records() const { return bad_records_; }
    int attached_programs() const { return attached_; }

private:
    static int on_record(void* ctx, void* data, size_t size);

    tcptrail_bpf* skel_ = nullptr;
    ring_buffer* rb_ = nullptr;
    int wake_fd_ = -1;  // edge-triggered epoll on the ring buffer
    EventHandler& handler_;
    uint64_t delivered_ = 0;
    uint64_t bad_records_ = 0;
    int attached_ = 0;
    std::vector<int> prog_fds_;
};

}  // namespace tcptrail::probe
