"""Listen-queue overflows, SYN drops and SYN cookies: tcptrail samples the
kernel's own TcpExt counters of each traced network namespace (no tracepoint
exists for them) and reports their change over the trace.

A listener with backlog 1 that never accepts is flooded with connections from
the client namespace. The tracer's figures must equal, exactly, what the
kernel's /proc/net/netstat of each namespace says changed over the same
interval; other namespaces' counters must not leak in; the warnings appear
live; `replay` of the capture gives the same summary.
"""

import json
import subprocess
import time

from test_mechanisms import Agent, tcpext, wait_for
from tthelpers import Rig, Tracer, tcptrail_bin

SUBNET = 18
COUNTERS = {"ListenOverflows": "listen_overflows", "ListenDrops": "listen_drops",
            "SyncookiesSent": "syncookies_sent", "SyncookiesRecv": "syncookies_recv",
            "SyncookiesFailed": "syncookies_failed"}


def counters(rig, side):
    """The five counters of a namespace, under tcptrail's names."""
    ext = tcpext(rig, side)
    return {ours: ext[kernel] for kernel, ours in COUNTERS.items()}


def delta(after, before):
    return {k: after[k] - before[k] for k in after}


def flood(rig, port, clients):
    """A backlog-1 listener that never accepts, and `clients` non-blocking connects to it."""
    srv = Agent(rig, "srv", "listener", "ttsflsn")
    srv.call("socket", name="l")
    srv.call("bind", name="l", addr=rig.addr("srv"), port=port)
    srv.call("listen", name="l", backlog=1)
    cli = Agent(rig, "cli", "flooder", "ttsfcli")
    for i in range(clients):
        cli.call("socket", name="c%d" % i)
        got = cli.call("connect", name="c%d" % i, addr=rig.addr("srv"), port=port, nonblock=True)
        assert got["error"] == "EINPROGRESS", got
    return srv, cli


def quiesce(rig, srv):
    """Closes the listener: its queued requests go, later segments get RSTs, and
    no listener counter moves any more. Returns the rig's counters once two
    reads 0.3 s apart agree."""
    srv.call("close", name="l")

    def stable():
        first = {side: counters(rig, side) for side in ("cli", "srv")}
        time.sleep(0.3)
        return first if first == {side: counters(rig, side) for side in ("cli", "srv")} else None
    return wait_for("the counters to settle", stable, timeout=10)


def live_warning(tracer, netns):
    """The first live listen_queue warning about `netns` printed so far, or None."""
    for line in list(tracer.out.lines):
        if '"listen_queue"' in line:
            rec = json.loads(line)
            if rec["netns"] == netns:
                return rec
    return None


def replay(path, *args):
    p = subprocess.run([tcptrail_bin(), "replay", str(path)] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_accept_queue_overflow_per_namespace(rig, tracer, tmp_path):
    """Two flooded listeners in two rigs (20 and 8 clients, default tcp_syncookies=1).
    Each namespace's figures equal its kernel's, the client namespaces' are zero,
    --netns sees one namespace only, and replay agrees."""
    other = Rig(SUBNET + 1).up()
    table = None
    try:
        cap = tmp_path / "flood.tt"
        everything = tracer("--summary", "--record", cap)
        only_srv = tracer("--summary", "--netns", rig.inode["srv"])
        table = Tracer(["--summary"], json=False).start()
        rigs = {"a": rig, "b": other}
        before = {(r, side): counters(rigs[r], side) for r in rigs for side in ("cli", "srv")}
        srv_a, _ = flood(rig, rig.free_port(), 20)
        srv_b, _ = flood(other, other.free_port(), 8)
        # Sampled every second: a warning shows up live while the flood goes on.
        warned = wait_for("a live listen_queue warning", lambda: live_warning(everything, rig.inode["srv"]),
                          timeout=5)
        after_a, after_b = quiesce(rig, srv_a), quiesce(other, srv_b)
        after = {("a", s): after_a[s] for s in after_a}
        after.update({("b", s): after_b[s] for s in after_b})
        res, res_srv, res_table = everything.stop(settle=1.5), only_srv.stop(), table.stop()
        # The final samples are taken at exit: nothing may have moved since `after`.
        assert {k: counters(rigs[k[0]], k[1]) for k in after} == after
    finally:
        if table:
            table.kill()
        other.down()

    assert res.returncode == 0 and res_srv.returncode == 0, res.dump()
    assert warned["listen_overflows"] > 0 and warned["interval_us"] > 0, warned
    lq = res.summary["listen_queue"]
    by_netns = lq["by_netns"]
    expected = {}
    for (r, side), after_c in after.items():
        ino = str(rigs[r].inode[side])
        expected[ino] = delta(after_c, before[(r, side)])
        assert by_netns.get(ino) == expected[ino], "%s %s: tcptrail %s, kernel %s" % (r, side, by_netns.get(ino),
                                                                                     expected[ino])
    # 20 connects, 2 fit in the accept queue (backlog + 1): every other SYN overflowed at least once.
    assert expected[str(rig.inode["srv"])]["listen_overflows"] >= 18, expected
    assert expected[str(other.inode["srv"])]["listen_overflows"] >= 6, expected
    for r in rigs.values():
        assert set(expected[str(r.inode["cli"])].values()) == {0}, expected  # no listener there
    assert lq["total"] == {k: sum(c[k] for c in by_netns.values()) for k in COUNTERS.values()}, lq
    # Live warnings add up to the summary: every movement is reported once, when sampled.
    for ino, want in expected.items():
        live = {k: sum(w[k] for w in res.listen_queue if w["netns"] == int(ino)) for k in COUNTERS.values()}
        assert live == want, (ino, live, want)

    # --netns: that namespace only, same figures.
    assert res_srv.summary["listen_queue"]["by_netns"] == {str(rig.inode["srv"]): expected[str(rig.inode["srv"])]}
    assert res_srv.summary["listen_queue"]["namespaces"] == 1
    assert {w["netns"] for w in res_srv.listen_queue} == {rig.inode["srv"]}

    # Table: the live WARNING line and the summary's.
    a = expected[str(rig.inode["srv"])]
    text = "\n".join(res_table.lines)
    live_lines = [l for l in res_table.lines if l.startswith("WARNING: listen queue overflowed ") and " in netns %d: "
                  % rig.inode["srv"] in l and "(in the " in l]
    assert live_lines, text
    assert ("WARNING: listen queue overflowed %d times in netns %d: the accept queue of a listener was full"
            % (a["listen_overflows"], rig.inode["srv"])) in text, text

    # Replay: the same summary section, from the capture alone.
    replayed = [json.loads(l) for l in replay(cap, "--summary", "--json").splitlines()]
    assert replayed[-1]["type"] == "summary" and replayed[-1]["listen_queue"] == lq, (replayed[-1], lq)
    filtered = json.loads(replay(cap, "--summary", "--json", "--netns", rig.inode["srv"]).splitlines()[-1])
    assert filtered["listen_queue"] == res_srv.summary["listen_queue"]


def test_syn_cookies_always(rig, tracer, tmp_path):
    """tcp_syncookies=2: every SYN the listener answers gets a cookie, and every
    cookie that comes back in an ACK is checked. Counted exactly."""
    rig.sysctl("srv", "net.ipv4.tcp_syncookies", 2)
    cap = tmp_path / "cookies.tt"
    t = tracer("--summary", "--netns", rig.inode["srv"], "--record", cap)
    before = counters(rig, "srv")
    srv, _ = flood(rig, rig.free_port(), 20)
    wait_for("SYN cookies", lambda: live_warning(t, rig.inode["srv"]), timeout=5)
    after = quiesce(rig, srv)["srv"]
    res = t.stop(settle=1.5)
    assert counters(rig, "srv") == after
    want = delta(after, before)
    assert want["syncookies_sent"] >= 2 and want["syncookies_recv"] >= 2 and want["listen_overflows"] >= 18, want
    assert res.summary["listen_queue"]["by_netns"] == {str(rig.inode["srv"]): want}, (res.summary["listen_queue"], want)
    text = replay(cap, "--summary")
    assert ("SYN cookies sent %d (SYN queue full, or tcp_syncookies=2), received %d, failed %d"
            % (want["syncookies_sent"], want["syncookies_recv"], want["syncookies_failed"])) in text, text
