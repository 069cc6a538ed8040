/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps shared by all tcptrail programs. */
#ifndef TCPTRAIL_BPF_MAPS_H
#define TCPTRAIL_BPF_MAPS_H

/* The one ring buffer to user space; size is set by the loader (--ringbuf-mb). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* Failed ring buffer reservations, per CPU; user space sums and reports them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ringbuf_drops SEC(".maps");

/*
 * Per-CPU staging of events (see stage_begin in helpers.h): a ring buffer
 * reservation takes the ring's lock with interrupts off, which on a busy host
 * costs more than everything else the programs do, so events are written here
 * and go to the ring TT_STAGE_EVENTS at a time, in one reservation. User space
 * flushes part-filled batches before each drain by running flush_stage on
 * every CPU (BPF_PROG_TEST_RUN), and puts events in time order.
 */
/* struct tt_stage: include/tcptrail/events.h (user space reads it at exit). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tt_stage);
} stage SEC(".maps");

/* Not load-time configuration (config.h) but a switch user space flips through
 * the mmapped .bss once it has checked that it can flush the staging batches
 * on every CPU; until then, and for good if it cannot, every event goes to the
 * ring buffer on its own. */
volatile __u32 use_staging = 0;

/* When this CPU last forced a consumer wake-up (see wakeup_flag in helpers.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} last_wakeup SEC(".maps");

/*
 * The set_state hits traced on this CPU, newest last (see set_state_copy in
 * tcptrail.bpf.c): the second copy of the program looks a hit up here to
 * learn whether the first traced it. Append-only: an entry is never removed,
 * only overwritten TT_TRACED_LOG hits later, so a second copy that runs late
 * (a softirq ran in between) still finds its hit.
 */
#define TT_TRACED_LOG 256
struct set_state_log {
	__u64 hit[TT_TRACED_LOG];
	__u32 next; /* free-running; hit[(next - 1) % TT_TRACED_LOG] is the newest */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct set_state_log);
} set_state_log SEC(".maps");

/*
 * For the other tracepoints (retransmits, resets), whose second copies need no
 * log (tcptrail.bpf.c, SECOND_COPY): per CPU and tracepoint, whether the first
 * copy is running. A second copy that finds it running is nested in it, so the
 * kernel has just skipped the first copy for this hit.
 */
enum tt_copy_slot { TT_COPY_RETRANSMIT, TT_COPY_SYNACK, TT_COPY_SEND_RESET, TT_COPY_RECEIVE_RESET, TT_COPY_SLOTS };
struct first_copy_running {
	__u8 running[TT_COPY_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct first_copy_running);
} first_copy_running SEC(".maps");

/* Hits the second copies traced: each one is also a recursion miss of the
 * first copy, which user space therefore does not report as lost (unless it
 * finds a set_state event to be a duplicate: see set_state_copy). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} nested_rescued SEC(".maps");

/*
 * Per CPU: small direct-mapped caches of ids that cost cold loads to read, each
 * keyed by a number unique for the boot, so that a namespace or cgroup made
 * where a freed one was is never taken for it (id_cache_slot in helpers.h):
 * - network namespaces' inode numbers, by net_cookie (sock_netns);
 * - cgroup ids (the kernfs node id user space reports), by the cgroup's css
 *   serial_nr + 1 (sock_cgroup_id).
 * A host with more of them than slots only reads more often.
 */
#define TT_ID_CACHE_BITS 4
struct tt_id_slot {
	__u64 key; /* 0: empty slot */
	__u64 value;
};

struct tt_id_caches {
	struct tt_id_slot netns[1 << TT_ID_CACHE_BITS];
	struct tt_id_slot cgroup[1 << TT_ID_CACHE_BITS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tt_id_caches);
} id_caches SEC(".maps");

#endif
