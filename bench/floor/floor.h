/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The reference design of issue #4, run beside tcptrail by bench/run_churn.sh:
 * one 64-byte event per inet_sock_set_state hit, straight into a BPF ring
 * buffer with BPF_RB_NO_WAKEUP, and a consumer that drains on a 100 ms timer
 * and only counts what it reads. It reconstructs nothing and writes nothing:
 * the least any tracer of every state change can cost, measured on the same
 * day and machine as tcptrail. Shared by floor.bpf.c and floor.cpp.
 */
#ifndef TCPTRAIL_BENCH_FLOOR_H
#define TCPTRAIL_BENCH_FLOOR_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct floor_event {
	__u64 ts_ns;
	__u64 cookie;
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 pid;
	__u32 netns;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u8 oldstate;
	__u8 newstate;
};

#define FLOOR_RINGBUF_BYTES (64 << 20) /* tcptrail's default --ringbuf-mb */

#ifdef __cplusplus
static_assert(sizeof(struct floor_event) == 64, "the issue's reference event is 64 bytes");
#endif

#endif
