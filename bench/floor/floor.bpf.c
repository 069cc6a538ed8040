// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The reference program (floor.h): a reservation per state change, no wake-up. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "floor.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, FLOOR_RINGBUF_BYTES);
} floor_events SEC(".maps");

/* Failed reservations, per CPU: reported as lost, like tcptrail's. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} floor_drops SEC(".maps");

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	const struct sock_common *skc = &sk->__sk_common;
	struct floor_event *e = bpf_ringbuf_reserve(&floor_events, sizeof(*e), 0);
	__u32 zero = 0;

	if (!e) {
		__u64 *n = bpf_map_lookup_elem(&floor_drops, &zero);

		if (n)
			*n += 1;
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->cookie = bpf_get_socket_cookie((void *)sk);
	e->family = skc->skc_family;
	e->sport = skc->skc_num;
	e->dport = __builtin_bswap16(skc->skc_dport);
	__builtin_memcpy(e->saddr, &skc->skc_v6_rcv_saddr, 16);
	__builtin_memcpy(e->daddr, &skc->skc_v6_daddr, 16);
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->netns = skc->skc_net.net->ns.inum;
	e->oldstate = oldstate;
	e->newstate = newstate;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}
