#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include "core/record.hpp"
#include "sinks/format.hpp"
#include "sinks/json_sink.hpp"
#include "sinks/output_stream.hpp"
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
