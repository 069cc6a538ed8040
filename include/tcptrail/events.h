/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one definition of what travels from the BPF programs to user space.
 * Included by bpf/tcptrail.bpf.c (with vmlinux.h) and by the C++ frontend.
 * The same bytes are written verbatim into capture files (see src/sinks/capture),
 * so any change to this layout must bump TT_EVENT_ABI.
 */
#ifndef TCPTRAIL_EVENTS_H
#define TCPTRAIL_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TT_EVENT_ABI 1
#define TT_COMM_LEN 16
#define TT_MAX_PORT_FILTERS 8

/* Event kinds. Values are part of the capture format. */
enum tt_event_type {
	TT_EV_STATE = 1,          /* inet_sock_set_state: old_state -> new_state */
	TT_EV_RETRANSMIT = 2,     /* tcp_retransmit_skb (successful only) */
	TT_EV_SYNACK_RETRANS = 3, /* tcp_retransmit_synack on a request socket */
	TT_EV_RESET_SENT = 4,     /* tcp_send_reset */
	TT_EV_RESET_RECEIVED = 5, /* tcp_receive_reset */
	TT_EV_ACCEPT = 6,         /* accept()/accept4() returned a socket */
	TT_EV_EXISTING = 7,       /* socket found at start (sock_diag), new_state = its state */
	TT_EV_NETSTAT = 8,        /* user space only: a sample of netns's counters in `netstat` */
};

/*
 * TT_EV_NETSTAT: the kernel's listen-queue and SYN-cookie counters (TcpExt in
 * /proc/net/netstat) of one network namespace, sampled by user space; there is
 * no tracepoint for them. Indexes of tt_event.netstat.
 */
enum tt_netstat_counter {
	TT_NS_LISTEN_OVERFLOWS = 0,  /* ListenOverflows: accept queue full */
	TT_NS_LISTEN_DROPS = 1,      /* ListenDrops: SYNs / handshake ACKs dropped at a listener */
	TT_NS_SYNCOOKIES_SENT = 2,   /* SyncookiesSent */
	TT_NS_SYNCOOKIES_RECV = 3,   /* SyncookiesRecv: valid cookies in ACKs */
	TT_NS_SYNCOOKIES_FAILED = 4, /* SyncookiesFailed: invalid cookies in ACKs */
	TT_NETSTAT_COUNTERS = 5,
};

/* Bits of tt_event.flags */
enum tt_event_flags {
	TT_F_NO_SOCKET = 1 << 0,   /* reset sent with no local socket (tuple from the packet) */
	TT_F_MINISOCK = 1 << 1,    /* sk was a request or TIME_WAIT mini-socket */
	TT_F_HAS_REASON = 1 << 2,  /* aux holds the kernel's sk_rst_reason */
	TT_F_NO_COUNTERS = 1 << 3, /* counters below were not read */
	TT_F_OWNER_KNOWN = 1 << 4, /* TT_EV_EXISTING: pid/comm are the socket's owner */
	TT_F_FINAL = 1 << 5,       /* TT_EV_EXISTING: part of the complete snapshot taken at exit */
	TT_F_SNAPSHOT_END = 1 << 6, /* TT_EV_EXISTING, no socket: that snapshot is complete
				       (aux: enum tt_snapshot_kind) */
	/* TT_EV_STATE: traced by the second copy of the program, which found no
	 * trace of the hit by the first (bpf/tcptrail.bpf.c). Nearly always a hit
	 * the first copy missed; rarely the first copy's trace of it had left the
	 * log, and user space drops the duplicate (src/core/tracker.cpp). */
	TT_F_RESCUED = 1 << 7,
};

/* tt_event.aux of a TT_F_SNAPSHOT_END marker: which snapshot ended. */
enum tt_snapshot_kind {
	TT_SNAPSHOT_AT_EXIT = 0,  /* the complete one at exit (TT_F_FINAL events) */
	TT_SNAPSHOT_AT_START = 1, /* the dump of the sockets that predate tracing */
};

/* Bits of tt_event.sk_bits: facts about the socket when the event fired. */
enum tt_sock_bits {
	TT_SK_PEER_FIN = 1 << 0,  /* the peer's FIN has been received (SOCK_DONE) */
	TT_SK_ALL_ACKED = 1 << 1, /* everything queued, FIN included, is acked */
	TT_SK_ORPHAN = 1 << 2,    /* no process holds the socket any more (SOCK_DEAD) */
};

/*
 * Fixed-size, 128 bytes. Addresses in network byte order (IPv4 in the first
 * 4 bytes), ports in host byte order. "local"/"remote" are as seen from the socket.
 */
struct tt_event {
	__u64 ts_ns;     /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cookie;    /* socket cookie: unique per socket for the whole boot */
	__u64 cgroup_id; /* cgroup v2 id of the socket (not of the current task), fixed for
			    its life; STATE events carry it only where a socket starts
			    and at CLOSE (bpf/helpers.h cgroup_matters), 0 elsewhere */
	__u32 netns;     /* network namespace inode */
	__u32 pid;       /* tgid of the task on the CPU; meaningful only in process context */
	__u8 type;       /* enum tt_event_type */
	__u8 family;     /* AF_INET (2) or AF_INET6 (10) */
	__u8 old_state;  /* TT_EV_STATE: previous state */
	__u8 new_state;  /* TT_EV_STATE: new state; other events: socket state at the time */
	__u16 lport;
	__u16 rport;
	union {
		struct {
			__u8 laddr[16];
			__u8 raddr[16];
			/* current task's comm, same caveat as pid. The kernel side fills it only
			 * for ACCEPT and for STATE to SYN_SENT, LISTEN, FIN_WAIT1 and LAST_ACK
			 * (bpf/helpers.h task_matters); EXISTING: the owner's, if known. */
			char comm[TT_COMM_LEN];
		};
		/* TT_EV_NETSTAT (no socket): cumulative counters, enum tt_netstat_counter */
		__u64 netstat[TT_NETSTAT_COUNTERS];
	};
	/* Counters read from struct tcp_sock (full sockets only). STATE events read
	 * them only to ESTABLISHED and CLOSE (bpf/helpers.h counters_matter); the
	 * others have TT_F_NO_COUNTERS. */
	__u64 bytes_acked;
	__u64 bytes_received;
	__u32 srtt_us8;      /* smoothed RTT in 1/8 us */
	__u32 total_retrans; /* kernel's retransmitted-segment count */
	__u8 sk_err;         /* pending socket error (errno), 0 if none */
	__u8 sk_err_soft;
	__u8 sk_bits;        /* enum tt_sock_bits */
	__u8 flags;          /* enum tt_event_flags */
	__u32 aux;  /* SYNACK: request's num_retrans; RESET_SENT: reason; ACCEPT: fd;
	               STATE: icsk_retransmits | icsk_probes_out << 8 */
	__u64 aux64; /* SYNACK: first SYN-ACK send time, us on the monotonic clock */
};

/*
 * The ring buffer carries each event without its last field, aux64: a record
 * is one such 120-byte event or a CPU's batch of them (bpf/maps.h, stage),
 * back to back. A single event with the ring's 8-byte record header is 128
 * bytes, exactly two cache lines of its own (136 bytes would spread each over
 * three, shared with the records around it, written by other CPUs). The one
 * event that uses aux64, SYNACK, has no counters: the kernel side puts it in
 * bytes_acked, and user space moves it back (src/probe) before anything else
 * sees the event.
 */
#define TT_RINGBUF_RECORD_SIZE 120

/* A CPU's staging batch of events on their way to the ring buffer (bpf/maps.h,
 * stage; bpf/helpers.h, stage_begin). User space flushes it through the
 * flush_stage program, and reads it directly only at exit, to count what a
 * batch that cannot be flushed holds. */
#define TT_STAGE_EVENTS 16
struct tt_stage {
	__u32 busy;  /* a program on this CPU is between stage_begin and stage_commit */
	__u32 count; /* events staged */
	/* Events this CPU's programs put in the ring buffer: in batches (written
	 * only under busy), and on their own (by a program nested in one that holds
	 * busy, so atomically). User space checks at exit that it read them all. */
	__u64 sent_batched;
	__u64 sent_single;
	__u8 events[TT_STAGE_EVENTS][TT_RINGBUF_RECORD_SIZE];
};

#ifdef __cplusplus
#include <cstddef>
static_assert(sizeof(struct tt_event) == 128, "tt_event is part of the capture ABI");
static_assert(offsetof(struct tt_event, aux64) == TT_RINGBUF_RECORD_SIZE && (TT_RINGBUF_RECORD_SIZE + 8) % 64 == 0,
              "the ring buffer carries all of tt_event but aux64, in whole cache lines");
static_assert(offsetof(struct tt_event, laddr) == 40 && offsetof(struct tt_event, comm) == 72 &&
                  offsetof(struct tt_event, netstat) == 40 && offsetof(struct tt_event, bytes_acked) == 88,
              "tt_event layout is part of the capture ABI");
#endif

/* TCP states as numbered by the kernel (include/net/tcp_states.h). */
enum tt_tcp_state {
	TT_ESTABLISHED = 1,
	TT_SYN_SENT = 2,
	TT_SYN_RECV = 3,
	TT_FIN_WAIT1 = 4,
	TT_FIN_WAIT2 = 5,
	TT_TIME_WAIT = 6,
	TT_CLOSE = 7,
	TT_CLOSE_WAIT = 8,
	TT_LAST_ACK = 9,
	TT_LISTEN = 10,
	TT_CLOSING = 11,
	TT_NEW_SYN_RECV = 12,
};

#endif /* TCPTRAIL_EVENTS_H */
