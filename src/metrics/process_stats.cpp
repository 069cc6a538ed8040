#include "metrics/process_stats.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace tcptrail::metrics {

namespace {

double boot_time_seconds() {
    std::ifstream f("/proc/stat");
    std::string key;
    double btime = 0;
    while (f >> key) {
        if (key == "btime") {
            f >> btime;
            return btime;
        }
        f.ignore(1 << 20, '\n');
    }
    return 0;
}

uint64_t count_fds() {
    DIR* d = opendir("/proc/self/fd");
    if (!d) return 0;
    uint64_t n = 0;
    while (const dirent* e = readdir(d)) {
        if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
    return n > 0 ? n - 1 : 0;  // less the descriptor of the listing itself
}

}  // namespace

ProcessStats read_process_stats() {
    ProcessStats s;
    std::ifstream f("/proc/self/stat");
    std::string line;
    if (std::getline(f, line)) {
        // Fields after the command name, which may contain spaces: state is field 3.
        std::istringstream rest(line.substr(line.rfind(')') + 2));
        std::string field;
        uint64_t utime = 0, stime = 0, start = 0, vsize = 0;
        int64_t rss_pages = 0;
        for (int i = 3; rest >> field; ++i) {
            if (i == 14) utime = std::stoull(field);
            if (i == 15) stime = std::stoull(field);
            if (i == 22) start = std::stoull(field);
            if (i == 23) vsize = std::stoull(field);
            if (i == 24) {
                rss_pages = std::stoll(field);
                break;
            }
        }
        const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
        s.cpu_seconds = static_cast<double>(utime + stime) / hz;
        s.virtual_memory_bytes = vsize;
        s.resident_memory_bytes = rss_pages > 0 ? static_cast<uint64_t>(rss_pages) * sysconf(_SC_PAGESIZE) : 0;
        s.start_time_seconds = boot_time_seconds() + static_cast<double>(start) / hz;
    }
    s.open_fds = count_fds();
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) s.max_fds = lim.rlim_cur;
    return s;
}

}  // namespace tcptrail::metrics
