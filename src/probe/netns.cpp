#include "probe/netns.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <thread>

#include <fmt/format.h>

namespace tcptrail::probe {

bool all_digits(const char* s) {
    if (!*s) return false;
    for (; *s; ++s) {
        if (*s < '0' || *s > '9') return false;
    }
    return true;
}

namespace {

void add_entries(const char* dir, const char* format, bool numeric_only, std::set<uint64_t>& seen,
                 std::vector<NetnsRef>& out) {
    DIR* d = opendir(dir);
    if (!d) return;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.' || (numeric_only && !all_digits(e->d_name))) continue;
        std::string path = fmt::format(fmt::runtime(format), e->d_name);
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0 && seen.insert(st.st_ino).second) out.push_back({st.st_ino, path});
    }
    closedir(d);
}

}  // namespace

std::vector<NetnsRef> list_network_namespaces() {
    std::set<uint64_t> seen;
    std::vector<NetnsRef> out;
    add_entries("/proc", "/proc/{}/ns/net", true, seen, out);
    // Named namespaces nobody runs in (ip netns add) still hold sockets.
    add_entries("/run/netns", "/run/netns/{}", false, seen, out);
    return out;
}

std::string in_network_namespace(const NetnsRef& ns, const std::function<std::string()>& work, bool& gone) {
    gone = false;
    std::string result;
    struct stat own {};
    const bool is_own = ::stat("/proc/self/ns/net", &own) == 0 && own.st_ino == ns.ino;
    std::thread worker([&] {
        if (!is_own) {
            const int nsfd = ::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC);
            if (nsfd < 0) {
                gone = errno == ENOENT || errno == ESRCH;
                result = fmt::format("cannot enter network namespace {}: {}", ns.ino, std::strerror(errno));
                return;
            }
            // A /proc/PID path may name another namespace by now (the pid was reused).
            struct stat st {};
            if (::fstat(nsfd, &st) != 0 || st.st_ino != ns.ino) {
                gone = true;
                result = fmt::format("cannot enter network namespace {}: it is gone", ns.ino);
                ::close(nsfd);
                return;
            }
            const int rc = setns(nsfd, CLONE_NEWNET);
            const int err = errno;
            ::close(nsfd);
            if (rc != 0) {
                result = fmt::format("cannot enter network namespace {}: {}", ns.ino, std::strerror(err));
                return;
            }
        }
        result = work();
    });
    worker.join();
    return result;
}

}  // namespace tcptrail::probe
