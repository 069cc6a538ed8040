#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/record.hpp"
#include "event_builder.hpp"
#include "sinks/format.hpp"
#include "sinks/json_sink.hpp"
#include "sinks/json_writer.hpp"
#include "sinks/output_stream.hpp"
#include "sinks/table_sink.hpp"
#include "sinks/time_base.hpp"

namespace tcptrail::sinks {
namespace {

std::string json_string(std::string_view s) {
    fmt::memory_buffer b;
    append_json_string(b, s);
    return fmt::to_string(b);
}

TEST(Format, JsonEscapesQuotesControlAndHighBytes) {
    EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(json_string(std::string("x\x01y", 3)), "\"x\\u0001y\"");
    EXPECT_EQ(json_string("\xff"), "\"\\u00ff\"");
}

TEST(Format, Addresses) {
    const uint8_t v4[4] = {10, 1, 2, 3};
    EXPECT_EQ(addr_string(4, v4), "10.1.2.3");
    uint8_t v6[16] = {0xfd, 0, 0, 0x31};
    v6[15] = 1;
    EXPECT_EQ(addr_string(6, v6), "fd00:31::1");
}

TEST(TimeBase, Rfc3339Microseconds) {
    TimeBase tb{1'700'000'000'000'000'000LL};  // 2023-11-14T22:13:20Z at monotonic 0
    EXPECT_EQ(tb.rfc3339(1'234'567'000), "2023-11-14T22:13:21.234567Z");
}

TEST(JsonSink, OpenRecordHasNullsWhereUnknown) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    {
        OutputStream out(fds[1]);
        JsonSink sink(out, TimeBase{0});
        core::ConnRecord r;
        r.id = 3;
        r.tuple.family = 4;
        r.open = true;
        r.states.push_back({TT_ESTABLISHED, 5'000});
        r.start_ns = 5'000;
        sink.on_conn(r);
        ASSERT_TRUE(out.flush());
    }
    close(fds[1]);
    char buf[4096] = {};
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    ASSERT_GT(n, 0);
    std::string line(buf, static_cast<size_t>(n));
    EXPECT_NE(line.find("\"pid\":null,\"comm\":null"), std::string::npos) << line;
    EXPECT_NE(line.find("\"end_time\":null"), std::string::npos);
    EXPECT_NE(line.find("\"closed_by\":null"), std::string::npos);
    EXPECT_NE(line.find("\"handshake_us\":null"), std::string::npos);
    EXPECT_NE(line.find("\"open\":true}"), std::string::npos);
    EXPECT_EQ(line.back(), '\n');
}

TEST(JsonWriter, NumbersAtDigitBoundaries) {
    for (uint64_t v : {uint64_t{0}, uint64_t{9}, uint64_t{10}, uint64_t{99}, uint64_t{100}, uint64_t{101},
                       uint64_t{4026531840}, UINT64_MAX}) {
        fmt::memory_buffer b;
        JsonWriter w(b);
        w.num(v);
        JsonCursor c = w.reserve(20);
        c.num(v);
        w.commit(c);
        EXPECT_EQ(fmt::to_string(b), std::to_string(v) + std::to_string(v));
    }
}

TEST(JsonWriter, ShortCopiesOfEveryLength) {
    const std::string src = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (size_t n = 0; n <= 32; ++n) {
        std::string dst(40, '.');
        copy_short(dst.data(), src.data(), n);
        EXPECT_EQ(dst, src.substr(0, n) + std::string(40 - n, '.')) << n;
    }
}

// Records are written into room reserved beforehand, without checks: the
// largest record must fit what is reserved for it.
TEST(JsonSink, LargestRecordsFitTheirReservation) {
    core::ConnRecord r;
    r.id = UINT64_MAX;
    r.tuple.family = 6;
    r.tuple.laddr.fill(0xff);
    r.tuple.raddr.fill(0xee);
    r.tuple.lport = r.tuple.rport = 65535;
    r.tuple.netns = UINT32_MAX;
    r.cgroup_id = UINT64_MAX;
    r.role = core::Role::Unknown;
    r.pid = UINT32_MAX;
    r.comm = std::string(16, '\x01');
    r.start_ns = 0;
    r.end_ns = UINT64_MAX;
    r.duration_us = UINT64_MAX;
    for (int i = 0; i < 40; ++i) r.states.push_back({TT_NEW_SYN_RECV, UINT64_MAX});
    r.handshake_us = r.accept_wait_us = UINT64_MAX;
    r.syn_retrans = r.synack_retrans = r.retrans = r.fin_retrans = UINT32_MAX;
    r.resets_sent = r.resets_received = UINT32_MAX;
    r.closed_by = core::ClosedBy::ResetRemote;
    r.error = INT32_MIN;
    r.timeout = core::TimeoutKind::Retransmissions;
    r.bytes_sent = r.bytes_received = UINT64_MAX;
    r.srtt_us = UINT32_MAX;
    const TimeBase time{0};
    fmt::memory_buffer b;
    JsonWriter w(b);
    write_conn_json(w, r, time);
    const std::string line = fmt::to_string(b);
    EXPECT_LE(line.size(), conn_json_bound(r));
    EXPECT_NE(line.find("\"laddr\":\"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"comm\":\"\\u0001\\u0001"), std::string::npos) << line;
    EXPECT_NE(line.find("\"error\":\"errno -2147483648\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"bytes_sent\":18446744073709551615,"), std::string::npos) << line;

    tt_event e{};
    e.type = TT_EV_STATE;
    e.family = 10;
    std::memset(e.laddr, 0xff, sizeof(e.laddr));
    std::memset(e.raddr, 0xee, sizeof(e.raddr));
    e.lport = e.rport = 65535;
    e.netns = e.pid = UINT32_MAX;
    e.ts_ns = UINT64_MAX;
    e.new_state = TT_SYN_SENT;
    std::memset(e.comm, '"', sizeof(e.comm));
    fmt::memory_buffer eb;
    JsonWriter ew(eb);
    write_event_json(ew, core::EventRecord{&e, UINT64_MAX}, time);
    const std::string event = fmt::to_string(eb);
    EXPECT_LE(event.size(), event_json_bound(e));
    EXPECT_NE(event.find("\"comm\":\"\\\"\\\""), std::string::npos) << event;
}

// A connection's table line: columns, milliseconds with three decimals, and a
// task name with control characters (which would forge a line) shown as '?'.
TEST(TableSink, ConnectionLine) {
    OutputStream out(-1);
    TableSink sink(out, TimeBase{1'700'000'000'000'000'000LL});
    core::ConnRecord r;
    r.id = 9;
    r.tuple.family = 4;
    r.tuple.laddr = {10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    r.tuple.raddr = {10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    r.tuple.lport = 41000;
    r.tuple.rport = 80;
    r.role = core::Role::Client;
    r.pid = 4242;
    r.comm = "evil\nname";
    r.end_ns = 2'500'000'000;
    r.duration_us = 1'234'567;
    r.handshake_us = 1'005;
    r.syn_retrans = 1;
    r.retrans = 2;
    r.closed_by = core::ClosedBy::Local;
    r.bytes_sent = 100;
    r.bytes_received = 123'456'789'012;
    r.states = {{TT_SYN_SENT, 0}, {TT_ESTABLISHED, 1}, {TT_FIN_WAIT1, 2}, {TT_FIN_WAIT2, 3}, {TT_CLOSE, 4}};
    sink.on_conn(r);
    r.handshake_us.reset();
    r.pid.reset();
    r.duration_us = 7;
    r.partial = true;
    r.error = 104;
    sink.on_conn(r);
    const std::string text = fmt::to_string(out.buffer());
    out.buffer().clear();
    const std::string_view header = std::string_view(text).substr(0, text.find('\n') + 1);
    EXPECT_EQ(std::string(text.substr(header.size())),
              "22:13:22.500    4242 evil?name       client  10.0.0.1:41000               10.0.0.2:80                  "
              "    1.005       3 local          1234.567       100 123456789012  "
              "SYN_SENT>ESTABLISHED>FIN_WAIT1>FIN_WAIT2>CLOSE\n"
              "22:13:22.500       - -               client  10.0.0.1:41000               10.0.0.2:80                  "
              "        -       3 local             0.007       100 123456789012  "
              "SYN_SENT>ESTABLISHED>FIN_WAIT1>FIN_WAIT2>CLOSE (partial) ECONNRESET\n");
}

// The CLOSE_WAIT warning names the owner, its name made printable too.
TEST(TableSink, CloseWaitWarning) {
    OutputStream out(-1);
    TableSink sink(out, TimeBase{0});
    core::ConnRecord r;
    r.tuple.family = 4;
    r.tuple.laddr = {10, 0, 0, 1};
    r.tuple.raddr = {10, 0, 0, 2};
    r.tuple.lport = 8080;
    r.tuple.rport = 41000;
    r.pid = 77;
    r.comm = "srv\r\nWARNING";
    sink.on_close_wait(r, 2'500'000);
    r.pid.reset();
    sink.on_close_wait(r, 31'000'000);
    EXPECT_EQ(fmt::to_string(out.buffer()),
              "WARNING: 10.0.0.1:8080 -> 10.0.0.2:41000 (srv??WARNING 77) in CLOSE_WAIT for 2.5 s: the peer closed, "
              "this side never did\n"
              "WARNING: 10.0.0.1:8080 -> 10.0.0.2:41000 (? -) in CLOSE_WAIT for 31.0 s: the peer closed, this side "
              "never did\n");
    out.buffer().clear();
}

// The widest values of every field fit the room a line reserves (the cursor
// asserts it in debug builds) and come out whole.
TEST(TableSink, WidestLineFitsItsRoom) {
    OutputStream out(-1);
    TableSink sink(out, TimeBase{0});
    core::ConnRecord r;
    r.tuple.family = 6;
    r.tuple.laddr.fill(0xfe);
    r.tuple.raddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 255, 255, 255, 255};  // ::ffff:255.255.255.255
    r.tuple.lport = r.tuple.rport = 65535;
    r.pid = UINT32_MAX;
    r.comm = std::string(16, '\x01');
    r.end_ns = UINT64_MAX / 2;
    r.duration_us = r.bytes_sent = r.bytes_received = UINT64_MAX;
    r.handshake_us = UINT64_MAX;
    r.syn_retrans = r.synack_retrans = r.retrans = r.fin_retrans = UINT32_MAX;
    r.closed_by = core::ClosedBy::ResetRemote;
    for (int i = 0; i < 40; ++i) r.states.push_back({i % 2 ? TT_ESTABLISHED : TT_CLOSE_WAIT, 0});
    r.partial = true;
    r.error = ETIMEDOUT;
    sink.on_conn(r);
    const std::string text = fmt::to_string(out.buffer());
    out.buffer().clear();
    const std::string line = text.substr(text.find('\n') + 1);
    EXPECT_NE(line.find(" 4294967295 ????????????????"), std::string::npos) << line;
    EXPECT_NE(line.find("[fefe:fefe:fefe:fefe:fefe:fefe:fefe:fefe]:65535 [::ffff:255.255.255.255]:65535 "),
              std::string::npos)
        << line;
    EXPECT_NE(line.find(" 18446744073709551.615 17179869180 reset_remote 18446744073709551.615 "
                        "18446744073709551615 18446744073709551615  CLOSE_WAIT>ESTABLISHED>"),
              std::string::npos)
        << line;
    EXPECT_EQ(line.substr(line.size() - 37), "WAIT>ESTABLISHED (partial) ETIMEDOUT\n") << line;
}

// --events in the table: one line per kernel event, every kind.
TEST(TableSink, EventLines) {
    OutputStream out(-1);
    TableSink sink(out, TimeBase{1'700'000'000'000'000'000LL});
    testing::SocketScript sock(7, 8080, 41000);
    std::vector<tt_event> evs = {
        sock.state(TT_SYN_SENT, TT_ESTABLISHED, 1.5),
        sock.simple(TT_EV_RETRANSMIT, TT_ESTABLISHED, 2),
        sock.simple(TT_EV_SYNACK_RETRANS, TT_SYN_RECV, 3),
        sock.simple(TT_EV_RESET_SENT, TT_ESTABLISHED, 4),
        sock.simple(TT_EV_RESET_RECEIVED, TT_ESTABLISHED, 5),
        testing::SocketScript::in_task(sock.simple(TT_EV_ACCEPT, TT_ESTABLISHED, 6), 4242, "nginx"),
        sock.simple(TT_EV_EXISTING, TT_CLOSE_WAIT, 7),
    };
    evs[2].aux = 2;
    for (size_t i = 0; i < evs.size(); ++i)
        sink.on_event(core::EventRecord{&evs[i], i == 6 ? uint64_t{0} : uint64_t{12}});
    EXPECT_EQ(fmt::to_string(out.buffer()),
              "  22:13:21.001 event id=12 10.0.0.1:8080 10.0.0.2:41000 SYN_SENT -> ESTABLISHED\n"
              "  22:13:21.002 event id=12 10.0.0.1:8080 10.0.0.2:41000 retransmit in ESTABLISHED\n"
              "  22:13:21.003 event id=12 10.0.0.1:8080 10.0.0.2:41000 SYN-ACK retransmit #2\n"
              "  22:13:21.004 event id=12 10.0.0.1:8080 10.0.0.2:41000 RST sent\n"
              "  22:13:21.005 event id=12 10.0.0.1:8080 10.0.0.2:41000 RST received\n"
              "  22:13:21.006 event id=12 10.0.0.1:8080 10.0.0.2:41000 accepted by 4242 (nginx)\n"
              "  22:13:21.007 event id=- 10.0.0.1:8080 10.0.0.2:41000 existing, CLOSE_WAIT\n");
    out.buffer().clear();
}

TEST(OutputStream, ClosedReaderIsReportedNotFatal) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    OutputStream out(fds[1]);
    out.buffer().append(std::string_view("hello\n"));
    EXPECT_FALSE(out.flush());
    EXPECT_TRUE(out.reader_gone());
    EXPECT_TRUE(out.error().empty());
    close(fds[1]);
}

}  // namespace
}  // namespace tcptrail::sinks
