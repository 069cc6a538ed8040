#include "core/tracker.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "core/tcp_state.hpp"

namespace tcptrail::core {

namespace {

// Events from different CPUs reach the ring buffer a few microseconds out of
// timestamp order; an event at time t vouches only for events before t - margin.
constexpr uint64_t kReorderMarginNs = 1'000'000;

std::string comm_of(const tt_event& e) { return std::string(e.comm, strnlen(e.comm, sizeof(e.comm))); }

void fnv1a(uint64_t& h, const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ULL;
}

// Being in one of these states means this side's FIN is in the sequence space.
bool sends_fin(uint8_t s) { return is_fin_state(s) || s == TT_FIN_WAIT2; }

// States a socket leaves for CLOSE at the end of an orderly FIN exchange.
bool is_orderly_end(uint8_t s) { return s == TT_FIN_WAIT2 || s == TT_CLOSING || s == TT_LAST_ACK; }

}  // namespace

bool RecordFilter::passes(const ConnRecord& r) const {
    if (pid && (!r.pid || *r.pid != *pid)) return false;
    if (!comm.empty() && r.comm != comm) return false;
    if (min_handshake_us && (!r.handshake_us || *r.handshake_us < *min_handshake_us)) return false;
    return true;
}

size_t Tracker::TupleHash::operator()(const SocketTuple& t) const {
    // FNV-1a over the identifying bytes.
    uint64_t h = 1469598103934665603ULL;
    fnv1a(h, &t.family, 1);
    fnv1a(h, t.laddr.data(), 16);
    fnv1a(h, t.raddr.data(), 16);
    fnv1a(h, &t.lport, 2);
    fnv1a(h, &t.rport, 2);
    fnv1a(h, &t.netns, 4);
    return h;
}

size_t Tracker::LocalAddrHash::operator()(const LocalAddr& a) const {
    // A multiply per word, not FNV's per byte: every socket interns its local
    // address (twice for a client, whose port comes after SYN_SENT).
    constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;
    uint64_t h = (a.addr[0] ^ (static_cast<uint64_t>(a.netns) << 8 | a.family)) * kMul;
    h = (h ^ (h >> 32) ^ a.addr[1]) * kMul;
    return h ^ (h >> 29);
}

Tracker::Tracker(Output& out, TrackerOptions opts) : out_(out), opts_(std::move(opts)) {}

uint64_t Tracker::listener_key(uint32_t netns, uint16_t lport) { return (static_cast<uint64_t>(netns) << 16) | lport; }

Tracker::Conn* Tracker::find(uint64_t cookie) {
    const Slot s = conns_.find(cookie);
    if (s == kNoSlot) return nullptr;
    Conn& c = conns_.at(s);
    lru_touch(c);
    return &c;
}

void Tracker::lru_unlink(Conn& c) {
    (c.lru_prev != kNoSlot ? conns_.at(c.lru_prev).lru_next : lru_oldest_) = c.lru_next;
    (c.lru_next != kNoSlot ? conns_.at(c.lru_next).lru_prev : lru_newest_) = c.lru_prev;
    c.lru_prev = c.lru_next = kNoSlot;
}

void Tracker::lru_touch(Conn& c) {
    if (lru_newest_ == c.slot) return;
    if (c.lru_prev != kNoSlot || c.lru_next != kNoSlot || lru_oldest_ == c.slot) lru_unlink(c);
    c.lru_prev = lru_newest_;
    if (lru_newest_ != kNoSlot) conns_.at(lru_newest_).lru_next = c.slot;
    lru_newest_ = c.slot;
    if (lru_oldest_ == kNoSlot) lru_oldest_ = c.slot;
}

void Tracker::count_open(const Conn& c, int delta) {
    if (!c.closed && c.state < open_by_state_.size()) open_by_state_[c.state] += delta;
}

void Tracker::erase(Conn& c) {
    lru_unlink(c);
    count_open(c, -1);
    if (c.extra && spare_extras_.size() < kMaxSpareExtras) {
        c.extra->reset();
        spare_extras_.push_back(std::move(c.extra));
    }
    conns_.erase(c.slot);
}

void Tracker::evict_over_cap() {
    while (conns_.size() > opts_.max_conns && lru_oldest_ != kNoSlot) {
        Conn& victim = conns_.at(lru_oldest_);
        if (victim.closed) {
            finalize(victim, false);  // complete already: release it early rather than lose it
        } else {
            ++stats_.evicted;
            ++unreported_evictions_;
        }
        erase(victim);
    }
}

// A gap may be an event the kernel side counted lost (the ring buffer was full,
// a program nested too deep): only the gaps beyond all such losses are reported,
// so that no loss is counted twice. A recursion miss is counted one poll late,
// so each round weighs the gaps found up to the round before; the last one
// (final, after every counter was read) weighs them all.
void Tracker::report_losses(bool final) {
    if (unreported_evictions_) out_.on_lost(unreported_evictions_, LossReason::Evicted);
    unreported_evictions_ = 0;
    const uint64_t gaps = final ? stats_.state_gaps : state_gaps_last_round_;
    state_gaps_last_round_ = stats_.state_gaps;
    const uint64_t unexplained = gaps > counted_kernel_losses_ ? gaps - counted_kernel_losses_ : 0;
    if (unexplained > stats_.unexplained_state_gaps) {
        out_.on_lost(unexplained - stats_.unexplained_state_gaps, LossReason::StateGap);
        stats_.unexplained_state_gaps = unexplained;
    }
}

// The kernel reports each state change of a socket with the state it left, so
// its events chain: a socket last seen in SYN_SENT whose next event leaves
// ESTABLISHED changed state at least once unseen. Such gaps were found with
// nothing counted lost anywhere (the programs did not run for a softirq's
// state changes: cause unknown, rare, under load); they are counted here, so
// that no loss is silent (report_losses()).
void Tracker::note_state_gap(uint64_t missed) { stats_.state_gaps += missed; }

Tracker::Conn& Tracker::create(const tt_event& e, Role role, bool partial) {
    const Slot s = conns_.insert(e.cookie);
    Conn& c = conns_.at(s);
    c.slot = s;
    count_open(c, +1);
    lru_touch(c);
    c.id = next_id_++;
    set_tuple(c, tuple_of(e));
    c.cgroup_id = e.cgroup_id;
    c.role = role;
    c.partial = partial;
    c.start_ns = e.ts_ns;
    if (role == Role::Server) {
        // Until accept() names the owner, the listener's owner is the best guess.
        auto it = listeners_.find(listener_key(e.netns, e.lport));
        if (it != listeners_.end() && it->second.known) {
            c.pid = it->second.pid;
            c.comm = it->second.comm;
            c.pid_known = true;
        }
    }
    return c;
}

// A socket first seen mid-life, in `state`: it existed before tracing began (or
// its earlier events were lost). Past the handshake, its data transfer is taken
// to start here.
Tracker::Conn& Tracker::create_midlife(const tt_event& e, Role role, uint8_t state) {
    Conn& c = create(e, role, true);
    push_state(c, state, e.ts_ns);
    if (state != TT_SYN_SENT && state != TT_SYN_RECV) c.established_ns = e.ts_ns;
    return c;
}

uint32_t Tracker::intern_comm(const tt_event& e) { return comms_.intern(comm_of(e)); }

void Tracker::set_owner(Conn& c, const tt_event& e) {
    c.pid = e.pid;
    c.comm = intern_comm(e);
    c.pid_known = true;
}

void Tracker::set_tuple(Conn& c, const SocketTuple& t) {
    LocalAddr local;
    std::memcpy(local.addr.data(), t.laddr.data(), sizeof(local.addr));
    local.netns = t.netns;
    local.family = t.family;
    c.local = local_addrs_.intern(local);
    c.raddr = t.raddr;
    c.lport = t.lport;
    c.rport = t.rport;
}

SocketTuple Tracker::tuple_of_conn(const Conn& c) const {
    const LocalAddr& local = local_addrs_[c.local];
    SocketTuple t;
    t.family = local.family;
    std::memcpy(t.laddr.data(), local.addr.data(), sizeof(t.laddr));
    t.raddr = c.raddr;
    t.lport = c.lport;
    t.rport = c.rport;
    t.netns = local.netns;
    return t;
}

Tracker::ConnExtra& Tracker::extra_of(Conn& c) {
    if (!c.extra) {
        if (spare_extras_.empty()) {
            c.extra = std::make_unique<ConnExtra>();
        } else {
            c.extra = std::move(spare_extras_.back());
            spare_extras_.pop_back();
        }
    }
    return *c.extra;
}

void Tracker::push_state(Conn& c, uint8_t state, uint64_t ts_ns) {
    if (c.first_state_count < c.first_states.size()) {
        // The first state's time is start_ns: the event that creates a socket gives its first state.
        if (c.first_state_count == 1) c.second_state_ns = ts_ns;
        c.first_states[c.first_state_count++] = state;
    } else {
        std::vector<StateStamp>& later = extra_of(c).later_states;
        // Closing takes 3-5 more states: grow once.
        if (later.empty()) later.reserve(5);
        later.push_back({state, ts_ns});
    }
    count_open(c, -1);
    c.state = state;
    count_open(c, +1);
}

// Only for a socket with two or more states (it has just closed).
void Tracker::insert_before_last_state(Conn& c, StateStamp s) {
    std::vector<StateStamp>& later = extra_of(c).later_states;
    if (later.empty()) {  // the last is the second state
        later.push_back({c.first_states[1], c.second_state_ns});
        c.first_states[1] = s.state;
        c.second_state_ns = s.ts_ns;
    } else {
        later.insert(later.end() - 1, s);
    }
}

void Tracker::mark_closed(Conn& c) {
    count_open(c, -1);
    c.closed = true;
}

void Tracker::take_counters(Conn& c, const tt_event& e) {
    c.last_event_ns = std::max<uint64_t>(c.last_event_ns, e.ts_ns);
    if (e.cgroup_id) c.cgroup_id = e.cgroup_id;
    if (c.lport == 0 && e.lport != 0) set_tuple(c, tuple_of(e));  // port bound after SYN_SENT
    if (e.flags & TT_F_NO_COUNTERS) return;
    c.bytes_acked = e.bytes_acked;
    c.bytes_received = e.bytes_received;
    c.sk_bits = e.sk_bits;
    c.srtt_us = e.srtt_us8 >> 3;
    c.total_retrans = e.total_retrans;
    if (!c.have_retrans_base && c.partial) {
        c.retrans_base = e.total_retrans;
        c.have_retrans_base = true;
    }
}

void Tracker::emit_event(const tt_event& e, uint64_t conn_id) {
    // accept() and start-up snapshots inform the records but are not events of the
    // connection's life: the --events stream carries only the kernel's TCP events.
    if (!opts_.emit_events || e.type == TT_EV_ACCEPT || e.type == TT_EV_EXISTING) return;
    out_.on_event(EventRecord{&e, conn_id});
}

void Tracker::on_event(const tt_event& e) {
    ++stats_.events;
    switch (e.type) {
        case TT_EV_STATE: on_state(e); break;
        case TT_EV_RETRANSMIT: on_retransmit(e); break;
        case TT_EV_SYNACK_RETRANS: on_synack_retransmit(e); break;
        case TT_EV_RESET_SENT: on_reset(e, true); break;
        case TT_EV_RESET_RECEIVED: on_reset(e, false); break;
        case TT_EV_ACCEPT: on_accept(e); break;
        case TT_EV_EXISTING: on_existing(e); break;
        case TT_EV_NETSTAT: on_netstat(e); return;  // sampled in user space: vouches for no kernel event
        default: return;                            // unknown kinds from a newer capture are skipped
    }
    if (conns_.size() > opts_.max_conns) evict_over_cap();
    if (e.ts_ns > kReorderMarginNs) release_closed(e.ts_ns - kReorderMarginNs);
}

void Tracker::on_state(const tt_event& e) {
    const uint8_t from = e.old_state;
    const uint8_t to = e.new_state;
    Conn* c = find(e.cookie);
    if (c && (e.flags & TT_F_RESCUED) && made_transition(*c, from, to)) {
        ++stats_.duplicate_events;
        return;
    }
    // A handshake under way when tracing began: the start-up dump found its
    // request socket (in SYN_RECV) and so made its cookie, which the kernel gives
    // the child the handshake makes. The child's LISTEN -> SYN_RECV goes on with
    // that record: no state change was missed, and SYN_RECV is not entered twice.
    if (c && c->partial && c->state == TT_SYN_RECV && from == TT_LISTEN && to == TT_SYN_RECV) {
        take_counters(*c, e);
        emit_event(e, c->id);
        return;
    }
    if (c && c->state != from) note_state_gap(1);
    if (!c) {
        if (to == TT_LISTEN) {
            uint64_t key = listener_key(e.netns, e.lport);
            listeners_[key] = Owner{e.pid, intern_comm(e), true};
            listener_cookies_[e.cookie] = key;
            emit_event(e, 0);
            return;
        }
        if (from == TT_LISTEN && to == TT_CLOSE) {
            if (auto it = listener_cookies_.find(e.cookie); it != listener_cookies_.end()) {
                listeners_.erase(it->second);
                listener_cookies_.erase(it);
            }
            emit_event(e, 0);
            return;
        }
        if (from == TT_CLOSE && to == TT_CLOSE) {
            emit_event(e, 0);
            return;
        }
        // Older kernels (6.1) fire a child's LISTEN -> SYN_RECV inside the clone of its
        // listener, before the child has its own cookie and its peer's address: the
        // event carries the listener's cookie and no remote port. Hold it for the
        // child's next event, which has both.
        if (from == TT_LISTEN && to == TT_SYN_RECV && (e.rport == 0 || listener_cookies_.count(e.cookie))) {
            if (early_children_.size() >= kMaxEarlyChildren) early_children_.pop_front();
            early_children_.push_back(e);
            return;
        }
        if (from == TT_SYN_RECV && adopt_early_child(e)) c = find(e.cookie);
    }
    if (!c) {
        if (from == TT_CLOSE && to == TT_SYN_SENT) {
            c = &create(e, Role::Client, false);
            set_owner(*c, e);  // connect() runs in the connecting task
        } else if (from == TT_LISTEN && to == TT_SYN_RECV) {
            c = &create(e, Role::Server, false);
            note_recent_child(*c);
            if (auto it = synack_notes_.find(tuple_of_conn(*c)); it != synack_notes_.end()) {
                extra_of(*c).first_synack_us = it->second.first_synack_us;
                synack_notes_.erase(it);
            }
        } else {
            // First seen mid-life: it existed before tracing began (or events were lost).
            c = &create_midlife(e, Role::Unknown, from);
            if (sends_fin(from)) c->fin_sent = true;
        }
    }

    push_state(*c, to, e.ts_ns);
    if (sends_fin(to)) c->fin_sent = true;
    take_counters(*c, e);

    switch (to) {
        case TT_SYN_RECV:
            if (c->role == Role::Server) c->syn_recv_ns = e.ts_ns;
            break;
        case TT_ESTABLISHED:
            if (c->established_ns != 0) break;
            c->established_ns = e.ts_ns;
            c->retrans_base = e.total_retrans;  // retransmits so far were of the handshake
            c->have_retrans_base = true;
            // Exact even for a handshake that began before tracing did: the
            // socket's count covers its whole life, all of it handshake so far.
            // (The child is given the request socket's SYN-ACK retransmit count
            // after its SYN_RECV event fires, so it is read here.)
            if (e.total_retrans && c->role == Role::Client) extra_of(*c).syn_retrans = e.total_retrans;
            if (e.total_retrans && c->role == Role::Server) extra_of(*c).synack_retrans = e.total_retrans;
            if (c->partial) break;
            if (c->role == Role::Client) {
                c->handshake_us = (e.ts_ns - c->start_ns) / 1000;
                c->has_handshake = true;
            } else if (c->role == Role::Server) {
                // Server handshake starts at the first SYN-ACK. Its send time is known
                // from a SYN-ACK retransmit note; otherwise the kernel has just measured
                // first-SYN-ACK -> ACK as the socket's first RTT sample.
                const uint64_t est_us = e.ts_ns / 1000;
                const uint64_t since_syn_recv_us = (e.ts_ns - c->syn_recv_ns) / 1000;
                const std::optional<uint64_t> first_synack_us = c->extra ? c->extra->first_synack_us : std::nullopt;
                if (first_synack_us && *first_synack_us <= est_us) {
                    c->handshake_us = est_us - *first_synack_us;
                } else {
                    c->handshake_us = (e.srtt_us8 >> 3) + since_syn_recv_us;
                }
                c->has_handshake = true;
            }
            if (const ConnRecord& r = record_of(*c); opts_.filter.passes(r)) out_.on_open(r);
            break;
        case TT_FIN_WAIT1:
            c->saw_fin_wait1 = true;
            if (c->role == Role::Unknown && !c->pid_known) set_owner(*c, e);  // close() caller
            break;
        case TT_CLOSE_WAIT:
            c->saw_close_wait = true;
            if (opts_.close_wait_warn_ns) close_wait_watch_.emplace_back(e.cookie, e.ts_ns);
            break;
        case TT_CLOSING: c->saw_closing = true; break;
        case TT_LAST_ACK:
            if (c->role == Role::Unknown && !c->pid_known) set_owner(*c, e);
            break;
        case TT_CLOSE:
            if (!c->closed) {
                mark_closed(*c);
                ConnExtra& x = extra_of(*c);
                x.state_before_close = from;
                x.err_at_close = e.sk_err;
                x.probes_out_at_close = static_cast<uint8_t>(e.aux >> 8);
                x.end_ns = e.ts_ns;
                closed_queue_.push_back({c->cookie, c->id, e.ts_ns});
                // FIN_WAIT2/CLOSING -> CLOSE is the hand-over to a TIME_WAIT mini-socket,
                // which fires no tracepoint of its own. Once the peer's FIN is in, that
                // mini-socket is in TIME_WAIT: show it, in the timeline and the events.
                c->time_wait = (from == TT_FIN_WAIT2 || from == TT_CLOSING) && e.sk_err == 0 && !c->reset_received;
                if (c->time_wait && (e.sk_bits & TT_SK_PEER_FIN)) {
                    insert_before_last_state(*c, StateStamp{TT_TIME_WAIT, e.ts_ns});
                    tt_event enter = e, leave = e;
                    enter.new_state = leave.old_state = TT_TIME_WAIT;
                    emit_event(enter, c->id);
                    emit_event(leave, c->id);
                    return;
                }
            }
            break;
        default: break;
    }
    emit_event(e, c->id);
}

// Whether the socket's timeline already has from -> to. A socket makes each
// transition once (a reconnect after a failed connect() aside), so a rescued
// event that repeats one is the kernel side tracing a hit twice: the first
// copy's trace of it had left the per-CPU log by the time the second copy
// looked (a long softirq ran between them: bpf/tcptrail.bpf.c). The repeat
// comes within a few milliseconds, while the socket is still here: closed
// sockets wait close_grace_ns.
bool Tracker::made_transition(const Conn& c, uint8_t from, uint8_t to) const {
    if (to == TT_CLOSE) return c.closed && c.extra && c.extra->state_before_close == from;
    if (c.first_state_count == 0) return false;
    // The transition that made the socket: its first state's predecessor is implicit.
    if (!c.partial && c.first_states[0] == to &&
        ((c.role == Role::Client && from == TT_CLOSE) || (c.role == Role::Server && from == TT_LISTEN)))
        return true;
    uint8_t prev = c.first_states[0];
    auto step = [&](uint8_t next) {
        const bool match = prev == from && next == to;
        prev = next;
        return match;
    };
    if (c.first_state_count > 1 && step(c.first_states[1])) return true;
    if (c.extra) {
        for (const StateStamp& s : c.extra->later_states) {
            if (step(s.state)) return true;
        }
    }
    return false;
}

bool Tracker::adopt_early_child(const tt_event& e) {
    for (auto it = early_children_.begin(); it != early_children_.end(); ++it) {
        if (it->netns != e.netns || it->lport != e.lport) continue;
        tt_event first = *it;
        early_children_.erase(it);
        first.cookie = e.cookie;
        first.family = e.family;
        first.rport = e.rport;
        std::memcpy(first.laddr, e.laddr, sizeof(first.laddr));
        std::memcpy(first.raddr, e.raddr, sizeof(first.raddr));
        on_state(first);
        return true;
    }
    return false;
}

namespace {

// Equal tuples give equal keys: the interned local side (family, address, netns),
// the ports and the remote address.
uint64_t child_key(uint32_t local, uint16_t lport, uint16_t rport, const std::array<uint8_t, 16>& raddr) {
    uint64_t r[2];
    std::memcpy(r, raddr.data(), sizeof(r));
    uint64_t k = (static_cast<uint64_t>(local) << 32) | (static_cast<uint64_t>(lport) << 16) | rport;
    k = (k ^ r[0]) * 0x9E3779B97F4A7C15ULL;
    return (k ^ r[1]) * 0x9E3779B97F4A7C15ULL;
}

}  // namespace

void Tracker::note_recent_child(const Conn& c) {
    recent_children_[recent_children_next_] = RecentChild{child_key(c.local, c.lport, c.rport, c.raddr), c.cookie};
    recent_children_next_ = (recent_children_next_ + 1) & (kRecentChildren - 1);
}

// Two CPUs can each take a request's final ACK (the ACK and the first data, say)
// and each clone a child from it. The one that loses the race to hash its child
// closes that child from SYN_RECV at once; with SYN cookies it frees the child
// with no state change at all. Either way it was never a connection: its
// sibling with the same tuple is. Two sockets with one tuple alive at the same
// time can only be such a pair. Checked when the child is released, by when
// the sibling has certainly been seen (on 6.1 its events may come later).
bool Tracker::lost_race_to_sibling(const Conn& c) const {
    if (c.role != Role::Server || c.partial || c.first_states[0] != TT_SYN_RECV) return false;
    const bool closed_at_once = c.first_state_count == 2 && c.first_states[1] == TT_CLOSE && !c.end_unobserved;
    const bool never_moved = c.first_state_count == 1;  // still open, or gone with no CLOSE seen
    if (!closed_at_once && !never_moved) return false;
    const uint64_t end_ns = closed_at_once ? c.extra->end_ns : UINT64_MAX;
    const uint64_t key = child_key(c.local, c.lport, c.rport, c.raddr);
    for (const RecentChild& r : recent_children_) {
        if (r.key != key || r.cookie == c.cookie || r.cookie == 0) continue;
        const Slot s = conns_.find(r.cookie);
        if (s == kNoSlot) continue;
        const Conn& sib = conns_.at(s);
        const bool same_tuple =
            sib.local == c.local && sib.lport == c.lport && sib.rport == c.rport && sib.raddr == c.raddr;
        const bool overlap = sib.start_ns <= end_ns && (!sib.closed || sib.extra->end_ns >= c.start_ns);
        // The sibling won: it went on past SYN_RECV.
        if (sib.role == Role::Server && sib.id != c.id && same_tuple && overlap && sib.first_state_count > 1 &&
            sib.first_states[1] != TT_CLOSE)
            return true;
    }
    return false;
}

void Tracker::on_retransmit(const tt_event& e) {
    Conn* c = find(e.cookie);
    if (!c) {
        if (e.new_state == TT_CLOSE || !is_valid_state(e.new_state)) {
            emit_event(e, 0);
            return;
        }
        c = &create_midlife(e, Role::Unknown, e.new_state);
    }
    take_counters(*c, e);
    if (is_fin_state(e.new_state)) ++extra_of(*c).fin_retrans;
    emit_event(e, c->id);
}

void Tracker::on_synack_retransmit(const tt_event& e) {
    // Keyed by the request's tuple: the child socket appears later with the same one.
    SocketTuple t = tuple_of(e);
    synack_notes_.try_emplace(t, SynackNote{e.aux64, e.ts_ns});
    if (e.ts_ns - last_note_sweep_ns_ > opts_.synack_note_ttl_ns) {
        last_note_sweep_ns_ = e.ts_ns;
        std::erase_if(synack_notes_,
                      [&](const auto& kv) { return e.ts_ns - kv.second.seen_ns > opts_.synack_note_ttl_ns; });
    }
    emit_event(e, 0);
}

void Tracker::on_reset(const tt_event& e, bool sent) {
    Conn* c = (e.flags & TT_F_NO_SOCKET) ? nullptr : find(e.cookie);
    if (!c) {
        // A listener's reset (captures from before the BPF side took its tuple
        // from the packet) is about a stray segment, not a connection of its own.
        const bool full_open_socket = !(e.flags & (TT_F_NO_SOCKET | TT_F_MINISOCK)) && e.new_state != TT_CLOSE &&
                                      e.new_state != TT_LISTEN && is_valid_state(e.new_state);
        if (!full_open_socket) {
            emit_event(e, 0);
            return;
        }
        c = &create_midlife(e, Role::Unknown, e.new_state);
    }
    if (sent) {
        ++extra_of(*c).resets_sent;
    } else {
        ++extra_of(*c).resets_received;
        if (!c->closed) c->reset_received = true;
    }
    take_counters(*c, e);
    emit_event(e, c->id);
}

void Tracker::on_accept(const tt_event& e) {
    // The accept program reads the socket's cookie, made by the first program
    // that traced it (or by the start-up dump). None: accept() returned a
    // socket whose LISTEN -> SYN_RECV -> ESTABLISHED no event reported. Until
    // the start-up dump has ended that is a socket made before the programs
    // were attached, which the dump did not reach in time (a busy server
    // draining its accept queue at start): no loss. After it, every older
    // socket has a cookie (the dump made one).
    if (e.cookie == 0 && startup_snapshot_end_ns_ && e.ts_ns >= *startup_snapshot_end_ns_) note_state_gap(2);
    Conn* c = e.cookie ? find(e.cookie) : nullptr;
    if (!c) {
        emit_event(e, 0);
        return;
    }
    set_owner(*c, e);  // accept() runs in the accepting process: the true owner
    if (!c->has_accept_wait && c->established_ns && e.ts_ns >= c->established_ns) {
        c->accept_wait_us = (e.ts_ns - c->established_ns) / 1000;
        c->has_accept_wait = true;
    }
    take_counters(*c, e);
    emit_event(e, c->id);
}

void Tracker::on_existing(const tt_event& e) {
    if (e.flags & TT_F_SNAPSHOT_END) {
        if (e.aux != TT_SNAPSHOT_AT_START) {
            reconcile_with_final_snapshot(e);
        } else if (!startup_snapshot_end_ns_) {
            startup_snapshot_end_ns_ = e.ts_ns;
        }
        return;
    }
    const bool owner_known = (e.flags & TT_F_OWNER_KNOWN) != 0;
    if (e.new_state == TT_LISTEN) {
        uint64_t key = listener_key(e.netns, e.lport);
        Owner& o = listeners_[key];
        if (owner_known || !o.known) o = Owner{e.pid, intern_comm(e), owner_known};
        listener_cookies_[e.cookie] = key;
        emit_event(e, 0);
        return;
    }
    if (Conn* known = find(e.cookie)) {  // its events came first, or a refresh at exit
        if (owner_known && !known->pid_known) set_owner(*known, e);
        // A snapshot older than the socket's last event must not overwrite its counters.
        if (!known->closed && e.ts_ns >= known->last_event_ns) take_counters(*known, e);
        if (e.flags & TT_F_FINAL) known->in_final_snapshot = true;
        return;
    }
    if (e.flags & TT_F_FINAL) return;  // born and unseen in our window: nothing to report
    if (!is_valid_state(e.new_state) || e.new_state == TT_CLOSE) return;
    // Found at start: role from the listening ports (listeners come first).
    const Role role = listeners_.count(listener_key(e.netns, e.lport)) ? Role::Server : Role::Client;
    Conn& c = create_midlife(e, role, e.new_state);
    if (sends_fin(e.new_state)) c.fin_sent = true;
    if (e.new_state == TT_CLOSE_WAIT || e.new_state == TT_LAST_ACK) c.saw_close_wait = true;
    if (owner_known) set_owner(c, e);
    take_counters(c, e);
    emit_event(e, c.id);
}

// At exit the kernel is asked which sockets still exist. One we still think open
// that is not among them, and saw no event since, closed while its events were
// lost: report it ended (how is unknown) rather than open.
void Tracker::reconcile_with_final_snapshot(const tt_event& end) {
    std::vector<Conn*> gone;
    conns_.for_each_slot([&](Slot s) {
        Conn& c = conns_.at(s);
        if (!c.closed && !c.in_final_snapshot && c.last_event_ns <= end.ts_ns) gone.push_back(&c);
    });
    // Queued in the order they were first seen, not in the hash table's order.
    std::sort(gone.begin(), gone.end(), [](const Conn* a, const Conn* b) { return a->id < b->id; });
    for (Conn* c : gone) {
        mark_closed(*c);
        c->end_unobserved = true;
        ConnExtra& x = extra_of(*c);
        x.state_before_close = c->state;
        x.end_ns = std::max(c->last_event_ns, c->start_ns);
        closed_queue_.push_back({c->cookie, c->id, x.end_ns});
    }
}

void Tracker::on_netstat(const tt_event& e) {
    const NetstatCounters now = netstat_of(e);
    NetstatDelta d;
    d.ts_ns = e.ts_ns;
    d.netns = e.netns;
    auto [it, first] = netstat_last_.try_emplace(e.netns, NetstatSample{e.ts_ns, now});
    if (!first) {
        const NetstatSample& prev = it->second;
        bool restarted = false;
        for (size_t i = 0; i < now.size(); ++i) restarted |= now[i] < prev.values[i];
        // Counters never go down within a namespace: this inode now names a new
        // namespace (inodes are reused quickly), which counts from this sample.
        if (!restarted && e.ts_ns >= prev.ts_ns) {
            d.interval_ns = e.ts_ns - prev.ts_ns;
            for (size_t i = 0; i < now.size(); ++i) d.moved[i] = now[i] - prev.values[i];
        }
        it->second = NetstatSample{e.ts_ns, now};
    }
    out_.on_netstat(d);
}

void Tracker::on_lost(uint64_t count, LossReason reason) {
    if (!count) return;
    if (reason != LossReason::Evicted && reason != LossReason::StateGap) counted_kernel_losses_ += count;
    out_.on_lost(count, reason);
}

void Tracker::advance(uint64_t now_ns) {
    release_closed(now_ns);
    report_losses(false);
    warn_close_wait(now_ns);
}

void Tracker::warn_close_wait(uint64_t now_ns) {
    while (!close_wait_watch_.empty()) {
        const auto [cookie, since] = close_wait_watch_.front();
        if (since + opts_.close_wait_warn_ns > now_ns) break;
        close_wait_watch_.pop_front();
        const Slot s = conns_.find(cookie);
        if (s != kNoSlot && conns_.at(s).state == TT_CLOSE_WAIT) {
            out_.on_close_wait(record_of(conns_.at(s)), (now_ns - since) / 1000);
        }
    }
}

void Tracker::release_closed(uint64_t watermark_ns) {
    while (!closed_queue_.empty()) {
        const Closed& next = closed_queue_.front();
        // Called for every event: most of the time the oldest close is still in
        // its grace, which the queue entry tells without a look into the table.
        if (next.end_ns + opts_.close_grace_ns > watermark_ns) break;
        const Slot s = conns_.find(next.cookie);
        if (s == kNoSlot || !conns_.at(s).closed) {  // already released early
            closed_queue_.pop_front();
            continue;
        }
        Conn& c = conns_.at(s);
        const uint64_t end_ns = c.id == next.id ? next.end_ns : c.extra->end_ns;
        if (end_ns + opts_.close_grace_ns > watermark_ns) break;
        closed_queue_.pop_front();
        finalize(c, false);
        erase(c);
    }
}

void Tracker::finish(uint64_t now_ns) {
    release_closed(UINT64_MAX);
    std::vector<Slot> open;
    open.reserve(conns_.size());
    conns_.for_each_slot([&](Slot s) { open.push_back(s); });
    std::sort(open.begin(), open.end(), [&](Slot a, Slot b) { return conns_.at(a).id < conns_.at(b).id; });
    for (Slot s : open) finalize(conns_.at(s), true, now_ns);
    conns_.clear();
    open_by_state_ = {};
    lru_oldest_ = lru_newest_ = kNoSlot;
    report_losses(true);
}

namespace {

ClosedBy classify_close(bool established, Role role, uint8_t before, bool reset_received, uint32_t resets_sent, int err,
                        bool saw_fin_wait1, bool saw_close_wait, bool saw_closing) {
    if (!established) {
        if (role == Role::Client || before == TT_SYN_SENT) {
            if (reset_received || err == ECONNREFUSED) return ClosedBy::Refused;
            return ClosedBy::Timeout;
        }
        if (reset_received) return ClosedBy::ResetRemote;
        if (resets_sent) return ClosedBy::ResetLocal;
        return ClosedBy::Timeout;
    }
    // A RST that only cuts the last step of an orderly close (FIN_WAIT2, CLOSING,
    // LAST_ACK) does not change who closed; it shows in resets_received and error.
    const bool orderly = is_orderly_end(before);
    if (reset_received && !orderly) return ClosedBy::ResetRemote;
    // The kernel gave up (retransmissions or keepalive probes unanswered); it may
    // send a RST on the way out, which does not make it an abort by the application.
    if (err == ETIMEDOUT) return ClosedBy::Timeout;
    if (!orderly && resets_sent) return ClosedBy::ResetLocal;
    if (!orderly && (err == ECONNRESET || err == EPIPE)) return ClosedBy::ResetRemote;
    if (saw_closing || before == TT_CLOSING) return ClosedBy::Both;
    if (saw_fin_wait1 || before == TT_FIN_WAIT2) return ClosedBy::Local;
    if (saw_close_wait || before == TT_LAST_ACK) return ClosedBy::Remote;
    return ClosedBy::Unknown;
}

}  // namespace

// The record of `c` so far: what its events have told. finalize() adds what is
// derived at the end.
ConnRecord& Tracker::record_of(const Conn& c) {
    // Every field is assigned (no stale values from the previous record), and the
    // states vector and comm string keep their buffers.
    static const ConnExtra kNone;
    const ConnExtra& x = c.extra ? *c.extra : kNone;
    ConnRecord& r = record_;
    r.id = c.id;
    r.tuple = tuple_of_conn(c);
    r.cgroup_id = c.cgroup_id;
    r.role = c.role;
    if (c.pid_known) {
        r.pid = c.pid;
        r.comm = comms_[c.comm];
    } else {
        r.pid.reset();
        r.comm.clear();
    }
    r.start_ns = c.start_ns;
    r.end_ns = x.end_ns;
    r.duration_us = 0;
    r.states.clear();
    if (c.first_state_count > 0) r.states.push_back({c.first_states[0], c.start_ns});
    if (c.first_state_count > 1) r.states.push_back({c.first_states[1], c.second_state_ns});
    r.states.insert(r.states.end(), x.later_states.begin(), x.later_states.end());
    r.handshake_us = c.has_handshake ? std::optional(c.handshake_us) : std::nullopt;
    r.accept_wait_us = c.has_accept_wait ? std::optional(c.accept_wait_us) : std::nullopt;
    r.syn_retrans = x.syn_retrans;
    r.synack_retrans = x.synack_retrans;
    r.retrans = 0;
    r.fin_retrans = x.fin_retrans;
    r.resets_sent = x.resets_sent;
    r.resets_received = x.resets_received;
    r.closed_by = ClosedBy::Open;
    r.error = 0;
    r.timeout = TimeoutKind::None;
    r.time_wait = c.time_wait;
    r.bytes_sent = 0;
    r.bytes_received = 0;
    r.srtt_us = c.srtt_us;
    r.partial = c.partial;
    r.open = false;
    return r;
}

void Tracker::finalize(const Conn& c, bool still_open, uint64_t now_ns) {
    if (lost_race_to_sibling(c)) {
        ++stats_.duplicate_children;
        return;
    }
    ConnRecord& r = record_of(c);
    r.open = still_open;

    // Data retransmits: the kernel's count since the handshake, less FIN retransmits.
    if (c.have_retrans_base) {
        uint32_t since = c.total_retrans >= c.retrans_base ? c.total_retrans - c.retrans_base : 0;
        r.retrans = since > r.fin_retrans ? since - r.fin_retrans : 0;
    } else if (r.role == Role::Client && !c.established_ns) {
        r.syn_retrans = c.total_retrans;  // never established: all were SYN retransmits
    }

    // The kernel's byte counters also count sequence space: our SYN once acked
    // (active open only) and each FIN. Report payload bytes.
    uint64_t seq_only = 0;
    if (r.role == Role::Client && c.established_ns) ++seq_only;
    if (c.fin_sent && (c.sk_bits & TT_SK_ALL_ACKED)) ++seq_only;
    r.bytes_sent = c.bytes_acked > seq_only ? c.bytes_acked - seq_only : 0;
    const uint64_t peer_fin = (c.sk_bits & TT_SK_PEER_FIN) ? 1 : 0;
    r.bytes_received = c.bytes_received > peer_fin ? c.bytes_received - peer_fin : 0;

    if (!still_open && c.end_unobserved) {
        r.duration_us = (r.end_ns - r.start_ns) / 1000;
        r.closed_by = ClosedBy::Unknown;  // its CLOSE was among the lost events
    } else if (!still_open) {
        const ConnExtra& x = *c.extra;  // a closed socket has one
        r.duration_us = (r.end_ns - r.start_ns) / 1000;
        r.error = x.err_at_close;
        r.closed_by = classify_close(c.established_ns != 0, r.role, x.state_before_close, c.reset_received,
                                     r.resets_sent, x.err_at_close, c.saw_fin_wait1, c.saw_close_wait, c.saw_closing);
        if (r.closed_by == ClosedBy::Timeout) {
            r.timeout = !c.established_ns       ? TimeoutKind::Handshake
                        : x.probes_out_at_close ? TimeoutKind::Keepalive
                                                : TimeoutKind::Retransmissions;
        }
    } else {
        r.closed_by = ClosedBy::Open;
        r.end_ns = 0;
        r.duration_us = now_ns > r.start_ns ? (now_ns - r.start_ns) / 1000 : 0;
    }

    if (!opts_.filter.passes(r)) {
        ++stats_.filtered;
        return;
    }
    ++stats_.records;
    out_.on_conn(r);
}

}  // namespace tcptrail::core
