#!/usr/bin/env bash
# Builds the capture reader's libFuzzer target with clang (the main build may use
# gcc) and runs it for a bounded number of iterations on the seed corpus.
#
#   run_fuzz.sh OUT_DIR "CORE_SOURCES" [libFuzzer options...]
#
# CORE_SOURCES: tcptrail_core's sources, ';'-separated, relative to the repository
# (ctest passes them from CMake). The binary is rebuilt only when a source changed.
# Exits 77 (ctest: skipped) when clang++ is not installed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:?usage: run_fuzz.sh OUT_DIR CORE_SOURCES [libFuzzer options...]}
IFS=';' read -r -a core_sources <<<"${2:?missing CORE_SOURCES}"
shift 2

cxx=${FUZZ_CXX:-clang++}
if ! command -v "$cxx" >/dev/null; then
    echo "run_fuzz.sh: $cxx not found; skipping the fuzz run" >&2
    exit 77
fi

mkdir -p "$out"
bin="$out/capture_fuzz"
sources=("$here/capture_fuzz.cpp")
for s in "${core_sources[@]}"; do
    [[ $s = /* ]] || s="$repo/$s"
    sources+=("$s")
done

if [[ ! -x $bin ]] || [[ -n $(find "$repo/src" "$repo/include" "$here" -newer "$bin" \
        \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) -print -quit) ]]; then
    echo "run_fuzz.sh: building $bin" >&2
    # fmt header-only, so the sanitizers see its code too.
    flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
           -fno-sanitize-recover=undefined -DFMT_HEADER_ONLY -I"$repo/include" -I"$repo/src")
    rm -rf "$out/obj"
    mkdir -p "$out/obj"
    objs=()
    pids=()
    for s in "${sources[@]}"; do
        o="$out/obj/${#objs[@]}-$(basename "$s" .cpp).o"
        objs+=("$o")
        "$cxx" "${flags[@]}" -c "$s" -o "$o" &
        pids+=($!)
        # At most nproc compilers at once.
        if (( ${#pids[@]} >= $(nproc) )); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
    done
    for p in "${pids[@]}"; do wait "$p"; done
    "$cxx" "${flags[@]}" "${objs[@]}" -o "$bin.tmp"
    mv "$bin.tmp" "$bin"
fi

# New inputs go to a scratch corpus; the seed corpus in the repository stays as is.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# -malloc_limit_mb: a single allocation sized by the input would exceed it.
"$bin" -runs=20000 -max_total_time=60 -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=128 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/" "$@" "$work" "$here/corpus"
