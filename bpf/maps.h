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
 * The kernel skips a tp_btf program that is already running on this CPU (e.g.
 * set_state in a task, interrupted by a softirq that changes another socket's
 * state). A second copy of the set_state program runs only while the first is
 * busy on this CPU, so that nested event is kept rather than lost.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} set_state_busy SEC(".maps");

/* Nested set_state events the second copy kept: each one is also a recursion
 * miss of the first copy, which user space therefore does not report as lost. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} nested_rescued SEC(".maps");

#endif
