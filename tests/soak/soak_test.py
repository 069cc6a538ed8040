#!/usr/bin/env python3
"""Soak: tcptrail traces loopback churn at full speed for a while; its memory and
file descriptors stay flat and every connection is accounted for.

    soak_test.py TCPTRAIL CHURN SECONDS

Short in CI (ctest label `soak`); `bench/soak.sh` runs it for minutes.
Exit 0 on success; on failure one line per problem.
"""

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

RSS_GROWTH_LIMIT = 0.10  # after warm-up, RSS may grow at most 10% (plus 4 MiB of slack)
RSS_SLACK_KB = 4096


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def one_sided_connections(out_path, port, most=5):
    """The first few connections with a client record and no server record, or
    the other way round (keyed by the client's address and port), and what was
    recorded of each: two more reads of the output, made on failure only."""
    client_side, server_side = collections.Counter(), collections.Counter()
    with open(out_path) as f:
        for line in f:
            rec = json.loads(line)
            if rec["type"] != "conn":
                continue
            if rec["role"] == "client" and rec["rport"] == port:
                client_side[(rec["laddr"], rec["lport"])] += 1
            elif rec["role"] == "server" and rec["lport"] == port:
                server_side[(rec["raddr"], rec["rport"])] += 1
    peers = list(((client_side - server_side) + (server_side - client_side)).keys())[:most]
    found = {peer: [] for peer in peers}
    with open(out_path) as f:
        for line in f:
            rec = json.loads(line)
            if rec["type"] != "conn":
                continue
            for peer in ((rec["laddr"], rec["lport"]), (rec["raddr"], rec["rport"])):
                if peer in found:
                    found[peer].append(rec)
    return found


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    tcptrail, churn, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            print("soak: must run as root (CI is set)")
            return 1
        print("soak: skipped, not root")
        return 77
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    out_path = "/tmp/tcptrail-soak-%d.jsonl" % os.getpid()
    out = open(out_path, "w")
    tracer = subprocess.Popen([tcptrail, "--json", "--port", str(port)], stdout=out, stderr=subprocess.PIPE,
                              text=True)
    problems = []
    try:
        line = tracer.stderr.readline()
        if "tracing" not in line:
            print("soak: tcptrail did not start: %s" % line.strip())
            return 1
        threading.Thread(target=tracer.stderr.read, daemon=True).start()
        load = subprocess.Popen([churn, "--duration", str(seconds), "--port", str(port), "--quiet"],
                                stdout=subprocess.PIPE, text=True)
        samples = []
        t0 = time.monotonic()
        while load.poll() is None:
            time.sleep(1)
            samples.append((time.monotonic() - t0, rss_kb(tracer.pid), fd_count(tracer.pid)))
        result = dict(kv.split("=") for kv in load.stdout.read().split())
        generated = int(result["conns"])
        time.sleep(0.5)
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)
    finally:
        if tracer.poll() is None:
            tracer.kill()
        out.close()

    if tracer.returncode != 0:
        problems.append("tcptrail exited %s" % tracer.returncode)
    clients = servers = lost = evicted = open_ = 0
    with open(out_path) as f:
        for line in f:
            rec = json.loads(line)
            if rec["type"] == "lost":
                if rec["reason"] == "evicted":
                    evicted += rec["count"]
                else:
                    lost += rec["count"]
            elif rec["type"] == "conn":
                if rec["open"]:
                    open_ += 1
                if rec["role"] == "client" and rec["rport"] == port:
                    clients += 1
                elif rec["role"] == "server" and rec["lport"] == port:
                    servers += 1
    # Every connection is one client and one server record, unless events were
    # lost or evicted, which are then reported.
    exact = lost == 0 and evicted == 0
    one_sided = {}
    if exact and (clients != generated or servers != generated):
        one_sided = one_sided_connections(out_path, port)
    os.unlink(out_path)

    warm = [s for s in samples if s[0] >= min(5.0, seconds / 3)]
    if len(warm) >= 2:
        base_rss, last_rss = warm[0][1], max(s[1] for s in warm)
        if last_rss > base_rss * (1 + RSS_GROWTH_LIMIT) + RSS_SLACK_KB:
            problems.append("RSS grew from %d KiB to %d KiB" % (base_rss, last_rss))
        # A leak raises the floor. A sample can also catch a descriptor that is
        # open for an instant (the once-a-second read of /proc/net/netstat), so
        # compare the fewest open in the first and the last third of the run.
        third = max(1, len(warm) // 3)
        first_floor = min(s[2] for s in warm[:third])
        last_floor = min(s[2] for s in warm[-third:])
        if last_floor > first_floor:
            problems.append("open file descriptors grew from %d to %d (per-second samples: %s)"
                            % (first_floor, last_floor, [s[2] for s in warm]))
    if exact:
        if clients != generated or servers != generated:
            problems.append("%d connections made, %d client and %d server records, nothing reported lost"
                            % (generated, clients, servers))
        for peer, recs in one_sided.items():
            problems.append("the connection from %s:%d has only: %s" % (peer + ("; ".join(
                "%s %s %s closed_by=%s partial=%s" % (r["role"], r["start_time"], ">".join(
                    st["state"] for st in r["states"]), r["closed_by"], r["partial"]) for r in recs) or "nothing",)))
    elif clients > generated or servers > generated:
        problems.append("more records than connections: %d/%d for %d" % (clients, servers, generated))
    print("soak: %.0f s, %d connections (%.0f/s), records %d client + %d server, lost %d, evicted %d, "
          "RSS %s KiB, fds %s" % (seconds, generated, generated / seconds, clients, servers, lost, evicted,
                                  "-".join(str(s[1]) for s in (warm[:1] + warm[-1:])) if warm else "?",
                                  sorted({s[2] for s in warm})))
    for p in problems:
        print("soak: FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
