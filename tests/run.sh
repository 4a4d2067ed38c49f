#!/bin/bash
# Runs every test suite against a PostgreSQL that this script starts through
# deploy/stack.sh (the same script as `make run`), on its own port and data
# directory so that it never touches a running `make run` stack.
#
# usage: tests/run.sh BUILD_DIR      (make test passes build/asan)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: tests/run.sh BUILD_DIR}
case "$build" in /*) ;; *) build="$root/$build" ;; esac

export PAPERBUS_ROOT=$root
export PAPERBUS_VAR_DIR=${PAPERBUS_TEST_VAR_DIR:-$root/var/test}
export PAPERBUS_PG_PORT=${PAPERBUS_TEST_PG_PORT:-5434}
export PAPERBUS_BIN_DIR=$build/bin
export PAPERBUS_LOG_LEVEL=${PAPERBUS_LOG_LEVEL:-warn}
# The sanitizers stop a test at the first finding; Criterion reports it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The cluster is stopped again on the way out, so a run leaves nothing behind.
trap '"$root/deploy/stack.sh" down >/dev/null' EXIT
"$root/deploy/stack.sh" db-up
eval "export $("$root/deploy/stack.sh" env)"

# Databases made by earlier runs' tests are dropped first.
if [ -z "${DATABASE_URL:-}" ]; then
    psql "$PAPERBUS_DATABASE_URL" -qtAX -c \
        "SELECT format('DROP DATABASE %I;', datname) FROM pg_database WHERE datname LIKE 'pbtest\_%'" |
        psql "$PAPERBUS_DATABASE_URL" -qX >/dev/null
fi

failed=0
run_suite() {
    local name=$1
    shift
    echo "== $name"
    if ! "$build/tests/$name" "$@"; then
        failed=1
    fi
}

run_suite unit --jobs 2
run_suite integration --jobs 2
# Programs in other languages, talking to real paperbus processes.
for script in "$root"/tests/interop/test_*.sh; do
    [ -e "$script" ] || continue
    echo "== interop: $(basename "$script")"
    if ! "$script"; then
        echo "[FAIL] $(basename "$script")"
        failed=1
    fi
done
# The web page in headless Chromium, against a whole stack of its own.
echo "== browser"
if ! "$root/tests/browser/run.sh"; then
    echo "[FAIL] browser"
    failed=1
fi
# Several hosts on one machine: network namespaces (root only; otherwise it
# prints SKIP).
echo "== netns: test_multihost.sh"
if ! "$root/tests/netns/test_multihost.sh"; then
    echo "[FAIL] test_multihost.sh"
    failed=1
fi
# Restarts PostgreSQL under everyone's feet, so it runs alone and last.
run_suite restart --jobs 1

if [ "$failed" -ne 0 ]; then
    echo "tests FAILED"
    exit 1
fi
echo "all tests passed"
