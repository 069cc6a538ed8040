/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Load-time configuration, written by the loader into .rodata before load so the
 * verifier sees constants and dead filter branches cost nothing. */
#ifndef TCPTRAIL_BPF_CONFIG_H
#define TCPTRAIL_BPF_CONFIG_H

const volatile __u8 filter_family = 0;  /* 0 = any, else AF_INET / AF_INET6 */
const volatile __u32 filter_netns = 0;  /* 0 = any, else netns inode */
const volatile __u32 n_filter_ports = 0;
const volatile __u16 filter_ports[TT_MAX_PORT_FILTERS] = {};
/* Wake the consumer only once this many bytes are waiting; it also polls on a timer. */
const volatile __u64 wakeup_bytes = 256 * 1024;

#endif
