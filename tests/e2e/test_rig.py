"""Self-tests of the e2e rig, without tcptrail.

They establish the ground truth the tracer tests rely on: traffic flows over
IPv4 and IPv6 at once (no DAD / neighbour discovery delay), each nftables
fault drops exactly one packet and causes exactly one retransmission (per the
namespace's own /proc/net/snmp), and teardown leaves nothing behind.
"""

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from tthelpers import PYTHON, Rig, run, run_exchange, snmp_tcp, start_server

SUBNET = 10
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("family", [4, 6])
def test_exchange_is_fast(rig, family):
    port = rig.free_port()
    t0 = time.monotonic()
    pair = run_exchange(rig, port, family, server=dict(recv=1000, send=2000), client=dict(send=1000, recv=2000))
    elapsed = time.monotonic() - t0
    assert pair.connected["event"] == "connected"
    assert pair.connected["connect_s"] < 0.1, pair.connected
    assert pair.connected["laddr"] == rig.addr("cli", family)
    assert pair.accepted["raddr"] == rig.addr("cli", family)
    assert pair.accepted["rport"] == pair.connected["lport"]
    assert pair.accepted["lport"] == port
    assert pair.cli_closed["sent"] == 1000 and pair.cli_closed["recvd"] == 2000, pair.cli_closed
    assert pair.srv_closed["sent"] == 2000 and pair.srv_closed["recvd"] == 1000, pair.srv_closed
    assert pair.srv_closed["error"] is None
    assert pair.connected["comm"] == "ttcli" and pair.accepted["comm"] == "ttsrv"
    assert elapsed < 2.0
    assert snmp_tcp(rig, "cli")["RetransSegs"] == 0
    assert snmp_tcp(rig, "srv")["RetransSegs"] == 0


@pytest.mark.parametrize("family", [4, 6])
def test_first_syn_dropped_exactly_once(rig, family):
    port = rig.free_port()
    rig.nft_drop_once("srv", "syn", "tcp dport %d tcp flags & (syn|ack) == syn" % port)
    pair = run_exchange(rig, port, family)
    assert pair.connected["event"] == "connected"
    assert 0.9 <= pair.connected["connect_s"] < 1.5, pair.connected
    assert rig.nft_counter("srv", "syn_drop") == 1
    assert rig.nft_counter("srv", "syn_pass") == 1
    assert snmp_tcp(rig, "cli")["RetransSegs"] == 1


def test_first_data_segment_dropped_exactly_once(rig):
    port = rig.free_port()
    data = "tcp dport %d meta length > 200" % port
    rig.nft_count("srv", "data_all", data)
    rig.nft_drop_once("srv", "data", data)
    pair = run_exchange(rig, port, server=dict(recv=1000, send=2000), client=dict(send=1000, recv=2000))
    assert pair.cli_closed["recvd"] == 2000 and pair.srv_closed["recvd"] == 1000
    assert rig.nft_counter("srv", "data_drop") == 1
    assert rig.nft_counter("srv", "data_pass") == 1
    assert rig.nft_counter("srv", "data_all") == 2  # the original and the one retransmission
    assert snmp_tcp(rig, "cli")["RetransSegs"] == 1
    assert snmp_tcp(rig, "srv")["RetransSegs"] == 0


def test_first_handshake_ack_dropped_exactly_once(rig):
    """Dropping the client's handshake ACK makes the server retransmit its SYN-ACK once."""
    port = rig.free_port()
    rig.nft_drop_once("srv", "ack", "tcp dport %d tcp flags & (syn|ack|fin|rst|psh) == ack" % port)
    t0 = time.monotonic()
    srv, _ = start_server(rig, port, recv=100, send=200, close="after-eof")
    cli = rig.client(port, send=100, recv=200, close="first", send_delay=1.5)
    assert cli.expect("connected")["connect_s"] < 0.1
    srv.expect("accepted")
    accepted_after = time.monotonic() - t0
    cli.expect("closed")
    srv.expect("closed")
    cli.wait()
    srv.wait()
    assert 0.9 <= accepted_after < 1.5
    assert rig.nft_counter("srv", "ack_drop") == 1
    assert snmp_tcp(rig, "srv")["RetransSegs"] == 1
    assert snmp_tcp(rig, "cli")["RetransSegs"] == 0


def test_first_fin_dropped_exactly_once(rig):
    port = rig.free_port()
    rig.nft_drop_once("srv", "fin", "tcp dport %d tcp flags & fin == fin" % port)
    pair = run_exchange(rig, port)
    assert pair.srv_closed["error"] is None
    assert rig.nft_counter("srv", "fin_drop") == 1
    assert rig.nft_counter("srv", "fin_pass") == 1
    assert snmp_tcp(rig, "cli")["RetransSegs"] == 1
    assert snmp_tcp(rig, "srv")["RetransSegs"] == 0


def test_linger_reset_sends_exactly_one_rst(rig):
    port = rig.free_port()
    rig.nft_count("srv", "rst", "tcp dport %d tcp flags & rst == rst" % port)
    rig.nft_count("cli", "rst", "tcp sport %d tcp flags & rst == rst" % port)
    pair = run_exchange(rig, port, client=dict(close="linger-reset"))
    assert pair.srv_closed["error"] == "ECONNRESET", pair.srv_closed
    assert rig.nft_counter("srv", "rst") == 1
    assert rig.nft_counter("cli", "rst") == 0


@pytest.mark.parametrize("family", [4, 6])
def test_refused(rig, family):
    port = rig.free_port()
    cli = rig.client(port, family, send=10)
    msg = cli.expect("connected", "connect_error")
    cli.wait()
    assert msg["event"] == "connect_error" and msg["error"] == "ECONNREFUSED", msg
    assert msg["connect_s"] < 0.1
    # After the failed connect the socket still reports the port it used
    # (but not the address: getsockname() gives the wildcard address).
    assert msg["lport"] > 0, msg


def test_syn_timeout(rig):
    port = rig.free_port()
    rig.sysctl("cli", "net.ipv4.tcp_syn_retries", 1)
    rig.nft_drop("srv", "syn", "tcp dport %d tcp flags & (syn|ack) == syn" % port)
    srv, _ = start_server(rig, port)
    cli = rig.client(port)
    msg = cli.expect("connected", "connect_error", timeout=10)
    cli.wait()
    assert msg["event"] == "connect_error" and msg["error"] == "ETIMEDOUT", msg
    assert 2.5 <= msg["connect_s"] < 4.5, msg
    # 6.18: tcp_syn_retries=1 with linear SYN timeouts (tcp_syn_linear_timeouts)
    # gives SYNs at 0, 1 and 2 s and ETIMEDOUT at 3 s: two retransmissions.
    assert rig.nft_counter("srv", "syn") == 3
    assert snmp_tcp(rig, "cli")["RetransSegs"] == 2
    assert msg["lport"] > 0


def test_teardown_is_clean():
    r = Rig(SUBNET)
    r.up()
    names = dict(r.ns)
    assert set(names.values()) <= set(x.split()[0] for x in run(["ip", "netns", "list"]).stdout.splitlines())
    port = r.free_port()
    # a forked server child and a held connection: both must be gone afterwards
    srv, _ = start_server(r, port, fork_accept=True, close="hold")
    cli = r.client(port, close="hold")
    cli.expect("connected")
    srv.expect("accepted")
    pids = [int(p) for side in ("cli", "srv") for p in run(["ip", "netns", "pids", names[side]]).stdout.split()]
    assert len(pids) == 3  # client, server parent, server child
    r.nft_count("srv", "x", "tcp dport %d" % port)
    r.down()
    listed = run(["ip", "netns", "list"]).stdout
    for ns in names.values():
        assert ns not in listed
        assert not os.path.exists("/run/netns/" + ns)
    time.sleep(0.1)
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            assert state in ("Z", "X"), "pid %d still alive (state %s)" % (pid, state)
        except FileNotFoundError:
            pass


@pytest.mark.parametrize("ci,expect_rc,expect_word", [(None, 0, "skipped"), ("1", 1, "error")])
def test_root_policy(ci, expect_rc, expect_word):
    """Not root: skipped without CI, failing with CI (runs a copy of conftest.py as nobody)."""
    d = tempfile.mkdtemp(prefix="tt-e2e-policy-")
    try:
        os.chmod(d, 0o755)
        for f in ("conftest.py", "tthelpers.py"):
            shutil.copy(os.path.join(HERE, f), d)
        with open(os.path.join(d, "test_probe.py"), "w") as f:
            f.write("def test_probe(rig):\n    assert rig.inode['cli'] != rig.inode['srv']\n")
        for f in os.listdir(d):
            os.chmod(os.path.join(d, f), 0o644)
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        if ci:
            env["CI"] = ci
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            PYTHON, "-B", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_probe.py"],
                           cwd=d, env=env, capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert p.returncode == expect_rc, p.stdout + p.stderr
    assert expect_word in p.stdout.splitlines()[-1], p.stdout
