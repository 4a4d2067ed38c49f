#!/bin/bash
# The web page in a real browser: starts a whole private paperbus stack
# (deploy/stack.sh: PostgreSQL, the bus, every service including the gateway,
# the development mail catcher, the sample papers) on free ports of its own,
# runs page.test.mjs in headless Chromium (playwright-core, with Debian's
# /usr/bin/chromium), and stops the stack on the way out.
#
# usage: tests/browser/run.sh
#
# Environment (tests/run.sh sets the first two): PAPERBUS_BIN_DIR (the
# programs, build/release/bin), PAPERBUS_VAR_DIR (var/test; the stack lives in
# its browser/stack, the screenshots go to its browser/screenshots),
# PAPERBUS_CHROMIUM (/usr/bin/chromium). Needs tests/browser/node_modules
# (npm ci in tests/browser; deploy/install-deps.sh does it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
stack="$root/deploy/stack.sh"

bin=${PAPERBUS_BIN_DIR:-$root/build/release/bin}
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
out=${PAPERBUS_VAR_DIR:-$root/var/test}
case "$out" in /*) ;; *) out="$root/$out" ;; esac
out="$out/browser"
chromium=${PAPERBUS_CHROMIUM:-/usr/bin/chromium}

fail() { echo "FAIL: $*" >&2; exit 1; }

[ -x "$bin/gateway" ] || fail "$bin/gateway is not built (make)"
[ -x "$chromium" ] || fail "no Chromium at $chromium (apt-get install chromium, or set PAPERBUS_CHROMIUM)"
[ -d "$here/node_modules/playwright-core" ] ||
    fail "playwright-core is not installed: run (cd tests/browser && npm ci), as deploy/install-deps.sh does"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A stack of its own: its own directory and ports, so that it never meets
# make run's stack or the test cluster of tests/run.sh.
export PAPERBUS_BIN_DIR=$bin
export PAPERBUS_VAR_DIR="$out/stack"
export PAPERBUS_PG_PORT=$(free_port)
export PAPERBUS_BUS_REQUESTS="tcp://127.0.0.1:$(free_port)"
export PAPERBUS_BUS_EVENTS_IN="tcp://127.0.0.1:$(free_port)"
export PAPERBUS_BUS_EVENTS_OUT="tcp://127.0.0.1:$(free_port)"
export PAPERBUS_SMTP_URL="smtp://127.0.0.1:$(free_port)"
export PAPERBUS_MAIL_CATCHER=on
http_port=$(free_port)
export PAPERBUS_HTTP_PORT=$http_port
export PAPERBUS_HTTP_ADDRESS=127.0.0.1
export PAPERBUS_PUBLIC_URL="http://127.0.0.1:$http_port"
export PAPERBUS_LOG_LEVEL=${PAPERBUS_LOG_LEVEL:-warn}
unset PAPERBUS_DATABASE_URL DATABASE_URL

# The cluster of a run is removed after it (as root it may live under
# /var/tmp, with var/pg a link to it); logs and mails stay for a look.
cleanup() {
    "$stack" down >/dev/null 2>&1 || true
    if [ -L "$PAPERBUS_VAR_DIR/pg" ]; then
        rm -rf "$(readlink -f "$PAPERBUS_VAR_DIR/pg")"
    fi
    rm -rf "$PAPERBUS_VAR_DIR/pg"
}
trap cleanup EXIT

# A leftover stack of an interrupted run is stopped, and its files go.
"$stack" down >/dev/null 2>&1 || true
cleanup
rm -rf "$out"
mkdir -p "$out/screenshots"

started=$(date +%s)
"$stack" up >"$out/up.log" 2>&1 || { cat "$out/up.log"; fail "the stack did not start (logs in $PAPERBUS_VAR_DIR/log)"; }
grep -q "^gateway *running" "$out/up.log" || { cat "$out/up.log"; fail "the gateway is not running"; }
grep -q "sample: 836 inserted" "$out/up.log" || { cat "$out/up.log"; fail "the sample papers were not loaded"; }

# The gateway answers once it is healthy (every service has a live worker).
healthy=
for _ in $(seq 100); do
    if curl -fsS -o /dev/null "$PAPERBUS_PUBLIC_URL/healthz" 2>/dev/null; then
        healthy=yes
        break
    fi
    sleep 0.1
done
[ -n "$healthy" ] || fail "the gateway at $PAPERBUS_PUBLIC_URL is not healthy: $(curl -sS "$PAPERBUS_PUBLIC_URL/healthz" 2>&1)"
echo "stack up in $(($(date +%s) - started)) s; the page is at $PAPERBUS_PUBLIC_URL/"
# For the test's paperctl calls (ingest, digests).
eval "export $("$stack" env)"

status=0
PAPERBUS_BASE_URL=$PAPERBUS_PUBLIC_URL \
    PAPERBUS_MAIL_DIR="$PAPERBUS_VAR_DIR/mail" \
    PAPERBUS_SCREENSHOTS="$out/screenshots" \
    PAPERBUS_ROOT="$root" \
    PAPERBUS_CHROMIUM="$chromium" \
    node --test --test-reporter=spec --test-concurrency=1 "$here/page.test.mjs" || status=$?
echo "screenshots in $out/screenshots/ ($(ls "$out/screenshots" | wc -l) files); logs in $PAPERBUS_VAR_DIR/log/"
if [ "$status" -ne 0 ]; then
    echo "gateway log (last lines):"
    tail -n 20 "$PAPERBUS_VAR_DIR/log/gateway.log" 2>/dev/null || true
    fail "the browser test failed"
fi
echo "ok - the web page in Chromium ($(($(date +%s) - started)) s)"
