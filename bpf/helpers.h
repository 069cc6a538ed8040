/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Reading sockets into struct tt_event, kernel-side filters, and submission. */
#ifndef TCPTRAIL_BPF_HELPERS_H
#define TCPTRAIL_BPF_HELPERS_H

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

static __always_inline __u16 bswap16(__u16 v)
{
	return __builtin_bswap16(v);
}

static __always_inline void count_drops(__u32 events_lost)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&ringbuf_drops, &zero);

	if (n)
		*n += events_lost; /* per-CPU slot: no atomics needed */
}

/*
 * Batch wake-ups: waking the consumer per event costs more than the BPF program
 * (a self-interrupt whose exit runs softirqs that re-enter these programs on the
 * same CPU). Wake only when a backlog has built up, and then at most once per
 * CPU every few milliseconds; otherwise the consumer drains on its timer.
 */
#define TT_WAKEUP_MIN_GAP_NS (5 * 1000 * 1000)

static __always_inline __u64 wakeup_flag(__u64 now_ns)
{
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes) {
		__u32 zero = 0;
		__u64 *last = bpf_map_lookup_elem(&last_wakeup, &zero);

		if (last && now_ns - *last >= TT_WAKEUP_MIN_GAP_NS) {
			*last = now_ns;
			return BPF_RB_FORCE_WAKEUP;
		}
	}
	return BPF_RB_NO_WAKEUP;
}

#define compiler_barrier() asm volatile("" ::: "memory")

/* Moves this CPU's staged events to the ring buffer, in one reservation. The
 * caller holds st->busy. */
static __always_inline void flush_stage_locked(struct tt_stage *st)
{
	__u32 n = st->count;

	if (n == 0)
		return;
	if (n > TT_STAGE_EVENTS)
		n = TT_STAGE_EVENTS;
	if (bpf_ringbuf_output(&events, st->events, n * TT_RINGBUF_RECORD_SIZE, wakeup_flag(bpf_ktime_get_ns())))
		count_drops(n);
	else
		st->sent_batched += n;
	st->count = 0;
}

/*
 * Where a program writes its event: the next slot of this CPU's staging batch,
 * or, when staging is off or busy (a program that this one interrupted is
 * between stage_begin and stage_commit, or flush_stage is running), a ring
 * buffer reservation of its own. busy is set before the program reads the
 * clock (begin_event), so a flush that finds it clear has every event stamped
 * before it started: user space relies on that to put events in time order.
 */
struct tt_slot {
	struct tt_event *e;
	struct tt_stage *st; /* NULL: e is a ring buffer reservation */
};

static __always_inline struct tt_slot stage_begin(void)
{
	struct tt_slot slot = {};
	__u32 zero = 0;

	if (use_staging) {
		struct tt_stage *st = bpf_map_lookup_elem(&stage, &zero);

		if (st && !st->busy) {
			st->busy = 1;
			compiler_barrier();
			if (st->count >= TT_STAGE_EVENTS) /* not expected: commit flushes a full batch */
				flush_stage_locked(st);
			slot.e = (struct tt_event *)st->events[st->count & (TT_STAGE_EVENTS - 1)];
			slot.st = st;
			return slot;
		}
	}
	/* Not aux64: see TT_RINGBUF_RECORD_SIZE. The verifier rejects any access to it. */
	slot.e = bpf_ringbuf_reserve(&events, TT_RINGBUF_RECORD_SIZE, 0);
	if (!slot.e)
		count_drops(1);
	return slot;
}

static __always_inline void stage_commit(struct tt_slot slot)
{
	struct tt_stage *st = slot.st;

	if (!st) {
		__u32 zero = 0;

		bpf_ringbuf_submit(slot.e, wakeup_flag(slot.e->ts_ns));
		st = bpf_map_lookup_elem(&stage, &zero);
		if (st)
			__sync_fetch_and_add(&st->sent_single, 1);
		return;
	}
	st->count += 1;
	if (st->count >= TT_STAGE_EVENTS)
		flush_stage_locked(st);
	compiler_barrier();
	st->busy = 0;
}

static __always_inline bool port_passes(__u16 lport, __u16 rport)
{
	if (n_filter_ports == 0)
		return true;
#pragma unroll
	for (int i = 0; i < TT_MAX_PORT_FILTERS; i++) {
		if (i >= n_filter_ports)
			break;
		if (filter_ports[i] == lport || filter_ports[i] == rport)
			return true;
	}
	return false;
}

/* Filters on what the socket is (family, namespace, ports); cheap, before reserving. */
static __always_inline bool sock_passes(__u16 family, __u32 netns, __u16 lport, __u16 rport)
{
	if (family != AF_INET && family != AF_INET6)
		return false;
	if (filter_family && family != filter_family)
		return false;
	if (filter_netns && netns != filter_netns)
		return false;
	return port_passes(lport, rport);
}

/*
 * Two ways to read a socket. tp_btf programs get typed, trusted pointers and read
 * fields with plain loads (no helper call per field: this is the hot path, run
 * ~10 times per connection). The accept program finds its socket through
 * probe-read pointers and copies what it needs out with helper calls
 * (start_accept_event), as does the no-socket reset path from the packet.
 */

/* This CPU's slot for key in one of its id caches (maps.h), or NULL. */
static __always_inline struct tt_id_slot *id_cache_slot(bool cgroup, __u64 key)
{
	struct tt_id_caches *caches;
	__u32 zero = 0, i;

	caches = bpf_map_lookup_elem(&id_caches, &zero);
	if (!caches || !key)
		return NULL;
	i = (key * 0x9E3779B97F4A7C15ULL) >> (64 - TT_ID_CACHE_BITS);
	return cgroup ? &caches->cgroup[i] : &caches->netns[i];
}

/* The cached value, through a register of its own: the verifier refuses an
 * instruction that reads a map value on one path and kernel memory on another,
 * which is what the compiler would otherwise make of the caller's two reads. */
static __always_inline __u64 id_cache_value(const struct tt_id_slot *slot)
{
	__u64 value = slot->value;

	asm volatile("" : "+r"(value));
	return value;
}

/* A namespace's inode number from this CPU's cache, by its net_cookie (0: no
 * cookie, read it); probed: net is reached through probe-read pointers. */
static __always_inline __u32 netns_by_cookie(const struct net *net, __u64 cookie, bool probed)
{
	struct tt_id_slot *slot = id_cache_slot(false, cookie);
	__u32 inum;

	if (slot && slot->key == cookie)
		return id_cache_value(slot);
	inum = probed ? BPF_CORE_READ(net, ns.inum) : net->ns.inum;
	if (slot) {
		slot->value = inum;
		slot->key = cookie;
	}
	return inum;
}

/* By offset: a plain u64 read, whether the field is a u64 or (in older kernels) an atomic64_t. */
#define NET_COOKIE_USABLE(net) (bpf_core_field_exists((net)->net_cookie) && bpf_core_field_size((net)->net_cookie) == 8)
#define NET_COOKIE_AT(net) ((const char *)(net) + bpf_core_field_offset((net)->net_cookie))

/*
 * The socket's network namespace (inode number). struct net keeps ns.inum in
 * the cache line of the namespace's reference count, which the creation and
 * the destruction of every socket write: under churn, reading it was a miss on
 * a line another CPU had just written, a third of this program's time. So it
 * comes from a per-CPU cache, by net_cookie, in a line of struct net written once.
 */
static __always_inline __u32 sock_netns(const struct sock_common *skc)
{
	const struct net *net = skc->skc_net.net;

	if (!NET_COOKIE_USABLE(net))
		return net->ns.inum;
	return netns_by_cookie(net, *(const __u64 *)NET_COOKIE_AT(net), false);
}

/* sock_netns for a namespace reached through probe-read pointers (the accept
 * program), its cookie and inode number read by probe reads. */
static __always_inline __u32 netns_probed(const struct net *net)
{
	__u64 cookie = 0;

	if (NET_COOKIE_USABLE(net))
		bpf_probe_read_kernel(&cookie, sizeof(cookie), NET_COOKIE_AT(net));
	return netns_by_cookie(net, cookie, true);
}

/*
 * The socket's cgroup v2 id: its cgroup's kernfs node id, two dependent loads
 * away, both mostly cache misses (nothing on the socket path touches the
 * cgroup's kernfs node). So it comes from a per-CPU cache, by the css
 * serial_nr, in a line of struct cgroup written only when the cgroup comes or goes.
 */
static __always_inline __u64 sock_cgroup_id(const struct sock *sk)
{
	struct tt_id_slot *slot;
	struct cgroup *cg;
	__u64 serial, id;

	if (!bpf_core_field_exists(sk->sk_cgrp_data.cgroup))
		return 0;
	cg = sk->sk_cgrp_data.cgroup;
	if (!cg)
		return 0;
	/* + 1: the root cgroup's is 0, every other one's counts up from 1. */
	serial = cg->self.serial_nr + 1;
	slot = id_cache_slot(true, serial);
	if (!slot)
		return cg->kn->id;
	if (slot->key == serial)
		return id_cache_value(slot);
	id = cg->kn->id;
	slot->value = id;
	slot->key = serial;
	return id;
}

/* Addresses from sock_common: shared by full, request and TIME_WAIT sockets.
 * Family and ports are already in the event (begin_event). */
static __always_inline void read_addrs(struct tt_event *e, const struct sock_common *skc, __u16 family)
{
	if (family == AF_INET) {
		__builtin_memcpy(e->laddr, &skc->skc_rcv_saddr, 4);
		__builtin_memcpy(e->raddr, &skc->skc_daddr, 4);
	} else {
		__builtin_memcpy(e->laddr, &skc->skc_v6_rcv_saddr, 16);
		__builtin_memcpy(e->raddr, &skc->skc_v6_daddr, 16);
	}
}

/* The task on the CPU. Its comm is read only where user space uses it (see
 * task_matters), and with two plain loads rather than bpf_get_current_comm(),
 * whose byte-wise copy cost ~40 ns a call here. The kernel keeps comm
 * NUL-padded to its 16 bytes; user space reads it with strnlen. */
static __always_inline void read_task(struct tt_event *e, bool with_comm)
{
	e->pid = bpf_get_current_pid_tgid() >> 32;
	if (!with_comm)
		return;
	const struct task_struct *task = bpf_get_current_task_btf();

	if (bpf_core_field_size(task->comm) == sizeof(e->comm)) {
		const __u64 *comm = (const __u64 *)task->comm;
		__u64 *to = (__u64 *)e->comm;

		to[0] = comm[0];
		to[1] = comm[1];
	} else {
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	}
}

/* State changes that run in the task that owns the socket and name it: connect()
 * (SYN_SENT), listen() (LISTEN), and close() (FIN_WAIT1, LAST_ACK) for a socket
 * whose owner is not yet known. The others run in softirq or in a bystander. */
static __always_inline bool task_matters(int newstate)
{
	return newstate == TT_SYN_SENT || newstate == TT_LISTEN || newstate == TT_FIN_WAIT1 ||
	       newstate == TT_LAST_ACK;
}

/* State changes whose counters user space uses (src/core/tracker.cpp): the
 * handshake's retransmits and RTT at ESTABLISHED, and everything at CLOSE.
 * Sockets still open at exit are read again then (sock_diag). The counters
 * span some eight cache lines of tcp_sock, several of them cold here. */
static __always_inline bool counters_matter(int newstate)
{
	return newstate == TT_ESTABLISHED || newstate == TT_CLOSE;
}

/* A socket's cgroup is fixed when the socket is made: read it where a socket's
 * life starts (connect, listen: from CLOSE; a server's child: from LISTEN) and
 * at CLOSE, for a socket whose start was not seen. Three dependent loads,
 * mostly cache misses, saved on the other transitions. */
static __always_inline bool cgroup_matters(int oldstate, int newstate)
{
	return oldstate == TT_CLOSE || oldstate == TT_LISTEN || newstate == TT_CLOSE;
}

static __always_inline __u8 sock_bits(const struct sock *sk, const struct tcp_sock *tp)
{
	unsigned long flags = sk->__sk_common.skc_flags;
	__u8 bits = 0;

	if (flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE)))
		bits |= TT_SK_PEER_FIN;
	if (flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DEAD)))
		bits |= TT_SK_ORPHAN;
	if (tp->snd_una == tp->write_seq)
		bits |= TT_SK_ALL_ACKED;
	return bits;
}

/* Counters of a full TCP socket at this moment (tp from bpf_skc_to_tcp_sock). */
static __always_inline void read_tcp_counters(struct tt_event *e, const struct sock *sk, const struct tcp_sock *tp)
{
	e->bytes_acked = tp->bytes_acked;
	e->bytes_received = tp->bytes_received;
	e->srtt_us8 = tp->srtt_us;
	e->total_retrans = tp->total_retrans;
	e->sk_err = sk->sk_err;
	e->sk_err_soft = sk->sk_err_soft;
	e->sk_bits = sock_bits(sk, tp);
	e->aux = tp->inet_conn.icsk_retransmits | ((__u32)tp->inet_conn.icsk_probes_out << 8);
}

#endif
