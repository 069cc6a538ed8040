"""Record and replay: `tcptrail --record FILE` and `tcptrail replay FILE`.

A live run records real traffic between two namespaces; replaying the capture
must print exactly what the live run printed, byte for byte, also as an
unprivileged user. Also: the capture's mode, a capture cut short by a crash,
an unwritable --record path and a full disk.
"""

import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from tthelpers import nearly_full_tmpfs, run_exchange, tcptrail_bin

SUBNET = 17
NOBODY = 65534
NO_FINISH_NOTE = ("tcptrail: capture ends without a finish record (tracer stopped abruptly); "
                  "open connections reported as of the last event")


class LiveRun:
    """tcptrail ARGS with raw stdout kept (to compare bytes), started and awaited."""

    def __init__(self, *args):
        self.args = [tcptrail_bin()] + [str(a) for a in args]
        self.stdout = tempfile.TemporaryFile()
        self.p = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self.stdout, stderr=subprocess.PIPE,
                                  start_new_session=True)
        self.err_lines = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if not self._ready.wait(15):
            self.kill()
            raise AssertionError("tcptrail did not start tracing: %s\nstderr: %s" % (self.args, self.stderr()))

    def _read_stderr(self):
        for raw in iter(self.p.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.err_lines.append(line)
            if "tracing" in line:
                self._ready.set()
        self._ready.set()  # exited early: let the constructor see it

    def stderr(self):
        return "\n".join(self.err_lines)

    def wait(self, timeout=15):
        """Waits for the exit; returns (rc, stdout bytes)."""
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("tcptrail did not exit in %ds\nstderr: %s" % (timeout, self.stderr()))
        self._reader.join(5)
        self.stdout.seek(0)
        return rc, self.stdout.read()

    def stop(self, settle=0.5):
        """SIGINT after `settle` seconds (records come ~100 ms after a close)."""
        time.sleep(settle)
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        return self.wait()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(5)


@pytest.fixture
def live():
    runs = []

    def start(*args):
        r = LiveRun(*args)
        runs.append(r)
        return r

    yield start
    for r in runs:
        r.kill()


def replay(path, *args, user=None):
    argv = [tcptrail_bin(), "replay", str(path)] + [str(a) for a in args]
    if user is not None:
        argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + argv
    return subprocess.run(argv, capture_output=True, timeout=60)


def conns(out):
    recs = [json.loads(l) for l in out.decode().splitlines() if l.strip()]
    return [r for r in recs if r["type"] == "conn"]


def conn_of(out, **match):
    found = [c for c in conns(out) if all(c.get(k) == v for k, v in match.items())]
    assert len(found) == 1, "expected one conn record with %s, found %d:\n%s" % (match, len(found), out.decode())
    return found[0]


def assert_exchange_recorded(out, rig, port):
    """The client and the server socket of one clean exchange on `port`."""
    cli = conn_of(out, netns=rig.inode["cli"], rport=port)
    srv = conn_of(out, netns=rig.inode["srv"], lport=port)
    assert cli["role"] == "client" and cli["closed_by"] == "local", cli
    assert srv["role"] == "server" and srv["closed_by"] == "remote", srv
    assert cli["bytes_sent"] == 100 and srv["bytes_sent"] == 200, (cli, srv)


@pytest.fixture
def shared_dir():
    """A scratch directory that an unprivileged user can enter."""
    d = tempfile.mkdtemp(prefix="tcptrail-replay-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_replay_output_is_identical_to_live(rig, live, shared_dir):
    cap = os.path.join(shared_dir, "live.tt")
    port = rig.free_port()
    t = live("--json", "--record", cap)
    run_exchange(rig, port)
    rc, live_out = t.stop()
    assert rc == 0, t.stderr()
    assert_exchange_recorded(live_out, rig, port)
    assert stat.S_IMODE(os.stat(cap).st_mode) == 0o600, "capture files hold addresses: owner-only"

    r = replay(cap, "--json")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == live_out, "replayed output differs from the live output\nlive:\n%s\nreplay:\n%s" % (
        live_out.decode(), r.stdout.decode())
    assert NO_FINISH_NOTE not in r.stderr.decode()


def test_replay_with_events_and_resets_as_unprivileged_user(rig, live, shared_dir):
    """--events, a refused connection (RST) and a server that closes first; replayed by nobody."""
    cap = os.path.join(shared_dir, "events.tt")
    port = rig.free_port()
    t = live("--json", "--events", "--record", cap)
    run_exchange(rig, port, server=dict(close="first"), client=dict(close="after-eof"))
    refused = rig.client(port + 1, name="refused")
    assert refused.expect("connect_error")["error"] == "ECONNREFUSED"
    refused.wait()
    rc, live_out = t.stop()
    assert rc == 0, t.stderr()
    events = [json.loads(l) for l in live_out.decode().splitlines() if '"type":"event"' in l]
    assert any(e.get("event") == "reset_sent" for e in events), live_out.decode()
    conn_of(live_out, netns=rig.inode["cli"], rport=port + 1)

    # The recorded file is root's and 0600: nobody may not read it ...
    denied = replay(cap, "--json", "--events", user=NOBODY)
    assert denied.returncode == 1
    assert denied.stderr.decode().strip() == "tcptrail: cannot open capture %s: Permission denied" % cap
    # ... but a readable copy replays without root or BPF, identically.
    copy = os.path.join(shared_dir, "copy.tt")
    shutil.copyfile(cap, copy)
    os.chmod(copy, 0o644)
    r = replay(copy, "--json", "--events", user=NOBODY)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == live_out


def test_replay_applies_the_socket_filters_in_user_space(rig, live, shared_dir):
    cap = os.path.join(shared_dir, "all.tt")
    port = rig.free_port()
    t = live("--json", "--record", cap)
    run_exchange(rig, port)
    rc, live_out = t.stop()
    assert rc == 0, t.stderr()

    def without_id(recs):
        return [{k: v for k, v in c.items() if k != "id"} for c in recs]

    r = replay(cap, "--json", "--netns", rig.inode["srv"])
    assert r.returncode == 0, r.stderr.decode()
    assert without_id(conns(r.stdout)) == without_id([c for c in conns(live_out) if c["netns"] == rig.inode["srv"]])
    assert len(conns(r.stdout)) == 1

    r = replay(cap, "--json", "--port", port, "-6")
    assert r.returncode == 0 and conns(r.stdout) == []
    r = replay(cap, "--json", "--port", port)
    assert without_id(conns(r.stdout)) == without_id([c for c in conns(live_out) if port in (c["lport"], c["rport"])])
    assert len(conns(r.stdout)) == 2


def test_filtered_live_run_replays_identically_with_the_same_filters(rig, live, shared_dir):
    """Live --port/-4/--netns run in the kernel; replay applies them itself, with the same result."""
    cap = os.path.join(shared_dir, "filtered.tt")
    port = rig.free_port()
    # No --netns: listeners found at start (all namespaces) pass a port filter live.
    filters = ["--port", port, "-4"]
    t = live("--json", "--events", "--record", cap, *filters)
    run_exchange(rig, port)
    run_exchange(rig, port + 1)  # filtered out
    rc, live_out = t.stop()
    assert rc == 0, t.stderr()
    conn_of(live_out, netns=rig.inode["srv"], lport=port)

    r = replay(cap, "--json", "--events", *filters)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == live_out
    # The header says which filters were in force.
    assert ("filters: --port %d -4" % port) in r.stderr.decode()


def test_capture_cut_short_replays_with_a_note(rig, live, shared_dir):
    cap = os.path.join(shared_dir, "cut.tt")
    port = rig.free_port()
    t = live("--json", "--record", cap)
    run_exchange(rig, port)
    rc, live_out = t.stop()
    assert rc == 0, t.stderr()
    data = open(cap, "rb").read()
    assert data[-16] == 4, "a complete capture ends with its FINISH record"

    # What a killed tracer leaves: whole records, no FINISH.
    with open(cap, "wb") as f:
        f.write(data[:-16])
    r = replay(cap, "--json")
    assert r.returncode == 0, r.stderr.decode()
    assert NO_FINISH_NOTE in r.stderr.decode().splitlines()
    assert_exchange_recorded(r.stdout, rig, port)

    # Cut inside a record: an error naming the offset; records before it still print.
    with open(cap, "wb") as f:
        f.write(data[:-5])
    r = replay(cap, "--json")
    assert r.returncode == 1
    assert r.stderr.decode().strip().splitlines()[-1] == (
        "tcptrail: %s: truncated FINISH record at byte %d (need 8 payload bytes, 3 left)" % (cap, len(data) - 16))


def test_bad_capture_files_exit_1_with_one_line(shared_dir):
    junk = os.path.join(shared_dir, "junk.tt")
    with open(junk, "wb") as f:
        f.write(b'{"type":"conn"}\n' * 4)
    r = replay(junk)
    assert r.returncode == 1
    assert r.stderr.decode() == "tcptrail: %s: not a tcptrail capture (bad magic at byte 0)\n" % junk
    r = replay(os.path.join(shared_dir, "missing.tt"))
    assert r.returncode == 1 and "No such file or directory" in r.stderr.decode()


def test_unwritable_record_path_exits_2_before_tracing(shared_dir):
    bad = os.path.join(shared_dir, "no", "such", "dir", "x.tt")
    p = subprocess.run([tcptrail_bin(), "--record", bad], capture_output=True, timeout=20)
    assert p.returncode == 2
    assert p.stderr.decode() == "tcptrail: cannot create capture %s: No such file or directory\n" % bad
    assert p.stdout == b""


def test_full_disk_stops_tracing_and_keeps_the_capture_readable(rig, live, shared_dir):
    """--record on a tmpfs with one free page: a one-line error, exit 1, a readable capture."""
    with nearly_full_tmpfs(shared_dir) as mnt:  # one 4 KiB page: the header, then ~29 events
        cap = os.path.join(mnt, "full.tt")
        t = live("--json", "--record", cap)
        port = rig.free_port()
        for i in range(40):  # until the disk fills and tcptrail stops by itself
            if t.p.poll() is not None:
                break
            run_exchange(rig, port + i)
        rc, live_out = t.wait(timeout=10)
        errors = [l for l in t.err_lines if "cannot write capture" in l]
        assert errors == ["tcptrail: cannot write capture %s: No space left on device" % cap], t.stderr()
        assert rc == 1
        assert conns(live_out), "the live output goes on until tracing stops"

        size = os.stat(cap).st_size
        assert 0 < size <= 4096
        r = replay(cap, "--json")
        assert r.returncode == 0, r.stderr.decode()
        assert NO_FINISH_NOTE in r.stderr.decode()
