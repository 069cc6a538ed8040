#!/bin/bash
# Start-up and shut-down time of tcptrail against the number of network namespaces.
#
# usage: bench/run_startup.sh [NAMESPACES] [ROUNDS]     (defaults: 100 and 5)
#
# tcptrail reads every network namespace twice per run: at start (sockets that
# already exist, listen-queue counters) and at exit (what is still open). Each
# read is a sock_diag dump that walks the kernel's whole established hash, so a
# host of many containers pays per namespace. This script measures, ROUNDS
# times each with 0 and with NAMESPACES extra named namespaces (`ip netns add`,
# loopback up, each with one listening socket held by a sleeping process):
#   start-up  - from just before exec to "tcptrail: tracing" on stderr
#   shut-down - from SIGINT to exit (final snapshot, output, detaching)
# and prints the medians. The target for start-up is under 300 ms (issue #4).
#
# Environment:
#   TCPTRAIL=path   tracer binary (default: build/tcptrail, built if missing)
#   BASE=path       a second binary measured alternately with the first (A B A B)
#   KEEP=1          leave the namespaces and their listeners in place (the next run removes them)
set -euo pipefail

NS_COUNT=${1:-100}
ROUNDS=${2:-5}
[[ $NS_COUNT =~ ^[0-9]+$ ]] || { echo "run_startup.sh: NAMESPACES must be a number" >&2; exit 2; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "run_startup.sh: ROUNDS must be a positive integer" >&2; exit 2; }
((EUID == 0)) || { echo "run_startup.sh: run as root (tcptrail loads BPF programs)" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd)
TCPTRAIL=${TCPTRAIL:-$repo/build/tcptrail}
if [[ ! -x $TCPTRAIL && $TCPTRAIL == "$repo/build/tcptrail" ]]; then
    cmake -S "$repo" -B "$repo/build" >/dev/null && cmake --build "$repo/build" -j"$(nproc)" --target tcptrail >&2
fi
for b in "$TCPTRAIL" ${BASE:+"$BASE"}; do
    [[ -x $b ]] || { echo "run_startup.sh: $b not found or not executable" >&2; exit 1; }
done

PREFIX=ttbench-startup-
holders=()
remove_namespaces() {
    local p ns
    for p in "${holders[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${holders[@]}"; do wait "$p" 2>/dev/null || true; done
    holders=()
    # Also the listeners of an earlier KEEP=1 run: they would keep their namespace alive.
    for ns in $(ip netns list | awk -v p="$PREFIX" 'index($1, p) == 1 { print $1 }'); do
        ip netns pids "$ns" | xargs -r kill 2>/dev/null || true
        ip netns del "$ns"
    done
}
add_namespaces() {
    local i ns
    for ((i = 1; i <= NS_COUNT; i++)); do
        ns=$PREFIX$i
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        # A listener, so that every dump has a socket to report.
        ip netns exec "$ns" python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 8080)); s.listen(); time.sleep(1e6)' &
        holders+=($!)
    done
    sleep 1  # the listeners are up
}
cleanup() { [[ -n ${KEEP:-} ]] || remove_namespaces; }
trap cleanup EXIT

# one_run BINARY: prints "startup_ms shutdown_ms"
one_run() {
    local bin=$1 err t0 t1 t2 pid
    err=$(mktemp)
    t0=$EPOCHREALTIME
    "$bin" --json >/dev/null 2>"$err" &
    pid=$!
    for ((i = 0; i < 2000; i++)); do
        grep -q "tcptrail: tracing" "$err" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.005
    done
    t1=$EPOCHREALTIME
    grep -q "tcptrail: tracing" "$err" || { echo "run_startup.sh: $bin did not start:" >&2; cat "$err" >&2; exit 1; }
    sleep 0.3
    t2=$EPOCHREALTIME
    kill -INT "$pid"
    wait "$pid" || { echo "run_startup.sh: $bin exited with status $?" >&2; cat "$err" >&2; exit 1; }
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$EPOCHREALTIME" 'BEGIN { printf "%.1f %.1f\n", (b - a) * 1000, (d - c) * 1000 }'
    rm -f "$err"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A startup shutdown
measure() {  # measure LABEL
    local r label=$1 s d
    for ((r = 1; r <= ROUNDS; r++)); do
        for tag in A ${BASE:+B}; do
            local bin=$TCPTRAIL
            [[ $tag == B ]] && bin=$BASE
            read -r s d < <(one_run "$bin")
            startup[$label,$tag]+="$s "
            shutdown[$label,$tag]+="$d "
        done
    done
}

remove_namespaces
echo "run_startup.sh: $ROUNDS rounds; tracer $TCPTRAIL${BASE:+, base $BASE}; $(nproc) CPUs" >&2
measure none
add_namespaces
measure many
total=$( (stat -L -c %i /proc/[0-9]*/ns/net /run/netns/* 2>/dev/null || true) | sort -u | wc -l)

printf '\nA = %s%s\n' "$TCPTRAIL" "${BASE:+, B = $BASE}"
printf '%-7s %-24s %12s %14s\n' binary "namespaces" "start-up ms" "shut-down ms"
for tag in A ${BASE:+B}; do
    for label in none many; do
        n="host's own"
        [[ $label == many ]] && n="+$NS_COUNT ($total in all)"
        printf '%-7s %-24s %12s %14s\n' "$tag" "$n" \
            "$(tr ' ' '\n' <<<"${startup[$label,$tag]}" | grep . | median)" \
            "$(tr ' ' '\n' <<<"${shutdown[$label,$tag]}" | grep . | median)"
    done
done
