"""tcptrail --events: the event stream agrees with the conn records."""

import datetime as dt
import time

from tthelpers import (PYTHON, Checker, client_record, parse_time, run_exchange, server_record, soft, start_server,
                       state_names)

SUBNET = 14

SYN = "tcp dport %d tcp flags & (syn|ack) == syn"


def _check_event_fields(c, ev, rec, first):
    for f in ("family", "laddr", "raddr", "rport", "netns"):
        if ev.get(f) != rec.get(f):
            c.errors.append("event %s %s = %r, record has %r" % (ev.get("event"), f, ev.get(f), rec.get(f)))
    # The connecting socket has no local port yet at CLOSE->SYN_SENT.
    ok_ports = (0, rec["lport"]) if first else (rec["lport"],)
    if ev.get("lport") not in ok_ports:
        c.errors.append("event %s lport = %r, expected %r" % (ev.get("event"), ev.get("lport"), ok_ports))
    try:
        parse_time(ev.get("time"))
    except AssertionError as e:
        c.errors.append(str(e))


def _check_state_events(res, rec, what, first_old):
    c = Checker(rec, what, res.lost_note())
    evs = res.events_for(rec["id"], "state")
    c.check(evs, "no state events with id %r" % rec["id"])
    if evs:
        news = [e.get("new_state") for e in evs]
        olds = [e.get("old_state") for e in evs]
        c.check(news == state_names(rec), "state events new_state %r != record states %r" % (news, state_names(rec)))
        c.check(olds[0] == first_old, "first state event old_state %r, expected %r" % (olds[0], first_old))
        c.check(olds[1:] == news[:-1], "state events do not chain: old %r new %r" % (olds, news))
        for i, ev in enumerate(evs):
            _check_event_fields(c, ev, rec, i == 0)
        try:
            times = [parse_time(e.get("time")) for e in evs]
            c.check(times == sorted(times), "state event times not ordered: %r" % [e.get("time") for e in evs])
            ms = dt.timedelta(milliseconds=1)
            c.check(abs(times[0] - parse_time(rec["start_time"])) <= ms,
                    "first state event time %s != start_time %s" % (evs[0]["time"], rec["start_time"]))
            c.check(abs(times[-1] - parse_time(rec["end_time"])) <= ms,
                    "last state event time %s != end_time %s" % (evs[-1]["time"], rec["end_time"]))
        except AssertionError as e:
            c.errors.append(str(e))
    c.done()


def test_state_events_match_records(rig, tracer):
    port = rig.free_port()
    t = tracer("--events")
    run_exchange(rig, port)
    res = t.stop()
    cli = client_record(res, rig, port)
    srv = server_record(res, rig, port)
    with soft() as s:
        s(_check_state_events, res, cli, "client", "CLOSE")
        s(_check_state_events, res, srv, "server", "LISTEN")
        for rec in (cli, srv):
            other = [e for e in res.events_for(rec["id"]) if e.get("event") != "state"]
            c = Checker(rec, rec["role"], res.lost_note())
            c.check(other == [], "unexpected non-state events on a clean connection: %s" % other)
            s(c.done)


def test_syn_retransmit_event(rig, tracer):
    port = rig.free_port()
    rig.nft_drop_once("srv", "syn", SYN % port)
    t = tracer("--events")
    run_exchange(rig, port)
    res = t.stop()
    assert rig.nft_counter("srv", "syn_drop") == 1
    cli = client_record(res, rig, port)
    srv = server_record(res, rig, port)
    rtx = res.events_for(cli["id"], "retransmit")
    c = Checker(cli, "client", res.lost_note())
    c.check(len(rtx) == 1, "client retransmit events: %r, expected exactly one" % rtx)
    if len(rtx) == 1:
        c.check(rtx[0].get("state") == "SYN_SENT", "retransmit event state %r, expected SYN_SENT" % rtx[0].get("state"))
        _check_event_fields(c, rtx[0], cli, False)
    c.done()
    assert res.events_for(srv["id"], "retransmit") == []


def test_reset_events(rig, tracer):
    port = rig.free_port()
    t = tracer("--events")
    run_exchange(rig, port, client=dict(close="linger-reset"))
    res = t.stop()
    cli = client_record(res, rig, port)
    srv = server_record(res, rig, port)
    c = Checker(cli, "client", res.lost_note())
    sent = res.events_for(cli["id"], "reset_sent")
    c.check(len(sent) == 1, "client reset_sent events: %r, expected exactly one" % sent)
    if len(sent) == 1:
        _check_event_fields(c, sent[0], cli, False)
    c.check(res.events_for(cli["id"], "reset_received") == [], "client has reset_received events")
    d = Checker(srv, "server", res.lost_note())
    got = res.events_for(srv["id"], "reset_received")
    d.check(len(got) == 1, "server reset_received events: %r, expected exactly one" % got)
    if len(got) == 1:
        d.check(got[0].get("state") == "ESTABLISHED", "reset_received state %r, expected ESTABLISHED"
                % got[0].get("state"))
        _check_event_fields(d, got[0], srv, False)
    d.check(res.events_for(srv["id"], "reset_sent") == [], "server has reset_sent events")
    with soft() as s:
        s(c.done)
        s(d.done)


# Sends one bare ACK, from a port with no socket behind it, to addr:port; the
# kernel adds the IPv4 header (no IP_HDRINCL).
_STRAY_ACK = r"""
import socket, struct, sys
src, dst, sport, dport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
hdr = struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000, 5 << 4, 0x10, 65535, 0, 0)
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(hdr))
hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.bind((src, 0))
s.sendto(hdr, (dst, 0))
"""


def test_listener_reset_to_a_stray_ack_names_the_peer(rig, tracer):
    """A listener answers an ACK that matches no connection with a reset: the
    event names the peer the reset went to, and the listener makes no record."""
    port = rig.free_port()
    stray_port = port + 20000
    rig.nft_count("cli", "rst", "tcp sport %d tcp dport %d tcp flags & rst == rst" % (port, stray_port))
    t = tracer("--events")
    srv, _ = start_server(rig, port)
    rig.exec("cli", [PYTHON, "-c", _STRAY_ACK, rig.addr("cli"), rig.addr("srv"), str(stray_port), str(port)])
    deadline = time.monotonic() + 5
    while rig.nft_counter("cli", "rst") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.kill()
    res = t.stop()
    assert rig.nft_counter("cli", "rst") == 1, "the listener sent no reset (nft counter in the client namespace)"
    sent = [e for e in res.events if e.get("event") == "reset_sent" and e.get("netns") == rig.inode["srv"]]
    expected = dict(id=None, family=4, laddr=rig.addr("srv"), lport=port, raddr=rig.addr("cli"), rport=stray_port)
    assert len(sent) == 1, "reset_sent events in the server namespace: %r, expected one%s\nall events: %r" % (
        sent, res.lost_note(), res.events)
    got = {k: sent[0].get(k) for k in expected}
    assert got == expected, "reset_sent %r, expected %r" % (sent[0], expected)
    assert res.find(netns=rig.inode["srv"]) == [], "records in the server namespace: %s" % res.find(
        netns=rig.inode["srv"])
