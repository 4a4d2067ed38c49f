#!/bin/bash
# Runs every benchmark and rewrites tests/bench/RESULTS.md. PostgreSQL comes
# from deploy/stack.sh, as for make run, in its own data directory and port.
# Benchmarks read ../shared/corpus when it is present and say so when not.
#
# usage: tests/bench/run.sh BUILD_DIR      (make bench passes build/release)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: tests/bench/run.sh BUILD_DIR}
case "$build" in /*) ;; *) build="$root/$build" ;; esac

export PAPERBUS_ROOT=$root
export PAPERBUS_VAR_DIR=${PAPERBUS_BENCH_VAR_DIR:-$root/var/bench}
export PAPERBUS_PG_PORT=${PAPERBUS_BENCH_PG_PORT:-5435}
export PAPERBUS_BIN_DIR=$build/bin
export PAPERBUS_LOG_LEVEL=warn

# The cluster is stopped again on the way out, so a run leaves nothing behind.
trap '"$root/deploy/stack.sh" down >/dev/null' EXIT
"$root/deploy/stack.sh" db-up
eval "export $("$root/deploy/stack.sh" env)"

if [ -d "$root/../shared/corpus" ]; then
    corpus="../shared/corpus (present)"
else
    corpus="../shared/corpus absent: benchmarks that need it used the bundled sample"
fi

results=$(mktemp)
{
    echo "# Benchmark results"
    echo
    echo "Written by \`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC'). Machine: $(nproc) cores," \
        "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)," \
        "$(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM," \
        "$(uname -sr). Corpus: $corpus. Machines are shared and noisy:" \
        "each figure is a median, and every comparison is measured side by side in the same run."
    echo
    for bench in "$build"/bench/bench_*; do
        echo "== $(basename "$bench")" >&2
        "$bench"
    done
} >"$results"
mv "$results" "$root/tests/bench/RESULTS.md"
cat "$root/tests/bench/RESULTS.md"
