#!/usr/bin/env bash
# Overhead of tcptrail under maximum loopback connection churn.
#
#   usage: sudo bench/run_churn.sh [ROUNDS] [SECONDS]      (defaults: 5 rounds, 10 s per run)
#
# Each round runs the same churn load four times, each for SECONDS:
#   untraced  - churn alone
#   default   - churn while `tcptrail` runs (its default mode: a table line per connection)
#   events    - churn while `tcptrail --events` runs
#   floor     - churn while bench/floor runs: issue #4's reference design (a
#               64-byte event per state change, no wake-up, a consumer that only
#               counts), the least any tracer of every state change costs here
# in the order floor, default, untraced, events on odd rounds and events,
# untraced, default, floor on even rounds, so that each tcptrail run sits right
# next to the untraced run it is compared with and drift on a shared machine
# cancels out. A round's ratio is traced rate / that round's untraced rate; the
# summary shows the median of those ratios, never an absolute rate alone, and
# tcptrail's default mode against the floor of the same round. (FORMAT=json
# adds --json to default and events: the same records, 3.5 times the bytes.)
#
# Traced runs: tcptrail is started first; its start-up time is measured from
# just before exec to the moment it prints "tcptrail: tracing" (floor: "floor:
# tracing") on stderr; then
# churn runs; then tcptrail's CPU time while churn ran (utime+stime from
# /proc/PID/stat, read before and after) is taken and it is stopped with
# SIGINT. Its output goes to a scratch file (tmpfs /dev/shm when available),
# deleted after each run; writing it is real work and is part of the cost.
# Lost events are counted from the JSON's "type":"lost" lines, or with a table
# (or OUTPUT=null) from tcptrail's closing line on stderr, which tallies them.
#
# Environment (all optional):
#   TCPTRAIL=path      tracer binary            (default: build/tcptrail, built if missing)
#   CHURN=path         load generator binary    (default: build/bench/churn, built if missing)
#   FLOOR=path|0       the reference tracer (default: build/bench/floor, built if missing;
#                      0: leave the floor runs out)
#   CHURN_ARGS="..."   extra churn options, e.g. "--threads 2 --server-threads 2 --payload 64"
#   TRACER_ARGS="..."  extra tcptrail options for both traced modes
#   FORMAT=json        tcptrail writes JSON Lines (--json) instead of its default table
#   OUTPUT=null        tcptrail's output goes to /dev/null instead of a scratch file: the
#                      cost of tracing without that of the file's page cache (lost
#                      events and records are then taken from tcptrail's closing line)
#   BPF_STATS=1        enable kernel.bpf_stats_enabled during the runs (restored afterwards)
#                      and report each tcptrail BPF program's average ns per run.
#                      Stats cost a little per invocation: use it for profiling, not for ratios.
#   OUT_DIR=dir        where logs and the per-run table go (default: a new /tmp/churn.XXXXXX)
#   REBUILD=1          run `cmake --build` even if the binaries exist
#   QUIET_WAIT=S       before each run, wait up to S seconds (default 120) while other
#                      tcptrail processes are running: they would trace this load too.
#                      Runs that still overlap one are flagged in the summary.
set -euo pipefail

# Everything is in main() so that bash has parsed the whole script before it
# runs any of it: editing this file while a session runs cannot derail it.
main() {

if [[ ${1:-} == --summary ]]; then
    SUMMARY_ONLY=$(cd "${2:?usage: run_churn.sh --summary OUT_DIR}" && pwd)
else
    SUMMARY_ONLY=""
fi
ROUNDS=${1:-5}
SECS=${2:-10}
[[ -n $SUMMARY_ONLY ]] || [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "run_churn.sh: ROUNDS must be a positive integer" >&2; exit 2; }
[[ -n $SUMMARY_ONLY ]] || [[ $SECS =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "run_churn.sh: SECONDS must be a number" >&2; exit 2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

# ---------------------------------------------------------------- summary
# summary DIR: the table, from DIR/runs.tsv, DIR/bpf.tsv and DIR/meta.
summary() {
    # shellcheck disable=SC1091
    source "$1/meta"
    awk -F'\t' -v rounds="$ROUNDS" -v secs="$SECS" -v bpfstats="${BPF_STATS:-0}" -v churn_args="${CHURN_ARGS:-}" -v output="${OUTPUT:-file}" -v format="${FORMAT:-table}" -v bpffile="$1/bpf.tsv" '
function median(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function minof(list,    n, a, i, m) { n = split(list, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 < m + 0) m = a[i]; return m }
function maxof(list,    n, a, i, m) { n = split(list, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 > m + 0) m = a[i]; return m }
function add(arr, k, v) { arr[k] = (k in arr) ? arr[k] " " v : v }
NR == 1 { next }
{
    round = $1; mode = $2
    rate[round, mode] = $5
    dirty[round, mode] = ($20 + 0 > 0)
    cpuper[round, mode] = ($7 + ($8 == "-" ? 0 : $8)) / $3   # churn + tracer CPU-s per connection
    add(rates, mode, $5)
    rate_seen[mode] = 1
    conns[mode] += $3
    if ($8 != "-") { add(cpu100k, mode, $8 / $3 * 100000); add(ut100k, mode, $9 / $3 * 100000); add(st100k, mode, $10 / $3 * 100000) }
    if ($11 != "-") add(startup, mode, $11)
    lrb[mode] += $12; lrec[mode] += $13; loth[mode] += $14
    if ($15 != "-") recs[mode] += $15
    if ($16 != "-") evs[mode] += $16
    rsts[mode] += $17
    iwi[mode] += $21
    add(other, mode, $18 - $7 - ($8 == "-" ? 0 : $8))
    add(churncpu, mode, $7 / $3 * 100000)
    if ($20 + 0 > 0) { noisy++; noisyruns = noisyruns " r" round "-" mode }
}
END {
    for (r = 1; r <= rounds; r++) {
        if ((r, "untraced") in rate) {
            if ((r, "default") in rate) add(ratio, "default", rate[r, "default"] / rate[r, "untraced"])
            if ((r, "events") in rate) add(ratio, "events", rate[r, "events"] / rate[r, "untraced"])
            if ((r, "floor") in rate) add(ratio, "floor", rate[r, "floor"] / rate[r, "untraced"])
            if ((r, "floor") in rate) add(cratio_cpu, "floor", cpuper[r, "untraced"] / cpuper[r, "floor"])
            if ((r, "default") in rate) add(cratio_cpu, "default", cpuper[r, "untraced"] / cpuper[r, "default"])
            if ((r, "events") in rate) add(cratio_cpu, "events", cpuper[r, "untraced"] / cpuper[r, "events"])
            if (((r, "default") in rate) && !dirty[r, "default"] && !dirty[r, "untraced"]) add(cratio, "default", rate[r, "default"] / rate[r, "untraced"])
            if (((r, "events") in rate) && !dirty[r, "events"] && !dirty[r, "untraced"]) add(cratio, "events", rate[r, "events"] / rate[r, "untraced"])
        }
        if (((r, "default") in rate) && ((r, "floor") in rate)) {
            add(vsfloor, "default", rate[r, "default"] / rate[r, "floor"])
            add(vsfloor_cpu, "default", cpuper[r, "floor"] / cpuper[r, "default"])
        }
    }
    printf "\ntcptrail churn benchmark: %d rounds x %s s, alternating (%s / %s)%s\n", rounds, secs,
        ("floor" in rate_seen) ? "floor default untraced events" : "default untraced events",
        ("floor" in rate_seen) ? "events untraced default floor" : "events untraced default", churn_args != "" ? ", churn " churn_args : ""
    printf "tcptrail output: %s, to %s\n", (format == "json" ? "JSON Lines (--json)" : "its default table"),
        (output == "null" ? "/dev/null (OUTPUT=null: no output file)" : "a scratch file (tmpfs when available)")
    if (bpfstats == 1) printf "NOTE: kernel.bpf_stats_enabled=1 during these runs (adds a little per BPF invocation)\n"
    printf "\n%-9s %5s %13s %24s %10s %14s %14s %18s %11s\n", "mode", "runs", "median conn/s", "ratio vs untraced", "CPU ratio", "tracer CPU-s", "(user / sys)", "lost events", "startup ms"
    printf "%-9s %5s %13s %24s %10s %14s %14s %18s %11s\n", "", "", "", "median (min..max)", "median", "per 100k conn", "per 100k conn", "ringbuf/recursion", "median"
    nmodes = split("untraced default events floor", modes, " ")
    for (i = 1; i <= nmodes; i++) {
        m = modes[i]
        if (!(m in rates)) continue
        n = split(rates[m], tmp, " ")
        rt = (m == "untraced") ? "1.000 (reference)" : sprintf("%.3f (%.3f..%.3f)", median(ratio[m]), minof(ratio[m]), maxof(ratio[m]))
        cpu = (m in cpu100k) ? sprintf("%.3f", median(cpu100k[m])) : "-"
        us = (m in ut100k) ? sprintf("%.3f / %.3f", median(ut100k[m]), median(st100k[m])) : "-"
        lost = (m == "untraced") ? "-" : sprintf("%d (%d/%d)", lrb[m] + lrec[m] + loth[m], lrb[m], lrec[m])
        su = (m in startup) ? sprintf("%.1f", median(startup[m])) : "-"
        cr = (m == "untraced") ? "1.000" : sprintf("%.3f", median(cratio_cpu[m]))
        printf "%-9s %5d %13.1f %24s %10s %14s %14s %18s %11s\n", m, n, median(rates[m]), rt, cr, cpu, us, lost, su
    }
    printf "\nCPU ratio: untraced (churn CPU per connection) / traced (churn + tracer CPU per connection), per\n"
    printf "round: the rate ratio a CPU-bound machine would show. It barely depends on other load, so it is the\n"
    printf "figure to trust when the rate ratios spread widely. (BPF programs run in the churn process context\n"
    printf "and are counted there.)\n"
    if ("default" in vsfloor) {
        printf "\nfloor: the reference design of issue #4 (bench/floor), run in the same rounds. Its ratio is the most\n"
        printf "a tracer of every state change keeps of the untraced rate on this machine today. tcptrail default\n"
        printf "against it, median of the rounds: rate %.3f (%.3f..%.3f), CPU %.3f\n", median(vsfloor["default"]),
            minof(vsfloor["default"]), maxof(vsfloor["default"]), median(vsfloor_cpu["default"])
    }
    printf "\nper mode, all runs: connections; tracer conn records per connection (2 = client + server side);\n"
    printf "event records per connection; TCP resets sent per connection; IRQ-work interrupts per connection\n"
    printf "(BPF ring buffer wake-ups); churn CPU-s per 100k conn (median); other = CPU-s per run used by the\n"
    printf "rest of the machine (host busy - churn - tracer, median; tick-sampled, so only a noise indicator)\n"
    for (i = 1; i <= nmodes; i++) {
        m = modes[i]
        if (!(m in rates)) continue
        printf "  %-9s conns=%-9d recs/conn=%-6s events/conn=%-6s rsts/conn=%-6.3f iwi/conn=%-6.3f churn_cpu/100k=%-6.2f other_cpu=%.2f\n", m, conns[m],
            (m in recs) ? sprintf("%.3f", recs[m] / conns[m]) : "-", (m in evs) ? sprintf("%.2f", evs[m] / conns[m]) : "-",
            rsts[m] / conns[m], iwi[m] / conns[m], median(churncpu[m]), median(other[m])
    }
    if (noisy) {
        printf "\nWARNING: %d run(s) had other tcptrail processes running (they trace this load too):%s\n", noisy, noisyruns
        for (i = 2; i <= 3; i++) {
            m = modes[i]
            n = split(cratio[m], tmp, " ")
            if (n) printf "  %s ratio over the %d round(s) where neither run overlapped one: %.3f (%.3f..%.3f)\n", m, n, median(cratio[m]), minof(cratio[m]), maxof(cratio[m])
            else if (m in rates) printf "  %s: no round free of other tracers\n", m
        }
    }
    printf "\ntargets:\n"
    if ("default" in ratio) printf "  default ratio >= 0.90           %.3f  %s\n", median(ratio["default"]), (median(ratio["default"]) >= 0.90 ? "PASS" : "FAIL")
    if ("events" in ratio)  printf "  events ratio  >= 0.85           %.3f  %s\n", median(ratio["events"]), (median(ratio["events"]) >= 0.85 ? "PASS" : "FAIL")
    if ("floor" in ratio) printf "  (reference: floor ratio          %.3f)\n", median(ratio["floor"])
    tl = lrb["default"] + lrec["default"] + loth["default"] + lrb["events"] + lrec["events"] + loth["events"]
    printf "  lost events == 0 (both modes)   %d  %s\n", tl, (tl == 0 ? "PASS" : "FAIL")
    if ("default" in cpu100k) printf "  default tracer CPU <= 0.3 s/100k %.3f  %s\n", median(cpu100k["default"]), (median(cpu100k["default"]) <= 0.3 ? "PASS" : "FAIL")
    s = startup["default"] " " startup["events"]
    printf "  start-up < 300 ms               %.1f  %s\n", median(s), (median(s) < 300 ? "PASS" : "FAIL")

    if (bpfstats == 1) {
        while ((getline line < bpffile) > 0) {
            split(line, f, "\t")
            if (f[1] == "round") continue
            k = f[2] SUBSEP f[3]
            bc[k] += f[4]; bns[k] += f[5]; bmiss[k] += f[6]; progs[f[3]] = 1
            bmode_ns[f[2]] += f[5]
        }
        printf "\nBPF programs (kernel.bpf_stats_enabled): summed over all runs of a mode\n"
        printf "  %-8s %-22s %12s %14s %10s %12s %10s\n", "mode", "program", "runs", "run time ms", "ns/run", "runs/conn", "rec.miss"
        np = split("on_set_state on_accept4_exit on_accept_exit_plain on_send_reset on_receive_reset on_retransmit on_retransmit_synack", order, " ")
        for (p in progs) { known = 0; for (j = 1; j <= np; j++) if (order[j] == p) known = 1; if (!known) order[++np] = p }
        for (i = 2; i <= nmodes; i++) {
            m = modes[i]
            for (j = 1; j <= np; j++) {
                p = order[j]
                k = m SUBSEP p
                if (!(k in bc)) continue
                printf "  %-8s %-22s %12d %14.1f %10.1f %12.3f %10d\n", m, p, bc[k], bns[k] / 1e6, bc[k] ? bns[k] / bc[k] : 0, bc[k] / conns[m], bmiss[k]
            }
            if (m in bmode_ns) printf "  %-8s %-22s BPF CPU-s per 100k conn: %.3f\n", m, "(all programs)", bmode_ns[m] / 1e9 / conns[m] * 100000
        }
    }
}' "$1/runs.tsv"
}

if [[ -n $SUMMARY_ONLY ]]; then
    summary "$SUMMARY_ONLY"
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "run_churn.sh: run as root (tcptrail loads BPF programs)" >&2
    exit 1
fi


# ---------------------------------------------------------------- binaries
log() { printf '%s\n' "$*" >&2; }

build_tracer() {
    [[ -x scripts/deps.sh ]] && scripts/deps.sh
    cmake -S . -B build >/dev/null
    cmake --build build -j"$(nproc)" --target tcptrail
}

build_churn() {
    if grep -q 'add_subdirectory(bench)' CMakeLists.txt && [[ -f build/CMakeCache.txt ]]; then
        cmake -S . -B build >/dev/null
        cmake --build build -j"$(nproc)" --target churn
    else
        cmake -S bench -B build/bench-standalone >/dev/null
        cmake --build build/bench-standalone -j"$(nproc)"
    fi
}

if [[ -z ${TCPTRAIL:-} ]]; then
    TCPTRAIL=$repo/build/tcptrail
    if [[ ! -x $TCPTRAIL || ${REBUILD:-0} == 1 ]]; then
        log "run_churn.sh: building tcptrail"
        build_tracer >&2
    fi
fi
if [[ -z ${CHURN:-} ]]; then
    if [[ ${REBUILD:-0} == 1 ]] || { [[ ! -x build/bench/churn ]] && [[ ! -x build/bench-standalone/churn ]]; }; then
        log "run_churn.sh: building churn"
        build_churn >&2
    fi
    if [[ -x build/bench/churn ]]; then CHURN=$repo/build/bench/churn; else CHURN=$repo/build/bench-standalone/churn; fi
fi
if [[ ${FLOOR:-} == 0 ]]; then
    FLOOR=""
elif [[ -z ${FLOOR:-} ]]; then
    if [[ ! -x build/bench/floor || ${REBUILD:-0} == 1 ]] && [[ -f build/CMakeCache.txt ]]; then
        log "run_churn.sh: building floor"
        cmake --build build -j"$(nproc)" --target floor >&2 || true
    fi
    if [[ -x build/bench/floor ]]; then FLOOR=$repo/build/bench/floor; else FLOOR=""; log "run_churn.sh: no build/bench/floor: floor runs left out"; fi
fi
for b in "$TCPTRAIL" "$CHURN" ${FLOOR:+"$FLOOR"}; do
    [[ -x $b ]] || { echo "run_churn.sh: $b not found or not executable" >&2; exit 1; }
done

read -r -a churn_extra <<<"${CHURN_ARGS:-}"
read -r -a tracer_extra <<<"${TRACER_ARGS:-}"
case ${FORMAT:-table} in
    table | json) ;;
    *) echo "run_churn.sh: FORMAT must be table or json, not '$FORMAT'" >&2; exit 2 ;;
esac
case ${OUTPUT:-file} in
    file | null) ;;
    *) echo "run_churn.sh: OUTPUT must be file or null, not '$OUTPUT'" >&2; exit 2 ;;
esac

OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/churn.XXXXXX)}
mkdir -p "$OUT_DIR"
if [[ -d /dev/shm && -w /dev/shm ]]; then
    SCRATCH=$(mktemp -d /dev/shm/churn.XXXXXX)
else
    SCRATCH=$(mktemp -d "$OUT_DIR/scratch.XXXXXX")
fi
CLK_TCK=$(getconf CLK_TCK)
RUNS=$OUT_DIR/runs.tsv
BPFRUNS=$OUT_DIR/bpf.tsv
printf 'round\tmode\tconns\tseconds\trate\tchurn_errors\tchurn_cpu_s\ttracer_cpu_s\ttracer_utime_s\ttracer_stime_s\tstartup_ms\tlost_ringbuf\tlost_recursion\tlost_other\tconn_records\tevent_records\tout_rsts\thost_busy_s\thost_softirq_s\tforeign_tracers\tirq_work_irqs\n' >"$RUNS"
printf 'round\tmode\tprog\trun_cnt\trun_time_ns\trecursion_misses\n' >"$BPFRUNS"
printf 'ROUNDS=%q\nSECS=%q\nBPF_STATS=%q\nCHURN_ARGS=%q\nOUTPUT=%q\nFORMAT=%q\n' "$ROUNDS" "$SECS" "${BPF_STATS:-0}" "${CHURN_ARGS:-}" "${OUTPUT:-file}" "${FORMAT:-table}" >"$OUT_DIR/meta"

# ---------------------------------------------------------------- cleanup
TPID=""
SPID=""
QPID=""
OLD_BPF_STATS=""
cleanup() {
    if [[ -n $TPID ]] && kill -0 "$TPID" 2>/dev/null; then
        kill -INT "$TPID" 2>/dev/null || true
        sleep 1
        kill -KILL "$TPID" 2>/dev/null || true
    fi
    if [[ -n $SPID ]]; then kill "$SPID" 2>/dev/null || true; fi
    if [[ -n $QPID ]]; then kill "$QPID" 2>/dev/null || true; fi
    if [[ -n $OLD_BPF_STATS ]]; then sysctl -q -w kernel.bpf_stats_enabled="$OLD_BPF_STATS" >/dev/null || true; fi
    rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ${BPF_STATS:-0} == 1 ]]; then
    command -v bpftool >/dev/null || log "run_churn.sh: no bpftool: BPF programs are named by id"
    OLD_BPF_STATS=$(sysctl -n kernel.bpf_stats_enabled)
    sysctl -q -w kernel.bpf_stats_enabled=1
fi

# ---------------------------------------------------------------- probes of the host
tcp_counter() {  # tcp_counter NAME: a Tcp: counter of this network namespace
    awk -v want="$1" '$1 == "Tcp:" { if (!h) { for (i = 2; i <= NF; i++) n[i] = $i; h = 1 }
                                     else { for (i = 2; i <= NF; i++) if (n[i] == want) print $i } }' /proc/net/snmp
}
irq_work_irqs() {  # IRQ work interrupts, all CPUs (a BPF ring buffer wake-up raises one)
    awk '$1 == "IWI:" { s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; print s }' /proc/interrupts
}
cpu_ticks() {  # "busy softirq" ticks, all CPUs
    awk '$1 == "cpu" { print $2 + $3 + $4 + $6 + $7 + $8 + $9, $8 }' /proc/stat
}
irq_work_irqs() {  # IRQ work interrupts, all CPUs (a BPF ring buffer wake-up raises one)
    awk '$1 == "IWI:" { s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; print s }' /proc/interrupts
}
proc_cpu_ticks() {  # "utime stime" of a pid, in clock ticks
    local stat
    stat=$(<"/proc/$1/stat") || return 1
    stat=${stat##*) }   # drop "pid (comm) "; fields now start at 3 (state)
    # shellcheck disable=SC2086
    set -- $stat
    echo "${12} ${13}"
}
foreign_tracers() {  # how many tcptrail processes other than ours (TPID) are running
    local n=0 p
    for p in $(pgrep -x tcptrail || true); do [[ $p == "${TPID:-}" ]] || n=$((n + 1)); done
    echo "$n"
}
# Other tcptrail instances (e.g. someone's test suite) trace our churn too and
# skew every figure: wait up to QUIET_WAIT seconds for them to go away.
wait_for_quiet() {
    local waited=0
    while (( $(foreign_tracers) > 0 && waited < ${QUIET_WAIT:-120} )); do
        ((waited == 0)) && log "run_churn.sh: other tcptrail processes running ($(pgrep -x tcptrail | tr '\n' ' ')); waiting up to ${QUIET_WAIT:-120} s"
        sleep 1
        waited=$((waited + 1))
    done
}
# stamp: copy lines from stdin, each prefixed with the wall time it arrived.
stamp() {
    local line
    while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done
}
bpf_prog_stats() {  # bpf_prog_stats PID: "name run_cnt run_time_ns recursion_misses" per BPF program PID holds
    local f id cnt ns miss name
    for f in /proc/"$1"/fdinfo/*; do
        id="" cnt="" ns=0 miss=0   # bpf_link fds also name a prog_id, but carry no run_cnt
        while read -r k v _; do
            case $k in
                prog_id:) id=$v ;;
                run_cnt:) cnt=$v ;;
                run_time_ns:) ns=$v ;;
                recursion_misses:) miss=$v ;;
            esac
        done <"$f" 2>/dev/null || continue
        [[ -n $id && -n $cnt ]] || continue
        name=$(bpftool prog show id "$id" 2>/dev/null | awk 'NR == 1 { for (i = 1; i < NF; i++) if ($i == "name") print $(i + 1) }')
        echo "${name:-prog$id}:$id $cnt $ns $miss"
    done | sort -u | sed 's/:[0-9]* / /'
}

# ---------------------------------------------------------------- one run
# run_once ROUND MODE   (MODE: untraced | default | events)
run_once() {
    local round=$1 mode=$2 tag="r$1-$2"
    local out="$SCRATCH/$tag.out" err="$OUT_DIR/$tag.tcptrail.err" churn_out="$OUT_DIR/$tag.churn.txt"
    local startup_ms="" tracer_cpu="" tu="" ts="" lost_rb=0 lost_rec=0 lost_other=0 conn_records="" event_records=""
    local t0 rst0 rst1 cpu0 cpu1 line foreign0 foreign1 iwi0 iwi1 tu0=0 ts0=0

    wait_for_quiet
    if [[ $mode != untraced ]]; then
        local bin=$TCPTRAIL args=("${tracer_extra[@]}")
        [[ ${FORMAT:-table} == json ]] && args+=(--json)
        [[ $mode == events ]] && args+=(--events)
        [[ $mode == floor ]] && bin=$FLOOR args=()
        [[ ${OUTPUT:-file} == null && $mode != floor ]] && out=/dev/null
        local fifo="$SCRATCH/$tag.fifo"
        mkfifo "$fifo"
        stamp <"$fifo" >"$err" &
        SPID=$!
        t0=$EPOCHREALTIME
        "$bin" "${args[@]}" >"$out" 2>"$fifo" &
        TPID=$!
        local waited=0
        until grep -qE '(tcptrail|floor): tracing' "$err" 2>/dev/null; do
            if ! kill -0 "$TPID" 2>/dev/null; then
                wait "$SPID" || true
                log "run_churn.sh: $mode tracer exited before tracing:"; cat "$err" >&2
                exit 1
            fi
            sleep 0.01
            waited=$((waited + 1))
            if ((waited > 3000)); then log "run_churn.sh: tcptrail did not start within 30 s"; exit 1; fi
        done
        line=$(grep -m1 -E '(tcptrail|floor): tracing' "$err")
        startup_ms=$(awk -v a="$t0" -v b="${line%% *}" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
    fi

    foreign0=$(foreign_tracers)
    # Sample for other tracers during the run as well (they come and go).
    local fmax="$SCRATCH/$tag.foreign"
    echo 0 >"$fmax"
    ( m=0; while :; do n=$(foreign_tracers); ((n > m)) && { m=$n; echo "$m" >"$fmax"; }; sleep 0.5; done ) &
    QPID=$!
    rst0=$(tcp_counter OutRsts)
    # The tracer's CPU is counted from here: start-up (loading and verifying the
    # BPF programs, the snapshot of existing sockets) is a one-off, shown as start-up.
    if [[ $mode != untraced ]]; then read -r tu0 ts0 <<<"$(proc_cpu_ticks "$TPID")"; fi
    iwi0=$(irq_work_irqs)
    read -r -a cpu0 <<<"$(cpu_ticks)"
    if ! "$CHURN" --duration "$SECS" "${churn_extra[@]}" >"$churn_out"; then
        log "run_churn.sh: churn failed in $tag (errors above 1% or no connections): $(cat "$churn_out")"
    fi
    read -r -a cpu1 <<<"$(cpu_ticks)"
    iwi1=$(irq_work_irqs)
    rst1=$(tcp_counter OutRsts)
    kill "$QPID" 2>/dev/null || true
    wait "$QPID" 2>/dev/null || true
    QPID=""
    foreign1=$(foreign_tracers)
    ((foreign1 > foreign0)) && foreign0=$foreign1
    foreign1=$(<"$fmax")
    ((foreign1 > foreign0)) && foreign0=$foreign1

    if [[ $mode != untraced ]]; then
        if ! kill -0 "$TPID" 2>/dev/null; then
            log "run_churn.sh: tcptrail died during $tag:"; cat "$err" >&2
            exit 1
        fi
        if [[ ${BPF_STATS:-0} == 1 ]]; then
            bpf_prog_stats "$TPID" | while read -r name cnt ns miss; do
                printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$mode" "$name" "$cnt" "$ns" "$miss"
            done >>"$BPFRUNS"
        fi
        read -r tu ts <<<"$(proc_cpu_ticks "$TPID")"
        tu=$((tu - tu0)) ts=$((ts - ts0))
        kill -INT "$TPID"
        local n=0
        while kill -0 "$TPID" 2>/dev/null && ((n < 3000)); do sleep 0.01; n=$((n + 1)); done
        if kill -0 "$TPID" 2>/dev/null; then
            log "run_churn.sh: tcptrail ignored SIGINT for 30 s in $tag; killing it"
            kill -KILL "$TPID" 2>/dev/null || true
        fi
        wait "$TPID" || log "run_churn.sh: tcptrail exited with status $? in $tag (see $err)"
        TPID=""
        wait "$SPID" || true
        SPID=""
        tracer_cpu=$(awk -v u="$tu" -v s="$ts" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (u + s) / hz }')
        tu=$(awk -v u="$tu" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", u / hz }')
        ts=$(awk -v s="$ts" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", s / hz }')
        if [[ $out == /dev/null || ${FORMAT:-table} == table ]]; then
            # tcptrail: N events, N connection records[ (...)], N events lost[ (N ring buffer full, N nested too deep...)]
            line=$(grep -E 'tcptrail: [0-9]+ events, ' "$err" | tail -1 || true)
            tally_figure() { grep -oE "[0-9]+ $1" <<<"$line" | cut -d' ' -f1 || true; }
            conn_records=$(tally_figure 'connection records')
            event_records=-
            # A table's event lines: "  HH:MM:SS.mmm event id=..."
            [[ $out == /dev/null ]] || event_records=$(grep -c -F ' event id=' "$out" || true)
            lost_rb=$(tally_figure 'ring buffer full')
            lost_rec=$(tally_figure 'nested too deep')
            lost_other=$(tally_figure 'events lost')
            lost_rb=${lost_rb:-0} lost_rec=${lost_rec:-0}
            lost_other=$(( ${lost_other:-0} - lost_rb - lost_rec ))
        else
            read -r lost_rb lost_rec lost_other < <(grep -F '"type":"lost"' "$out" | awk '
                { c = 0; r = "" 
                  if (match($0, /"count":[0-9]+/)) c = substr($0, RSTART + 8, RLENGTH - 8) + 0
                  if (match($0, /"reason":"[a-z_]+"/)) r = substr($0, RSTART + 10, RLENGTH - 11)
                  if (r == "ringbuf_full") rb += c; else if (r == "recursion") rec += c; else other += c }
                END { printf "%d %d %d\n", rb, rec, other }')
            conn_records=$(grep -c -F '"type":"conn"' "$out" || true)
            event_records=$(grep -c -F '"type":"event"' "$out" || true)
        fi
        [[ $out == /dev/null ]] || rm -f "$out"
        rm -f "$fifo"
    fi

    # churn's line: conns=N seconds=S rate=R errors=E ... utime=U stime=S
    local conns seconds rate errors cu cs
    conns=$(grep -o 'conns=[0-9]*' "$churn_out" | cut -d= -f2)
    seconds=$(grep -o 'seconds=[0-9.]*' "$churn_out" | cut -d= -f2)
    rate=$(grep -o 'rate=[0-9.]*' "$churn_out" | cut -d= -f2)
    errors=$(grep -o 'errors=[0-9]*' "$churn_out" | cut -d= -f2)
    cu=$(grep -o 'utime=[0-9.]*' "$churn_out" | cut -d= -f2)
    cs=$(grep -o 'stime=[0-9.]*' "$churn_out" | cut -d= -f2)
    if [[ -z $conns || -z $rate ]]; then
        log "run_churn.sh: no result from churn in $tag"; exit 1
    fi
    local churn_cpu busy softirq
    churn_cpu=$(awk -v u="$cu" -v s="$cs" 'BEGIN { printf "%.2f", u + s }')
    busy=$(awk -v a="${cpu0[0]}" -v b="${cpu1[0]}" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }')
    softirq=$(awk -v a="${cpu0[1]}" -v b="${cpu1[1]}" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }')

    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$round" "$mode" "$conns" "$seconds" "$rate" "$errors" "$churn_cpu" "${tracer_cpu:--}" "${tu:--}" "${ts:--}" \
        "${startup_ms:--}" "$lost_rb" "$lost_rec" "$lost_other" "${conn_records:--}" "${event_records:--}" \
        "$((rst1 - rst0))" "$busy" "$softirq" "$foreign0" "$((iwi1 - iwi0))" >>"$RUNS"
    printf '  round %-2s %-8s %9.1f conn/s  conns=%-8s tracer_cpu=%-6s startup_ms=%-6s lost=%s/%s/%s  rsts=%s irq_work=%s%s\n' \
        "$round" "$mode" "$rate" "$conns" "${tracer_cpu:--}" "${startup_ms:--}" "$lost_rb" "$lost_rec" "$lost_other" \
        "$((rst1 - rst0))" "$((iwi1 - iwi0))" "$( ((foreign0)) && echo "  OTHER TRACERS: $foreign0")" >&2
    sleep 1
}

# ---------------------------------------------------------------- the session
log "run_churn.sh: $ROUNDS rounds x $SECS s; tracer $TCPTRAIL; churn $CHURN ${CHURN_ARGS:-}"
log "run_churn.sh: logs in $OUT_DIR (per run: runs.tsv)"
# Warm-up, not counted: pages the binaries in and fills the kernel's TIME_WAIT
# table to its steady state, so the first measured run is like the others.
"$CHURN" --duration "$(awk -v s="$SECS" 'BEGIN { print (s < 5 ? s : 5) }')" "${churn_extra[@]}" >/dev/null || true
sleep 1

for ((r = 1; r <= ROUNDS; r++)); do
    if [[ -n $FLOOR ]]; then
        if ((r % 2)); then order=(floor default untraced events); else order=(events untraced default floor); fi
    elif ((r % 2)); then order=(default untraced events); else order=(events untraced default); fi
    for m in "${order[@]}"; do run_once "$r" "$m"; done
done

summary "$OUT_DIR"
log ""
log "run_churn.sh: per-run figures in $RUNS"
}

{ main "$@"; exit $?; }
