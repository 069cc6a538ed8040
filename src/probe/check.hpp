// `tcptrail --check`: what this kernel and this process can do, one line per
// feature, and whether tracing can work at all (by really loading and attaching).
#pragma once

#include <string>
#include <vector>

namespace tcptrail::probe {

struct CheckLine {
    enum class Status { Ok, Degraded, Missing };
    Status status;
    std::string what;
    std::string detail;  // what is lost, or why
};

struct CheckReport {
    std::vector<CheckLine> lines;
    bool can_trace = false;
};

CheckReport check_system();

}  // namespace tcptrail::probe
