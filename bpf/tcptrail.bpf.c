// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcptrail kernel side: stable tracepoints only. Every program turns one kernel
 * moment into one fixed-size struct tt_event, staged per CPU and sent to the
 * ring buffer in batches (stage_begin in helpers.h); all joining and
 * interpretation happens in user space (src/core), so live tracing and replay
 * share it.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "tcptrail/events.h"

#include "maps.h"
#include "config.h"
#include "helpers.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Filters on what the socket is, takes a slot, and fills what every event has.
 * slot.e is NULL if the event is filtered out or the ring buffer is full. */
static __always_inline struct tt_slot begin_event(__u8 type, __u16 family, __u32 netns, __u16 lport, __u16 rport)
{
	struct tt_slot none = {};
	struct tt_slot slot;
	struct tt_event *e;

	if (!sock_passes(family, netns, lport, rport))
		return none;
	slot = stage_begin();
	e = slot.e;
	if (!e)
		return none;
	__builtin_memset(e, 0, TT_RINGBUF_RECORD_SIZE);
	e->ts_ns = bpf_ktime_get_ns();
	e->type = type;
	e->family = family;
	e->netns = netns;
	e->lport = lport;
	e->rport = rport;
	return slot;
}

/*
 * Common part of every event about a socket from a tp_btf program. tp is the
 * full TCP socket (bpf_skc_to_tcp_sock), or NULL for a request / TIME_WAIT
 * mini-socket; cookie is its bpf_get_socket_cookie(), which the caller may
 * need first; with_comm: see read_task; with_counters: read tp's counters
 * (see counters_matter). slot.e is NULL if filtered out or the ring buffer is
 * full.
 */
static __always_inline struct tt_slot start_sock_event(const struct sock *sk, const struct tcp_sock *tp,
							 __u8 type, __u64 cookie, bool with_comm,
							 bool with_counters)
{
	const struct sock_common *skc = &sk->__sk_common;
	__u16 family = skc->skc_family;
	__u32 netns = sock_netns(skc);
	/* skc_num is in the line the kernel has just used; a full socket's is 0
	 * once CLOSE released the port, and then inet_sport still has it. */
	__u16 lport = skc->skc_num;
	__u16 rport = bswap16(skc->skc_dport);
	struct tt_slot slot;
	struct tt_event *e;

	if (!lport && tp)
		lport = bswap16(tp->inet_conn.icsk_inet.inet_sport);
	slot = begin_event(type, family, netns, lport, rport);
	e = slot.e;
	if (!e)
		return slot;
	read_addrs(e, skc, family);
	read_task(e, with_comm);
	e->cookie = cookie;
	if (tp && with_counters)
		read_tcp_counters(e, sk, tp);
	else
		e->flags |= (tp ? 0 : TT_F_MINISOCK) | TT_F_NO_COUNTERS;
	return slot;
}

static __always_inline void trace_set_state(const struct sock *sk, __u64 cookie, int oldstate, int newstate,
					    bool rescued)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk); /* NULL unless a full TCP socket */
	struct tt_slot slot;
	struct tt_event *e;

	if (!tp)
		return;
	slot = start_sock_event(sk, tp, TT_EV_STATE, cookie, task_matters(newstate), counters_matter(newstate));
	e = slot.e;
	if (!e)
		return;
	if (cgroup_matters(oldstate, newstate))
		e->cgroup_id = sock_cgroup_id(sk);
	e->old_state = oldstate;
	e->new_state = newstate;
	if (rescued)
		e->flags |= TT_F_RESCUED;
	stage_commit(slot);
}

/*
 * The kernel skips a tp_btf program that is already active on this CPU (and
 * counts a recursion miss): when a softirq changes a socket's state while the
 * program is tracing a change in the task it interrupted. So a second copy of
 * the program is attached to the tracepoint after the first, and the kernel
 * runs both for each hit, first copy first:
 * - the first copy traces every hit it runs for, and logs it in this CPU's
 *   set_state_log;
 * - the second copy traces a hit only if it is not in the log (the first copy
 *   was skipped for it).
 * A hit is lost only if both copies are busy on the CPU at once, which takes
 * three nested contexts; user space counts any such loss from the first
 * copy's misses less what the second rescued.
 * The log is searched newest first: the hit is nearly always the newest entry,
 * or a few below it when a softirq ran between the two copies. A softirq that
 * changes more than TT_TRACED_LOG states in between (seen here: a millisecond
 * of backlog processing after a timer tick) pushes the first copy's entry out,
 * and the second copy traces the hit again. Its events carry TT_F_RESCUED, so
 * user space recognises such a repeat, drops it and does not count it as a
 * rescue (src/core/tracker.cpp, made_transition).
 */
static __always_inline void set_state_copy(bool first, const struct sock *sk, int oldstate, int newstate)
{
	/* The cookie is made once per socket; later calls only read it. A hit is
	 * one transition of one socket: no two hits have the same value. */
	__u64 cookie = bpf_get_socket_cookie((void *)sk);
	__u64 hit = cookie ^ ((__u64)oldstate << 56) ^ ((__u64)newstate << 48);
	struct set_state_log *log;
	__u32 zero = 0;
	__u32 next;

	log = bpf_map_lookup_elem(&set_state_log, &zero);
	if (!log)
		return;
	if (first) {
		/* Only the first copy appends, and the kernel never runs it nested
		 * in itself on a CPU: appends cannot interleave. */
		next = log->next;
		log->hit[next % TT_TRACED_LOG] = hit;
		log->next = next + 1;
		trace_set_state(sk, cookie, oldstate, newstate, false);
		return;
	}
	next = log->next;
	for (__u32 i = 1; i <= TT_TRACED_LOG; i++) {
		if (log->hit[(next - i) % TT_TRACED_LOG] == hit)
			return;
	}
	__u64 *rescued = bpf_map_lookup_elem(&nested_rescued, &zero);

	if (rescued)
		*rescued += 1;
	trace_set_state(sk, cookie, oldstate, newstate, true);
}

#define SET_STATE_COPY(name, first)                                                               \
	SEC("tp_btf/inet_sock_set_state")                                                         \
	int BPF_PROG(name, const struct sock *sk, const int oldstate, const int newstate)        \
	{                                                                                         \
		set_state_copy(first, sk, oldstate, newstate);                                    \
		return 0;                                                                         \
	}

SET_STATE_COPY(on_set_state, true)
SET_STATE_COPY(on_set_state_nested, false)

/*
 * The other tracepoints' programs have second copies too, attached after them,
 * for the same reason. They need no log: the first copy marks itself running
 * on its CPU (maps.h, first_copy_running), and a second copy that finds it
 * running is nested in it, so the kernel has just skipped the first copy for
 * this hit. (An interrupt in the few instructions between the kernel's
 * recursion check and the mark makes a miss that is not rescued: it is counted
 * as lost, like every other miss.)
 */
static __always_inline void run_copy(bool first, __u32 slot, void (*body)(unsigned long long *ctx),
				     unsigned long long *ctx)
{
	struct first_copy_running *f;
	__u32 zero = 0;
	__u64 *rescued;
	__u8 was;

	if (slot >= TT_COPY_SLOTS)
		return;
	f = bpf_map_lookup_elem(&first_copy_running, &zero);
	if (!f)
		return;
	if (first) {
		was = f->running[slot];
		f->running[slot] = 1;
		body(ctx);
		f->running[slot] = was;
		return;
	}
	if (!f->running[slot])
		return;
	rescued = bpf_map_lookup_elem(&nested_rescued, &zero);
	if (rescued)
		*rescued += 1;
	body(ctx);
}

#define TWO_COPIES(tracepoint, name, slot, body)                        \
	SEC("tp_btf/" #tracepoint)                                      \
	int name(unsigned long long *ctx)                               \
	{                                                               \
		run_copy(true, slot, body, ctx);                        \
		return 0;                                               \
	}                                                               \
	SEC("tp_btf/" #tracepoint)                                      \
	int name##_nested(unsigned long long *ctx)                      \
	{                                                               \
		run_copy(false, slot, body, ctx);                       \
		return 0;                                               \
	}

static __always_inline void retransmit_body(unsigned long long *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	struct tcp_sock *tp;
	struct tt_slot slot;
	struct tt_event *e;

	/* Kernels 6.13+ also trace failed attempts (err != 0); older ones trace only
	 * successes. Report successes everywhere. */
	if (bpf_core_field_exists(struct trace_event_raw_tcp_retransmit_skb, err)) {
		if ((int)ctx[2] != 0)
			return;
	}
	tp = bpf_skc_to_tcp_sock((void *)sk);
	if (!tp)
		return;
	slot = start_sock_event(sk, tp, TT_EV_RETRANSMIT, bpf_get_socket_cookie((void *)sk), false, true);
	e = slot.e;
	if (!e)
		return;
	e->new_state = sk->__sk_common.skc_state;
	stage_commit(slot);
}

TWO_COPIES(tcp_retransmit_skb, on_retransmit, TT_COPY_RETRANSMIT, retransmit_body)

/* sk is the listener; req is the request socket the child will be made from. */
static __always_inline void retransmit_synack_body(unsigned long long *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	const struct request_sock *req = (const struct request_sock *)ctx[1];
	struct tcp_request_sock *treq = bpf_skc_to_tcp_request_sock((void *)req);
	const struct sock_common *skc = &req->__req_common;
	__u16 family = skc->skc_family;
	__u32 netns = sock_netns(skc);
	__u16 lport = skc->skc_num;
	__u16 rport = bswap16(skc->skc_dport);
	struct tt_slot slot;
	struct tt_event *e;

	if (!treq)
		return;
	slot = begin_event(TT_EV_SYNACK_RETRANS, family, netns, lport, rport);
	e = slot.e;
	if (!e)
		return;
	read_addrs(e, skc, family);
	read_task(e, false);
	e->cookie = bpf_get_socket_cookie((void *)sk); /* the listener's */
	e->new_state = TT_NEW_SYN_RECV;
	e->flags = TT_F_MINISOCK | TT_F_NO_COUNTERS;
	e->aux = req->num_retrans;
	e->bytes_acked = treq->snt_synack; /* becomes aux64 in user space (TT_RINGBUF_RECORD_SIZE) */
	stage_commit(slot);
}

TWO_COPIES(tcp_retransmit_synack, on_retransmit_synack, TT_COPY_SYNACK, retransmit_synack_body)

/* A reset about no connection of a local socket (e.g. connection refused, or a
 * listener's answer to a stray ACK): take the tuple from the packet it answers.
 * Its destination is our local side. The namespace is the listener's, if there
 * is one (the packet no longer has its device then), else the device's. */
static __always_inline int reset_from_packet(const struct sock *listener, const struct sk_buff *skb, __u32 reason,
					     bool has_reason)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th_off = BPF_CORE_READ(skb, transport_header);
	struct net_device *dev;
	__u32 netns;

	if (listener) {
		netns = sock_netns(&listener->__sk_common);
	} else {
		dev = BPF_CORE_READ(skb, dev);
		netns = dev ? BPF_CORE_READ(dev, nd_net.net, ns.inum) : 0;
	}
	__u8 version;
	__u16 family;
	struct tcphdr th;
	struct tt_slot slot;
	struct tt_event *e;

	if (bpf_probe_read_kernel(&version, 1, head + nh))
		return 0;
	family = (version >> 4) == 4 ? AF_INET : AF_INET6;
	if (bpf_probe_read_kernel(&th, sizeof(th), head + th_off))
		return 0;
	slot = begin_event(TT_EV_RESET_SENT, family, netns, bswap16(th.dest), bswap16(th.source));
	e = slot.e;
	if (!e)
		return 0;
	if (family == AF_INET) {
		struct iphdr ip;

		bpf_probe_read_kernel(&ip, sizeof(ip), head + nh);
		__builtin_memcpy(e->laddr, &ip.daddr, 4);
		__builtin_memcpy(e->raddr, &ip.saddr, 4);
	} else {
		struct ipv6hdr ip6;

		bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh);
		__builtin_memcpy(e->laddr, &ip6.daddr, 16);
		__builtin_memcpy(e->raddr, &ip6.saddr, 16);
	}
	read_task(e, false);
	e->flags = TT_F_NO_SOCKET | TT_F_NO_COUNTERS | (has_reason ? TT_F_HAS_REASON : 0);
	e->aux = reason;
	stage_commit(slot);
	return 0;
}

static __always_inline void send_reset_body(unsigned long long *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	const struct sk_buff *skb = (const struct sk_buff *)ctx[1];
	bool has_reason = bpf_core_type_exists(enum sk_rst_reason);
	__u32 reason = 0;
	struct tt_slot slot;
	struct tt_event *e;

	if (has_reason)
		reason = (__u32)ctx[2];
	/* A listener answers a stray segment (an ACK with no request socket behind
	 * it): the reset belongs to the peer's tuple, in the packet, not to the
	 * listener, which is no connection. */
	if (!sk || sk->__sk_common.skc_state == TT_LISTEN) {
		if (skb)
			reset_from_packet(sk, skb, reason, has_reason);
		return;
	}
	/* sk may be a full, request or TIME_WAIT socket. */
	slot = start_sock_event(sk, bpf_skc_to_tcp_sock((void *)sk), TT_EV_RESET_SENT, bpf_get_socket_cookie((void *)sk),
			     false, true);
	e = slot.e;
	if (!e)
		return;
	e->new_state = sk->__sk_common.skc_state;
	e->aux = reason;
	if (has_reason)
		e->flags |= TT_F_HAS_REASON;
	stage_commit(slot);
}

TWO_COPIES(tcp_send_reset, on_send_reset, TT_COPY_SEND_RESET, send_reset_body)

static __always_inline void receive_reset_body(unsigned long long *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	struct tt_slot slot = start_sock_event(sk, bpf_skc_to_tcp_sock((void *)sk), TT_EV_RESET_RECEIVED,
					       bpf_get_socket_cookie((void *)sk), false, true);
	struct tt_event *e = slot.e;

	if (!e)
		return;
	e->new_state = sk->__sk_common.skc_state;
	stage_commit(slot);
}

TWO_COPIES(tcp_receive_reset, on_receive_reset, TT_COPY_RECEIVE_RESET, receive_reset_body)

/*
 * The accept program reaches its socket through probe-read pointers, a helper
 * call per read: it copies the socket's whole sock_common (addresses, ports,
 * family, state, namespace, cookie) in one, then reads the copy like the
 * socket itself (field offsets are CO-RE relocated wherever the struct is).
 */
#define TT_SKC_COPY_MAX 256

static __always_inline struct tt_slot start_accept_event(const struct sock *sk)
{
	struct tt_slot none = {};
	__u8 copy[TT_SKC_COPY_MAX];
	const struct sock_common *skc = (const struct sock_common *)copy;
	__u32 size = bpf_core_type_size(struct sock_common);
	const struct net *net;
	struct tt_slot slot;
	struct tt_event *e;
	__u16 family;

	if (size > sizeof(copy))
		size = sizeof(copy);
	if (bpf_probe_read_kernel(copy, size, sk))
		return none;
	family = skc->skc_family;
	net = skc->skc_net.net; /* a plain load from the copy; the namespace needs probe reads */
	slot = begin_event(TT_EV_ACCEPT, family, netns_probed(net), skc->skc_num, bswap16(skc->skc_dport));
	e = slot.e;
	if (!e)
		return slot;
	read_addrs(e, skc, family);
	/* bpf_get_socket_cookie() is not offered to classic tracepoints; the cookie was
	 * generated when the socket's first state change was traced. */
	e->cookie = skc->skc_cookie.counter;
	e->new_state = skc->skc_state;
	read_task(e, true); /* accept() runs in the owner */
	return slot;
}

/* syscalls:sys_exit_accept{,4} record layout (common header, nr, ret). */
struct syscall_exit_ctx {
	__u64 common;
	long nr;
	long ret;
};

/* accept() runs in the accepting process: the one true owner of a server socket. */
static __always_inline int on_accept_exit(struct syscall_exit_ctx *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf(); /* typed: its fields are plain loads */
	struct file **fds;
	struct file *file;
	struct socket *sock;
	struct sock *sk;
	struct tt_slot slot;
	struct tt_event *e;
	long fd = ctx->ret;

	if (fd < 0)
		return 0;
	fds = task->files->fdt->fd;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	slot = start_accept_event(sk);
	e = slot.e;
	if (!e)
		return 0;
	e->aux = fd;
	e->flags = TT_F_NO_COUNTERS;
	stage_commit(slot);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int on_accept4_exit(struct syscall_exit_ctx *ctx)
{
	return on_accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int on_accept_exit_plain(struct syscall_exit_ctx *ctx)
{
	return on_accept_exit(ctx);
}

/*
 * Run by user space on each CPU (BPF_PROG_TEST_RUN with BPF_F_TEST_RUN_ON_CPU)
 * before it drains the ring buffer: sends that CPU's part-filled staging batch.
 * It runs in an interrupt, or with preemption off, so no program on this CPU
 * can start while it runs; one may have been interrupted in the middle of
 * staging (busy), and then this returns 0 and user space tries again.
 */
SEC("raw_tp")
int flush_stage(void *ctx)
{
	struct tt_stage *st;
	__u32 zero = 0;

	st = bpf_map_lookup_elem(&stage, &zero);
	if (!st)
		return 1;
	if (st->busy)
		return 0;
	st->busy = 1;
	compiler_barrier();
	flush_stage_locked(st);
	compiler_barrier();
	st->busy = 0;
	return 1;
}
