#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <fstream>
#include <sstream>

#include "event_builder.hpp"
#include "sinks/json_sink.hpp"
#include "sinks/json_writer.hpp"
#include "sinks/perfetto_sink.hpp"

namespace tcptrail::sinks {
namespace {

using testing::SocketScript;

constexpr uint64_t kSec = 1'000'000'000;
const TimeBase kTime{1'700'000'000'000'000'000LL};  // monotonic 0 = 2023-11-14T22:13:20Z

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/tt-perfetto-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { (void)std::system(("rm -rf " + path).c_str()); }
    std::string path;
};

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string conn_json(const core::ConnRecord& r) {
    fmt::memory_buffer b;
    JsonWriter w(b);
    write_conn_json(w, r, kTime);
    return fmt::to_string(b);
}

std::string event_json(const tt_event& e, uint64_t id) {
    fmt::memory_buffer b;
    JsonWriter w(b);
    write_event_json(w, core::EventRecord{&e, id}, kTime);
    return fmt::to_string(b);
}

core::ConnRecord record(uint64_t id, core::Role role, const SocketScript& s, std::vector<core::StateStamp> states) {
    core::ConnRecord r;
    r.id = id;
    r.tuple = core::tuple_of(s.base(TT_EV_STATE, 0));
    r.role = role;
    r.states = std::move(states);
    r.start_ns = r.states.front().ts_ns;
    return r;
}

TEST(PerfettoSink, TracksSlicesAndMarkersOfEachConnection) {
    TempDir dir;
    const std::string path = dir.path + "/trace.json";
    // SocketScript times are ms after monotonic 1 s.
    SocketScript cli(1, 43210, 80), srv(2, 80, 43210);
    core::ConnRecord c = record(1, core::Role::Client, cli,
                                {{TT_SYN_SENT, kSec},
                                 {TT_ESTABLISHED, kSec + 100'500},
                                 {TT_FIN_WAIT1, kSec + 2'000'000},
                                 {TT_FIN_WAIT2, kSec + 2'100'000},
                                 {TT_CLOSE, kSec + 3'000'001}});
    c.pid = 4242;
    c.comm = "curl";
    c.end_ns = kSec + 3'000'001;
    c.closed_by = core::ClosedBy::Local;
    c.retrans = 1;
    c.fin_retrans = 1;
    core::ConnRecord s =
        record(2, core::Role::Server, srv, {{TT_SYN_RECV, 2 * kSec}, {TT_ESTABLISHED, 2 * kSec + 5'000}});
    s.open = true;
    s.duration_us = 1000;  // tracing stopped at 2.001 s
    core::ConnRecord c3 = record(3, core::Role::Client, cli, {{TT_SYN_SENT, 3 * kSec}, {TT_CLOSE, 3 * kSec + 7'000}});
    c3.pid = 4242;
    c3.comm = "curl";
    c3.end_ns = 3 * kSec + 7'000;
    c3.closed_by = core::ClosedBy::Refused;

    const tt_event rtx = cli.simple(TT_EV_RETRANSMIT, TT_ESTABLISHED, 1.5);
    const tt_event fin_rtx = cli.simple(TT_EV_RETRANSMIT, TT_FIN_WAIT1, 2.0625);
    tt_event synack = srv.simple(TT_EV_SYNACK_RETRANS, TT_LISTEN, 999.0);  // on the listener, before the child
    tt_event rst = cli.simple(TT_EV_RESET_RECEIVED, TT_SYN_SENT, 2000.002);
    {
        PerfettoSink sink(path, kTime);
        // Markers come before their records; state events and ownerless resets are not markers.
        sink.on_event({&rtx, 1});
        sink.on_event({&fin_rtx, 1});
        sink.on_event({&synack, 0});
        const tt_event state = cli.state(TT_ESTABLISHED, TT_FIN_WAIT1, 2.0);
        sink.on_event({&state, 1});
        tt_event refused_rst = cli.simple(TT_EV_RESET_SENT, 0, 3.0);
        refused_rst.flags = TT_F_NO_SOCKET;
        sink.on_event({&refused_rst, 0});
        const tt_event filtered = cli.simple(TT_EV_RETRANSMIT, TT_ESTABLISHED, 4.0);
        sink.on_event({&filtered, 9});  // conn 9 is never reported
        sink.on_lost(5, core::LossReason::RingbufFull);
        sink.on_conn(c);
        sink.on_conn(s);
        sink.on_event({&rst, 3});
        sink.on_conn(c3);
        ASSERT_TRUE(sink.finish()) << sink.error();
        EXPECT_EQ(sink.orphan_markers(), 1u);
    }
    const std::string expected =
        "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"tool\":\"tcptrail\",\"clock\":\"CLOCK_MONOTONIC\","
        "\"ts_unit\":\"us\",\"realtime_minus_monotonic_ns\":1700000000000000000},\"traceEvents\":[\n"
        // conn 1: its owner's process, its track, the whole life, five states, two markers
        "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":4242,\"args\":{\"name\":\"curl\"}},\n"
        "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":4242,\"tid\":1,"
        "\"args\":{\"name\":\"client 10.0.0.1:43210 \u2192 10.0.0.2:80\"}},\n"
        "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":4242,\"tid\":1,\"args\":{\"sort_index\":1}},\n"
        "{\"ph\":\"X\",\"cat\":\"tcp.conn\",\"name\":\"conn 1 (local)\",\"pid\":4242,\"tid\":1,"
        "\"ts\":1000000.000,\"dur\":3000.001,\"args\":" +
        conn_json(c) +
        "},\n"
        "{\"ph\":\"X\",\"cat\":\"tcp.state\",\"name\":\"SYN_SENT\",\"pid\":4242,\"tid\":1,"
        "\"ts\":1000000.000,\"dur\":100.500,\"args\":{\"t_us\":0}},\n"
        "{\"ph\":\"X\",\"cat\":\"tcp.state\",\"name\":\"ESTABLISHED\",\"pid\":4242,\"tid\":1,"
        "\"ts\":1000100.500,\"dur\":1899.500,\"args\":{\"t_us\":100}},\n"
        "{\"ph\":\"X\",\"cat\":\"tcp.state\",\"name\":\"FIN_WAIT1\",\"pid\":4242,\"tid\":1,"
        "\"ts\":1002000.000,\"dur\":100.000,\"args\":{\"t_us\":2000}},\n"
        "{\"ph\":\"X\",\"cat\":\"tcp.state\",\"name\":\"FIN_WAIT2\",\"pid\":4242,\"tid\":1,"
        "\"ts\":1002100.000,\"dur\":900.001,\"args\":{\"t_us\":2100}},\n"
        "{\"ph\":\"X\",\"cat\":\"tcp.state\",\"name\":\"CLOSE\",\"pid\":4242,\"tid\":1,"
        "\"ts\":1003000.001,\"dur\":0.000,\"args\":{\"t_us\":3000}},\n"
        "{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"tcp.event\",\"name\":\"retransmit\",\"pid\":4242,\"tid\":1,"
        "\"ts\":1001500.000,\"args\":" +
        event_json(rtx, 1) +
        "},\n"
        "{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"tcp.event\",\"name\":\"FIN retransmit\",\"pid\":4242,\"tid\":1,"
        "\"ts\":1002062.500,\"args\":" +
        event_json(fin_rtx, 1) +
        "},\n"
        // conn 2: unknown owner, still open (to the end of tracing), SYN-ACK retransmit found by tuple
        "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":0,\"args\":{\"name\":\"unknown owner\"}},\n"
        "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":0,\"tid\":2,"
        "\"args\":{\"name\":\"server 10.0.0.1:80 \u2192 10.0.0.2:43210\"}},\n"
        "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":0,\"tid\":2,\"args\":{\"sort_index\":2}},\n"
        "{\"ph\":\"X\",\"cat\":\"tcp.conn\",\"name\":\"conn 2 (open)\",\"pid\":0,\"tid\":2,"
        "\"ts\":2000000.000,\"dur\":1000.000,\"args\":" +
        conn_json(s) +
        "},\n"
        "{\"ph\":\"X\",\"cat\":\"tcp.state\",\"name\":\"SYN_RECV\",\"pid\":0,\"tid\":2,"
        "\"ts\":2000000.000,\"dur\":5.000,\"args\":{\"t_us\":0}},\n"
        "{\"ph\":\"X\",\"cat\":\"tcp.state\",\"name\":\"ESTABLISHED\",\"pid\":0,\"tid\":2,"
        "\"ts\":2000005.000,\"dur\":995.000,\"args\":{\"t_us\":5}},\n"
        "{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"tcp.event\",\"name\":\"SYN-ACK retransmit\",\"pid\":0,\"tid\":2,"
        "\"ts\":1999000.000,\"args\":" +
        event_json(synack, 2) +
        "},\n"
        // conn 3: same process (named once), refused
        "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":4242,\"tid\":3,"
        "\"args\":{\"name\":\"client 10.0.0.1:43210 \u2192 10.0.0.2:80\"}},\n"
        "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":4242,\"tid\":3,\"args\":{\"sort_index\":3}},\n"
        "{\"ph\":\"X\",\"cat\":\"tcp.conn\",\"name\":\"conn 3 (refused)\",\"pid\":4242,\"tid\":3,"
        "\"ts\":3000000.000,\"dur\":7.000,\"args\":" +
        conn_json(c3) +
        "},\n"
        "{\"ph\":\"X\",\"cat\":\"tcp.state\",\"name\":\"SYN_SENT\",\"pid\":4242,\"tid\":3,"
        "\"ts\":3000000.000,\"dur\":7.000,\"args\":{\"t_us\":0}},\n"
        "{\"ph\":\"X\",\"cat\":\"tcp.state\",\"name\":\"CLOSE\",\"pid\":4242,\"tid\":3,"
        "\"ts\":3000007.000,\"dur\":0.000,\"args\":{\"t_us\":7}},\n"
        "{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"tcp.event\",\"name\":\"RST received\",\"pid\":4242,\"tid\":3,"
        "\"ts\":3000002.000,\"args\":" +
        event_json(rst, 3) +
        "}\n"
        "],\"summary\":{\"first_time\":\"2023-11-14T22:13:21.000000Z\","
        "\"connections\":3,\"lost_events\":5,\"markers_without_record\":1}}\n";
    EXPECT_EQ(slurp(path), expected);
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(PerfettoSink, SynackMarkersGoToTheServerSocketThatFollowsThem) {
    TempDir dir;
    const std::string path = dir.path + "/t.json";
    SocketScript srv(2, 80, 43210);
    const tt_event later = srv.simple(TT_EV_SYNACK_RETRANS, TT_LISTEN, 3000.0);  // for a later socket, same tuple
    {
        PerfettoSink sink(path, kTime);
        sink.on_event({&later, 0});
        sink.on_conn(record(1, core::Role::Server, srv, {{TT_SYN_RECV, 2 * kSec}, {TT_CLOSE, 2 * kSec + 1000}}));
        ASSERT_TRUE(sink.finish());
        EXPECT_EQ(sink.orphan_markers(), 1u);
    }
    EXPECT_EQ(slurp(path).find("SYN-ACK retransmit"), std::string::npos);
}

TEST(PerfettoSink, EmptyTraceIsStillAValidFile) {
    TempDir dir;
    const std::string path = dir.path + "/empty.json";
    { PerfettoSink sink(path, TimeBase{-5}); }  // the destructor finishes it
    EXPECT_EQ(slurp(path),
              "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"tool\":\"tcptrail\",\"clock\":\"CLOCK_MONOTONIC\","
              "\"ts_unit\":\"us\",\"realtime_minus_monotonic_ns\":-5},\"traceEvents\":[\n],\"summary\":{"
              "\"first_time\":null,\"connections\":0,\"lost_events\":0,\"markers_without_record\":0}}\n");
}

TEST(PerfettoSink, ExistingFileIsTruncatedAndRestrictedTo0600) {
    TempDir dir;
    const std::string path = dir.path + "/old.json";
    {
        std::ofstream f(path);
        f << std::string(10000, 'x');
    }
    ASSERT_EQ(chmod(path.c_str(), 0644), 0);
    { PerfettoSink sink(path, kTime); }
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(slurp(path).rfind("{\"displayTimeUnit\"", 0), 0u);
    EXPECT_LT(st.st_size, 1000);
}

TEST(PerfettoSink, UncreatableOrUnwritableFileIsAOneLineError) {
    try {
        PerfettoSink sink("/nonexistent-dir/x.json", kTime);
        FAIL() << "no error";
    } catch (const PerfettoError& e) {
        EXPECT_STREQ(e.what(), "cannot create perfetto trace /nonexistent-dir/x.json: No such file or directory");
    }
    try {
        PerfettoSink sink("/dev/full", kTime);
        FAIL() << "no error";
    } catch (const PerfettoError& e) {
        EXPECT_STREQ(e.what(), "cannot write perfetto trace /dev/full: No space left on device");
    }
}

// A write error mid-trace (here the file size limit, as a full disk would be)
// leaves whole connections and a closed array: the file still loads.
TEST(PerfettoSink, WriteErrorKeepsTheFileLoadable) {
    TempDir dir;
    const std::string path = dir.path + "/cut.json";
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        (void)signal(SIGXFSZ, SIG_IGN);
        const rlimit lim{3000, 3000};
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(3);
        PerfettoSink sink(path, kTime, 1);  // a write after every connection
        SocketScript s(1, 1000, 80);
        for (uint64_t id = 1; id <= 100 && !sink.failed(); ++id) {
            core::ConnRecord r =
                record(id, core::Role::Client, s, {{TT_SYN_SENT, id * kSec}, {TT_CLOSE, id * kSec + 1}});
            r.end_ns = id * kSec + 1;
            sink.on_conn(r);
        }
        const bool ok = sink.finish();
        _exit(!ok && sink.error() == "cannot write perfetto trace " + path + ": File too large" ? 0 : 4);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    const std::string text = slurp(path);
    ASSERT_GE(text.size(), 4u);
    EXPECT_EQ(text.substr(text.size() - 6), "}}\n]}\n");
    auto count = [&](std::string_view needle) {
        size_t n = 0;
        for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
        return n;
    };
    const size_t tracks = count("\"thread_name\"");
    EXPECT_GT(tracks, 0u);
    EXPECT_EQ(count("\"cat\":\"tcp.conn\""), tracks);
    EXPECT_EQ(count("\"name\":\"CLOSE\""), tracks);
}

}  // namespace
}  // namespace tcptrail::sinks
