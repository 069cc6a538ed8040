#include "probe/check.hpp"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>

#include "probe/probe.hpp"
#include "probe/sock_diag.hpp"

namespace tcptrail::probe {

namespace {

using Status = CheckLine::Status;

class NullHandler : public EventHandler {
public:
    void on_event(const tt_event&) override {}
};

bool btf_has(const btf* vmlinux, const char* name, int kind) {
    return vmlinux && btf__find_by_name_kind(vmlinux, name, kind) > 0;
}

}  // namespace

CheckReport check_system() {
    CheckReport r;
    auto add = [&](Status s, std::string what, std::string detail = {}) {
        r.lines.push_back({s, std::move(what), std::move(detail)});
    };

    utsname u{};
    uname(&u);
    add(Status::Ok, fmt::format("kernel {} ({})", u.release, u.machine));

    btf* vmlinux = btf__load_vmlinux_btf();
    if (vmlinux) {
        add(Status::Ok, "kernel BTF (/sys/kernel/btf/vmlinux)");
    } else {
        add(Status::Missing, "kernel BTF (/sys/kernel/btf/vmlinux)", "needs CONFIG_DEBUG_INFO_BTF=y; nothing can load");
    }
    // Typed tracepoints (tp_btf) exist when their btf_trace_* typedef does.
    struct Tracepoint {
        const char* btf_name;
        const char* name;
        const char* lost;
    };
    const Tracepoint tracepoints[] = {
        {"btf_trace_inet_sock_set_state", "sock:inet_sock_set_state", "no connection timelines at all"},
        {"btf_trace_tcp_retransmit_skb", "tcp:tcp_retransmit_skb", "retransmits"},
        {"btf_trace_tcp_retransmit_synack", "tcp:tcp_retransmit_synack", "SYN-ACK retransmit timing"},
        {"btf_trace_tcp_send_reset", "tcp:tcp_send_reset", "resets sent"},
        {"btf_trace_tcp_receive_reset", "tcp:tcp_receive_reset", "resets received"},
    };
    for (const auto& tp : tracepoints) {
        if (btf_has(vmlinux, tp.btf_name, BTF_KIND_TYPEDEF)) {
            add(Status::Ok, fmt::format("tracepoint {}", tp.name));
        } else {
            add(Status::Missing, fmt::format("tracepoint {}", tp.name), tp.lost);
        }
    }
    btf__free(vmlinux);
    if (kernel_has_reset_reasons()) {
        add(Status::Ok, "reset reasons (tcp_send_reset reason, 6.10+)");
    } else {
        add(Status::Degraded, "reset reasons (tcp_send_reset reason, 6.10+)", kNoResetReasons);
    }

    if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1) {
        add(Status::Ok, "BPF ring buffer (5.8+)");
    } else {
        add(Status::Missing, "BPF ring buffer (5.8+)", "or not permitted: run as root");
    }
    add(geteuid() == 0 ? Status::Ok : Status::Degraded, geteuid() == 0 ? "running as root" : "not root",
        geteuid() == 0 ? "" : "needs CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN)");

    // The real test: load and attach everything, then detach.
    NullHandler sink;
    std::vector<std::string> notes;
    try {
        Probe probe(ProbeConfig{}, sink, notes);
        add(Status::Ok, fmt::format("load and attach ({} programs)", probe.attached_programs()));
        for (const auto& n : notes) {
            if (n != kNoResetReasons) add(Status::Degraded, "feature", n);  // already said above
        }
        r.can_trace = true;
    } catch (const ProbeError& e) {
        add(Status::Missing, "load and attach", e.what());
    }
    ExistingSockets existing = snapshot_existing_sockets(ProbeConfig{}, 0);
    if (existing.problems.empty()) {
        add(Status::Ok, fmt::format("sock_diag: {} existing TCP sockets visible", existing.events.size()));
    } else {
        add(Status::Degraded, "sock_diag",
            existing.problems.front() + ": connections from before the start are seen only when they change");
    }
    return r;
}

}  // namespace tcptrail::probe
