#!/bin/bash
# Interop: proto/examples/paperbus_client.py, a Python client written from
# proto/PROTOCOL.md alone, against a real bus and real paperctl.
#
# It calls bus.status, gets an unknown_service error for a service that has no
# worker, and receives two events that paperctl appends to the event log and
# publishes. Every check prints an "ok" line; the first failure stops the
# script with a message (and the bus's log) and a non-zero status.
#
# Run by tests/run.sh, which provides PAPERBUS_BIN_DIR (bus, paperctl),
# PAPERBUS_DATABASE_URL (schema applied) and PAPERBUS_ROOT. The bus gets
# ports of its own, so this never meets another bus.
# Needs python3 with zmq and msgpack (Debian: python3-zmq, python3-msgpack);
# PAPERBUS_PYTHON names the interpreter if the first python3 lacks them.
set -euo pipefail

bin=${PAPERBUS_BIN_DIR:?PAPERBUS_BIN_DIR is not set}
root=${PAPERBUS_ROOT:?PAPERBUS_ROOT is not set}
: "${PAPERBUS_DATABASE_URL:?PAPERBUS_DATABASE_URL is not set}"
client=$root/proto/examples/paperbus_client.py
# The two events must get consecutive seqs, so nothing else may publish on
# this topic meanwhile: two runs at once against one database would fail.
topic=interop.python

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
ok() { echo "ok - $*"; }

# ---- Cleanup: every background process dies with the script ----

tmp=$(mktemp -d)
pids=()

# Stops one background process: TERM, then KILL if it lingers past 5 s.
stop() {
    local pid=$1 _
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$? pid
    for pid in "${pids[@]}"; do
        stop "$pid"
    done
    if [ "$status" -ne 0 ] && [ -s "$tmp/bus.log" ]; then
        echo "--- bus log" >&2
        cat "$tmp/bus.log" >&2
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- A python3 that has zmq and msgpack ----

python=
for candidate in ${PAPERBUS_PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null &&
        "$candidate" -c 'import zmq, msgpack' 2>/dev/null; then
        python=$candidate
        break
    fi
done
[ -n "$python" ] ||
    fail "no python3 with zmq and msgpack (apt-get install python3-zmq python3-msgpack)"

# ---- A bus on three free ports ----

# Bound all at once so that the three differ, then released for the bus.
ports=$("$python" -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')
read -r port_requests port_events_in port_events_out <<<"$ports"
[ -n "$port_events_out" ] || fail "could not pick free ports (got '$ports')"

export PAPERBUS_BUS_REQUESTS=tcp://127.0.0.1:$port_requests
export PAPERBUS_BUS_EVENTS_IN=tcp://127.0.0.1:$port_events_in
export PAPERBUS_BUS_EVENTS_OUT=tcp://127.0.0.1:$port_events_out
export PAPERBUS_HEARTBEAT_MS=200
# A request for a service without workers is answered unknown_service after this.
export PAPERBUS_BUS_WAIT_MS=300

"$bin/bus" >"$tmp/bus.log" 2>&1 &
bus_pid=$!
pids+=("$bus_pid")

# Ready once paperctl gets an answer; each probe gives up after 1 s.
deadline=$((SECONDS + 10))
until PAPERBUS_REQUEST_TIMEOUT_MS=1000 timeout 5 "$bin/paperctl" status >/dev/null 2>&1; do
    kill -0 "$bus_pid" 2>/dev/null || fail "the bus exited at startup"
    [ "$SECONDS" -lt "$deadline" ] || fail "the bus did not answer paperctl status within 10 s"
    sleep 0.2
done
ok "bus up on ports $port_requests $port_events_in $port_events_out"

# ---- Requests ----

"$python" "$client" call bus.status '{"workers": true}' >"$tmp/status.json" 2>"$tmp/status.err" ||
    fail "call bus.status failed: $(cat "$tmp/status.err")"
"$python" - "$tmp/status.json" <<'EOF' ||
import json, sys
reply = json.load(open(sys.argv[1]))
services = reply["services"]
assert isinstance(services, list), "services is not a list"
for service in services:
    assert isinstance(service["name"], str), "a service has no name"
    assert isinstance(service.get("workers"), list), "workers were asked for but not listed"
assert reply["counters"]["requests"] >= 1, "counters.requests < 1"
EOF
    fail "bus.status reply is not as PROTOCOL.md describes: $(cat "$tmp/status.json")"
ok "bus.status: services listed, counters.requests >= 1"

# The deadline (3 s, no retries) is far above the bus's 300 ms wait, so the
# error must come from the bus, not from the client giving up.
status=0
"$python" "$client" call interop-absent.ping '{}' --timeout-ms 3000 --retries 0 \
    >"$tmp/absent.out" 2>"$tmp/absent.err" || status=$?
[ "$status" -eq 1 ] || fail "call to a service without workers exited $status, want 1"
grep -q unknown_service "$tmp/absent.err" ||
    fail "service without workers: stderr does not name unknown_service: $(cat "$tmp/absent.err")"
ok "service without workers: exit 1, $(cat "$tmp/absent.err")"

status=0
"$python" "$client" call 'Not A Method' '{}' --timeout-ms 3000 --retries 0 \
    >"$tmp/invalid.out" 2>"$tmp/invalid.err" || status=$?
if [ "$status" -ne 1 ] || ! grep -q invalid "$tmp/invalid.err"; then
    fail "malformed method: want exit 1 and invalid, got $status: $(cat "$tmp/invalid.err")"
fi
ok "malformed method: exit 1, invalid"

# ---- Events ----

# PROTOCOL.md: the bus publishes bus.heartbeat, seq 0, body {}.
"$python" "$client" subscribe bus.heartbeat --count 1 --timeout-ms 5000 >"$tmp/heartbeat.out" ||
    fail "no bus.heartbeat within 5 s"
[ "$(cat "$tmp/heartbeat.out")" = "bus.heartbeat 0 {}" ] ||
    fail "heartbeat is not 'bus.heartbeat 0 {}': $(cat "$tmp/heartbeat.out")"
ok "bus.heartbeat 0 {}"

"$python" "$client" subscribe "$topic" --count 2 --timeout-ms 10000 \
    >"$tmp/events.out" 2>"$tmp/events.err" &
subscriber_pid=$!
pids+=("$subscriber_pid")
sleep 0.5 # for the SUB socket to connect and its subscription to reach the bus

# paperctl publish prints "TOPIC SEQ": the seq the event log gave the event.
published=()
for n in 1 2; do
    line=$("$bin/paperctl" publish "$topic" "{\"hello\": \"world\", \"n\": $n}") ||
        fail "paperctl publish $topic failed"
    [[ "$line" =~ ^"$topic "([0-9]+)$ ]] ||
        fail "paperctl publish printed '$line', want '$topic SEQ'"
    published+=("${BASH_REMATCH[1]}")
done
ok "published seqs ${published[*]}"

deadline=$((SECONDS + 10))
while kill -0 "$subscriber_pid" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] ||
        fail "the subscriber did not get 2 events within 10 s; it printed: $(cat "$tmp/events.out")"
    sleep 0.1
done
status=0
wait "$subscriber_pid" || status=$?
[ "$status" -eq 0 ] ||
    fail "the subscriber exited $status: $(cat "$tmp/events.err")"

"$python" - "$tmp/events.out" "$topic" "${published[@]}" <<'EOF' ||
import json, sys
path, topic, *published = sys.argv[1:]
lines = open(path).read().splitlines()
assert len(lines) == 2, f"{len(lines)} lines, want 2"
seqs = []
for n, line in enumerate(lines, 1):
    got_topic, seq, body = line.split(" ", 2)
    assert got_topic == topic, f"topic {got_topic}, want {topic}"
    body = json.loads(body)
    assert body == {"hello": "world", "n": n}, f"body {body}, want hello=world, n={n}"
    seqs.append(int(seq))
assert seqs[0] >= 1 and seqs[1] == seqs[0] + 1, f"seqs {seqs}: want N, N+1 with N >= 1"
assert seqs == [int(s) for s in published], f"seqs {seqs}, paperctl published {published}"
EOF
    fail "the subscriber's events are wrong: $(cat "$tmp/events.out")"
ok "subscriber got $topic seqs ${published[*]} with their bodies"

# ---- The bus stops cleanly ----

stop "$bus_pid"
pids=() # both stopped and reaped; nothing left for cleanup
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$tmp/bus.log"; then
    fail "the bus reported a sanitizer error"
fi
ok "bus stopped; no sanitizer report"
