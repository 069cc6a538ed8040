"""--perfetto FILE: connection timelines as Chrome trace-event JSON.

A live run (`--json --perfetto FILE --record CAP`) over real traffic with
faults (a dropped data segment, a dropped SYN, an abortive close, a refused
connection) writes the file; it is loaded back with json.load and every
connection record of the JSON output is found in it: its track under its
owner's process, one slice per state at the record's times, one marker per
retransmit and reset. `replay` and `report` of the capture write the same file
byte for byte. Also: an unwritable path and a full disk.
"""

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections import Counter, defaultdict

import pytest

from tthelpers import nearly_full_tmpfs, run_exchange, tcptrail_bin

SUBNET = 21
UNKNOWN_OWNER_PID = 0
MARKERS = {"SYN retransmit": "syn_retrans", "SYN-ACK retransmit": "synack_retrans", "retransmit": "retrans",
           "FIN retransmit": "fin_retrans", "RST sent": "resets_sent", "RST received": "resets_received"}


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="tcptrail-perfetto-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Trace:
    """A loaded trace file, indexed by (pid, tid)."""

    def __init__(self, path):
        with open(path) as f:
            self.doc = json.load(f)
        self.events = self.doc["traceEvents"]
        self.process_names = {}
        self.thread_names = {}
        self.conn_slices = defaultdict(list)
        self.state_slices = defaultdict(list)
        self.markers = defaultdict(list)
        for e in self.events:
            key = (e["pid"], e.get("tid"))
            if e["ph"] == "M" and e["name"] == "process_name":
                assert e["pid"] not in self.process_names, "process %d named twice" % e["pid"]
                self.process_names[e["pid"]] = e["args"]["name"]
            elif e["ph"] == "M" and e["name"] == "thread_name":
                assert key not in self.thread_names, "track %s named twice" % (key,)
                self.thread_names[key] = e["args"]["name"]
            elif e["ph"] == "X" and e["cat"] == "tcp.conn":
                self.conn_slices[key].append(e)
            elif e["ph"] == "X" and e["cat"] == "tcp.state":
                self.state_slices[key].append(e)
            elif e["ph"] == "i":
                assert e["s"] == "t" and e["cat"] == "tcp.event", e
                self.markers[key].append(e)


def endpoint(family, addr, port):
    return ("[%s]:%d" if family == 6 else "%s:%d") % (addr, port)


def wall_clock(ts_us, offset_ns):
    ns = round(ts_us * 1000) + offset_ns
    return dt.datetime.fromtimestamp(ns // 1000 // 1_000_000, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (ns // 1000 % 1_000_000)


def check_conn_in_trace(tr, c):
    """The record `c` (a --json conn line) as it must appear in the trace."""
    pid = c["pid"] if c["pid"] is not None else UNKNOWN_OWNER_PID
    key = (pid, c["id"])
    what = "conn %d (%s)" % (c["id"], c)
    assert pid in tr.process_names, what
    if c["pid"] is None:
        assert tr.process_names[pid] == "unknown owner", what
    assert tr.thread_names.get(key) == "%s %s \u2192 %s" % (
        c["role"], endpoint(c["family"], c["laddr"], c["lport"]), endpoint(c["family"], c["raddr"], c["rport"])), what

    # The whole life: the record itself as arguments, at its wall-clock start.
    assert len(tr.conn_slices[key]) == 1, what
    whole = tr.conn_slices[key][0]
    assert whole["args"] == c, what
    assert whole["name"] == "conn %d (%s)" % (c["id"], c["closed_by"] or "open")
    offset = tr.doc["otherData"]["realtime_minus_monotonic_ns"]
    assert abs((dt.datetime.strptime(wall_clock(whole["ts"], offset), "%Y-%m-%dT%H:%M:%S.%fZ")
                - dt.datetime.strptime(c["start_time"], "%Y-%m-%dT%H:%M:%S.%fZ")).total_seconds()) <= 1e-6, what
    if not c["open"]:
        assert 0 <= whole["dur"] - c["duration_us"] < 1.001, what

    # One slice per state, in order, at the record's times (t_us is truncated to
    # the microsecond; the trace keeps the nanoseconds), each lasting to the next.
    states = tr.state_slices[key]
    assert [s["name"] for s in states] == [s["state"] for s in c["states"]], what
    for i, (s, rs) in enumerate(zip(states, c["states"])):
        assert -0.001 <= (s["ts"] - whole["ts"]) - rs["t_us"] < 1.001, (what, s, rs)
        assert s["args"] == {"t_us": rs["t_us"]}, what
        end = states[i + 1]["ts"] if i + 1 < len(states) else whole["ts"] + whole["dur"]
        assert abs(s["ts"] + s["dur"] - end) < 0.002, (what, s)
    return whole, states, tr.markers[key]


def check_markers(c, markers):
    """One marker per retransmit and reset the record counts."""
    counts = Counter(m["name"] for m in markers)
    assert set(counts) <= set(MARKERS), counts
    assert {name: counts.get(name, 0) for name in MARKERS} == {name: c[f] for name, f in MARKERS.items()}, (
        counts, c)
    for m in markers:
        assert m["args"]["id"] == c["id"] and m["args"]["type"] == "event", m


def run_faulty_traffic(rig, port):
    """Four exchanges, one fault each; returns their client ports."""
    # 1. The client's data segment is dropped once: one data retransmit.
    rig.nft_drop_once("srv", "data", "tcp dport %d meta length > 200" % port)
    data = run_exchange(rig, port, server=dict(recv=1000, send=2000), client=dict(send=1000, recv=2000))
    # 2. The client aborts with SO_LINGER 0: a RST each way of the record.
    linger = run_exchange(rig, port + 1, client=dict(close="linger-reset"))
    # 3. Nothing listens: the SYN is answered with a RST.
    refused = rig.client(port + 2, name="refused")
    assert refused.expect("connect_error")["error"] == "ECONNREFUSED"
    refused.wait()
    # 4. The first SYN is dropped: a SYN retransmit after ~1 s.
    rig.nft_drop_once("srv", "syn", "tcp dport %d tcp flags & (syn|ack) == syn" % (port + 3))
    syn = run_exchange(rig, port + 3)
    assert rig.nft_counter("srv", "data_drop") == 1 and rig.nft_counter("srv", "syn_drop") == 1
    return data, linger, syn


def test_live_trace_has_every_record_and_replay_writes_the_same_file(rig, tracer, workdir):
    pf, cap = os.path.join(workdir, "live.json"), os.path.join(workdir, "live.tt")
    port = rig.free_port()
    t = tracer("--perfetto", pf, "--record", cap)
    data, linger, syn = run_faulty_traffic(rig, port)
    res = t.stop()
    assert res.returncode == 0, res.dump()
    assert res.events == [], "--perfetto alone must not add event lines to the JSON output"
    assert stat.S_IMODE(os.stat(pf).st_mode) == 0o600, "the file holds addresses: owner-only"

    tr = Trace(pf)
    assert tr.doc["displayTimeUnit"] == "ms"
    assert set(tr.doc["otherData"]) == {"tool", "clock", "ts_unit", "realtime_minus_monotonic_ns"}
    assert tr.doc["otherData"]["clock"] == "CLOCK_MONOTONIC" and tr.doc["otherData"]["ts_unit"] == "us"
    summary = tr.doc["summary"]
    assert summary["connections"] == len(res.conns)
    assert summary["lost_events"] == sum(x["count"] for x in res.lost)
    assert summary["first_time"] == min([c["start_time"] for c in res.conns] + [
        wall_clock(m["ts"], tr.doc["otherData"]["realtime_minus_monotonic_ns"])
        for ms in tr.markers.values() for m in ms])
    # Exactly the records' tracks, nothing else.
    assert sorted(k[1] for k in tr.conn_slices) == sorted(c["id"] for c in res.conns)
    assert sorted(k[1] for k in tr.thread_names) == sorted(c["id"] for c in res.conns)
    for c in res.conns:  # the whole host's, not only the rig's
        check_conn_in_trace(tr, c)

    def rig_conn(side, **match):
        found = [c for c in res.conns if c["netns"] == rig.inode[side] and c["family"] == 4
                 and all(c[k] == v for k, v in match.items())]
        assert len(found) == 1, (side, match, res.dump())
        return found[0]

    expected = [  # (record, process, markers)
        (rig_conn("cli", rport=port), "ttcli", {"retransmit": 1}),
        (rig_conn("srv", lport=port), "ttsrv", {}),
        (rig_conn("cli", rport=port + 1), "ttcli", {"RST sent": 1}),
        (rig_conn("srv", lport=port + 1), "ttsrv", {"RST received": 1}),
        (rig_conn("cli", rport=port + 2), "ttcli", {"RST received": 1}),
        (rig_conn("cli", rport=port + 3), "ttcli", {"SYN retransmit": 1}),
        (rig_conn("srv", lport=port + 3), "ttsrv", {}),
    ]
    for c, comm, marks in expected:
        whole, states, markers = check_conn_in_trace(tr, c)
        assert c["comm"] == comm and tr.process_names[c["pid"]] == comm, c
        check_markers(c, markers)
        assert dict(Counter(m["name"] for m in markers)) == marks, (c, markers)
    assert rig_conn("cli", rport=port)["retrans"] == 1
    assert [s["state"] for s in rig_conn("cli", rport=port + 2)["states"]] == ["SYN_SENT", "CLOSE"]

    # Where the markers sit: the data retransmit while established, the SYN
    # retransmit ~1 s into SYN_SENT, the abort's RST at the client's close.
    def marker_of(c):
        (m,) = tr.markers[(c["pid"], c["id"])]
        return m

    def state_at(c, name):
        return [s for s in tr.state_slices[(c["pid"], c["id"])] if s["name"] == name][0]

    cli = rig_conn("cli", rport=port)
    est = state_at(cli, "ESTABLISHED")
    assert est["ts"] < marker_of(cli)["ts"] <= est["ts"] + est["dur"]
    assert marker_of(cli)["args"]["event"] == "retransmit" and marker_of(cli)["args"]["state"] == "ESTABLISHED"
    syn_cli = rig_conn("cli", rport=port + 3)
    assert 900_000 <= marker_of(syn_cli)["ts"] - state_at(syn_cli, "SYN_SENT")["ts"] < 1_500_000
    ab = rig_conn("cli", rport=port + 1)
    assert abs(marker_of(ab)["ts"] - state_at(ab, "CLOSE")["ts"]) < 50_000

    # Replay and report of the capture write the same file.
    for cmd, out in (("replay", "replay.json"), ("report", "report.json")):
        path = os.path.join(workdir, out)
        p = subprocess.run([tcptrail_bin(), cmd, cap, "--perfetto", path], capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr.decode()
        with open(pf, "rb") as a, open(path, "rb") as b:
            assert a.read() == b.read(), "%s --perfetto differs from the live run's file" % cmd


def test_unwritable_path_exits_2_with_one_line(workdir):
    bad = os.path.join(workdir, "no", "such", "dir", "t.json")
    p = subprocess.run([tcptrail_bin(), "--perfetto", bad], capture_output=True, timeout=20)
    assert (p.returncode, p.stdout) == (2, b"")
    assert p.stderr.decode() == "tcptrail: cannot create perfetto trace %s: No such file or directory\n" % bad

    cap = os.path.join(workdir, "empty.tt")
    subprocess.run([tcptrail_bin(), "--record", cap, "--duration", "0.2"], capture_output=True, timeout=20,
                   check=True)
    p = subprocess.run([tcptrail_bin(), "replay", cap, "--perfetto", bad], capture_output=True, timeout=20)
    assert p.returncode == 2
    assert p.stderr.decode().splitlines()[-1] == (
        "tcptrail: cannot create perfetto trace %s: No such file or directory" % bad)


def test_full_disk_stops_tracing_and_keeps_the_file_loadable(rig, tracer, workdir):
    """--perfetto on a tmpfs with one free page: a one-line error, exit 1, a file that loads."""
    with nearly_full_tmpfs(workdir) as mnt:  # one 4 KiB page: the header and a connection or two
        pf = os.path.join(mnt, "full.json")
        t = tracer("--perfetto", pf)
        port = rig.free_port()
        for i in range(40):  # until the disk fills and tcptrail stops by itself
            if t.p.poll() is not None:
                break
            run_exchange(rig, port + i)
        res = t.wait(timeout=10)
        assert res.returncode == 1, res.dump()
        errors = [l for l in res.stderr.splitlines() if "perfetto" in l]
        assert errors == ["tcptrail: cannot write perfetto trace %s: No space left on device" % pf], res.stderr

        tr = Trace(pf)  # loads: whole connections and a closed array
        assert tr.conn_slices, "the connections written before the disk filled are kept"
        assert "summary" not in tr.doc, "written only at a normal end"
        by_id = {c["id"]: c for c in res.conns}
        for (pid, tid), (whole,) in tr.conn_slices.items():
            assert whole["args"] == by_id[tid]
            check_conn_in_trace(tr, by_id[tid])
