"""tcptrail --events: the event stream agrees with the conn records."""

import datetime as dt

from tthelpers import Checker, client_record, parse_time, run_exchange, server_record, soft, state_names

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
