"""tcptrail's filters: --netns, --port, -4/-6, -p, -c."""

from tthelpers import (ACTIVE_CLOSE_STATES, PASSIVE_CLOSE_STATES, Pair, check_conn, client_fields, run_exchange,
                       server_fields, soft, start_server)

SUBNET = 13


def _conn_keys(res):
    return [(c["netns"], c["family"], c["laddr"], c["lport"], c["raddr"], c["rport"]) for c in res.conns]


def test_netns_filter(rig, tracer):
    """--netns SERVER_NS: only the server socket's record; the client's namespace is filtered out.
    A forked child accepts: its accept() passes the filter too (the accept program
    finds the namespace its own way), so it is the record's owner."""
    port = rig.free_port()
    t = tracer("--netns", rig.inode["srv"])
    pair = run_exchange(rig, port, server=dict(fork_accept=True))
    res = t.stop()
    others = [c for c in res.conns if c["netns"] != rig.inode["srv"]]
    assert others == [], "records from other namespaces with --netns %d: %s" % (rig.inode["srv"], others)
    srv = res.one("server socket", netns=rig.inode["srv"], lport=port)
    assert pair.listening["listener_pid"] != pair.accepted["pid"]
    check_conn(res, srv, "server", **server_fields(rig, pair, port, states=PASSIVE_CLOSE_STATES, closed_by="remote",
                                                   pid=pair.accepted["pid"], comm="ttsrv"))
    assert srv["accept_wait_us"] is not None, srv
    assert len(res.conns) == 1, _conn_keys(res)


def test_port_filter(rig, tracer):
    """Two connections to ports P1 and P2; --port P1 keeps both sockets of P1 only."""
    p1 = rig.free_port()
    p2 = p1 + 1
    t = tracer("--port", p1)
    pair1 = run_exchange(rig, p1)
    pair2 = run_exchange(rig, p2)
    res = t.stop()
    stray = [c for c in res.conns if p1 not in (c["lport"], c["rport"])]
    assert stray == [], "records not involving port %d with --port %d: %s" % (p1, p1, stray)
    with soft() as s:
        s(check_conn, res, res.one("client of P1", netns=rig.inode["cli"], rport=p1), "client P1",
          **client_fields(rig, pair1, p1, states_any=ACTIVE_CLOSE_STATES, closed_by="local"))
        s(check_conn, res, res.one("server of P1", netns=rig.inode["srv"], lport=p1), "server P1",
          **server_fields(rig, pair1, p1, states=PASSIVE_CLOSE_STATES, closed_by="remote"))
    assert res.find(rport=p2) == [] and res.find(lport=p2) == []
    assert pair2.connected["lport"] not in [c["lport"] for c in res.conns]


def test_family_filter(rig, tracer):
    """-6 with one IPv4 and one IPv6 connection: only the IPv6 sockets."""
    port4 = rig.free_port()
    port6 = port4 + 1
    t = tracer("-6")
    run_exchange(rig, port4, family=4)
    pair6 = run_exchange(rig, port6, family=6)
    res = t.stop()
    v4 = [c for c in res.conns if c["family"] != 6]
    assert v4 == [], "non-IPv6 records with -6: %s" % v4
    with soft() as s:
        s(check_conn, res, res.one("v6 client", netns=rig.inode["cli"], rport=port6), "v6 client",
          **client_fields(rig, pair6, port6, family=6, closed_by="local"))
        s(check_conn, res, res.one("v6 server", netns=rig.inode["srv"], lport=port6), "v6 server",
          **server_fields(rig, pair6, port6, family=6, closed_by="remote"))


def test_pid_filter(rig, tracer):
    """-p SERVER_PID: only the socket the server process accepted."""
    port = rig.free_port()
    srv, listening = start_server(rig, port, recv=100, send=200, close="after-eof")
    t = tracer("-p", listening["pid"])
    cli = rig.client(port, send=100, recv=200, close="first")
    connected = cli.expect("connected")
    accepted = srv.expect("accepted")
    cli.expect("closed")
    srv.expect("closed")
    cli.wait()
    srv.wait()
    res = t.stop()
    assert accepted["pid"] == listening["pid"]
    wrong = [c for c in res.conns if c["pid"] != listening["pid"]]
    assert wrong == [], "records of other processes with -p %d: %s" % (listening["pid"], wrong)
    pair = Pair(srv, cli)
    pair.connected = connected
    check_conn(res, res.one("server", netns=rig.inode["srv"], lport=port), "server",
               **server_fields(rig, pair, port, pid=listening["pid"], comm="ttsrv", closed_by="remote"))
    assert res.find(netns=rig.inode["cli"]) == []


def test_comm_filter(rig, tracer):
    """-c ttcli: only the client's socket."""
    port = rig.free_port()
    t = tracer("-c", "ttcli")
    pair = run_exchange(rig, port)
    res = t.stop()
    wrong = [c for c in res.conns if c["comm"] != "ttcli"]
    assert wrong == [], "records of other commands with -c ttcli: %s" % wrong
    check_conn(res, res.one("client", netns=rig.inode["cli"], rport=port), "client",
               **client_fields(rig, pair, port, pid=pair.connected["pid"], comm="ttcli", closed_by="local"))
    assert res.find(netns=rig.inode["srv"]) == []
