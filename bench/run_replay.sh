#!/usr/bin/env bash
# Frontend benchmark: how fast `tcptrail replay` reconstructs and writes JSON
# Lines, and how much memory it needs per tracked open socket.
#
#   bench/run_replay.sh [EVENTS] [OPEN_CONNECTIONS] [ROUNDS]
#
# Defaults: 10,000,000 events, 500,000 open connections (1,000,000 open
# sockets: both ends are local), 3 rounds. Captures are synthetic
# (bench/make_capture: realistic loopback lifecycles, 11 events per connection)
# and go to $CAPTURE_DIR (default /var/tmp), deleted at the end unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

events=${1:-10000000}
open_conns=${2:-500000}
rounds=${3:-3}
dir=${CAPTURE_DIR:-/var/tmp}
tcptrail=${TCPTRAIL:-build/tcptrail}
make_capture=${MAKE_CAPTURE:-build/bench/make_capture}

if [[ ! -x $tcptrail || ! -x $make_capture || -n ${REBUILD:-} ]]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j"$(nproc)" --target tcptrail make_capture >/dev/null
fi

churn_cap=$dir/tcptrail-bench-churn.$$.tt
open_cap=$dir/tcptrail-bench-open.$$.tt
tiny_cap=$dir/tcptrail-bench-tiny.$$.tt
cleanup() { [[ -n ${KEEP:-} ]] || rm -f "$churn_cap" "$open_cap" "$tiny_cap"; rm -f "$times"; }
trap cleanup EXIT

field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p"; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

echo "generating captures in $dir ..."
n_events=$("$make_capture" "$churn_cap" --events "$events" | field events)
"$make_capture" "$open_cap" --open "$open_conns" >/dev/null
"$make_capture" "$tiny_cap" --open 1 >/dev/null
open_sockets=$((open_conns * 2))

# One replay: prints "wall_s cpu_s max_rss_kb". --max-conns above the socket
# count, so the memory figure is for every socket tracked, none evicted.
times=$dir/tcptrail-bench-time.$$
replay() {
    /usr/bin/time -f '%e %U %S %M' -o "$times" "$tcptrail" replay "$1" --json --max-conns $((open_sockets + 1000)) \
        >/dev/null 2>&1
    tail -1 "$times" | awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}'
}

echo "replaying $n_events events x $rounds ..."
: >"$dir/tcptrail-bench-runs.$$"
for ((i = 1; i <= rounds; i++)); do
    r=$(replay "$churn_cap")
    echo "  round $i: wall ${r%% *} s, CPU $(echo "$r" | cut -d' ' -f2) s"
    echo "$r" >>"$dir/tcptrail-bench-runs.$$"
done
wall=$(cut -d' ' -f1 "$dir/tcptrail-bench-runs.$$" | median)
cpu=$(cut -d' ' -f2 "$dir/tcptrail-bench-runs.$$" | median)
rm -f "$dir/tcptrail-bench-runs.$$"

base_kb=$(replay "$tiny_cap" | cut -d' ' -f3)
open_kb=$(replay "$open_cap" | cut -d' ' -f3)

awk -v n="$n_events" -v wall="$wall" -v cpu="$cpu" -v base="$base_kb" -v peak="$open_kb" -v socks="$open_sockets" '
BEGIN {
    printf "\nreplay throughput (JSON Lines to /dev/null), median of runs:\n"
    printf "  %d events in %.2f s wall: %.2f M events/s\n", n, wall, n / wall / 1e6
    printf "  per CPU-second (one core): %.2f M events/s\n", n / cpu / 1e6
    printf "memory with %d open sockets tracked:\n", socks
    printf "  peak RSS %.1f MB (empty run %.1f MB): %.0f bytes per open socket\n",
           peak / 1024, base / 1024, (peak - base) * 1024 / socks
    printf "targets: >= 3 M events/s; <= 200 bytes per open connection, RSS < 400 MB\n"
}'
