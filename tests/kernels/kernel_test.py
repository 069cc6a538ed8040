#!/usr/bin/env python3
"""Kernel matrix: the statically linked tcptrail on Debian's 6.1 LTS kernel
(qemu-system-x86_64, TCG, busybox initramfs) and on the host kernel.

Subcommands (run by ctest, label "kernels"; see CMakeLists.txt here):

  build-static --cmake CMAKE --source DIR --build DIR
      configures and builds a TCPTRAIL_STATIC=ON tcptrail in its own build
      directory and checks that it has no ELF interpreter (fully static).

  guest --tcptrail BIN --ktraffic BIN --cache DIR
      fetches linux-image-6.1.0-*-cloud-amd64-unsigned with `apt-get download`
      (newest in the apt lists, or $TCPTRAIL_KERNEL_PKG), unpacks it with
      `dpkg -x` into DIR (kept for reruns), builds an initramfs (busybox-static,
      tcptrail, ktraffic, guest-init.sh as /init), boots it under qemu and
      checks what the guest printed: `tcptrail --check`, then the conn records of
      ktraffic's connections (client close, server close, refused, IPv6), with
      the same record checks as the host e2e tests (tests/e2e/tthelpers.py).

  host --tcptrail BIN --ktraffic BIN
      the same traffic and checks on the running kernel, in a fresh network
      namespace (tcptrail filtered to it with --netns).

Exit status: 0 pass, 1 fail, 77 skip (only when not root and CI is unset; with
CI set everything missing is a failure). Missing tools are installed with apt:
qemu-system-x86; busybox-static is used from /bin/busybox when that is static,
else fetched with `apt-get download` into the cache.
"""

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from tthelpers import (ACTIVE_CLOSE_STATES, CLIENT_PASSIVE_CLOSE_STATES, PASSIVE_CLOSE_STATES,  # noqa: E402
                       SERVER_ACTIVE_CLOSE_STATES, Result, check_conn, no_counters)

SKIP = 77
KERNEL_PKG_RE = r"^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$"
CLIENT_SEND, SERVER_SEND = 100, 200  # as in ktraffic.c
HANDSHAKE_MAX_US = 30_000_000  # TCG is slow; only the type and sign matter here
# Loaded by the guest's /init in this order: sock_diag for TCP (what a real system
# autoloads on the first request; tcptrail's snapshot of existing sockets uses it).
GUEST_MODULES = ("inet_diag.ko", "tcp_diag.ko")


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def log(msg):
    print("kernels: %s" % msg, flush=True)


def need_root():
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            raise Fail("must run as root (CI is set, so this is a failure, not a skip)")
        raise Skip("needs root (BPF, network namespaces, apt)")


def run(argv, timeout=600, check=True, **kw):
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise Fail("command failed (rc=%d): %s\nstdout: %s\nstderr: %s"
                   % (p.returncode, " ".join(str(a) for a in argv), p.stdout[-3000:], p.stderr[-3000:]))
    return p


# ---------------------------------------------------------------------------
# ELF: is a binary static? (no PT_INTERP program header)

def elf_is_static(path):
    with open(path, "rb") as f:
        head = f.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2:
            raise Fail("%s is not a 64-bit ELF file" % path)
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", table, i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def require_static(path, what):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise Fail("%s not found or not executable: %s" % (what, path))
    if not elf_is_static(path):
        raise Fail("%s is dynamically linked (has an ELF interpreter): %s" % (what, path))


# ---------------------------------------------------------------------------
# apt

_apt_updated = False


def apt_env():
    return dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def apt_update():
    global _apt_updated
    if not _apt_updated:
        log("apt-get update")
        run(["apt-get", "update", "-qq"], env=apt_env(), timeout=300)
        _apt_updated = True


def apt_install(packages):
    apt_update()
    log("apt-get install %s" % " ".join(packages))
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + packages, env=apt_env(), timeout=600)


def apt_download(package, dest):
    """Downloads PACKAGE's .deb into DEST and returns its path."""
    before = set(Path(dest).glob("*.deb"))
    p = run(["apt-get", "download", "-o", "APT::Sandbox::User=root", package], cwd=dest, env=apt_env(),
            timeout=300, check=False)
    if p.returncode != 0:
        apt_update()
        run(["apt-get", "download", "-o", "APT::Sandbox::User=root", package], cwd=dest, env=apt_env(),
            timeout=300)
    debs = [d for d in Path(dest).glob("%s_*.deb" % package) if d not in before] or \
        sorted(Path(dest).glob("%s_*.deb" % package))
    if not debs:
        raise Fail("apt-get download %s left no .deb in %s" % (package, dest))
    return debs[-1]


def newest_kernel_package():
    override = os.environ.get("TCPTRAIL_KERNEL_PKG")
    if override:
        return override
    for attempt in range(2):
        p = run(["apt-cache", "search", "--names-only", KERNEL_PKG_RE], check=False)
        names = [line.split()[0] for line in p.stdout.splitlines() if line.strip()]
        if names:
            return max(names, key=lambda n: int(re.search(r"6\.1\.0-(\d+)-", n).group(1)))
        if attempt == 0:
            apt_update()
    return None


# ---------------------------------------------------------------------------
# Guest ingredients: kernel, busybox, qemu

def fetch_kernel(cache):
    """Returns (package, vmlinuz path, config path), downloading on first use."""
    pkg = newest_kernel_package()
    if pkg is None:
        cached = sorted(cache.glob("linux-image-6.1.0-*-cloud-amd64-unsigned/boot/vmlinuz-*"))
        if not cached:
            raise Fail("no package matching %s in the apt lists, and none cached in %s" % (KERNEL_PKG_RE, cache))
        pkg = cached[-1].parents[1].name
        log("apt lists have no 6.1 cloud kernel; using the cached %s" % pkg)
    kdir = cache / pkg
    if not list(kdir.glob("boot/vmlinuz-*")) or not all((kdir / "modules" / m).is_file() for m in GUEST_MODULES):
        log("fetching %s" % pkg)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            deb = apt_download(pkg, tmp)
            run(["dpkg", "-x", deb, Path(tmp) / "x"], timeout=300)
            if kdir.exists():
                shutil.rmtree(kdir)
            kdir.mkdir(parents=True)
            # Only the kernel image, its config and the few modules the guest loads are kept.
            shutil.move(str(Path(tmp) / "x" / "boot"), str(kdir / "boot"))
            (kdir / "modules").mkdir()
            for m in GUEST_MODULES:
                found = list((Path(tmp) / "x" / "lib" / "modules").glob("*/kernel/net/ipv4/" + m))
                if not found:
                    raise Fail("%s has no net/ipv4/%s" % (pkg, m))
                shutil.copy2(str(found[0]), str(kdir / "modules" / m))
    vmlinuz = sorted(kdir.glob("boot/vmlinuz-*"))[-1]
    config = sorted(kdir.glob("boot/config-*"))[-1]
    text = config.read_text()
    for opt in ("CONFIG_DEBUG_INFO_BTF=y", "CONFIG_BPF_SYSCALL=y", "CONFIG_BLK_DEV_INITRD=y", "CONFIG_SERIAL_8250=y"):
        if opt not in text.splitlines():
            raise Fail("%s lacks %s" % (config, opt))
    return pkg, vmlinuz, config, [kdir / "modules" / m for m in GUEST_MODULES]


def find_busybox(cache):
    system = Path("/bin/busybox")
    if system.is_file() and elf_is_static(system):
        return system
    local = cache / "busybox-static" / "bin" / "busybox"
    if not local.is_file():
        log("fetching busybox-static (no static /bin/busybox here)")
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            deb = apt_download("busybox-static", tmp)
            run(["dpkg", "-x", deb, Path(tmp) / "x"])
            local.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(Path(tmp) / "x" / "bin" / "busybox"), str(local))
    require_static(str(local), "busybox")
    return local


def find_qemu():
    q = shutil.which("qemu-system-x86_64")
    if q is None:
        apt_install(["qemu-system-x86"])
        q = shutil.which("qemu-system-x86_64")
    if q is None:
        raise Fail("qemu-system-x86_64 not found after installing qemu-system-x86")
    return q


def write_cpio(path, entries):
    """An uncompressed newc cpio archive (what the kernel unpacks as initramfs).

    entries: (name, mode, data bytes, (rdev major, rdev minor))."""
    now = int(time.time())
    with open(path, "wb") as out:
        def put(ino, name, mode, data, rdev):
            name_b = name.encode() + b"\0"
            nlink = 2 if (mode & 0o170000) == 0o040000 else 1
            fields = (ino, mode, 0, 0, nlink, now, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0)
            hdr = b"070701" + b"".join(b"%08X" % v for v in fields)
            out.write(hdr + name_b)
            out.write(b"\0" * (-(len(hdr) + len(name_b)) % 4))
            out.write(data)
            out.write(b"\0" * (-len(data) % 4))
        for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
            put(ino, name, mode, data, rdev)
        put(0, "TRAILER!!!", 0, b"", (0, 0))


def build_initramfs(path, busybox, tcptrail, ktraffic, modules):
    d, f, c = 0o040755, 0o100755, 0o020600
    entries = [(n, d, b"", (0, 0)) for n in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys",
                                             "tmp", "run", "modules")]
    entries += [("modules/" + m.name, 0o100644, m.read_bytes(), (0, 0)) for m in modules]
    entries += [("dev/console", c, b"", (5, 1)), ("dev/null", 0o020666, b"", (1, 3))]
    entries += [("init", f, (HERE / "guest-init.sh").read_bytes(), (0, 0)),
                ("bin/busybox", f, Path(busybox).read_bytes(), (0, 0)),
                ("tcptrail", f, Path(tcptrail).read_bytes(), (0, 0)),
                ("ktraffic", f, Path(ktraffic).read_bytes(), (0, 0))]
    write_cpio(path, entries)


def boot(qemu, vmlinuz, initrd, console, duration, port, timeout, events):
    append = "console=ttyS0 quiet loglevel=1 panic=-1 tt_duration=%d tt_port=%d tt_events=%d" % (
        duration, port, int(events))
    argv = [qemu, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "1024",
            "-kernel", str(vmlinuz), "-initrd", str(initrd), "-append", append,
            "-serial", "file:%s" % console]
    log("booting: %s" % " ".join(argv))
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # qemu was started in its own session by us
        p.communicate()
        text = Path(console).read_text(errors="replace") if Path(console).exists() else ""
        raise Fail("qemu did not power off within %d s; console so far:\n%s" % (timeout, text[-6000:]))
    return p.returncode, out.decode(errors="replace")


def parse_console(text):
    text = text.replace("\r", "")
    sections = {}
    for m in re.finditer(r"@@TT-BEGIN (\S+) ?([^\n]*)\n(.*?)\n?@@TT-END \1\n", text, re.S):
        rc = re.search(r"rc=(\d+)", m.group(2))
        sections[m.group(1)] = (m.group(3), int(rc.group(1)) if rc else None)
    return sections


# ---------------------------------------------------------------------------
# The checks, the same on the guest and on the host

class Report:
    def __init__(self):
        self.ok = []
        self.failed = []

    def check(self, name, fn, *args, **kw):
        try:
            fn(*args, **kw)
            self.ok.append(name)
            log("ok    %s" % name)
        except AssertionError as e:
            self.failed.append((name, str(e)))
            log("FAIL  %s\n%s" % (name, e))

    def require(self, name, cond, detail=""):
        def f():
            assert cond, detail
        self.check(name, f)


def parse_traffic(text):
    by = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        msg = json.loads(line)
        by.setdefault(msg["scenario"], {})[msg["side"]] = msg
    return by


def check_tcptrail_check(rep, text, rc):
    lines = [l for l in text.splitlines() if l.strip()]
    for l in lines:
        if not l.startswith("[ok"):
            log("--check: %s" % l)
    rep.require("tcptrail --check exits 0 and says tracing can work", rc == 0 and "tracing can work: yes" in text,
                "rc=%s\n%s" % (rc, text))


def find_one(res, what, **match):
    found = res.find(**match)
    assert len(found) == 1, "expected one conn record for %s %s, found %d\n%s" % (what, match, len(found), res.dump())
    return found[0]


def side_fields(msg, **kw):
    d = dict(family=msg["family"], laddr=msg["laddr"], lport=msg["lport"], raddr=msg["raddr"], rport=msg["rport"],
             netns=msg["netns"], pid=msg["pid"], comm=msg["comm"], bytes_sent=msg["sent"],
             bytes_received=msg["recvd"], error=None, **no_counters())
    d.update(kw)
    return d


def check_records(rep, res, traffic, port, strict_lost):
    def exchange(scenario, client_kw, server_kw):
        pair = traffic.get(scenario, {})
        cli, srv = pair.get("client"), pair.get("server")
        assert cli and srv and "fatal" not in cli and "fatal" not in srv, "ktraffic %s: %s" % (scenario, pair)
        assert cli["comm"] == "ttkcli" and srv["comm"] == "ttksrv", pair
        c = find_one(res, scenario + " client", family=cli["family"], lport=cli["lport"], rport=cli["rport"])
        s = find_one(res, scenario + " server", family=srv["family"], lport=srv["lport"], rport=srv["rport"])
        check_conn(res, c, scenario + " client", **side_fields(cli, role="client", **client_kw))
        check_conn(res, s, scenario + " server", **side_fields(srv, role="server", **server_kw))
        assert c["id"] != s["id"]

    for sc in ("client_close", "client_close6"):
        rep.check("%s: client closes first (closed_by local / remote)" % sc, exchange, sc,
                  dict(states_any=ACTIVE_CLOSE_STATES, closed_by="local", time_wait=True, accept_wait_us=None,
                       between=dict(handshake_us=(0, HANDSHAKE_MAX_US))),
                  dict(states=PASSIVE_CLOSE_STATES, closed_by="remote", time_wait=False))
    rep.check("server_close: server closes first (closed_by remote / local)", exchange, "server_close",
              dict(states=CLIENT_PASSIVE_CLOSE_STATES, closed_by="remote", time_wait=False),
              dict(states_any=SERVER_ACTIVE_CLOSE_STATES, closed_by="local", time_wait=True))

    def refused():
        cli = traffic.get("refused", {}).get("client")
        assert cli and cli.get("error") == "ECONNREFUSED", "ktraffic refused: %s" % cli
        rport = port + 2
        rec = find_one(res, "refused client", family=4, rport=rport)
        check_conn(res, rec, "refused client", family=4, laddr="127.0.0.1", lport=cli["lport"], raddr="127.0.0.1",
                   rport=rport, netns=cli["netns"], role="client", states=["SYN_SENT", "CLOSE"], closed_by="refused",
                   error="ECONNREFUSED", handshake_us=None, accept_wait_us=None, time_wait=False, pid=cli["pid"],
                   comm="ttkcli", bytes_sent=0, bytes_received=0, **no_counters(resets_received=1))
        assert res.find(lport=rport) == [], "records of a socket on the refused port: %s" % res.find(lport=rport)

    rep.check("refused: closed_by refused, error ECONNREFUSED", refused)

    def nothing_else():
        ours = set(range(port, port + 4))
        extra = [r for r in res.conns if r.get("lport") in ours or r.get("rport") in ours]
        assert len(extra) == 7, "expected 7 conn records on ports %d-%d (2 per exchange, 1 refused), found %d:\n%s" % (
            port, port + 3, len(extra), "\n".join(json.dumps(r) for r in extra))

    rep.check("no other conn records on ktraffic's ports", nothing_else)
    if res.lost:
        msg = "tcptrail reported lost events:%s" % res.lost_note()
        if strict_lost:
            rep.require("no lost events", False, msg)
        else:
            log("note: " + msg)
    elif strict_lost:
        rep.require("no lost events", True)


def finish(rep, what):
    log("%s: %d checks ok, %d failed" % (what, len(rep.ok), len(rep.failed)))
    if rep.failed:
        raise Fail("%s: failed: %s" % (what, "; ".join(n for n, _ in rep.failed)))


def utc(ts):
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc)


# ---------------------------------------------------------------------------
# Subcommands

def cmd_build_static(a):
    build = Path(a.build)
    argv = [a.cmake, "-S", a.source, "-B", build, "-DTCPTRAIL_STATIC=ON", "-DTCPTRAIL_TESTS=OFF",
            "-DCMAKE_BUILD_TYPE=Release"]
    for var in ("CMAKE_C_COMPILER", "CMAKE_CXX_COMPILER"):
        v = getattr(a, var.lower())
        if v:
            argv.append("-D%s=%s" % (var, v))
    t0 = time.monotonic()
    run(argv, timeout=300)
    run([a.cmake, "--build", build, "--target", "tcptrail", "-j", str(os.cpu_count() or 2)], timeout=1200)
    binary = build / "tcptrail"
    require_static(str(binary), "static tcptrail")
    log("static tcptrail: %s (%d bytes, no ELF interpreter) built in %.0f s"
        % (binary, binary.stat().st_size, time.monotonic() - t0))


def cmd_guest(a):
    if a.from_console:  # re-check a console saved with --keep-console; no boot
        check_guest_console(a, Path(a.from_console).read_text(errors="replace"), a.from_console)
        return
    need_root()
    t0 = time.monotonic()
    require_static(a.tcptrail, "tcptrail")
    require_static(a.ktraffic, "ktraffic")
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    pkg, vmlinuz, _config, modules = fetch_kernel(cache)
    busybox = find_busybox(cache)
    qemu = find_qemu()
    log("kernel %s (%s), busybox %s, %s" % (pkg, vmlinuz.name, busybox, qemu))
    t_prep = time.monotonic() - t0
    with tempfile.TemporaryDirectory(prefix="tt-kernels-") as tmp:
        initrd = Path(tmp) / "initramfs.cpio"
        console = Path(tmp) / "console.log"
        build_initramfs(initrd, busybox, a.tcptrail, a.ktraffic, modules)
        t1 = time.monotonic()
        rc, qemu_out = boot(qemu, vmlinuz, initrd, console, a.duration, a.port, a.timeout, a.events)
        t_boot = time.monotonic() - t1
        text = console.read_text(errors="replace") if console.exists() else ""
        if a.keep_console:
            shutil.copy2(str(console), a.keep_console)
    if qemu_out.strip():
        log("qemu said: %s" % qemu_out.strip()[-2000:])
    check_guest_console(a, text, "qemu rc=%s" % rc)
    log("total %.0f s (preparation %.0f s, qemu %.0f s)" % (time.monotonic() - t0, t_prep, t_boot))


def check_guest_console(a, text, how):
    sections = parse_console(text)
    guest = re.search(r"@@TT-GUEST (.*)", text)
    times = re.search(r"@@TT-TIMES start=(\d+) stop=(\d+) attach_s=(\d+)", text)
    if not guest or not times or "@@TT-DONE" not in text:
        raise Fail("the guest did not finish its script (%s); console:\n%s" % (how, text[-8000:]))
    log("guest: %s; tcptrail attached after ~%s s" % (guest.group(1), times.group(3)))

    rep = Report()
    check_text, check_rc = sections.get("check", ("", None))
    check_tcptrail_check(rep, check_text, check_rc)
    err_text, trc = sections.get("tcptrail-stderr", ("", None))
    out_text, _ = sections.get("tcptrail-stdout", ("", None))
    traffic_text, krc = sections.get("traffic", ("", None))
    kerr, _ = sections.get("traffic-stderr", ("", None))
    log("tcptrail stderr (rc=%s):\n  %s" % (trc, err_text.strip().replace("\n", "\n  ")))
    rep.require("tcptrail attached and exited 0", trc == 0 and "tracing" in err_text,
                "rc=%s stderr:\n%s" % (trc, err_text))
    rep.require("ktraffic ran its scenarios (rc 0)", krc == 0,
                "rc=%s\nstdout:\n%s\nstderr:\n%s" % (krc, traffic_text, kerr))
    if trc == 0 and krc == 0:
        res = Result(out_text.splitlines(), err_text, trc, ["--json", "--duration", str(a.duration)],
                     utc(int(times.group(1)) - 1), utc(int(times.group(2)) + 1))
        check_records(rep, res, parse_traffic(traffic_text), a.port, strict_lost=True)
    finish(rep, "guest %s" % guest.group(1).split()[0])


def cmd_host(a):
    need_root()
    require_static(a.tcptrail, "tcptrail")
    require_static(a.ktraffic, "ktraffic")
    rep = Report()
    p = run([a.tcptrail, "--check"], check=False, timeout=60)
    check_tcptrail_check(rep, p.stdout + p.stderr, p.returncode)
    ns = "ttk%d" % os.getpid()
    tracer = None
    with tempfile.TemporaryDirectory(prefix="tt-kernels-host-") as tmp:
        try:
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            inode = os.stat("/run/netns/" + ns).st_ino
            out_path, err_path = Path(tmp) / "trace.jsonl", Path(tmp) / "trace.err"
            t_start = time.time()
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                tracer = subprocess.Popen([a.tcptrail, "--json", "--duration", str(a.duration), "--netns", str(inode)],
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
            deadline = time.monotonic() + 30
            while "tracing" not in err_path.read_text(errors="replace"):
                if tracer.poll() is not None or time.monotonic() > deadline:
                    raise Fail("tcptrail did not attach (rc=%s): %s" % (tracer.poll(), err_path.read_text()))
                time.sleep(0.05)
            k = run(["ip", "netns", "exec", ns, a.ktraffic, a.port], check=False, timeout=120)
            try:
                trc = tracer.wait(a.duration + 30)
            except subprocess.TimeoutExpired:
                raise Fail("tcptrail --duration %d did not exit" % a.duration)
            t_stop = time.time()
            err_text = err_path.read_text(errors="replace")
            log("tcptrail stderr (rc=%s):\n  %s" % (trc, err_text.strip().replace("\n", "\n  ")))
            rep.require("tcptrail attached and exited 0", trc == 0, "rc=%s stderr:\n%s" % (trc, err_text))
            rep.require("ktraffic ran its scenarios (rc 0)", k.returncode == 0,
                        "rc=%s\nstdout:\n%s\nstderr:\n%s" % (k.returncode, k.stdout, k.stderr))
            if trc == 0 and k.returncode == 0:
                res = Result(out_path.read_text().splitlines(), err_text, trc, ["--json", "--netns", str(inode)],
                             utc(t_start), utc(t_stop))
                check_records(rep, res, parse_traffic(k.stdout), a.port, strict_lost=False)
        finally:
            if tracer is not None and tracer.poll() is None:
                tracer.kill()  # the tracer this run started
                tracer.wait(10)
            run(["ip", "netns", "del", ns], check=False)
    finish(rep, "host %s" % os.uname().release)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build-static")
    b.add_argument("--cmake", required=True)
    b.add_argument("--source", required=True)
    b.add_argument("--build", required=True)
    b.add_argument("--cmake-c-compiler")
    b.add_argument("--cmake-cxx-compiler")
    for name in ("guest", "host"):
        s = sub.add_parser(name)
        s.add_argument("--tcptrail", required=True)
        s.add_argument("--ktraffic", required=True)
        s.add_argument("--port", type=int, default=40000)
        if name == "guest":
            s.add_argument("--cache", required=True)
            s.add_argument("--duration", type=int, default=10)
            s.add_argument("--timeout", type=int, default=420, help="limit for the qemu run, seconds")
            s.add_argument("--keep-console", help="copy the guest console log here")
            s.add_argument("--from-console", help="only check a console log saved with --keep-console")
            s.add_argument("--events", action="store_true", help="run tcptrail with --events too (debugging)")
        else:
            s.add_argument("--duration", type=int, default=4)
    a = ap.parse_args()
    try:
        {"build-static": cmd_build_static, "guest": cmd_guest, "host": cmd_host}[a.cmd](a)
    except Skip as e:
        log("SKIP: %s" % e)
        return SKIP
    except Fail as e:
        log("FAIL: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
