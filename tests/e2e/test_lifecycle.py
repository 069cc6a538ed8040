"""Connection lifecycle records of tcptrail on clean (fault-free) connections.

Each test starts tcptrail, runs traffic between two fresh namespaces, stops
tcptrail with SIGINT and checks the two conn records (client socket, server
socket) field by field. All mismatches of a test are reported together.
"""

import os
import re
import subprocess
import time

import pytest

from tthelpers import (ACTIVE_CLOSE_STATES, CLIENT_PASSIVE_CLOSE_STATES, PASSIVE_CLOSE_STATES,
                       SERVER_ACTIVE_CLOSE_STATES, Checker, Pair, cgroup_id_of, check_conn, client_fields,
                       client_record, no_counters, run_exchange, server_fields, server_record, soft, start_server)

SUBNET = 11


def test_client_closes_first(rig, tracer):
    port = rig.free_port()
    t = tracer()
    pair = run_exchange(rig, port)
    res = t.stop()
    assert res.events == [], "event records without --events: %s" % res.events[:5]
    cli = client_record(res, rig, port)
    srv = server_record(res, rig, port)
    with soft() as s:
        s(check_conn, res, cli, "client (closed first)",
          **client_fields(rig, pair, port, states_any=ACTIVE_CLOSE_STATES, closed_by="local",
                          error=None, time_wait=True, **no_counters()))
        s(check_conn, res, srv, "server (closed second)",
          **server_fields(rig, pair, port, states=PASSIVE_CLOSE_STATES, closed_by="remote",
                          error=None, time_wait=False, **no_counters()))
    assert cli["id"] != srv["id"]


def test_server_closes_first(rig, tracer):
    port = rig.free_port()
    t = tracer()
    pair = run_exchange(rig, port, server=dict(close="first"), client=dict(close="after-eof"))
    res = t.stop()
    with soft() as s:
        s(check_conn, res, client_record(res, rig, port), "client (closed second)",
          **client_fields(rig, pair, port, states=CLIENT_PASSIVE_CLOSE_STATES, closed_by="remote",
                          error=None, time_wait=False, **no_counters()))
        s(check_conn, res, server_record(res, rig, port), "server (closed first)",
          **server_fields(rig, pair, port, states_any=SERVER_ACTIVE_CLOSE_STATES, closed_by="local",
                          error=None, time_wait=True, **no_counters()))


def test_handshake_latency_without_faults(rig, tracer):
    port = rig.free_port()
    t = tracer()
    pair = run_exchange(rig, port)
    res = t.stop()
    cli = client_record(res, rig, port)
    srv = server_record(res, rig, port)
    with soft() as s:
        s(check_conn, res, cli, "client",
          **client_fields(rig, pair, port, syn_retrans=0, synack_retrans=0,
                          between=dict(handshake_us=(1, 100000), srtt_us=(1, 100000), accept_wait_us=None)))
        # The server was already blocked in accept() when the connection arrived.
        s(check_conn, res, srv, "server",
          **server_fields(rig, pair, port, syn_retrans=0, synack_retrans=0,
                          between=dict(handshake_us=(0, 100000), srtt_us=(1, 100000), accept_wait_us=(0, 100000))))
        # The client's handshake is SYN_SENT -> ESTABLISHED, the same interval as in states.
        c = Checker(cli, "client", res.lost_note())
        st = cli["states"]
        if len(st) >= 2 and st[1].get("state") == "ESTABLISHED" and isinstance(cli["handshake_us"], int):
            c.check(abs(cli["handshake_us"] - (st[1]["t_us"] - st[0]["t_us"])) <= 2,
                    "handshake_us %r != ESTABLISHED.t_us - SYN_SENT.t_us = %r"
                    % (cli["handshake_us"], st[1]["t_us"] - st[0]["t_us"]))
        else:
            c.check(False, "client states do not start SYN_SENT, ESTABLISHED: %r" % st)
        s(c.done)


def test_bytes_exact(rig, tracer):
    port = rig.free_port()
    t = tracer()
    pair = run_exchange(rig, port, server=dict(recv=1000, send=2000), client=dict(send=1000, recv=2000))
    res = t.stop()
    assert pair.cli_closed["sent"] == 1000 and pair.cli_closed["recvd"] == 2000
    with soft() as s:
        s(check_conn, res, client_record(res, rig, port), "client",
          **client_fields(rig, pair, port, bytes_sent=1000, bytes_received=2000))
        s(check_conn, res, server_record(res, rig, port), "server",
          **server_fields(rig, pair, port, bytes_sent=2000, bytes_received=1000))


def test_pid_and_comm(rig, tracer):
    port = rig.free_port()
    t = tracer()
    pair = run_exchange(rig, port)
    res = t.stop()
    assert pair.connected["comm"] == "ttcli" and pair.accepted["comm"] == "ttsrv"
    cg = cgroup_id_of(os.getpid())  # the traffic processes run in the test's own cgroup
    extra = {} if cg is None else dict(cgroup_id=cg)
    with soft() as s:
        s(check_conn, res, client_record(res, rig, port), "client",
          **client_fields(rig, pair, port, pid=pair.connected["pid"], comm="ttcli", **extra))
        s(check_conn, res, server_record(res, rig, port), "server",
          **server_fields(rig, pair, port, pid=pair.accepted["pid"], comm="ttsrv", **extra))


def test_server_pid_is_the_accept_caller(rig, tracer):
    """The listener belongs to the parent (comm ttlsn); a forked child (ttsrv) accepts."""
    port = rig.free_port()
    t = tracer()
    pair = run_exchange(rig, port, server=dict(fork_accept=True))
    res = t.stop()
    assert pair.listening["listener_pid"] != pair.accepted["pid"]
    with soft() as s:
        s(check_conn, res, server_record(res, rig, port), "server",
          **server_fields(rig, pair, port, pid=pair.accepted["pid"], comm="ttsrv"))
        s(check_conn, res, client_record(res, rig, port), "client",
          **client_fields(rig, pair, port, pid=pair.connected["pid"], comm="ttcli"))


def test_accept_delay(rig, tracer):
    """The server sleeps 300 ms between the connection being established and accept()."""
    port = rig.free_port()
    t = tracer()
    pair = run_exchange(rig, port, server=dict(accept_delay=0.3))
    res = t.stop()
    with soft() as s:
        s(check_conn, res, server_record(res, rig, port), "server",
          **server_fields(rig, pair, port, states=PASSIVE_CLOSE_STATES, closed_by="remote",
                          pid=pair.accepted["pid"], comm="ttsrv", between=dict(accept_wait_us=(280000, 2000000))))
        s(check_conn, res, client_record(res, rig, port), "client",
          **client_fields(rig, pair, port, states_any=ACTIVE_CLOSE_STATES, closed_by="local",
                          between=dict(accept_wait_us=None, handshake_us=(1, 100000))))


def test_ipv6(rig, tracer):
    port = rig.free_port()
    t = tracer()
    pair = run_exchange(rig, port, family=6, server=dict(recv=1000, send=2000), client=dict(send=1000, recv=2000))
    res = t.stop()
    assert pair.connected["laddr"] == rig.addr("cli", 6)
    with soft() as s:
        s(check_conn, res, client_record(res, rig, port, family=6), "client v6",
          **client_fields(rig, pair, port, family=6, states_any=ACTIVE_CLOSE_STATES, closed_by="local",
                          error=None, time_wait=True, pid=pair.connected["pid"], comm="ttcli",
                          bytes_sent=1000, bytes_received=2000, **no_counters(),
                          between=dict(handshake_us=(1, 100000))))
        s(check_conn, res, server_record(res, rig, port, family=6), "server v6",
          **server_fields(rig, pair, port, family=6, states=PASSIVE_CLOSE_STATES, closed_by="remote",
                          error=None, time_wait=False, pid=pair.accepted["pid"], comm="ttsrv",
                          bytes_sent=2000, bytes_received=1000, **no_counters()))


def test_open_connections_reported_at_exit(rig, tracer):
    """Still open at exit: open=true records with the connection so far."""
    port = rig.free_port()
    t = tracer()
    srv, listening = start_server(rig, port, recv=100, send=200, close="hold")
    cli = rig.client(port, send=100, recv=200, close="hold")
    pair = Pair(srv, cli)
    pair.connected = cli.expect("connected")
    pair.accepted = srv.expect("accepted")
    cli.expect("holding")
    srv.expect("holding")
    res = t.stop()  # the connection stays open for the whole 0.5 s settle time
    # Open records report the payload bytes so far and the age at exit.
    with soft() as s:
        s(check_conn, res, client_record(res, rig, port), "open client",
          **client_fields(rig, pair, port, is_open=True, states=["SYN_SENT", "ESTABLISHED"],
                          pid=pair.connected["pid"], comm="ttcli", time_wait=False, bytes_sent=100,
                          bytes_received=200, **no_counters(), between=dict(duration_us=(450000, 10000000))))
        s(check_conn, res, server_record(res, rig, port), "open server",
          **server_fields(rig, pair, port, is_open=True, states=["SYN_RECV", "ESTABLISHED"],
                          pid=pair.accepted["pid"], comm="ttsrv", time_wait=False, bytes_sent=200,
                          bytes_received=100, **no_counters(), between=dict(duration_us=(450000, 10000000))))


@pytest.mark.parametrize("family", [4, 6])
def test_connection_older_than_the_tracer_is_partial(rig, tracer, family):
    """Established before tcptrail started, closed while it runs: partial records.
    Both families: the start-up snapshot reads both from one sock_diag dump."""
    port = rig.free_port()
    srv, listening = start_server(rig, port, family, recv=100, send=200, close="after-eof")
    cli = rig.client(port, family, send=100, recv=200, close="first", wait=True)
    pair = Pair(srv, cli)
    pair.connected = cli.expect("connected")
    srv.expect("accepted")
    cli.expect("waiting")
    t = tracer()
    cli.send_line("go")
    cli.expect("closed")
    srv.expect("closed")
    cli.wait()
    srv.wait()
    res = t.stop()
    # The tracer never saw the handshake: the role may be "unknown", but if it
    # is given it must be the right one. The states are the ones seen,
    # optionally led by the state the socket was in when first seen
    # (ESTABLISHED). Byte counters come from the socket itself, so they are
    # exact even for a partial record.
    cli_states = [st[2:] for st in ACTIVE_CLOSE_STATES]
    srv_states = PASSIVE_CLOSE_STATES[2:]
    with soft() as s:
        s(check_conn, res, client_record(res, rig, port, family), "partial client",
          **client_fields(rig, pair, port, family, partial=True, role=("client", "unknown"), closed_by="local", time_wait=True,
                          states_any=cli_states + [["ESTABLISHED"] + st for st in cli_states],
                          bytes_sent=100, bytes_received=200))
        s(check_conn, res, server_record(res, rig, port, family), "partial server",
          **server_fields(rig, pair, port, family, partial=True, role=("server", "unknown"), closed_by="remote", time_wait=False,
                          states_any=[srv_states, ["ESTABLISHED"] + srv_states],
                          bytes_sent=200, bytes_received=100))


HOLD_ONE_CONNECTION = """
import socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 8080)); srv.listen()
cli = socket.create_connection(("127.0.0.1", 8080)); acc, _ = srv.accept()
print(cli.getsockname()[1], flush=True)
sys.stdin.read()
"""


def test_connections_older_than_the_tracer_in_many_namespaces(tracer):
    """Twelve namespaces, each holding one open connection with the very same
    addresses and ports: the start-up snapshot reads them (several namespaces
    at once) and each record carries its own namespace; none are merged."""
    names = ["tt-e2e-many-%d-%d" % (os.getpid(), i) for i in range(12)]
    holders = []
    try:
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
            holders.append(subprocess.Popen(["ip", "netns", "exec", name, "/usr/bin/python3", "-c",
                                             HOLD_ONE_CONNECTION],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        client_ports = {os.stat("/run/netns/" + name).st_ino: int(h.stdout.readline())
                        for name, h in zip(names, holders)}
        t = tracer("--port", 8080)
        res = t.stop(settle=0.2)
    finally:
        for h in holders:
            h.stdin.close()
            h.wait(10)
        for name in names:
            subprocess.run(["ip", "netns", "del", name], check=False)
    assert res.returncode == 0, res.dump()
    for ino in client_ports:
        assert str(ino) not in res.stderr, res.stderr  # each namespace was read
    for ino, cport in client_ports.items():
        mine = sorted(([c["lport"], c["rport"], c["open"], c["partial"], c["states"][0]["state"]]
                       for c in res.conns if c["netns"] == ino))
        assert mine == sorted([[cport, 8080, True, True, "ESTABLISHED"], [8080, cport, True, True, "ESTABLISHED"]]), \
            (ino, res.dump())
    assert len(res.conns) == 2 * len(names), res.dump()


ONE_CONNECTION = """
import socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 8080)); srv.listen()
cli = socket.create_connection(("127.0.0.1", 8080), source_address=("127.0.0.1", int(sys.argv[1])))
acc, _ = srv.accept()
cli.close(); acc.close(); srv.close()
"""


def test_namespaces_made_and_deleted_while_tracing(tracer):
    """Namespaces made one after another, each deleted before the next is made,
    so the kernel reuses their memory and inode numbers: every connection is
    reported in the namespace it ran in, and none are lost or merged. (The BPF
    side keeps namespace inode numbers in a per-CPU cache.)"""
    t = tracer("--port", 8080)
    rounds = []  # (namespace inode, client port)
    for i in range(8):
        name = "tt-e2e-seq-%d-%d" % (os.getpid(), i)
        try:
            subprocess.run(["ip", "netns", "add", name], check=True)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
            ino = os.stat("/run/netns/" + name).st_ino
            cport = 40000 + i  # one client port per round
            subprocess.run(["ip", "netns", "exec", name, "/usr/bin/python3", "-c", ONE_CONNECTION, str(cport)],
                           check=True, timeout=10)
            rounds.append((ino, cport))
        finally:
            subprocess.run(["ip", "netns", "del", name], check=False)
        time.sleep(0.2)  # let the namespace be freed before the next is made
    res = t.stop()
    assert res.returncode == 0, res.dump()
    assert len(res.conns) == 16, res.dump()
    # The closing tally counts the kernel's events (the kernel filter leaves only
    # these connections'): every state of the 16 records, each listener's LISTEN
    # and CLOSE, and each accept(); a client's TIME_WAIT is its own event or is
    # known from the CLOSE that follows it, depending on the kernel.
    tally = re.fullmatch(r"tcptrail: (\d+) events, 16 connection records, 0 events lost",
                         res.stderr.strip().splitlines()[-1])
    traced = sum(len(c["states"]) for c in res.conns) + 8 * 2 + 8
    time_waits = sum(1 for c in res.conns if "TIME_WAIT" in [s["state"] for s in c["states"]])
    assert tally and traced - time_waits <= int(tally.group(1)) <= traced, (traced, time_waits, res.stderr)
    for ino, cport in rounds:
        mine = sorted([c["netns"], c["lport"], c["rport"], c["role"], c["open"]] for c in res.conns
                      if cport in (c["lport"], c["rport"]))
        assert mine == sorted([[ino, cport, 8080, "client", False], [ino, 8080, cport, "server", False]]), \
            (ino, cport, res.dump())


def cgroup2_root():
    with open("/proc/self/mounts") as f:
        mounts = [l.split()[1] for l in f if l.split()[2] == "cgroup2"]
    assert mounts, "no cgroup2 file system mounted on this host"
    return mounts[0]


def test_cgroups_made_and_deleted_while_tracing(tracer):
    """Cgroups made one after another, each deleted before the next is made
    (the kernel may put a new cgroup where a freed one was): each connection is
    reported with the cgroup its process ran in. (The BPF side keeps cgroup ids
    in a per-CPU cache keyed by the cgroup's serial number.)"""
    root = cgroup2_root()
    netns = "tt-e2e-cg-%d" % os.getpid()
    join_and_connect = "import os, sys\nopen(sys.argv[2] + '/cgroup.procs', 'w').write(str(os.getpid()))\n" + \
        ONE_CONNECTION
    rounds = []  # (cgroup id, client port)
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        t = tracer("--port", 8080)
        for i in range(6):
            path = os.path.join(root, "tt-e2e-cg-%d-%d" % (os.getpid(), i))
            os.mkdir(path)
            try:
                cport = 40100 + i
                # nsenter, not `ip netns exec`: that mounts a sysfs of the namespace's own, without the cgroups.
                subprocess.run(["nsenter", "--net=/run/netns/" + netns, "/usr/bin/python3", "-c", join_and_connect,
                                str(cport), path], check=True, timeout=10)
                rounds.append((os.stat(path).st_ino, cport))
            finally:
                for _ in range(50):  # the cgroup is free to go a moment after its process exits
                    try:
                        os.rmdir(path)
                        break
                    except OSError:
                        time.sleep(0.05)
            time.sleep(0.2)
        res = t.stop()
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
    assert res.returncode == 0, res.dump()
    assert len(res.conns) == 12, res.dump()
    assert len({cg for cg, _ in rounds}) == len(rounds), rounds
    for cg, cport in rounds:
        mine = sorted([c["cgroup_id"], c["lport"], c["rport"], c["role"]] for c in res.conns
                      if cport in (c["lport"], c["rport"]))
        assert mine == sorted([[cg, cport, 8080, "client"], [cg, 8080, cport, "server"]]), (cg, cport, res.dump())


def test_exit_status_and_duration(rig, tracer):
    """--duration ends the run by itself with status 0; SIGINT also exits 0."""
    port = rig.free_port()
    t0 = time.monotonic()
    t = tracer("--duration", 2)
    pair = run_exchange(rig, port)
    res = t.wait(timeout=8)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.dump()
    assert 1.9 <= elapsed < 6, "tcptrail --duration 2 ran for %.2fs" % elapsed
    check_conn(res, client_record(res, rig, port), "client", **client_fields(rig, pair, port, closed_by="local"))
    t2 = tracer()
    res2 = t2.stop(settle=0.2)
    assert res2.returncode == 0, res2.dump()
