#include "probe/netstat_sampler.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/netstat.hpp"
#include "probe/netns.hpp"

namespace tcptrail::probe {

namespace {

// The calling thread's namespace: /proc/self/net would be the main thread's.
constexpr const char* kNetstatPath = "/proc/thread-self/net/netstat";

std::string read_counters(uint64_t ino, core::NetstatCounters& out) {
    const int fd = ::open(kNetstatPath, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fmt::format("cannot read {} in network namespace {}: {}", kNetstatPath, ino, std::strerror(errno));
    std::string text;
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0) text.append(buf, static_cast<size_t>(n));
        if (text.size() > (1u << 20)) break;  // far beyond any real file
    }
    const int err = errno;
    ::close(fd);
    if (n < 0) return fmt::format("cannot read {} in network namespace {}: {}", kNetstatPath, ino, std::strerror(err));
    std::string error;
    auto parsed = core::parse_netstat(text, error);
    if (!parsed) return fmt::format("{} in network namespace {}: {}", kNetstatPath, ino, error);
    out = *parsed;
    return {};
}

}  // namespace

std::vector<tt_event> NetstatSampler::sample(uint64_t now_ns, std::vector<std::string>& notes) {
    const std::vector<NetnsRef> spaces = list_network_namespaces(only_netns_);
    std::vector<core::NetstatCounters> counters(spaces.size());
    const std::vector<NamespaceResult> results =
        in_each_network_namespace(spaces, [&](size_t i) { return read_counters(spaces[i].ino, counters[i]); });
    std::vector<tt_event> events;
    for (size_t i = 0; i < spaces.size(); ++i) {
        const NamespaceResult& r = results[i];
        if (r.problem.empty()) {
            events.push_back(core::netstat_event(now_ns, static_cast<uint32_t>(spaces[i].ino), counters[i]));
        } else if (!r.gone && noted_.insert(spaces[i].ino).second) {
            notes.push_back(r.problem + " (its listen-queue counters are not sampled)");
        }
    }
    return events;
}

}  // namespace tcptrail::probe
