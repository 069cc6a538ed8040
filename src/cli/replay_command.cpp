#include "cli/replay_command.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "capture/capture_reader.hpp"
#include "cli/output_setup.hpp"
#include "core/tracker.hpp"
#include "sinks/output_stream.hpp"
#include "sinks/time_base.hpp"

namespace tcptrail::cli {

namespace {

class FileDescriptor {
public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    ~FileDescriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

void print_origin(const std::string& path, const capture::CaptureHeader& h) {
    fmt::print(stderr, "tcptrail: replaying {}: recorded on {}, kernel {}, tcptrail {}{}{}\n", path,
               h.host.empty() ? "?" : h.host, h.kernel_release.empty() ? "?" : h.kernel_release,
               h.tcptrail_version.empty() ? "?" : h.tcptrail_version, h.filters.empty() ? "" : ", filters: ",
               h.filters);
}

}  // namespace

int run_replay(const std::string& path, const TraceOptions& opts) {
    // A closed stdout shows up as EPIPE from write(), handled as a clean stop.
    (void)signal(SIGPIPE, SIG_IGN);
    FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() < 0) {
        fmt::print(stderr, "tcptrail: cannot open capture {}: {}\n", path, std::strerror(errno));
        return 1;
    }
    sinks::OutputStream out(STDOUT_FILENO);
    try {
        capture::CaptureReader reader(file.get(), path);
        print_origin(path, reader.header());
        // The live run's clock offset, so wall-clock times match its output.
        const sinks::TimeBase time_base{reader.header().realtime_minus_monotonic_ns};
        std::unique_ptr<RunOutput> created = open_run_output(opts, out, time_base);
        if (!created) return 2;
        RunOutput& run_output = *created;
        core::Tracker tracker(run_output.output(), tracker_options(opts));
        // The live run's kernel-side filters, which replay has to apply itself.
        const core::SocketFilter socks = socket_filter(opts);
        core::FilteredStream filtered(socks, tracker);
        core::EventStream& input = socks.any() ? static_cast<core::EventStream&>(filtered) : tracker;

        while (reader.next(input)) {
            if (out.reader_gone()) return 0;
            if (run_output.failed()) break;
        }
        if (!run_output.failed() && !reader.saw_finish()) {
            fmt::print(stderr,
                       "tcptrail: capture ends without a finish record (tracer stopped abruptly); "
                       "open connections reported as of the last event\n");
            input.finish(reader.last_ns());
        }
        run_output.finish();
        if (run_output.failed()) {
            out.flush();
            fmt::print(stderr, "tcptrail: {}\n", run_output.error());
            return 1;
        }
    } catch (const capture::CaptureError& e) {
        out.flush();
        fmt::print(stderr, "tcptrail: {}\n", e.what());
        return 1;
    }
    out.flush();
    if (!out.error().empty()) {
        fmt::print(stderr, "tcptrail: cannot write output: {}\n", out.error());
        return 1;
    }
    return 0;
}

}  // namespace tcptrail::cli
