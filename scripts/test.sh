#!/usr/bin/env bash
# Builds tcptrail and runs every test: unit, end-to-end (real traffic in network
# namespaces; needs root) and the rest of the ctest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure --timeout 600
