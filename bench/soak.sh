#!/usr/bin/env bash
# Long soak: bench/soak.sh [SECONDS] (default 300). Builds if needed; run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/tcptrail ] && [ -x build/bench/churn ] || { cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" --target tcptrail churn; }
exec /usr/bin/python3 tests/soak/soak_test.py build/tcptrail build/bench/churn "${1:-300}"
