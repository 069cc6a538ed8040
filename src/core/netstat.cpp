#include "core/netstat.hpp"

#include <charconv>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace tcptrail::core {

namespace {

constexpr const char* kKernelNames[TT_NETSTAT_COUNTERS] = {"ListenOverflows", "ListenDrops", "SyncookiesSent",
                                                           "SyncookiesRecv", "SyncookiesFailed"};
constexpr const char* kJsonNames[TT_NETSTAT_COUNTERS] = {"listen_overflows", "listen_drops", "syncookies_sent",
                                                         "syncookies_recv", "syncookies_failed"};

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ') ++i;
        size_t j = i;
        while (j < line.size() && line[j] != ' ') ++j;
        if (j > i) out.push_back(line.substr(i, j - i));
        i = j;
    }
    return out;
}

}  // namespace

const char* netstat_kernel_name(size_t i) { return i < TT_NETSTAT_COUNTERS ? kKernelNames[i] : "?"; }
const char* netstat_json_name(size_t i) { return i < TT_NETSTAT_COUNTERS ? kJsonNames[i] : "?"; }

std::optional<NetstatCounters> parse_netstat(std::string_view text, std::string& error) {
    // The file is pairs of lines: "TcpExt: Name1 Name2 ..." then "TcpExt: 1 2 ...".
    // Look the counters up by name: their positions differ between kernels.
    std::vector<std::string_view> names, values;
    while (!text.empty()) {
        const size_t nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (!line.starts_with("TcpExt:")) continue;
        (names.empty() ? names : values) = words(line.substr(7));
        if (!values.empty()) break;
    }
    if (names.empty() || values.size() != names.size()) {
        error = names.empty() ? "no TcpExt counters" : "TcpExt names and values do not match";
        return std::nullopt;
    }
    NetstatCounters c{};
    for (size_t i = 0; i < c.size(); ++i) {
        size_t k = 0;
        while (k < names.size() && names[k] != kKernelNames[i]) ++k;
        if (k == names.size()) {
            error = fmt::format("no TcpExt counter {}", kKernelNames[i]);
            return std::nullopt;
        }
        const std::string_view v = values[k];
        if (std::from_chars(v.data(), v.data() + v.size(), c[i]).ec != std::errc{}) {
            error = fmt::format("bad value for TcpExt {}", kKernelNames[i]);
            return std::nullopt;
        }
    }
    return c;
}

tt_event netstat_event(uint64_t ts_ns, uint32_t netns, const NetstatCounters& c) {
    tt_event e{};
    e.ts_ns = ts_ns;
    e.netns = netns;
    e.type = TT_EV_NETSTAT;
    e.flags = TT_F_NO_COUNTERS;  // no socket counters
    std::memcpy(e.netstat, c.data(), sizeof(e.netstat));
    return e;
}

NetstatCounters netstat_of(const tt_event& e) {
    NetstatCounters c{};
    std::memcpy(c.data(), e.netstat, sizeof(e.netstat));
    return c;
}

}  // namespace tcptrail::core
