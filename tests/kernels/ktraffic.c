// ktraffic: deterministic loopback TCP traffic for the kernel-matrix tests.
//
// Linked statically so that it runs in the busybox initramfs of a qemu guest
// as well as on the host. Usage: ktraffic BASEPORT
//
// Runs four scenarios one after the other, each with a server and a client in
// separate forked processes (comm "ttksrv" / "ttkcli"):
//   BASEPORT+0  client_close  127.0.0.1: the client closes first, the server after EOF
//   BASEPORT+1  server_close  127.0.0.1: the server closes first, the client after EOF
//   BASEPORT+2  refused       127.0.0.1: nothing listens; connect() gets ECONNREFUSED
//   BASEPORT+3  client_close6 ::1: as client_close, over IPv6
// The client sends 100 bytes, the server answers 200. Each process prints one
// JSON line describing its socket (pid, comm, addresses, ports, netns inode,
// bytes, error) to stdout. Exit status 0 only if every scenario went as planned.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { CLIENT_SEND = 100, SERVER_SEND = 200, TIME_LIMIT_S = 20 };

struct scenario {
    const char* name;
    int family;
    int port_offset;
    int listen;        // a server exists
    int server_first;  // the server closes first
};

static const struct scenario kScenarios[] = {
    {"client_close", AF_INET, 0, 1, 0},
    {"server_close", AF_INET, 1, 1, 1},
    {"refused", AF_INET, 2, 0, 0},
    {"client_close6", AF_INET6, 3, 1, 0},
};

static void die(const char* scenario, const char* side, const char* what) {
    char line[512];
    int n = snprintf(line, sizeof line, "{\"scenario\":\"%s\",\"side\":\"%s\",\"fatal\":\"%s: %s\"}\n", scenario, side,
                     what, strerror(errno));
    if (n > 0) (void)!write(STDOUT_FILENO, line, (size_t)n);
    _exit(2);
}

static const char* errno_name(int e) {
    switch (e) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNRESET: return "ECONNRESET";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    default: return "EOTHER";
    }
}

static void set_comm(const char* name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

static unsigned long netns_inode(void) {
    struct stat st;
    return stat("/proc/self/ns/net", &st) == 0 ? (unsigned long)st.st_ino : 0;
}

static socklen_t make_addr(int family, int port, struct sockaddr_storage* ss) {
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in* a = (struct sockaddr_in*)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((unsigned short)port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return sizeof *a;
    }
    struct sockaddr_in6* a = (struct sockaddr_in6*)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((unsigned short)port);
    a->sin6_addr = in6addr_loopback;
    return sizeof *a;
}

static void addr_text(const struct sockaddr_storage* ss, char* host, size_t n, int* port) {
    host[0] = 0;
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in* a = (const struct sockaddr_in*)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)n);
        *port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6* a = (const struct sockaddr_in6*)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)n);
        *port = ntohs(a->sin6_port);
    }
}

// One JSON line, written with a single write() so that lines never interleave.
static void report(const struct scenario* sc, const char* side, int fd, long sent, long recvd, const char* error) {
    struct sockaddr_storage l, r;
    socklen_t ll = sizeof l, rl = sizeof r;
    memset(&l, 0, sizeof l);
    memset(&r, 0, sizeof r);
    (void)getsockname(fd, (struct sockaddr*)&l, &ll);
    if (getpeername(fd, (struct sockaddr*)&r, &rl) != 0) memset(&r, 0, sizeof r);
    char lh[INET6_ADDRSTRLEN], rh[INET6_ADDRSTRLEN];
    int lp, rp;
    addr_text(&l, lh, sizeof lh, &lp);
    addr_text(&r, rh, sizeof rh, &rp);
    char comm[17] = {0};
    prctl(PR_GET_NAME, comm, 0, 0, 0);
    char err[32] = "null";
    if (error) snprintf(err, sizeof err, "\"%s\"", error);
    char line[640];
    int n = snprintf(line, sizeof line,
                     "{\"scenario\":\"%s\",\"side\":\"%s\",\"family\":%d,\"pid\":%d,\"comm\":\"%s\",\"netns\":%lu,"
                     "\"laddr\":\"%s\",\"lport\":%d,\"raddr\":\"%s\",\"rport\":%d,\"sent\":%ld,\"recvd\":%ld,"
                     "\"error\":%s}\n",
                     sc->name, side, sc->family == AF_INET ? 4 : 6, (int)getpid(), comm, netns_inode(), lh, lp, rh, rp,
                     sent, recvd, err);
    if (n > 0) (void)!write(STDOUT_FILENO, line, (size_t)n);
}

static long send_all(int fd, long n) {
    char buf[256];
    memset(buf, 'k', sizeof buf);
    long done = 0;
    while (done < n) {
        size_t chunk = (size_t)(n - done) < sizeof buf ? (size_t)(n - done) : sizeof buf;
        ssize_t w = send(fd, buf, chunk, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        done += w;
    }
    return done;
}

// Reads exactly n bytes (n >= 0), or until EOF when n < 0. Returns the count, -1 on error.
static long recv_some(int fd, long n) {
    char buf[256];
    long done = 0;
    while (n < 0 || done < n) {
        size_t want = sizeof buf;
        if (n >= 0 && (size_t)(n - done) < want) want = (size_t)(n - done);
        ssize_t r = recv(fd, buf, want, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        done += r;
    }
    return done;
}

static void run_server(const struct scenario* sc, int lfd) {
    set_comm("ttksrv");
    alarm(TIME_LIMIT_S);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) die(sc->name, "server", "accept");
    close(lfd);
    long recvd = recv_some(fd, CLIENT_SEND);
    if (recvd != CLIENT_SEND) die(sc->name, "server", "recv request");
    if (send_all(fd, SERVER_SEND) != SERVER_SEND) die(sc->name, "server", "send answer");
    if (!sc->server_first) {
        long more = recv_some(fd, -1);  // until the client's FIN
        if (more != 0) die(sc->name, "server", "expected EOF");
    }
    report(sc, "server", fd, SERVER_SEND, recvd, NULL);
    close(fd);
    _exit(0);
}

static void run_client(const struct scenario* sc, int port) {
    set_comm("ttkcli");
    alarm(TIME_LIMIT_S);
    int fd = socket(sc->family, SOCK_STREAM, 0);
    if (fd < 0) die(sc->name, "client", "socket");
    struct sockaddr_storage ss;
    socklen_t len = make_addr(sc->family, port, &ss);
    if (connect(fd, (struct sockaddr*)&ss, len) != 0) {
        int e = errno;
        report(sc, "client", fd, 0, 0, errno_name(e));
        close(fd);
        _exit(sc->listen ? 3 : 0);
    }
    if (!sc->listen) {
        report(sc, "client", fd, 0, 0, NULL);
        close(fd);
        _exit(3);  // connected where nothing should listen
    }
    if (send_all(fd, CLIENT_SEND) != CLIENT_SEND) die(sc->name, "client", "send request");
    long recvd;
    if (sc->server_first) {
        recvd = recv_some(fd, -1);  // the answer, then the server's FIN
    } else {
        recvd = recv_some(fd, SERVER_SEND);
    }
    if (recvd != SERVER_SEND) die(sc->name, "client", "recv answer");
    report(sc, "client", fd, CLIENT_SEND, recvd, NULL);
    close(fd);
    _exit(0);
}

static int wait_child(pid_t pid, const char* scenario, const char* side) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return 1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    fprintf(stderr, "ktraffic: %s %s failed (status 0x%x)\n", scenario, side, (unsigned)status);
    return 1;
}

static int run_scenario(const struct scenario* sc, int base) {
    const int port = base + sc->port_offset;
    pid_t server = -1;
    if (sc->listen) {
        int lfd = socket(sc->family, SOCK_STREAM, 0);
        if (lfd < 0) die(sc->name, "listener", "socket");
        int one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_storage ss;
        socklen_t len = make_addr(sc->family, port, &ss);
        if (bind(lfd, (struct sockaddr*)&ss, len) != 0) die(sc->name, "listener", "bind");
        if (listen(lfd, 8) != 0) die(sc->name, "listener", "listen");
        server = fork();
        if (server < 0) die(sc->name, "listener", "fork");
        if (server == 0) run_server(sc, lfd);
        close(lfd);  // the listener lives on in the server process only
    }
    pid_t client = fork();
    if (client < 0) die(sc->name, "client", "fork");
    if (client == 0) run_client(sc, port);
    int failed = wait_child(client, sc->name, "client");
    if (server > 0) failed |= wait_child(server, sc->name, "server");
    return failed;
}

int main(int argc, char** argv) {
    if (argc != 2 || atoi(argv[1]) < 1024 || atoi(argv[1]) > 65000) {
        fprintf(stderr, "usage: ktraffic BASEPORT (1024..65000)\n");
        return 64;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    set_comm("ktraffic");
    alarm(4 * TIME_LIMIT_S);
    const int base = atoi(argv[1]);
    int failed = 0;
    for (size_t i = 0; i < sizeof kScenarios / sizeof kScenarios[0]; ++i) {
        failed |= run_scenario(&kScenarios[i], base);
        usleep(50 * 1000);  // keep the scenarios apart in time
    }
    return failed ? 1 : 0;
}
