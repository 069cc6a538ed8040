#!/usr/bin/env bash
# Builds tcptrail and runs every test: unit, fuzz (bounded), end-to-end (real
# traffic in network namespaces; needs root), then the whole suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then clang-tidy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure --timeout 900)

# The fuzz target is already built with ASan/UBSan, so it runs once, above. The
# soak measures the optimised tracer at full speed; a sanitizer build cannot keep
# up with that load, so it is not soaked (the e2e suite covers its behaviour).
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTCPTRAIL_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ctest --output-on-failure --timeout 900 -LE 'fuzz|soak')

scripts/tidy.sh build
