#!/usr/bin/env bash
# clang-tidy over src/ (headers under src/ and include/ are checked through them).
# Needs a configured build directory for compile_commands.json (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
files=$(find src -name '*.cpp' | sort)
# shellcheck disable=SC2086
if ! out=$(clang-tidy -p "$build" --quiet $files 2>/dev/null); then
  printf '%s\n' "$out" | grep -E 'warning:|error:' >&2 || printf '%s\n' "$out" >&2
  echo "clang-tidy: warnings above (config: .clang-tidy)" >&2
  exit 1
fi
echo "clang-tidy: clean ($(echo "$files" | wc -l) files)"
