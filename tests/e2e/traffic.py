#!/usr/bin/python3
"""Traffic generator for the tcptrail end-to-end tests.

Run inside a network namespace, e.g.

    ip netns exec NS /usr/bin/python3 tests/e2e/traffic.py server --addr 10.231.11.2 --port 5001
    ip netns exec NS /usr/bin/python3 tests/e2e/traffic.py client --addr 10.231.11.2 --port 5001

Every message goes to stdout as one JSON object per line (flushed), with an
"event" key, so the test harness can follow the script step by step:

  server: listening -> [pending] -> accepted -> [waiting] -> closed -> done
  client: connected | connect_error -> [waiting] -> closed -> done

Any unexpected failure prints {"event": "error", ...} and exits with status 2.
Each process sets its own comm with prctl(PR_SET_NAME) and has a hard time
limit (SIGALRM), so nothing outlives a test even if the harness dies.
Only the standard library is used.
"""

import argparse
import ctypes
import errno
import json
import os
import select
import signal
import socket
import struct
import sys
import time

PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


def set_comm(name):
    if _libc.prctl(PR_SET_NAME, name.encode(), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


def get_comm():
    with open("/proc/self/comm") as f:
        return f.read().strip()


def emit(event, **kw):
    kw = dict(event=event, pid=os.getpid(), **kw)
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) and e.errno else repr(e)


def family_of(args):
    return socket.AF_INET6 if args.family == 6 else socket.AF_INET


def recv_exact(sock, n):
    got = 0
    while got < n:
        chunk = sock.recv(min(65536, n - got))
        if not chunk:
            raise ConnectionError("EOF after %d of %d bytes" % (got, n))
        got += len(chunk)
    return got


def recv_until_eof(sock):
    """Reads until EOF. Returns (bytes_read, errno_name_or_None)."""
    got = 0
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return got, None
            got += len(chunk)
    except OSError as e:
        return got, errname(e)


def wait_stdin():
    """Blocks until the harness writes a line (or closes stdin)."""
    emit("waiting")
    sys.stdin.readline()


def set_linger_reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def finish(sock, mode, sent, recvd, wait):
    """The close phase shared by client and server."""
    if wait:
        wait_stdin()
    error = None
    if mode == "first":
        sock.close()
    elif mode == "after-eof":
        n, error = recv_until_eof(sock)
        recvd += n
        sock.close()
    elif mode == "linger-reset":
        set_linger_reset(sock)
        sock.close()
    elif mode == "hold":
        emit("holding")
        while True:
            time.sleep(3600)
    else:
        raise ValueError(mode)
    emit("closed", sent=sent, recvd=recvd, error=error)


def serve_one(args, lsock):
    if args.accept_delay > 0:
        # Wait until a connection is fully established (in the accept queue),
        # then delay accept() on purpose.
        r, _, _ = select.select([lsock], [], [], args.timeout)
        if not r:
            raise TimeoutError("no connection to accept")
        emit("pending")
        time.sleep(args.accept_delay)
    conn, peer = lsock.accept()
    local = conn.getsockname()
    emit("accepted", comm=get_comm(), laddr=local[0], lport=local[1], raddr=peer[0], rport=peer[1])
    recvd = recv_exact(conn, args.recv) if args.recv else 0
    if args.send:
        conn.sendall(b"s" * args.send)
    finish(conn, args.close, args.send, recvd, args.wait)


def cmd_server(args):
    if args.fork_accept:
        # The listener is created by this (parent) process, named
        # --listener-comm; a child with comm --comm calls accept().
        set_comm(args.listener_comm)
    else:
        set_comm(args.comm)
    lsock = socket.socket(family_of(args), socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.addr, args.port))
    lsock.listen(16)
    if not args.fork_accept:
        emit("listening", comm=get_comm(), port=args.port)
        serve_one(args, lsock)
        emit("done")
        return 0
    child = os.fork()
    if child == 0:
        try:
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            set_comm(args.comm)
            emit("listening", comm=get_comm(), port=args.port, listener_pid=os.getppid())
            serve_one(args, lsock)
            emit("done")
            os._exit(0)
        except BaseException as e:  # noqa: BLE001 - report anything
            emit("error", error=errname(e), message=str(e))
            os._exit(2)
    lsock.close()
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


def cmd_client(args):
    set_comm(args.comm)
    sock = socket.socket(family_of(args), socket.SOCK_STREAM)
    t0 = time.monotonic()
    try:
        sock.connect((args.addr, args.port))
    except OSError as e:
        dt = time.monotonic() - t0
        try:
            local = sock.getsockname()
        except OSError:
            local = ("", 0)
        emit("connect_error", comm=get_comm(), error=errname(e), connect_s=dt,
             laddr=local[0], lport=local[1])
        sock.close()
        emit("done")
        return 0
    dt = time.monotonic() - t0
    local = sock.getsockname()
    emit("connected", comm=get_comm(), connect_s=dt, laddr=local[0], lport=local[1])
    if args.send_delay > 0:
        time.sleep(args.send_delay)
    if args.send:
        sock.sendall(b"c" * args.send)
    recvd = recv_exact(sock, args.recv) if args.recv else 0
    finish(sock, args.close, args.send, recvd, args.wait)
    emit("done")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p, comm):
        p.add_argument("--family", type=int, choices=(4, 6), default=4)
        p.add_argument("--addr", required=True, help="server address (bind for server, connect for client)")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--comm", default=comm, help="process name set with prctl(PR_SET_NAME)")
        p.add_argument("--send", type=int, default=0, help="payload bytes to send")
        p.add_argument("--recv", type=int, default=0, help="payload bytes to receive exactly")
        p.add_argument("--close", choices=("first", "after-eof", "linger-reset", "hold"), default="first",
                       help="first: close right after the exchange; after-eof: read until the peer "
                            "closes, then close; linger-reset: SO_LINGER{1,0} close (RST); "
                            "hold: keep the connection open until killed")
        p.add_argument("--wait", action="store_true",
                       help="before the close phase print {'event':'waiting'} and wait for a line on stdin")
        p.add_argument("--timeout", type=float, default=20.0, help="hard time limit of this process")

    ps = sub.add_parser("server")
    common(ps, "ttsrv")
    ps.add_argument("--accept-delay", type=float, default=0.0,
                    help="seconds to wait between the connection being established and accept()")
    ps.add_argument("--fork-accept", action="store_true",
                    help="listen in the parent, accept() in a forked child")
    ps.add_argument("--listener-comm", default="ttlsn")

    pc = sub.add_parser("client")
    common(pc, "ttcli")
    pc.add_argument("--send-delay", type=float, default=0.0, help="seconds to wait after connect before sending")

    args = ap.parse_args(argv)

    def on_alarm(signum, frame):
        emit("error", error="ETIME", message="traffic.py hard time limit reached")
        os._exit(3)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, args.timeout)
    try:
        return cmd_server(args) if args.cmd == "server" else cmd_client(args)
    except Exception as e:  # noqa: BLE001 - report anything to the harness
        emit("error", error=errname(e), message=str(e))
        return 2


if __name__ == "__main__":
    sys.exit(main())
