// churn: loopback TCP connection churn generator for measuring tracer overhead.
//
// One process: a listening socket on 127.0.0.1 served by --server-threads
// threads, and --threads client threads. Each client connection does
//
//     socket -> bind(127.0.0.x:0) -> connect -> [write N, read N] -> close
//
// and the server side does
//
//     accept -> [read N, write N] -> read until EOF -> close
//
// so the CLIENT always closes first (FIN_WAIT1/FIN_WAIT2/TIME_WAIT on the client,
// CLOSE_WAIT/LAST_ACK on the server): every connection has the same, ordinary
// event mix. No SO_LINGER anywhere (an abortive close would turn the close into
// a reset and change what a tracer sees).
//
// Port exhaustion: TIME_WAIT lands on the client side. Clients bind to source
// addresses 127.0.0.2 .. 127.0.0.254 in rotation with IP_BIND_ADDRESS_NO_PORT,
// so the ephemeral port is chosen at connect() time against the full 4-tuple:
// 253 addresses x ~28k ports leave millions of tuples, far more than a run uses
// in the 60 s a TIME_WAIT socket lives. (The kernel's tcp_max_tw_buckets may
// cap how many TIME_WAIT sockets exist; past it closes skip TIME_WAIT, which the
// kernel counts as TCPTimeWaitOverflow. That does not block new connections.)
//
// Bounded by --duration and --max-conns, whichever comes first. Prints one
// machine-readable line on stdout at the end:
//
//     conns=123456 seconds=10.00 rate=12345.6 errors=0 threads=2 server_threads=2 payload=0 utime=0.51 stime=9.87
//
// (utime/stime: this process's own CPU seconds, from getrusage; on loopback they
// include much of the kernel's TCP work and any BPF programs run in its context.)
// Exit status 0 if at least one connection completed and errors stayed below
// 1% of attempts, else 1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace {

struct Options {
    double duration_s = 10.0;
    uint64_t max_conns = UINT64_MAX;
    int threads = 2;
    int server_threads = 2;
    size_t payload = 0;   // bytes written by the client and echoed back; 0: none
    uint16_t port = 0;    // 0: any free port
    bool spread = true;   // rotate client source addresses over 127.0.0.2..254
    bool quiet = false;
};

using Clock = std::chrono::steady_clock;

std::atomic<uint64_t> g_conns{0};      // completed connections (client side)
std::atomic<uint64_t> g_claimed{0};    // connection slots handed out (for --max-conns)
std::atomic<uint64_t> g_errors{0};
std::atomic<bool> g_stop{false};
std::atomic<int> g_first_errno{0};

[[noreturn]] void usage(const char* argv0, int code) {
    std::fprintf(code ? stderr : stdout,
                 "usage: %s [--duration S] [--max-conns N] [--threads T] [--server-threads T]\n"
                 "          [--payload BYTES] [--port P] [--no-spread] [--quiet]\n"
                 "Loopback connect/accept/close churn; prints\n"
                 "  conns=N seconds=S rate=R errors=E threads=T server_threads=T payload=B utime=U stime=S\n"
                 "  --duration S        stop after S seconds (default 10)\n"
                 "  --max-conns N       stop after N connections (default: no limit)\n"
                 "  --threads T         client threads (default 2)\n"
                 "  --server-threads T  accepting threads (default 2)\n"
                 "  --payload BYTES     client writes BYTES, server echoes them (default 0: none)\n"
                 "  --port P            listen on 127.0.0.1:P (default: a free port)\n"
                 "  --no-spread         clients use 127.0.0.1 as source address, ephemeral ports only\n"
                 "  --quiet             no progress/diagnostics on stderr\n",
                 argv0);
    std::exit(code);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(argv[0], 2);
            return argv[++i];
        };
        char* end = nullptr;
        auto bad = [&](const char* what) {
            std::fprintf(stderr, "churn: bad value for %s\n", what);
            std::exit(2);
        };
        if (a == "--duration") {
            o.duration_s = std::strtod(value(), &end);
            if (*end || !(o.duration_s > 0)) bad("--duration");
        } else if (a == "--max-conns") {
            o.max_conns = std::strtoull(value(), &end, 10);
            if (*end || o.max_conns == 0) bad("--max-conns");
        } else if (a == "--threads") {
            o.threads = static_cast<int>(std::strtol(value(), &end, 10));
            if (*end || o.threads < 1 || o.threads > 256) bad("--threads");
        } else if (a == "--server-threads") {
            o.server_threads = static_cast<int>(std::strtol(value(), &end, 10));
            if (*end || o.server_threads < 1 || o.server_threads > 256) bad("--server-threads");
        } else if (a == "--payload") {
            o.payload = std::strtoull(value(), &end, 10);
            if (*end || o.payload > (1u << 20)) bad("--payload");
        } else if (a == "--port") {
            long p = std::strtol(value(), &end, 10);
            if (*end || p < 0 || p > 65535) bad("--port");
            o.port = static_cast<uint16_t>(p);
        } else if (a == "--no-spread") {
            o.spread = false;
        } else if (a == "--quiet") {
            o.quiet = true;
        } else if (a == "-h" || a == "--help") {
            usage(argv[0], 0);
        } else {
            std::fprintf(stderr, "churn: unknown option %s\n", argv[i]);
            usage(argv[0], 2);
        }
    }
    return o;
}

void note_error(int err) {
    g_errors.fetch_add(1, std::memory_order_relaxed);
    int expected = 0;
    g_first_errno.compare_exchange_strong(expected, err);
}

bool write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

bool read_exact(int fd, char* p, size_t n) {
    while (n > 0) {
        ssize_t r = ::read(fd, p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (r == 0) return false;
        p += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

void server_loop(int lfd, size_t payload) {
    std::vector<char> buf(payload > 4096 ? payload : 4096);
    for (;;) {
        int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (g_stop.load(std::memory_order_relaxed)) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) {
                note_error(errno);
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
                continue;
            }
            return;  // EINVAL after shutdown(): we are done
        }
        if (payload && !(read_exact(fd, buf.data(), payload) && write_all(fd, buf.data(), payload))) {
            ::close(fd);
            continue;
        }
        // Wait for the client's FIN so that the client always closes first.
        for (;;) {
            ssize_t r = ::read(fd, buf.data(), buf.size());
            if (r > 0) continue;
            if (r < 0 && errno == EINTR) continue;
            break;
        }
        ::close(fd);
    }
}

void client_loop(int idx, const Options& o, sockaddr_in server, Clock::time_point deadline) {
    std::vector<char> buf(o.payload ? o.payload : 1, 'x');
    // Each thread walks the source addresses from its own offset.
    uint32_t next_src = static_cast<uint32_t>(idx) * 97u;
    uint64_t iter = 0;
    for (;;) {
        if (g_stop.load(std::memory_order_relaxed)) return;
        // Checking the clock every 64 connections keeps it off the profile.
        if ((++iter & 63) == 0 && Clock::now() >= deadline) return;
        if (o.max_conns != UINT64_MAX && g_claimed.fetch_add(1, std::memory_order_relaxed) >= o.max_conns) return;

        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            note_error(errno);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            continue;
        }
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (o.spread) {
            ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
            sockaddr_in src{};
            src.sin_family = AF_INET;
            src.sin_port = 0;
            src.sin_addr.s_addr = htonl(0x7f000000u | (2u + (next_src++ % 253u)));  // 127.0.0.2..254
            if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) {
                note_error(errno);
                ::close(fd);
                continue;
            }
        }
        if (::connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof(server)) != 0) {
            const int err = errno;
            note_error(err);
            ::close(fd);
            if (err == EADDRNOTAVAIL) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            continue;
        }
        if (o.payload && !(write_all(fd, buf.data(), o.payload) && read_exact(fd, buf.data(), o.payload))) {
            note_error(errno ? errno : EPIPE);
            ::close(fd);
            continue;
        }
        ::close(fd);
        g_conns.fetch_add(1, std::memory_order_relaxed);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);

    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
        std::perror("churn: socket");
        return 1;
    }
    int one = 1;
    ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(o.port);
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        std::perror("churn: bind 127.0.0.1");
        return 1;
    }
    if (::listen(lfd, 4096) != 0) {
        std::perror("churn: listen");
        return 1;
    }
    socklen_t alen = sizeof(addr);
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen);

    std::vector<std::thread> servers;
    for (int i = 0; i < o.server_threads; ++i) servers.emplace_back(server_loop, lfd, o.payload);

    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
    std::vector<std::thread> clients;
    for (int i = 0; i < o.threads; ++i) clients.emplace_back(client_loop, i, std::cref(o), addr, deadline);
    for (auto& t : clients) t.join();
    const auto end = Clock::now();

    // Clients are done (each waited for its echo, if any, before close). Servers
    // still finish reading EOF on their last sockets; then unblock accept().
    g_stop.store(true);
    ::shutdown(lfd, SHUT_RDWR);
    for (auto& t : servers) t.join();
    ::close(lfd);

    const double secs = std::chrono::duration<double>(end - start).count();
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    const uint64_t conns = g_conns.load();
    const uint64_t errors = g_errors.load();
    std::printf("conns=%llu seconds=%.2f rate=%.1f errors=%llu threads=%d server_threads=%d payload=%zu "
                "utime=%.2f stime=%.2f\n",
                static_cast<unsigned long long>(conns), secs, secs > 0 ? conns / secs : 0.0,
                static_cast<unsigned long long>(errors), o.threads, o.server_threads, o.payload, tv(ru.ru_utime),
                tv(ru.ru_stime));
    std::fflush(stdout);
    if (errors && !o.quiet) {
        std::fprintf(stderr, "churn: %llu errors, first: %s\n", static_cast<unsigned long long>(errors),
                     std::strerror(g_first_errno.load()));
    }
    if (conns == 0) return 1;
    return errors * 100 > conns + errors ? 1 : 0;
}
