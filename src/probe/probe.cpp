#include "probe/probe.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

#include <fmt/format.h>

#include "core/time_order.hpp"
#include "tcptrail.skel.h"

namespace tcptrail::probe {

namespace {

constexpr const char* kBtfPath = "/sys/kernel/btf/vmlinux";
constexpr const char* kTracefs = "/sys/kernel/tracing";

// libbpf's warnings, kept to explain a failure in one line instead of a dump.
std::string g_libbpf_last;
int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
    // TCPTRAIL_LIBBPF_LOG=1: all of libbpf's output, verifier logs included, on stderr.
    static const bool verbose = std::getenv("TCPTRAIL_LIBBPF_LOG") != nullptr;
    if (verbose) return vfprintf(stderr, fmt, args);
    if (level == LIBBPF_DEBUG) return 0;
    char line[512];
    if (vsnprintf(line, sizeof(line), fmt, args) < 0) return 0;
    std::string s(line);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    if (!s.empty()) g_libbpf_last = s;
    return 0;
}

bool path_exists(const char* p) {
    struct stat st {};
    return ::stat(p, &st) == 0;
}

bool has_capability(int cap) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &hdr, data) != 0) return false;
    return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

void check_privileges() {
    constexpr int kCapSysAdmin = 21, kCapPerfmon = 38, kCapBpf = 39;
    if (has_capability(kCapSysAdmin)) return;
    if (has_capability(kCapBpf) && has_capability(kCapPerfmon)) return;
    throw ProbeError(
        "insufficient privileges: run as root, or grant CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8)");
}

// Where tracefs shows its events: its own mount, or under debugfs on older setups.
constexpr const char* kTracefsEventRoots[] = {"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"};

// Classic tracepoints are attached by ID, read from tracefs: mount it if we can.
bool ensure_tracefs() {
    for (const char* root : kTracefsEventRoots) {
        if (path_exists(root)) return true;
    }
    if (::mount("tracefs", kTracefs, "tracefs", 0, nullptr) == 0) return true;
    return false;
}

bool tracepoint_exists(const char* category, const char* name) {
    for (const char* root : kTracefsEventRoots) {
        if (path_exists(fmt::format("{}/{}/{}", root, category, name).c_str())) return true;
    }
    return false;
}

}  // namespace

bool kernel_has_reset_reasons() {
    // The tracepoint's format names the field (6.10+): a small read, where
    // parsing the kernel's BTF (what the BPF side checks) takes ~60 ms of start-up.
    for (const char* root : kTracefsEventRoots) {
        std::FILE* f = std::fopen(fmt::format("{}/tcp/tcp_send_reset/format", root).c_str(), "re");
        if (!f) continue;
        char line[256];
        bool has = false;
        while (!has && std::fgets(line, sizeof(line), f))
            has = std::strstr(line, "enum sk_rst_reason reason;") != nullptr;
        (void)std::fclose(f);
        return has;
    }
    btf* vmlinux = btf__load_vmlinux_btf();
    const bool has = vmlinux && btf__find_by_name_kind(vmlinux, "sk_rst_reason", BTF_KIND_ENUM) > 0;
    btf__free(vmlinux);
    return has;
}

Probe::Probe(const ProbeConfig& cfg, EventHandler& handler, std::vector<std::string>& notes) : handler_(handler) {
    libbpf_set_print(libbpf_print);
    check_privileges();
    if (!path_exists(kBtfPath)) {
        throw ProbeError(fmt::format(
            "kernel BTF not found at {} (needs CONFIG_DEBUG_INFO_BTF=y): cannot load CO-RE programs", kBtfPath));
    }
    const bool tracefs = ensure_tracefs();
    if (cfg.ringbuf_mb == 0 || (cfg.ringbuf_mb & (cfg.ringbuf_mb - 1)) != 0) {
        throw ProbeError(fmt::format("--ringbuf-mb {} is not a power of two", cfg.ringbuf_mb));
    }

    skel_ = tcptrail_bpf::open();
    if (!skel_) throw ProbeError(fmt::format("cannot open BPF object: {}", g_libbpf_last));

    skel_->rodata->filter_family = cfg.family == 4 ? 2 : cfg.family == 6 ? 10 : 0;
    skel_->rodata->filter_netns = cfg.netns;
    skel_->rodata->n_filter_ports = static_cast<uint32_t>(cfg.ports.size());
    for (size_t i = 0; i < cfg.ports.size() && i < TT_MAX_PORT_FILTERS; ++i)
        skel_->rodata->filter_ports[i] = cfg.ports[i];
    const uint64_t rb_bytes = static_cast<uint64_t>(cfg.ringbuf_mb) << 20;
    // Wake the consumer early when an eighth of the buffer waits; otherwise its timer
    // drains it. (Each drain also flushes every CPU's staged events, an interrupt
    // to each other CPU: a few per second are nothing, hundreds are not.)
    skel_->rodata->wakeup_bytes = rb_bytes / 8;
    bpf_map__set_max_entries(skel_->maps.events, static_cast<uint32_t>(rb_bytes));

    // accept() attribution needs the syscall tracepoints (CONFIG_FTRACE_SYSCALLS).
    bool accept_ok = tracefs && tracepoint_exists("syscalls", "sys_exit_accept4");
    if (!accept_ok) {
        bpf_program__set_autoload(skel_->progs.on_accept4_exit, false);
        bpf_program__set_autoload(skel_->progs.on_accept_exit_plain, false);
        notes.push_back(tracefs ? "accept: syscalls:sys_exit_accept4 tracepoint missing (CONFIG_FTRACE_SYSCALLS): "
                                  "server connections attributed to the listener's owner, no accept_wait_us"
                                : "accept: tracefs not mounted and could not be mounted at /sys/kernel/tracing: "
                                  "server connections attributed to the listener's owner, no accept_wait_us");
    } else if (!tracepoint_exists("syscalls", "sys_exit_accept")) {
        bpf_program__set_autoload(skel_->progs.on_accept_exit_plain, false);
    }

    // Features this kernel lacks, said once at start (the JSON carries null for them).
    if (!kernel_has_reset_reasons()) notes.push_back(kNoResetReasons);

    if (int err = tcptrail_bpf::load(skel_); err) {
        std::string why = g_libbpf_last.empty() ? std::strerror(-err) : g_libbpf_last;
        tcptrail_bpf::destroy(skel_);
        skel_ = nullptr;
        if (err == -EPERM) throw ProbeError(fmt::format("loading BPF programs was refused (EPERM): {}", why));
        throw ProbeError(fmt::format("cannot load BPF programs: {}", why));
    }

    struct Attach {
        bpf_program* prog;
        bpf_link** link;
        const char* what;
    };
    const Attach attaches[] = {
        {skel_->progs.on_set_state, &skel_->links.on_set_state, "sock:inet_sock_set_state"},
        // After on_set_state: the kernel runs them in attach order (see tcptrail.bpf.c).
        {skel_->progs.on_set_state_nested, &skel_->links.on_set_state_nested, "sock:inet_sock_set_state"},
        {skel_->progs.on_retransmit, &skel_->links.on_retransmit, "tcp:tcp_retransmit_skb"},
        {skel_->progs.on_retransmit_nested, &skel_->links.on_retransmit_nested, "tcp:tcp_retransmit_skb"},
        {skel_->progs.on_retransmit_synack, &skel_->links.on_retransmit_synack, "tcp:tcp_retransmit_synack"},
        {skel_->progs.on_retransmit_synack_nested, &skel_->links.on_retransmit_synack_nested,
         "tcp:tcp_retransmit_synack"},
        {skel_->progs.on_send_reset, &skel_->links.on_send_reset, "tcp:tcp_send_reset"},
        {skel_->progs.on_send_reset_nested, &skel_->links.on_send_reset_nested, "tcp:tcp_send_reset"},
        {skel_->progs.on_receive_reset, &skel_->links.on_receive_reset, "tcp:tcp_receive_reset"},
        {skel_->progs.on_receive_reset_nested, &skel_->links.on_receive_reset_nested, "tcp:tcp_receive_reset"},
        {skel_->progs.on_accept4_exit, &skel_->links.on_accept4_exit, "syscalls:sys_exit_accept4"},
        {skel_->progs.on_accept_exit_plain, &skel_->links.on_accept_exit_plain, "syscalls:sys_exit_accept"},
    };
    for (const Attach& a : attaches) {
        if (!bpf_program__autoload(a.prog)) continue;
        *a.link = bpf_program__attach(a.prog);
        if (!*a.link) {
            int err = -errno;
            tcptrail_bpf::destroy(skel_);
            skel_ = nullptr;
            throw ProbeError(fmt::format("cannot attach to tracepoint {}: {}", a.what, std::strerror(-err)));
        }
        // A second copy's own misses are not losses: the first copy traced those.
        if (is_second_copy(a.prog)) {
            second_copy_links_.push_back(a.link);
        } else {
            prog_fds_.push_back(bpf_program__fd(a.prog));
        }
        ++attached_;
    }

    if (std::string err = map_ring(); !err.empty()) {
        tcptrail_bpf::destroy(skel_);
        skel_ = nullptr;
        throw ProbeError(fmt::format("cannot map the ring buffer: {}", err));
    }
    // libbpf polls the ring buffer level-triggered: once woken, every later poll
    // returns at once while any byte is unread, so under load the consumer would
    // spin (hundreds of drains a second, each with its syscalls). Edge-triggered,
    // it sleeps until the BPF side forces a wake-up or the timer ends the wait.
    wake_fd_ = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    if (wake_fd_ < 0 || epoll_ctl(wake_fd_, EPOLL_CTL_ADD, bpf_map__fd(skel_->maps.events), &ev) != 0) {
        const int err = errno;
        if (wake_fd_ >= 0) close(wake_fd_);
        unmap_ring();
        tcptrail_bpf::destroy(skel_);
        skel_ = nullptr;
        throw ProbeError(fmt::format("cannot set up the ring buffer wake-up: {}", std::strerror(err)));
    }
}

Probe::~Probe() {
    if (wake_fd_ >= 0) close(wake_fd_);
    unmap_ring();
    if (skel_) tcptrail_bpf::destroy(skel_);
}

void Probe::on_record(const uint8_t* data, uint32_t size) {
    // A record is one event, or a CPU's staged batch of them (flush_stage_locked).
    if (size == 0 || size % TT_RINGBUF_RECORD_SIZE != 0) {
        ++bad_records_;
        return;
    }
    for (uint32_t off = 0; off < size; off += TT_RINGBUF_RECORD_SIZE) add_pending(data + off);
    received_ += size / TT_RINGBUF_RECORD_SIZE;
}

void Probe::add_pending(const uint8_t* raw) {
    uint64_t ts = 0;
    std::memcpy(&ts, raw + offsetof(tt_event, ts_ns), sizeof(ts));
    order_.push_back(Pending{ts, raw});
}

std::string Probe::map_ring() {
    const int fd = bpf_map__fd(skel_->maps.events);
    const uint64_t size = bpf_map__max_entries(skel_->maps.events);
    page_size_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* cons = mmap(nullptr, page_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (cons == MAP_FAILED) return std::strerror(errno);
    // The data pages are mapped twice in a row: a record that wraps reads as one piece.
    void* prod = mmap(nullptr, page_size_ + 2 * size, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(page_size_));
    if (prod == MAP_FAILED) {
        const int err = errno;
        (void)munmap(cons, page_size_);
        return std::strerror(err);
    }
    consumer_pos_ = static_cast<uint64_t*>(cons);
    producer_pos_ = static_cast<const uint64_t*>(prod);
    ring_data_ = static_cast<const uint8_t*>(prod) + page_size_;
    ring_size_ = size;
    return "";
}

void Probe::unmap_ring() {
    if (consumer_pos_) (void)munmap(consumer_pos_, page_size_);
    if (producer_pos_) (void)munmap(const_cast<uint64_t*>(producer_pos_), page_size_ + 2 * ring_size_);
    consumer_pos_ = nullptr;
    producer_pos_ = nullptr;
}

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

/*
 * Indexes the ring buffer's records (the protocol of kernel/bpf/ringbuf.c) up
 * to where the producers were when it started, in place; returns the consumer
 * position after them, for drain to publish once it is done with them.
 * (libbpf's ring_buffer__consume keeps reading while records keep coming:
 * under load that is without end, and nothing would be delivered meanwhile.)
 */
Probe::RingRead Probe::read_ring(bool last) {
    // A record still being written (reserved, not yet submitted) ends the read:
    // the consumer position cannot pass it. Its writer is a program on another
    // CPU, microseconds from reserve to submit (a batch's copy), so wait that
    // long for it; the last drain has no next one, so it waits longer.
    const uint64_t max_wait_ns = last ? 20'000'000 : 50'000;
    uint64_t cons = __atomic_load_n(consumer_pos_, __ATOMIC_ACQUIRE);
    const uint64_t prod = __atomic_load_n(producer_pos_, __ATOMIC_ACQUIRE);
    uint64_t wait_from = 0;
    while (cons < prod) {
        const uint8_t* hdr = ring_data_ + (cons & (ring_size_ - 1));
        const uint32_t len = __atomic_load_n(reinterpret_cast<const uint32_t*>(hdr), __ATOMIC_ACQUIRE);
        const uint32_t size = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
        if (len & BPF_RINGBUF_BUSY_BIT) {
            const uint64_t now = monotonic_ns();
            if (!wait_from) wait_from = now;
            if (now - wait_from <= max_wait_ns) {
                if (last) usleep(10);
                continue;
            }
            if (!last) return {cons, false};
            // At exit, past the wait: count it out of reach and read on (the
            // records after it are whole; its size was set when it was reserved).
            const uint64_t events = std::max<uint32_t>(size / TT_RINGBUF_RECORD_SIZE, 1);
            unread_at_exit_ += events;
            unread_records_at_exit_ += events;
        } else if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
            on_record(hdr + BPF_RINGBUF_HDR_SZ, size);
        }
        cons += (uint64_t{size} + BPF_RINGBUF_HDR_SZ + 7) & ~uint64_t{7};
    }
    return {cons, true};
}

void Probe::wait(int timeout_ms) {
    // Returns early only when the BPF side forces a wake-up (the buffer is filling).
    epoll_event ev{};
    (void)epoll_wait(wake_fd_, &ev, 1, timeout_ms);
}

bool Probe::flush_staged(bool last) {
    if (!staging_) return true;
    const int ncpu = libbpf_num_possible_cpus();
    bool all = true;
    flush_error_.clear();
    for (int cpu = 0; cpu < ncpu; ++cpu) {
        // flush_stage returns 0 while a program it interrupted is mid-event: that
        // lasts a microsecond or so (more if a softirq runs in between), so retry
        // a few times, then give up until the next drain (the events wait; they
        // are not lost). The last drain has no next one: it tries for longer.
        const uint64_t give_up_ns = last ? monotonic_ns() + 100'000'000 : 0;  // no clock read per drain
        bool done = false;
        for (int attempt = 0; !done && (attempt < 64 || monotonic_ns() < give_up_ns); ++attempt) {
            LIBBPF_OPTS(bpf_test_run_opts, run, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = static_cast<__u32>(cpu));
            if (bpf_prog_test_run_opts(flush_fd_, &run) != 0) {
                if (errno == ENXIO) {
                    done = true;  // offline CPU: nothing runs there
                } else {
                    flush_error_ = std::strerror(errno);
                    break;
                }
            } else if (run.retval == 1) {
                done = true;
            } else {
                sched_yield();
            }
        }
        if (done) continue;
        if (flush_error_.empty()) flush_error_ = fmt::format("CPU {} stayed busy", cpu);
        all = false;
        if (!last) return false;
        unread_at_exit_ += staged_count(cpu);
    }
    return all;
}

std::vector<tt_stage> Probe::read_stages() const {
    const int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return {};
    // A per-CPU map's values come one per possible CPU, each rounded up to 8 bytes.
    const size_t stride = (sizeof(tt_stage) + 7) & ~size_t{7};
    std::vector<uint8_t> values(stride * static_cast<size_t>(ncpu));
    uint32_t key = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.stage), &key, values.data()) != 0) return {};
    std::vector<tt_stage> stages(static_cast<size_t>(ncpu));
    for (size_t cpu = 0; cpu < stages.size(); ++cpu)
        std::memcpy(&stages[cpu], values.data() + stride * cpu, sizeof(tt_stage));
    return stages;
}

uint64_t Probe::staged_count(int cpu) const {
    const std::vector<tt_stage> stages = read_stages();
    if (cpu < 0 || static_cast<size_t>(cpu) >= stages.size()) return 0;
    return std::min<uint64_t>(stages[static_cast<size_t>(cpu)].count, TT_STAGE_EVENTS);
}

uint64_t Probe::lost_in_transit() const {
    // After the last drain: every event a program put in the ring buffer was
    // read, or is one of the records still being written that it counted as
    // unread (their writers may have finished since, and counted them sent).
    uint64_t sent = 0;
    for (const tt_stage& st : read_stages()) sent += st.sent_batched + st.sent_single;
    const uint64_t accounted = received_ + unread_records_at_exit_;
    return sent > accounted ? sent - accounted : 0;
}

bool Probe::is_second_copy(const bpf_program* prog) const {
    return prog == skel_->progs.on_set_state_nested || prog == skel_->progs.on_retransmit_nested ||
           prog == skel_->progs.on_retransmit_synack_nested || prog == skel_->progs.on_send_reset_nested ||
           prog == skel_->progs.on_receive_reset_nested;
}

void Probe::detach() {
    // accept() first: each detach takes milliseconds, and an accept traced
    // after the state-change programs went returns a socket no program saw
    // (cookie 0), which the tracker counts as a lost handshake (seen: 2-14 at
    // an exit under churn).
    for (bpf_link** link : {&skel_->links.on_accept4_exit, &skel_->links.on_accept_exit_plain}) {
        bpf_link__destroy(*link);
        *link = nullptr;
    }
    // Then the second copies: detached the other way round, the set_state one
    // would run alone for the milliseconds the first one takes to go, trace
    // every hit as one the first copy missed, and its count of rescues would
    // hide real misses from the loss accounting (seen: 1,412 at one exit).
    for (bpf_link** link : second_copy_links_) {
        bpf_link__destroy(*link);
        *link = nullptr;
    }
    tcptrail_bpf::detach(skel_);
}

std::string Probe::enable_staging() {
    flush_fd_ = bpf_program__fd(skel_->progs.flush_stage);
    staging_ = true;
    if (!flush_staged()) {
        staging_ = false;
        return fmt::format(
            "per-CPU event batching off: cannot run the flush program on every CPU ({}); "
            "each event takes its own ring buffer reservation",
            flush_error_);
    }
    skel_->bss->use_staging = 1;
    return "";
}

uint64_t Probe::drain(uint64_t until_ns) {
    // Staged events reach the ring buffer a CPU's batch at a time, so records
    // from different CPUs arrive out of time order. A flush that finds every
    // CPU idle has every event stamped before it began (bpf/helpers.h
    // stage_begin): those are sorted and delivered; later ones wait.
    bool complete = flush_staged(until_ns == UINT64_MAX);
    // Events held from earlier drains first: ties keep arrival order.
    order_.clear();
    for (const RawEvent& h : held_) add_pending(h.data());
    const size_t from_held = order_.size();
    const uint64_t ring_start = __atomic_load_n(consumer_pos_, __ATOMIC_ACQUIRE);
    const RingRead ring = read_ring(until_ns == UINT64_MAX);
    const uint64_t ring_end = ring.end;
    // Stopped at a record still being written: the records after it (a CPU's
    // flushed batch, say) may hold events stamped before until_ns, so nothing
    // read now may go out ahead of them. Deliver only up to the old mark.
    complete = complete && ring.to_producer;
    // A backlog (the tracer fell behind): delivering it takes a while, and the
    // ring must not stay full meanwhile. Copy it out and release it now; the
    // copy lives only for this drain, so the memory goes back afterwards.
    std::vector<RawEvent> backlog;
    const bool ring_released = ring_end - ring_start > ring_size_ / 4;
    if (ring_released) {
        backlog.resize(order_.size() - from_held);
        for (size_t i = from_held; i < order_.size(); ++i) {
            std::memcpy(backlog[i - from_held].data(), order_[i].raw, TT_RINGBUF_RECORD_SIZE);
            order_[i].raw = backlog[i - from_held].data();
        }
        __atomic_store_n(consumer_pos_, ring_end, __ATOMIC_RELEASE);
    }
    if (complete || until_ns == UINT64_MAX) delivered_until_ = std::max(delivered_until_, until_ns);
    core::sort_by_time(order_, sort_scratch_);
    held_next_.clear();
    // In time order the records are scattered over the ring (a batch of 16 a
    // CPU), and a drain's worth is more than the caches hold: fetch ahead.
    constexpr size_t kFetchAhead = 8;
    for (size_t i = 0; i < order_.size(); ++i) {
        if (i + kFetchAhead < order_.size()) {
            const uint8_t* next = order_[i + kFetchAhead].raw;
            __builtin_prefetch(next);
            __builtin_prefetch(next + 64);
        }
        const Pending& p = order_[i];
        if (p.ts >= delivered_until_) {
            std::memcpy(held_next_.emplace_back().data(), p.raw, TT_RINGBUF_RECORD_SIZE);
            continue;
        }
        // The ring carries all of the event but aux64 (TT_RINGBUF_RECORD_SIZE).
        tt_event e;
        std::memcpy(&e, p.raw, TT_RINGBUF_RECORD_SIZE);
        e.aux64 = 0;
        if (e.type == TT_EV_SYNACK_RETRANS) {
            e.aux64 = e.bytes_acked;
            e.bytes_acked = 0;
        }
        handler_.on_event(e);
    }
    held_.swap(held_next_);
    // Published once per drain, not per record (every reservation reads it), and
    // only now: the events were read in place.
    if (!ring_released) __atomic_store_n(consumer_pos_, ring_end, __ATOMIC_RELEASE);
    return delivered_until_;
}

namespace {
uint64_t sum_per_cpu_u64(int map_fd) {
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return 0;
    std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
    uint32_t key = 0;
    if (bpf_map_lookup_elem(map_fd, &key, per_cpu.data()) != 0) return 0;
    uint64_t sum = 0;
    for (uint64_t v : per_cpu) sum += v;
    return sum;
}
}  // namespace

uint64_t Probe::ringbuf_drops() const { return sum_per_cpu_u64(bpf_map__fd(skel_->maps.ringbuf_drops)); }

uint64_t Probe::recursion_misses() const {
    uint64_t sum = 0;
    for (int fd : prog_fds_) {
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) sum += info.recursion_misses;
    }
    return sum;
}

uint64_t Probe::nested_rescued() const { return sum_per_cpu_u64(bpf_map__fd(skel_->maps.nested_rescued)); }

}  // namespace tcptrail::probe
