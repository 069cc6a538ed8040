// Capture files: write -> read reproduces the EventStream exactly; every kind of
// damage is reported with its byte offset; write failures leave a readable file.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>

#include "capture/capture_reader.hpp"
#include "capture/capture_writer.hpp"
#include "event_builder.hpp"

namespace tcptrail::testing {
namespace {

using capture::CaptureError;
using capture::CaptureHeader;
using capture::CaptureReader;
using capture::CaptureTee;
using capture::CaptureWriter;
using Bytes = std::vector<uint8_t>;

// Every EventStream call, as one comparable line each.
class CallLog : public core::EventStream {
public:
    void on_event(const tt_event& e) override {
        const auto* b = reinterpret_cast<const uint8_t*>(&e);
        calls.push_back(fmt::format("event ts={} cookie={} raw={:02x}", e.ts_ns, e.cookie,
                                    fmt::join(b, b + sizeof(e), "")));
    }
    void on_lost(uint64_t count, core::LossReason r) override {
        calls.push_back(fmt::format("lost {} {}", count, core::loss_reason_name(r)));
    }
    void advance(uint64_t now_ns) override { calls.push_back(fmt::format("advance {}", now_ns)); }
    void finish(uint64_t now_ns) override { calls.push_back(fmt::format("finish {}", now_ns)); }

    std::vector<std::string> calls;
};

// A scratch directory, removed with everything in it.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "tcptrail-capture-XXXXXX").string();
        if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

Bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const Bytes& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

CaptureHeader sample_header() {
    CaptureHeader h;
    h.realtime_minus_monotonic_ns = 1'700'000'000'000'000'000LL;
    h.host = "builder";
    h.kernel_release = "6.8.0-test";
    h.tcptrail_version = "0.1.0";
    h.filters = "--port 80 -4";
    return h;
}

// A short, varied session: two sockets, losses, ticks.
void play_session(core::EventStream& s, bool with_finish = true) {
    SocketScript c(100, 40000, 80);
    SocketScript srv(200, 80, 40000, 4026531999u);
    s.on_event(SocketScript::in_task(c.state(TT_CLOSE, TT_SYN_SENT, 0), 4242, "curl"));
    s.on_event(srv.state(TT_LISTEN, TT_SYN_RECV, 0.1));
    s.on_lost(0, core::LossReason::RingbufFull);  // the live loop's "no new loss": not recorded
    s.advance(1'050'000'000);
    c.bytes_acked = 1;
    s.on_event(c.state(TT_SYN_SENT, TT_ESTABLISHED, 0.4));
    s.on_event(SocketScript::in_task(srv.simple(TT_EV_ACCEPT, TT_ESTABLISHED, 0.5), 77, "nginx"));
    s.on_lost(3, core::LossReason::RingbufFull);
    s.on_lost(2, core::LossReason::Recursion);
    s.on_event(c.simple(TT_EV_RESET_SENT, TT_ESTABLISHED, 10));
    s.on_event(c.state(TT_ESTABLISHED, TT_CLOSE, 10));
    s.advance(1'150'000'000);
    if (with_finish) s.finish(1'200'000'000);
}

std::vector<std::string> without_zero_losses(std::vector<std::string> calls) {
    std::erase_if(calls, [](const std::string& c) { return c.starts_with("lost 0 "); });
    return calls;
}

// Plays a whole capture; returns the calls it made.
std::vector<std::string> replay(CaptureReader& r) {
    CallLog log;
    while (r.next(log)) {
    }
    return log.calls;
}

class CaptureTest : public ::testing::Test {
protected:
    TempDir dir;
    std::string path = dir.file("cap.tt");

    // Records `play` into `path`; returns what the next stream saw.
    template <typename Play>
    std::vector<std::string> record(Play play, size_t buffer = CaptureWriter::kDefaultBufferBytes) {
        CallLog live;
        CaptureWriter w(path, sample_header(), buffer);
        CaptureTee tee(w, live);
        play(static_cast<core::EventStream&>(tee));
        EXPECT_FALSE(w.failed()) << w.error();
        return live.calls;
    }

    // The first error reading `data` as a capture named "cap.tt".
    static std::string error_of(const Bytes& data) {
        try {
            CaptureReader r(std::span<const uint8_t>(data), "cap.tt");
            replay(r);
        } catch (const CaptureError& e) {
            return e.what();
        }
        return "no error";
    }

    size_t header_bytes() const { return capture::get_u32(read_file(path).data() + 12); }
};

TEST_F(CaptureTest, RoundTripReproducesTheStreamExactly) {
    const auto live = record([](core::EventStream& s) { play_session(s); });
    ASSERT_GT(live.size(), 8u);

    const Bytes data = read_file(path);
    CaptureReader r(std::span<const uint8_t>(data), "cap.tt");
    EXPECT_EQ(r.header().realtime_minus_monotonic_ns, sample_header().realtime_minus_monotonic_ns);
    EXPECT_EQ(r.header().host, "builder");
    EXPECT_EQ(r.header().kernel_release, "6.8.0-test");
    EXPECT_EQ(r.header().tcptrail_version, "0.1.0");
    EXPECT_EQ(r.header().filters, "--port 80 -4");
    EXPECT_EQ(replay(r), without_zero_losses(live));
    EXPECT_TRUE(r.saw_finish());
    EXPECT_EQ(r.last_ns(), 1'200'000'000u);
    EXPECT_EQ(r.offset(), data.size());
}

TEST_F(CaptureTest, RecordLayoutIsTheDocumentedOne) {
    record([](core::EventStream& s) {
        s.advance(0x0102030405060708ULL);
        s.on_lost(0x1234, core::LossReason::Recursion);
        s.finish(9);
    });
    const Bytes d = read_file(path);
    ASSERT_EQ(std::string(d.begin(), d.begin() + 8), "TCPTRAIL");
    EXPECT_EQ(capture::get_u16(&d[8]), 1);
    EXPECT_EQ(capture::get_u16(&d[10]), TT_EVENT_ABI);
    const size_t h = header_bytes();
    ASSERT_EQ(d.size(), h + 16 + 17 + 16);
    const Bytes advance = {3, 0, 0, 0, 8, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
    EXPECT_EQ(Bytes(d.begin() + h, d.begin() + h + 16), advance);
    const Bytes lost = {2, 0, 0, 0, 9, 0, 0, 0, 0x34, 0x12, 0, 0, 0, 0, 0, 0, 1};
    EXPECT_EQ(Bytes(d.begin() + h + 16, d.begin() + h + 33), lost);
    EXPECT_EQ(d[h + 33], 4);  // FINISH
}

TEST_F(CaptureTest, LargeCaptureThroughSmallWriteBufferAndFileReader) {
    // ~2.7 MB: crosses the reader's 1 MiB buffer and the writer's tiny buffer many times.
    auto many = [](core::EventStream& s) {
        for (uint64_t i = 0; i < 20000; ++i) {
            SocketScript sock(1000 + i, 40000, 80);
            s.on_event(sock.state(TT_CLOSE, TT_SYN_SENT, static_cast<double>(i)));
            if (i % 100 == 0) s.advance(1'000'000'000ULL + i * 1'000'000);
            if (i % 777 == 0) s.on_lost(i, core::LossReason::RingbufFull);
        }
        s.finish(UINT64_MAX);
    };
    const auto live = record(many, 1000);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    CaptureReader r(fd, path);
    EXPECT_EQ(replay(r), without_zero_losses(live));
    EXPECT_TRUE(r.saw_finish());
    ::close(fd);
}

TEST_F(CaptureTest, EndWithoutFinishAtARecordBoundaryIsNotAnError) {
    // What a tracer killed with SIGKILL leaves: whole records, no FINISH.
    const auto live = record([](core::EventStream& s) { play_session(s, false); });
    const Bytes data = read_file(path);
    CaptureReader r(std::span<const uint8_t>(data), "cap.tt");
    EXPECT_EQ(replay(r), without_zero_losses(live));
    EXPECT_FALSE(r.saw_finish());
    EXPECT_EQ(r.last_ns(), 1'150'000'000u);  // the last ADVANCE, later than every event

    // Cut right before the FINISH record of a complete capture: the same.
    record([](core::EventStream& s) { play_session(s); });
    Bytes cut = read_file(path);
    cut.resize(cut.size() - 16);
    CaptureReader r2(std::span<const uint8_t>(cut), "cap.tt");
    replay(r2);
    EXPECT_FALSE(r2.saw_finish());
}

TEST_F(CaptureTest, HeaderOnlyCaptureIsEmpty) {
    record([](core::EventStream&) {});
    const Bytes data = read_file(path);
    EXPECT_EQ(data.size(), header_bytes());
    CaptureReader r(std::span<const uint8_t>(data), "cap.tt");
    EXPECT_TRUE(replay(r).empty());
    EXPECT_FALSE(r.saw_finish());
}

TEST_F(CaptureTest, LongHeaderStringsAreCappedAndControlCharactersReplaced) {
    CaptureHeader h = sample_header();
    h.host = std::string(10000, 'h');
    h.filters = "-c evil\x1b[2J";
    { CaptureWriter w(path, h); }
    const Bytes data = read_file(path);
    CaptureReader r(std::span<const uint8_t>(data), "cap.tt");
    EXPECT_EQ(r.header().host, std::string(capture::kMaxHeaderString, 'h'));
    EXPECT_EQ(r.header().filters, "-c evil?[2J");
}

TEST_F(CaptureTest, LaterHeaderFieldsAreSkipped) {
    record([](core::EventStream& s) { s.finish(5); });
    Bytes d = read_file(path);
    const size_t h = header_bytes();
    d.insert(d.begin() + static_cast<std::ptrdiff_t>(h), {0xaa, 0xbb, 0xcc});  // a field from the future
    capture::put_u32(&d[12], static_cast<uint32_t>(h + 3));
    CaptureReader r(std::span<const uint8_t>(d), "cap.tt");
    EXPECT_EQ(replay(r), std::vector<std::string>{"finish 5"});
}

// ---------------------------------------------------------------------------
// Damaged files: one precise, one-line error each.

class CaptureDamageTest : public CaptureTest {
protected:
    Bytes good;
    size_t h = 0;  // header length = offset of the first record (an EVENT)

    void SetUp() override {
        record([](core::EventStream& s) { play_session(s); });
        good = read_file(path);
        h = header_bytes();
        ASSERT_EQ(good[h], 1);  // EVENT
    }
    Bytes cut(size_t n) const { return Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)); }
};

TEST_F(CaptureDamageTest, BadMagic) {
    Bytes d = good;
    d[0] = 'X';
    EXPECT_EQ(error_of(d), "cap.tt: not a tcptrail capture (bad magic at byte 0)");
    EXPECT_EQ(error_of(Bytes{'h', 'e', 'l', 'l', 'o'}), "cap.tt: not a tcptrail capture (bad magic at byte 0)");
    Bytes json(100, ' ');
    json[0] = '{';
    EXPECT_EQ(error_of(json), "cap.tt: not a tcptrail capture (bad magic at byte 0)");
}

TEST_F(CaptureDamageTest, TruncatedHeader) {
    EXPECT_EQ(error_of({}), "cap.tt: truncated header at byte 0 (need 16 bytes, 0 left)");
    EXPECT_EQ(error_of(cut(5)), "cap.tt: truncated header at byte 0 (need 16 bytes, 5 left)");
    EXPECT_EQ(error_of(cut(30)),
              fmt::format("cap.tt: truncated header at byte 16 (need {} bytes, 14 left)", h - 16));
}

TEST_F(CaptureDamageTest, WrongVersionOrAbi) {
    Bytes d = good;
    capture::put_u16(&d[8], 7);
    EXPECT_EQ(error_of(d), "cap.tt: unsupported capture format version 7 at byte 8 (this tcptrail reads version 1)");
    d = good;
    capture::put_u16(&d[10], TT_EVENT_ABI + 1);
    EXPECT_EQ(error_of(d), fmt::format("cap.tt: unsupported event ABI {} at byte 10 (this tcptrail reads ABI {})",
                                       TT_EVENT_ABI + 1, TT_EVENT_ABI));
}

TEST_F(CaptureDamageTest, BadHeaderLengthAndFields) {
    Bytes d = good;
    capture::put_u32(&d[12], 0xffffffff);
    EXPECT_EQ(error_of(d), "cap.tt: bad header length 4294967295 at byte 12 (must be 32 to 65536)");
    d = good;
    capture::put_u32(&d[12], 3);
    EXPECT_EQ(error_of(d), "cap.tt: bad header length 3 at byte 12 (must be 32 to 65536)");
    d = good;
    capture::put_u16(&d[24], 5000);  // the host string
    EXPECT_EQ(error_of(d), "cap.tt: header string length 5000 too large at byte 24 (at most 4096)");
    d = good;
    capture::put_u16(&d[24], 4000);
    EXPECT_EQ(error_of(d), fmt::format("cap.tt: header string at byte 24 overruns the header ({} bytes)", h));
}

TEST_F(CaptureDamageTest, TruncatedRecord) {
    EXPECT_EQ(error_of(cut(h + 3)),
              fmt::format("cap.tt: truncated record header at byte {} (need 8 bytes, 3 left)", h));
    EXPECT_EQ(error_of(cut(h + 8 + 17)),
              fmt::format("cap.tt: truncated EVENT record at byte {} (need 128 payload bytes, 17 left)", h));
    EXPECT_EQ(error_of(cut(h + 136 + 8 + 127)),
              fmt::format("cap.tt: truncated EVENT record at byte {} (need 128 payload bytes, 127 left)", h + 136));
}

TEST_F(CaptureDamageTest, TruncatedRecordInAFile) {
    // Through the fd reader too: "left" is what the file really has.
    write_file(path, cut(h + 8 + 17));
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    CaptureReader r(fd, "cap.tt");
    CallLog log;
    try {
        r.next(log);
        ADD_FAILURE() << "no error";
    } catch (const CaptureError& e) {
        EXPECT_EQ(std::string(e.what()),
                  fmt::format("cap.tt: truncated EVENT record at byte {} (need 128 payload bytes, 17 left)", h));
    }
    ::close(fd);
}

TEST_F(CaptureDamageTest, OversizeLength) {
    Bytes d = good;
    capture::put_u32(&d[h + 4], 99999999);
    EXPECT_EQ(error_of(d), fmt::format("cap.tt: record length 99999999 too large at byte {} (at most 65536)", h));
}

TEST_F(CaptureDamageTest, UnknownKindOrWrongLength) {
    Bytes d = good;
    d[h] = 9;
    EXPECT_EQ(error_of(d), fmt::format("cap.tt: unknown record kind 9 at byte {}", h));
    d = good;
    d[h] = 0;
    EXPECT_EQ(error_of(d), fmt::format("cap.tt: unknown record kind 0 at byte {}", h));
    d = good;
    capture::put_u32(&d[h + 4], 100);
    EXPECT_EQ(error_of(d), fmt::format("cap.tt: bad length 100 for EVENT record at byte {} (expected 128)", h));
}

TEST_F(CaptureDamageTest, BadLossReason) {
    TempDir other;
    const std::string p = other.file("lost.tt");
    {
        CaptureWriter w(p, sample_header());
        w.lost(1, core::LossReason::RingbufFull);
    }
    Bytes d = read_file(p);
    const size_t hb = capture::get_u32(&d[12]);
    d[hb + 16] = 42;
    EXPECT_EQ(error_of(d), fmt::format("cap.tt: bad loss reason 42 in LOST record at byte {}", hb));
}

TEST_F(CaptureDamageTest, DataAfterFinish) {
    Bytes d = good;
    d.push_back(0);
    EXPECT_EQ(error_of(d), fmt::format("cap.tt: unexpected data after the FINISH record at byte {}", good.size()));
}

TEST_F(CaptureDamageTest, RecordsBeforeTheDamageArePlayed) {
    Bytes d = cut(h + 136 + 20);
    CaptureReader r(std::span<const uint8_t>(d), "cap.tt");
    CallLog log;
    EXPECT_TRUE(r.next(log));
    EXPECT_THROW(r.next(log), CaptureError);
    EXPECT_EQ(log.calls.size(), 1u);
}

// ---------------------------------------------------------------------------
// Writing: permissions, flushing, failures.

mode_t mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(stat(path.c_str(), &st), 0);
    return st.st_mode & 07777;
}

TEST_F(CaptureTest, FileIsCreatedOwnerOnly) {
    const mode_t old_umask = umask(0);
    { CaptureWriter w(path, sample_header()); }
    EXPECT_EQ(mode_of(path), 0600u);

    // An existing, world-readable file is truncated and restricted.
    const std::string existing = dir.file("existing.tt");
    write_file(existing, Bytes(5000, 'x'));
    chmod(existing.c_str(), 0644);
    { CaptureWriter w(existing, sample_header()); }
    umask(old_umask);
    EXPECT_EQ(mode_of(existing), 0600u);
    EXPECT_LT(read_file(existing).size(), 5000u);
}

TEST_F(CaptureTest, UncreatableFileIsAnError) {
    const std::string bad = dir.file("no/such/dir/cap.tt");
    try {
        CaptureWriter w(bad, sample_header());
        ADD_FAILURE() << "no error";
    } catch (const CaptureError& e) {
        EXPECT_EQ(std::string(e.what()), "cannot create capture " + bad + ": No such file or directory");
    }
}

TEST_F(CaptureTest, BufferGoesOutOnAdvanceAboutEverySecond) {
    CaptureWriter w(path, sample_header());
    const size_t h = header_bytes();
    auto size = [&] { return read_file(path).size(); };
    EXPECT_EQ(size(), h);  // the header goes out at once
    SocketScript s(1, 2, 3);
    w.event(s.state(TT_CLOSE, TT_SYN_SENT, 0));
    EXPECT_EQ(size(), h);
    w.advance(5'000'000'000);
    EXPECT_EQ(size(), h + 136 + 16);
    w.event(s.state(TT_CLOSE, TT_SYN_SENT, 0));
    w.advance(5'500'000'000);
    EXPECT_EQ(size(), h + 136 + 16);  // less than a second: still buffered
    w.advance(6'000'000'000);
    EXPECT_EQ(size(), h + 2 * (136 + 16) + 16);
    w.finish(6'100'000'000);
    EXPECT_EQ(size(), h + 2 * (136 + 16) + 2 * 16);
    EXPECT_FALSE(w.failed());
}

// RLIMIT_FSIZE turns writes past a size into EFBIG (with SIGXFSZ ignored): a
// deterministic "disk full" without root or a small file system.
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes) {
        getrlimit(RLIMIT_FSIZE, &old_);
        old_handler_ = signal(SIGXFSZ, SIG_IGN);
        rlimit lim = old_;
        lim.rlim_cur = bytes;
        setrlimit(RLIMIT_FSIZE, &lim);
    }
    ~FileSizeLimit() {
        setrlimit(RLIMIT_FSIZE, &old_);
        signal(SIGXFSZ, old_handler_);
    }

private:
    rlimit old_{};
    sighandler_t old_handler_;
};

TEST_F(CaptureTest, WriteFailureKeepsWholeRecordsAndStopsRecording) {
    size_t h;
    {
        CaptureWriter probe(dir.file("size.tt"), sample_header());
        h = probe.bytes_written();
    }
    CallLog live;
    {
        // Room for the header and 10 events plus part of the 11th.
        FileSizeLimit limit(h + 10 * 136 + 50);
        CaptureWriter w(path, sample_header(), 4096);
        CaptureTee tee(w, live);
        SocketScript s(7, 40000, 80);
        for (int i = 0; i < 100; ++i) tee.on_event(s.state(TT_CLOSE, TT_SYN_SENT, i));
        tee.finish(2'000'000'000);
        EXPECT_TRUE(w.failed());
        EXPECT_EQ(w.error(), "cannot write capture " + path + ": File too large");
        EXPECT_EQ(w.bytes_written(), h + 10 * 136);
    }
    EXPECT_EQ(live.calls.size(), 101u);  // forwarding never stopped

    // The file ends at the last whole record and replays without error.
    const Bytes data = read_file(path);
    EXPECT_EQ(data.size(), h + 10 * 136);
    CaptureReader r(std::span<const uint8_t>(data), "cap.tt");
    const auto replayed = replay(r);
    EXPECT_FALSE(r.saw_finish());
    EXPECT_EQ(replayed, std::vector<std::string>(live.calls.begin(), live.calls.begin() + 10));
}

TEST_F(CaptureTest, HeaderWriteFailureIsAnError) {
    FileSizeLimit limit(10);
    try {
        CaptureWriter w(path, sample_header());
        ADD_FAILURE() << "no error";
    } catch (const CaptureError& e) {
        EXPECT_EQ(std::string(e.what()), "cannot write capture " + path + ": File too large");
    }
    EXPECT_EQ(read_file(path).size(), 0u);
}

}  // namespace
}  // namespace tcptrail::testing
