"""Shared machinery for the tcptrail end-to-end tests.

- Rig: two network namespaces joined by a veth pair, IPv4 + IPv6 (nodad,
  static neighbours), nftables fault injection inside a namespace.
- Proc: a traffic.py process inside a namespace, whose JSON lines can be
  awaited with a timeout.
- Tracer: the tcptrail binary, started, awaited ("tracing" on stderr) and
  stopped with SIGINT; its JSON Lines output parsed and checked.
- check_conn(): exact field-by-field checks of a conn record.

Everything is bounded by timeouts and torn down by the fixtures in conftest.py.
"""

import contextlib
import datetime as _dt
import ipaddress
import json
import os
import queue
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parents[1]
PYTHON = "/usr/bin/python3"
TRAFFIC = str(E2E_DIR / "traffic.py")


def tcptrail_bin():
    return os.environ.get("TCPTRAIL_BIN") or str(REPO / "build" / "tcptrail")


def churn_bin():
    """bench/churn, the full-speed loopback load generator."""
    return os.environ.get("TCPTRAIL_CHURN") or str(REPO / "build" / "bench" / "churn")


def run(argv, input=None, check=True, timeout=10):
    """Runs a short command; raises with its output on failure."""
    p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\nstdout: %s\nstderr: %s"
                           % (p.returncode, " ".join(argv), p.stdout, p.stderr))
    return p


# ---------------------------------------------------------------------------
# Line readers


class _LineReader:
    """Collects the lines of a pipe in a thread; lines can be awaited."""

    def __init__(self, pipe, name):
        self.lines = []
        self.q = queue.Queue()
        self.closed = threading.Event()
        self._t = threading.Thread(target=self._run, args=(pipe,), name=name, daemon=True)
        self._t.start()

    def _run(self, pipe):
        try:
            for raw in iter(pipe.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines.append(line)
                self.q.put(line)
        finally:
            self.closed.set()
            self.q.put(None)

    def join(self, timeout):
        self._t.join(timeout)

    def text(self):
        return "\n".join(self.lines)


# ---------------------------------------------------------------------------
# Traffic processes


class Proc:
    """A traffic.py process (in its own process group) inside a namespace."""

    def __init__(self, ns, args, name):
        self.name = name
        self.argv = ["ip", "netns", "exec", ns, PYTHON, TRAFFIC] + [str(a) for a in args]
        self.p = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True)
        self.out = _LineReader(self.p.stdout, name + "-out")
        self.err = _LineReader(self.p.stderr, name + "-err")
        self.msgs = []

    def describe(self):
        return "%s (%s)\n  stdout:\n%s\n  stderr:\n%s" % (
            self.name, " ".join(self.argv), self.out.text(), self.err.text())

    def expect(self, *events, timeout=10.0):
        """Returns the next message whose event is one of `events`.

        Fails on an "error" message, on EOF and on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timeout (%.1fs) waiting for %s from %s" % (timeout, events, self.describe()))
            try:
                line = self.out.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.out.q.put(None)  # keep EOF visible to later calls
                raise AssertionError("EOF waiting for %s from %s" % (events, self.describe()))
            try:
                msg = json.loads(line)
            except ValueError:
                raise AssertionError("non-JSON line from %s: %r" % (self.name, line))
            self.msgs.append(msg)
            if msg.get("event") == "error":
                raise AssertionError("traffic error: %s\n%s" % (msg, self.describe()))
            if msg.get("event") in events:
                return msg

    def send_line(self, text="go"):
        self.p.stdin.write((text + "\n").encode())
        self.p.stdin.flush()

    def wait(self, timeout=10.0):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit in %.1fs\n%s" % (self.name, timeout, self.describe()))
        self.out.join(2)
        self.err.join(2)
        if rc != 0:
            raise AssertionError("%s exited with %d\n%s" % (self.name, rc, self.describe()))
        return rc

    def kill(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            try:
                f.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------
# Network rig


class Rig:
    """Client namespace <-veth-> server namespace.

    Client side: 10.231.S.1/24, fd00:231:S::1/64; server side .2 / ::2."""

    def __init__(self, subnet):
        assert 0 <= subnet <= 255
        self.subnet = subnet
        tag = "%d%04x" % (os.getpid(), random.getrandbits(16))
        self.ns = {"cli": "ttc%s" % tag, "srv": "tts%s" % tag}
        self.dev = {"cli": "ttv0", "srv": "ttv1"}
        r = random.getrandbits(8)
        self.mac = {"cli": "02:31:%02x:%02x:00:01" % (subnet, r), "srv": "02:31:%02x:%02x:00:02" % (subnet, r)}
        self.v4 = {"cli": "10.231.%d.1" % subnet, "srv": "10.231.%d.2" % subnet}
        self.v6 = {"cli": ipaddress.ip_address("fd00:231:%d::1" % subnet).compressed,
                   "srv": ipaddress.ip_address("fd00:231:%d::2" % subnet).compressed}
        self.procs = []
        self.created = []
        self.inode = {}

    # -- setup / teardown
    def up(self):
        for side in ("cli", "srv"):
            run(["ip", "netns", "add", self.ns[side]])
            self.created.append(self.ns[side])
        run(["ip", "link", "add", self.dev["cli"], "netns", self.ns["cli"], "address", self.mac["cli"],
             "type", "veth", "peer", "name", self.dev["srv"], "netns", self.ns["srv"], "address", self.mac["srv"]])
        for side, other in (("cli", "srv"), ("srv", "cli")):
            ns, dev = self.ns[side], self.dev[side]
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            run(["ip", "-n", ns, "addr", "add", self.v4[side] + "/24", "dev", dev])
            run(["ip", "-n", ns, "addr", "add", self.v6[side] + "/64", "dev", dev, "nodad"])
            run(["ip", "-n", ns, "neigh", "add", self.v4[other], "lladdr", self.mac[other], "dev", dev,
                 "nud", "permanent"])
            run(["ip", "-n", ns, "-6", "neigh", "add", self.v6[other], "lladdr", self.mac[other], "dev", dev,
                 "nud", "permanent"])
            run(["ip", "-n", ns, "link", "set", dev, "up"])
            self.inode[side] = os.stat("/run/netns/" + ns).st_ino
        return self

    def down(self):
        for p in self.procs:
            p.kill()
        self.procs = []
        for ns in self.created:
            run(["ip", "netns", "exec", ns, "nft", "flush", "ruleset"], check=False)
            # Anything still running in a namespace that this rig created was
            # started by this test (e.g. a forked child): end it by pid.
            pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run(["ip", "netns", "del", ns], check=False)
        self.created = []

    # -- addressing
    def addr(self, side, family=4):
        return (self.v4 if family == 4 else self.v6)[side]

    @staticmethod
    def free_port():
        return random.randint(20000, 30000)

    # -- commands inside a namespace
    def exec(self, side, argv, **kw):
        return run(["ip", "netns", "exec", self.ns[side]] + list(argv), **kw)

    def sysctl(self, side, key, value):
        self.exec(side, ["sysctl", "-q", "-w", "%s=%s" % (key, value)])

    # -- traffic
    def server(self, port, family=4, name="server", **opts):
        args = ["server", "--family", family, "--addr", self.addr("srv", family), "--port", port]
        args += _opts(opts)
        p = Proc(self.ns["srv"], args, name)
        self.procs.append(p)
        return p

    def client(self, port, family=4, name="client", **opts):
        args = ["client", "--family", family, "--addr", self.addr("srv", family), "--port", port]
        args += _opts(opts)
        p = Proc(self.ns["cli"], args, name)
        self.procs.append(p)
        return p

    # -- nftables (table inet tt, chain input, in the given namespace)
    def _nft(self, side, script):
        self.exec(side, ["nft", "-f", "-"], input=script)

    def _ensure_table(self, side):
        self._nft(side, "add table inet tt\n"
                        "add chain inet tt input { type filter hook input priority 0; policy accept; }\n")

    def nft_count(self, side, label, match):
        """Appends a rule that only counts packets matching `match`."""
        self._ensure_table(side)
        self._nft(side, 'add rule inet tt input %s counter comment "%s"\n' % (match, label))

    def nft_drop(self, side, label, match):
        """Appends a rule that drops every packet matching `match`."""
        self._ensure_table(side)
        self._nft(side, 'add rule inet tt input %s counter drop comment "%s"\n' % (match, label))

    def nft_drop_once(self, side, label, match, key="tcp dport"):
        """Drops exactly the first packet matching `match` (per value of `key`).

        The first packet is added to a dynamic set and dropped; later packets
        find their key in the set and pass. Counters: LABEL_drop, LABEL_pass."""
        self._ensure_table(side)
        self._nft(side,
                  "add set inet tt %s_seen { type inet_service; flags dynamic; }\n"
                  'add rule inet tt input %s %s @%s_seen counter comment "%s_pass"\n'
                  'add rule inet tt input %s %s != @%s_seen add @%s_seen { %s } counter drop comment "%s_drop"\n'
                  % (label, match, key, label, label, match, key, label, label, key, label))

    def nft_counter(self, side, label):
        out = self.exec(side, ["nft", "-j", "list", "table", "inet", "tt"]).stdout
        for item in json.loads(out)["nftables"]:
            rule = item.get("rule")
            if rule and rule.get("comment") == label:
                for e in rule["expr"]:
                    if "counter" in e:
                        return e["counter"]["packets"]
        raise KeyError("no nft rule with comment %r in %s" % (label, self.ns[side]))


def _opts(opts):
    out = []
    for k, v in opts.items():
        flag = "--" + k.replace("_", "-")
        if v is True:
            out.append(flag)
        elif v is False or v is None:
            continue
        else:
            out += [flag, str(v)]
    return out


# ---------------------------------------------------------------------------
# The tracer

RFC3339_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
STATE_NAMES = {"ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
               "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE"}


def parse_time(s):
    assert isinstance(s, str) and RFC3339_US.match(s), "bad RFC 3339 timestamp: %r" % (s,)
    return _dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.timezone.utc)


RECORD_TYPES = ("conn", "event", "lost", "listen_queue", "summary")


class Result:
    def __init__(self, lines, stderr, returncode, args, t_start, t_stop, parse=True):
        self.lines = lines
        self.stderr = stderr
        self.returncode = returncode
        self.args = args
        self.t_start = t_start  # wall clock (UTC) just before the tracer started
        self.t_stop = t_stop
        self.records = []
        bad = []
        for line in lines if parse else []:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                bad.append(line)
                continue
            if not isinstance(rec, dict) or rec.get("type") not in RECORD_TYPES:
                bad.append(line)
                continue
            self.records.append(rec)
        assert not bad, "tcptrail printed lines that are not %s JSON objects:\n%s" % (
            "/".join(RECORD_TYPES), "\n".join(bad[:20]))
        bad_lost = [r for r in self.records if r["type"] == "lost" and not (
            isinstance(r.get("count"), int) and r["count"] > 0 and isinstance(r.get("reason"), str))]
        assert not bad_lost, "malformed lost records: %s" % bad_lost[:5]
        self.conns = [r for r in self.records if r["type"] == "conn"]
        self.events = [r for r in self.records if r["type"] == "event"]
        self.lost = [r for r in self.records if r["type"] == "lost"]
        self.listen_queue = [r for r in self.records if r["type"] == "listen_queue"]  # live warnings
        summaries = [r for r in self.records if r["type"] == "summary"]
        assert len(summaries) <= 1 and (not summaries or self.records[-1] is summaries[0]), \
            "expected at most one summary, as the last record"
        self.summary = summaries[0] if summaries else None

    def dump(self, limit=60):
        return "tcptrail %s (rc=%s)%s\n  stderr: %s\n  stdout (%d lines):\n    %s" % (
            " ".join(self.args), self.returncode, self.lost_note(), self.stderr.strip(), len(self.lines),
            "\n    ".join(self.lines[:limit]))

    def find(self, **match):
        """All conn records whose fields equal `match`."""
        return [c for c in self.conns if all(c.get(k) == v for k, v in match.items())]

    def one(self, what, **match):
        found = self.find(**match)
        assert len(found) == 1, "expected exactly one conn record for %s %s, found %d\n%s" % (
            what, match, len(found), self.dump())
        return found[0]

    def lost_note(self):
        """Explains a failure when tcptrail reported lost events in the run (they
        can come from unrelated host traffic: the tracer sees the whole host)."""
        if not self.lost:
            return ""
        return "\nNOTE: tcptrail reported lost events during this run: %d lost (%s)" % (
            sum(x.get("count", 0) for x in self.lost), sorted(set(str(x.get("reason")) for x in self.lost)))

    def tally_note(self):
        """tcptrail's closing line (events traced, records, duplicates dropped, lost)."""
        lines = [l for l in self.stderr.strip().splitlines() if " events, " in l and " events lost" in l]
        return "\ntcptrail's closing tally: " + lines[-1] if lines else ""

    def same_tuple_note(self, rec):
        """Explains a failure with any other record of the same addresses and
        ports, from either side (a second record of one socket, out-of-order
        events, a reused tuple)."""
        ends = {(rec.get("laddr"), rec.get("lport")), (rec.get("raddr"), rec.get("rport"))}
        others = [r for r in self.conns
                  if r is not rec and {(r.get("laddr"), r.get("lport")), (r.get("raddr"), r.get("rport"))} == ends]
        if not others:
            return ""
        return "\nother records of these addresses and ports:\n  " + "\n  ".join(json.dumps(r) for r in others)

    def events_for(self, rec_id, kind=None):
        return [e for e in self.events if e.get("id") == rec_id and (kind is None or e.get("event") == kind)]


class Tracer:
    def __init__(self, args, json=True, preexec_fn=None, env=None):
        """tcptrail ARGS, with --json unless `json` is false (then stdout is kept as text lines).
        `preexec_fn` runs in the child before exec (e.g. to join a cgroup); `env` replaces the environment."""
        self.json = json
        self.preexec_fn = preexec_fn
        self.env = env
        self.args = (["--json"] if json else []) + [str(a) for a in args]
        self.p = None
        self.result = None

    def start(self, timeout=10.0):
        binary = tcptrail_bin()
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise AssertionError("tcptrail binary not found or not executable: %s (set TCPTRAIL_BIN)" % binary)
        self.t_start = _dt.datetime.now(_dt.timezone.utc)
        self.p = subprocess.Popen([binary] + self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True, preexec_fn=self.preexec_fn,
                                  env=self.env)
        self.out = _LineReader(self.p.stdout, "tcptrail-out")
        self.err = _LineReader(self.p.stderr, "tcptrail-err")
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise AssertionError("tcptrail did not print 'tracing' on stderr within %.0fs\nstderr: %s\nstdout: %s"
                                     % (timeout, self.err.text(), self.out.text()))
            try:
                line = self.err.q.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            if line is None:
                self.p.wait(5)
                raise AssertionError("tcptrail exited (rc=%s) before printing 'tracing'\nstderr: %s\nstdout: %s"
                                     % (self.p.returncode, self.err.text(), self.out.text()))
            if "tracing" in line:
                return self

    def stop(self, settle=0.5, timeout=10.0):
        """Waits `settle` seconds (records come up to ~100 ms after close), sends SIGINT, parses stdout."""
        time.sleep(settle)
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout=10.0):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("tcptrail did not exit within %.0fs\nstderr: %s" % (timeout, self.err.text()))
        self.out.join(5)
        self.err.join(5)
        self._save()
        self.result = Result(list(self.out.lines), self.err.text(), self.p.returncode, self.args, self.t_start,
                             _dt.datetime.now(_dt.timezone.utc), parse=self.json)
        return self.result

    def _save(self):
        """With TT_E2E_OUTPUT_DIR set, keeps each run's raw output for inspection."""
        d = os.environ.get("TT_E2E_OUTPUT_DIR")
        if not d:
            return
        os.makedirs(d, exist_ok=True)
        test = os.environ.get("PYTEST_CURRENT_TEST", "run").split(" ")[0]
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test)
        with open(os.path.join(d, name + ".jsonl"), "a") as f:
            f.write("# tcptrail %s rc=%s\n# stderr: %s\n" % (" ".join(self.args), self.p.returncode,
                                                              self.err.text().replace("\n", "\n# ")))
            f.write("\n".join(self.out.lines) + "\n")

    def kill(self):
        if self.p is not None and self.p.poll() is None:
            try:
                self.p.kill()
            except ProcessLookupError:
                pass
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                pass


# ---------------------------------------------------------------------------
# Record checks

INT_FIELDS = ("syn_retrans", "synack_retrans", "retrans", "fin_retrans", "resets_sent", "resets_received",
              "bytes_sent", "bytes_received", "srtt_us", "duration_us")
ALL_FIELDS = ("type", "id", "family", "laddr", "lport", "raddr", "rport", "netns", "cgroup_id", "role", "pid",
              "comm", "start_time", "end_time", "duration_us", "states", "handshake_us", "accept_wait_us",
              "syn_retrans", "synack_retrans", "retrans", "fin_retrans", "resets_sent", "resets_received",
              "closed_by", "error", "time_wait", "bytes_sent", "bytes_received", "srtt_us", "partial", "open")


class Checker:
    """Collects every mismatch of a record, then fails once with all of them."""

    def __init__(self, rec, what, note=""):
        self.rec = rec
        self.what = what
        self.note = note  # text to add to a failure, or a function that makes it (called on failure only)
        self.errors = []

    def eq(self, field, expected):
        got = self.rec.get(field, "<missing>")
        if got != expected or type(got) is not type(expected):
            self.errors.append("%s = %r, expected %r" % (field, got, expected))

    def check(self, cond, msg):
        if not cond:
            self.errors.append(msg)

    def between(self, field, lo, hi):
        """lo <= value < hi"""
        v = self.rec.get(field, "<missing>")
        if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v < hi):
            self.errors.append("%s = %r, expected an int in [%r, %r)" % (field, v, lo, hi))

    def done(self):
        if self.errors:
            note = self.note() if callable(self.note) else self.note
            raise AssertionError("%s: %d mismatch(es):\n  - %s\nrecord: %s%s" % (
                self.what, len(self.errors), "\n  - ".join(self.errors), json.dumps(self.rec), note))


def state_names(rec):
    return [s.get("state") for s in rec.get("states") or []]


class soft:
    """Runs several checks and fails once, at the end, with all their messages:

        with soft() as s:
            s(check_conn, res, rec1, ...)
            s(check_conn, res, rec2, ...)
    """

    def __init__(self):
        self.errors = []

    def __enter__(self):
        return self

    def __call__(self, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except AssertionError as e:
            self.errors.append(str(e))
            return None

    def __exit__(self, et, ev, tb):
        if et is None and self.errors:
            raise AssertionError("\n\n".join(self.errors))
        return False


def check_conn(res, rec, what, *, family, laddr, lport, raddr, rport, netns, role, states=None,
               states_any=None, is_open=False, partial=False, between=None, **exact):
    """Checks the structure of a conn record and the exact values given.

    `states` is the exact list of state names, `states_any` a list of
    acceptable lists, `between` maps fields to [lo, hi) int ranges (None:
    must be null). Other keyword arguments are exact field values."""
    c = Checker(rec, what, lambda: res.lost_note() + res.same_tuple_note(rec) + res.tally_note())
    missing = [f for f in ALL_FIELDS if f not in rec]
    c.check(not missing, "missing fields: %s" % missing)
    c.eq("type", "conn")
    c.check(isinstance(rec.get("id"), int), "id = %r, expected int" % (rec.get("id"),))
    c.eq("family", family)
    c.eq("laddr", laddr)
    c.eq("lport", lport)
    c.eq("raddr", raddr)
    c.eq("rport", rport)
    c.eq("netns", netns)
    if isinstance(role, tuple):  # any of these
        c.check(rec.get("role") in role, "role = %r, expected one of %r" % (rec.get("role"), role))
    else:
        c.eq("role", role)
    c.eq("open", is_open)
    c.eq("partial", partial)
    c.check(isinstance(rec.get("cgroup_id"), int) and rec.get("cgroup_id") > 0,
            "cgroup_id = %r, expected a positive int" % (rec.get("cgroup_id"),))
    for f in INT_FIELDS:
        v = rec.get(f)
        c.check(isinstance(v, int) and not isinstance(v, bool) and v >= 0, "%s = %r, expected an int >= 0" % (f, v))
    for f in ("time_wait", "partial", "open"):
        c.check(isinstance(rec.get(f), bool), "%s = %r, expected a bool" % (f, rec.get(f)))

    # timestamps
    try:
        start = parse_time(rec.get("start_time"))
        # A record may start before the tracer only when it is partial.
        lo = res.t_start - _dt.timedelta(seconds=2 if not partial else 60)
        c.check(lo <= start <= res.t_stop + _dt.timedelta(seconds=2),
                "start_time %s outside the run [%s, %s] (clock?)" % (rec.get("start_time"), res.t_start.isoformat(),
                                                                      res.t_stop.isoformat()))
    except AssertionError as e:
        c.errors.append(str(e))
        start = None
    if is_open:
        c.eq("end_time", None)
        c.eq("closed_by", None)
    else:
        try:
            end = parse_time(rec.get("end_time"))
            if start is not None:
                span = (end - start) // _dt.timedelta(microseconds=1)
                d = rec.get("duration_us")
                c.check(isinstance(d, int) and abs(span - d) <= 1000,
                        "duration_us = %r but end_time - start_time = %d us" % (d, span))
        except AssertionError as e:
            c.errors.append(str(e))

    # states
    st = rec.get("states")
    if not isinstance(st, list) or not st:
        c.errors.append("states = %r, expected a non-empty list" % (st,))
    else:
        ok = all(isinstance(s, dict) and s.get("state") in STATE_NAMES and isinstance(s.get("t_us"), int)
                 for s in st)
        c.check(ok, "states entries must be {state: NAME, t_us: int}: %r" % (st,))
        if ok:
            c.check(st[0]["t_us"] == 0, "states[0].t_us = %r, expected 0" % st[0]["t_us"])
            ts = [s["t_us"] for s in st]
            c.check(ts == sorted(ts), "states t_us not monotonic: %r" % ts)
            if not is_open and not partial:
                d = rec.get("duration_us")
                c.check(isinstance(d, int) and abs(ts[-1] - d) <= 1000,
                        "last state t_us %d != duration_us %r (first to last state)" % (ts[-1], d))
        names = state_names(rec)
        if states is not None:
            c.check(names == states, "states = %r, expected %r" % (names, states))
        if states_any is not None:
            c.check(names in states_any, "states = %r, expected one of %r" % (names, states_any))

    for f, v in exact.items():
        c.eq(f, v)
    for f, rng in (between or {}).items():
        if rng is None:
            c.eq(f, None)
        else:
            c.between(f, *rng)
    c.done()
    return rec


# ---------------------------------------------------------------------------
# Standard exchanges


class Pair:
    """Messages of one client/server exchange."""

    def __init__(self, srv, cli):
        self.srv = srv
        self.cli = cli
        self.listening = None
        self.connected = None  # the client's "connected" or "connect_error" message
        self.accepted = None
        self.cli_closed = None
        self.srv_closed = None


def start_server(rig, port, family=4, **opts):
    srv = rig.server(port, family, **opts)
    listening = srv.expect("listening")
    return srv, listening


def run_exchange(rig, port, family=4, server=None, client=None, timeout=10.0):
    """Runs server and client to completion (both closed and exited).

    Defaults: the client sends 100 bytes, the server answers 200, the client
    closes first and the server closes after reading EOF."""
    sopts = dict(recv=100, send=200, close="after-eof")
    sopts.update(server or {})
    copts = dict(send=100, recv=200, close="first")
    copts.update(client or {})
    srv, listening = start_server(rig, port, family, **sopts)
    pair = Pair(srv, None)
    pair.listening = listening
    cli = rig.client(port, family, **copts)
    pair.cli = cli
    pair.connected = cli.expect("connected", "connect_error", timeout=timeout)
    if pair.connected["event"] == "connect_error":
        cli.wait(timeout)
        return pair
    pair.accepted = srv.expect("accepted", timeout=timeout)
    pair.cli_closed = cli.expect("closed", timeout=timeout)
    pair.srv_closed = srv.expect("closed", timeout=timeout)
    cli.wait(timeout)
    srv.wait(timeout)
    return pair


def snmp_tcp(rig, side):
    """The Tcp: counters of /proc/net/snmp inside a namespace."""
    lines = [l.split() for l in rig.exec(side, ["cat", "/proc/net/snmp"]).stdout.splitlines() if l.startswith("Tcp:")]
    return dict(zip(lines[0][1:], (int(x) for x in lines[1][1:])))


# ---------------------------------------------------------------------------
# Finding the records of one connection


def client_record(res, rig, port, family=4):
    """The one conn record of the client socket connecting to `port` (matched by
    client netns + remote port; everything else is checked by check_conn)."""
    return res.one("client socket", netns=rig.inode["cli"], family=family, rport=port)


def server_record(res, rig, port, family=4):
    return res.one("server socket", netns=rig.inode["srv"], family=family, lport=port)


def client_fields(rig, pair, port, family=4, **kw):
    """Keyword arguments of check_conn() for the client side of `pair`."""
    d = dict(family=family, laddr=rig.addr("cli", family), lport=pair.connected["lport"],
             raddr=rig.addr("srv", family), rport=port, netns=rig.inode["cli"], role="client")
    d.update(kw)
    return d


def server_fields(rig, pair, port, family=4, **kw):
    d = dict(family=family, laddr=rig.addr("srv", family), lport=port, raddr=rig.addr("cli", family),
             rport=pair.connected["lport"], netns=rig.inode["srv"], role="server")
    d.update(kw)
    return d


def no_counters(**kw):
    """Exact zero counters of a clean connection (overridable)."""
    d = dict(syn_retrans=0, synack_retrans=0, retrans=0, fin_retrans=0, resets_sent=0, resets_received=0)
    d.update(kw)
    return d


ACTIVE_CLOSE_STATES = [["SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSE"],
                       ["SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE"]]
PASSIVE_CLOSE_STATES = ["SYN_RECV", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSE"]
SERVER_ACTIVE_CLOSE_STATES = [["SYN_RECV"] + s[1:] for s in ACTIVE_CLOSE_STATES]
CLIENT_PASSIVE_CLOSE_STATES = ["SYN_SENT"] + PASSIVE_CLOSE_STATES[1:]


def cgroup_id_of(pid):
    """cgroup v2 id (= inode of the cgroup directory) of a process, or None."""
    try:
        with open("/proc/%d/cgroup" % pid) as f:
            rel = [l.split("::", 1)[1].strip() for l in f if l.startswith("0::")][0]
        with open("/proc/self/mounts") as f:
            mnt = [l.split()[1] for l in f if l.split()[2] == "cgroup2"][0]
        return os.stat(mnt + rel).st_ino
    except (OSError, IndexError):
        return None


@contextlib.contextmanager
def nearly_full_tmpfs(parent):
    """A 64 KiB tmpfs mounted at PARENT/small with one 4 KiB page left free, for
    full-disk tests; lazily unmounted on exit."""
    mnt = os.path.join(parent, "small")
    os.mkdir(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tcptrail-test", mnt], check=True)
    try:
        with open(os.path.join(mnt, "filler"), "wb") as f:
            f.write(b"\0" * (60 * 1024))
        yield mnt
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)


def started_tracers(cls):
    """Body of a tracer fixture: yields start(*args), which starts cls(args) and
    waits for "tracing"; every tracer started is killed at teardown."""
    started = []

    def start(*args):
        t = cls(args)
        started.append(t)
        return t.start()

    try:
        yield start
    finally:
        for t in started:
            t.kill()
