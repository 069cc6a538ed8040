#include "probe/netns.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <set>
#include <system_error>
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

std::vector<NetnsRef> list_network_namespaces(uint64_t only) {
    std::set<uint64_t> seen;
    std::vector<NetnsRef> out;
    add_entries("/proc", "/proc/{}/ns/net", true, seen, out);
    // Named namespaces nobody runs in (ip netns add) still hold sockets.
    add_entries("/run/netns", "/run/netns/{}", false, seen, out);
    if (only) std::erase_if(out, [&](const NetnsRef& ns) { return ns.ino != only; });
    return out;
}

namespace {

uint64_t thread_netns_ino() {
    struct stat st {};
    return ::stat("/proc/thread-self/ns/net", &st) == 0 ? st.st_ino : 0;
}

// Moves the calling thread into `ns` unless it is there already (`current`).
// Returns why not, or "" once inside.
std::string enter(const NetnsRef& ns, uint64_t& current, bool& gone) {
    gone = false;
    if (current == ns.ino) return {};
    const int nsfd = ::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
        gone = errno == ENOENT || errno == ESRCH;
        return fmt::format("cannot enter network namespace {}: {}", ns.ino, std::strerror(errno));
    }
    // A /proc/PID path may name another namespace by now (the pid was reused).
    struct stat st {};
    if (::fstat(nsfd, &st) != 0 || st.st_ino != ns.ino) {
        gone = true;
        ::close(nsfd);
        return fmt::format("cannot enter network namespace {}: it is gone", ns.ino);
    }
    const int rc = setns(nsfd, CLONE_NEWNET);
    const int err = errno;
    ::close(nsfd);
    if (rc != 0) return fmt::format("cannot enter network namespace {}: {}", ns.ino, std::strerror(err));
    current = ns.ino;
    return {};
}

}  // namespace

std::vector<NamespaceResult> in_each_network_namespace(const std::vector<NetnsRef>& spaces,
                                                       const std::function<std::string(size_t)>& work) {
    std::vector<NamespaceResult> results(spaces.size());
    std::atomic<size_t> next{0};
    auto worker = [&] {
        uint64_t current = thread_netns_ino();
        for (size_t i = next++; i < spaces.size(); i = next++) {
            NamespaceResult& r = results[i];
            r.problem = enter(spaces[i], current, r.gone);
            if (r.problem.empty()) r.problem = work(i);
        }
    };
    const size_t cpus = std::max(1u, std::thread::hardware_concurrency());
    const size_t n_threads = std::min({spaces.size(), cpus, kMaxNamespaceThreads});
    // Signals stay with the caller: an interrupted dump would look complete.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    std::vector<std::thread> threads;
    threads.reserve(n_threads);
    std::string no_thread;
    for (size_t t = 0; t < n_threads; ++t) {
        try {
            threads.emplace_back(worker);
        } catch (const std::system_error& e) {  // e.g. a pids cgroup limit: go on with fewer
            no_thread = e.what();
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    for (std::thread& t : threads) t.join();
    if (threads.empty()) {
        // Our own namespace needs no setns(): read it here. The others cannot be.
        const uint64_t own = thread_netns_ino();
        for (size_t i = 0; i < spaces.size(); ++i) {
            if (spaces[i].ino == own) {
                results[i].problem = work(i);
            } else {
                results[i].problem = fmt::format("cannot read network namespace {}: cannot start a thread: {}",
                                                 spaces[i].ino, no_thread);
            }
        }
    }
    return results;
}

}  // namespace tcptrail::probe
