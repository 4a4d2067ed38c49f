#!/bin/bash
# The multi-host test: several hosts on one machine, made of network
# namespaces joined by veth pairs to a bridge in a namespace of its own, on
# addresses of the benchmarking range (198.18.213.0/24) that exist only
# inside these namespaces. Nothing is added to the root namespace: no link,
# no address, no route.
#
#   pbt-db   198.18.213.1    PostgreSQL, the bus
#   pbt-w1   198.18.213.11   index, index
#   pbt-w2   198.18.213.12   index, ingest
#   pbt-w3   198.18.213.13   ingest, rank, notify
#   pbt-gw   198.18.213.20   gateway, and the test's own clients
#   pbt-br   (no address)    the bridge pbt-br0 and the hosts' switch ports
#
# It shows, each step asserting:
#   1. ingest from two hosts at once stores every paper once, with exactly one
#      `inserted` event each and no hole in the event log;
#   2. searches through the gateway are spread over all three index workers;
#   3. a worker host cut off (its switch port down) for several heartbeats:
#      its workers expire, papers ingested meanwhile are searchable on the
#      rest, and once the port is back its workers register again and hold
#      every paper at its stored version (nothing lost);
#   4. the bus and database host cut off for 5 s under a stream of searches
#      and votes: everything recovers by itself (no restart), and every vote
#      either failed visibly or was counted exactly once;
#   and at the end every service stops cleanly (exit status 0: no sanitizer
#   finding, no leak).
#
# Needs root (namespaces); prints "SKIP: why" and exits 0 without it.
# Environment from tests/run.sh: PAPERBUS_ROOT, PAPERBUS_BIN_DIR,
# PAPERBUS_VAR_DIR (the cluster lives in $PAPERBUS_VAR_DIR/netns/pg), and the
# sanitizers' options, which every service inherits.
set -euo pipefail

root=${PAPERBUS_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${PAPERBUS_BIN_DIR:-$root/build/release/bin}
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
var=${PAPERBUS_VAR_DIR:-$root/var/test}
case "$var" in /*) ;; *) var="$root/$var" ;; esac
work="$var/netns"
logs="$work/log"
sample="$root/deploy/sample"

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: the multi-host test needs root (network namespaces)"
    exit 0
fi
for tool in ip runuser psql jq curl; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 0; }
done
# The namespaces' names are fixed: one run at a time on a machine.
lock_dir=/run/lock
[ -d "$lock_dir" ] || lock_dir=/tmp
exec 9>"$lock_dir/paperbus-netns-test.lock"
flock -w 600 9 || { echo "FAIL: another multi-host test held its lock for 10 minutes"; exit 1; }
ip netns del pbt-probe 2>/dev/null || true
if ! ip netns add pbt-probe 2>/dev/null; then
    echo "SKIP: ip netns add is refused here (no CAP_SYS_ADMIN, or no network namespaces)"
    exit 0
fi
ip netns del pbt-probe
for program in bus ingest index rank notify gateway paperctl; do
    [ -x "$bin/$program" ] || { echo "FAIL: $bin/$program is not built"; exit 1; }
done
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$pg_bin/pg_ctl" ] || { echo "FAIL: PostgreSQL server binaries not found"; exit 1; }

# ---- the network ----

net=198.18.213
declare -A address=([db]=$net.1 [w1]=$net.11 [w2]=$net.12 [w3]=$net.13 [gw]=$net.20)
hosts=(db w1 w2 w3 gw)
namespaces=(pbt-db pbt-w1 pbt-w2 pbt-w3 pbt-gw pbt-br)
bus=${address[db]}
pg_port=5432
http="http://${address[gw]}:8080"
database_url="postgresql://paperbus@$bus:$pg_port/paperbus"
# The default heartbeat: a worker busy for 3 intervals is taken for dead, and
# under ASan on a loaded 2-core machine an ingest or index worker storing or
# applying a burst of papers stalls for over 750 ms (250 ms heartbeats).
heartbeat_ms=${PAPERBUS_NETNS_HEARTBEAT_MS:-500}

t_start=${EPOCHREALTIME/./}
now_ms() { local t=${EPOCHREALTIME/./}; echo $(((t - t_start) / 1000)); }
step_started=0
seconds() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }
step() {
    step_started=$(now_ms)
    printf '[%6.1fs] %s\n' "$(seconds "$step_started")" "$*"
}
ok() {
    local took=$(($(now_ms) - step_started))
    printf '          ok - %s (%d ms)\n' "$*" "$took"
}
note() { printf '          %s\n' "$*"; }

declare -A pids=()
pg_data=
pg_log=

# Stops what an earlier or this run left in the test's namespaces (by pid:
# only processes living in pbt-* namespaces, which only this test makes),
# then PostgreSQL, then the namespaces.
teardown() {
    local ns pid left
    for ns in "${namespaces[@]}"; do
        [ -e "/var/run/netns/$ns" ] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            # PostgreSQL goes last, and by pg_ctl.
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ] && continue
            kill -TERM "$pid" 2>/dev/null || true
        done
    done
    for _ in $(seq 50); do
        left=0
        for ns in "${namespaces[@]}"; do
            for pid in $(ip netns pids "$ns" 2>/dev/null); do
                [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ] || left=1
            done
        done
        [ "$left" = 0 ] && break
        sleep 0.1
    done
    if [ -n "${pg_data:-}" ] && [ -f "$pg_data/postmaster.pid" ]; then
        (cd / && runuser -u paperbus -- "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w -t 20 stop) \
            >/dev/null 2>&1 || true
    fi
    for ns in "${namespaces[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
        ip netns del "$ns" 2>/dev/null || true
    done
}

dump_logs() {
    local file
    for file in "$logs"/*.log "$pg_log"; do
        [ -s "$file" ] || continue
        echo "---- $(basename "$file") (last 25 lines)"
        tail -n 25 "$file"
    done
}

fail() {
    echo "FAIL: $*"
    dump_logs
    exit 1
}

trap 'teardown' EXIT
trap 'exit 130' INT TERM

# ---- the cluster's directory (PostgreSQL refuses to run as root) ----

id -u paperbus >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin paperbus
mkdir -p "$work" "$logs"
pg_dir="$work/pg"
if [ ! -L "$pg_dir" ]; then
    mkdir -p "$pg_dir"
    chown paperbus "$pg_dir"
    if ! runuser -u paperbus -- test -w "$pg_dir"; then
        # Inside a private (0700) directory: keep the cluster under /var/tmp.
        rmdir "$pg_dir"
        elsewhere="/var/tmp/paperbus-pg/netns-$(stat -c '%n %d %i' "$work" | cksum | cut -d ' ' -f 1)"
        mkdir -p "$elsewhere"
        chmod 711 /var/tmp/paperbus-pg
        chown paperbus "$elsewhere"
        ln -s "$elsewhere" "$pg_dir"
    fi
fi
pg_dir=$(readlink -f "$pg_dir")
pg_data="$pg_dir/data"
pg_log="$pg_dir/postgresql.log"
rm -f "$logs"/*.log "$work"/*.out

step "clean up what an aborted run left"
teardown
ok "no pbt namespace left"

step "build the hosts: namespaces, a bridge, veth pairs in $net.0/24"
ip netns add pbt-br
ip -n pbt-br link set lo up
ip -n pbt-br link add pbt-br0 type bridge
ip -n pbt-br link set pbt-br0 up
for host in "${hosts[@]}"; do
    ns=pbt-$host
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # The host's end is pbt0 in its namespace; the switch port pbt-HOST
    # stays in the bridge's namespace.
    ip -n pbt-br link add "pbt-$host" type veth peer name pbt0 netns "$ns"
    ip -n pbt-br link set "pbt-$host" master pbt-br0 up
    ip -n "$ns" addr add "${address[$host]}/24" dev pbt0
    ip -n "$ns" link set pbt0 up
done
ok "5 hosts on a bridge"

# The deployment's settings, the same on every host.
settings=(
    PAPERBUS_DATABASE_URL="$database_url"
    PAPERBUS_BUS_REQUESTS="tcp://$bus:5555"
    PAPERBUS_BUS_EVENTS_IN="tcp://$bus:5556"
    PAPERBUS_BUS_EVENTS_OUT="tcp://$bus:5557"
    PAPERBUS_HEARTBEAT_MS="$heartbeat_ms"
    PAPERBUS_BUS_WAIT_MS=1500
    PAPERBUS_DB_CONNECT_TIMEOUT=60
    PAPERBUS_SMTP_URL="smtp://${address[w3]}:2525"
    PAPERBUS_GATEWAY_CACHE_MS=0
    PAPERBUS_HTTP_ADDRESS="${address[gw]}"
    PAPERBUS_HTTP_PORT=8080
    PAPERBUS_PUBLIC_URL="$http"
    PAPERBUS_LOG_LEVEL="${PAPERBUS_NETNS_LOG_LEVEL:-info}"
)
# Runs a command on a host with the deployment's settings.
on() {
    local host=$1
    shift
    ip netns exec "pbt-$host" env "${settings[@]}" "$@"
}
pctl() { # paperctl on HOST, errors only
    local host=$1
    shift
    on "$host" env PAPERBUS_LOG_LEVEL=error "$bin/paperctl" "$@"
}
sql() { on gw psql "$database_url" -qtAX -v ON_ERROR_STOP=1 -c "$1"; }

start() { # NAME HOST PROGRAM
    local name=$1 host=$2 program=$3
    # A simple command, not a function, so that $! is the service itself
    # (ip and env exec it), not a subshell that would die of SIGTERM alone.
    ip netns exec "pbt-$host" env "${settings[@]}" "$bin/$program" >>"$logs/$name.log" 2>&1 9>&- &
    pids[$name]=$!
}

step "PostgreSQL on pbt-db ($bus:$pg_port), a fresh database"
if [ ! -f "$pg_data/PG_VERSION" ]; then
    (cd / && runuser -u paperbus -- "$pg_bin/initdb" -D "$pg_data" --username=paperbus \
        --auth=trust --encoding=UTF8 --locale=C.UTF-8) >"$work/initdb.out" 2>&1 ||
        { cat "$work/initdb.out"; fail "initdb failed"; }
fi
# The hosts reach it over the test network.
grep -q "^host all paperbus $net.0/24 trust" "$pg_data/pg_hba.conf" ||
    echo "host all paperbus $net.0/24 trust" >>"$pg_data/pg_hba.conf"
: >"$pg_log"
chown paperbus "$pg_log"
(cd / && ip netns exec pbt-db runuser -u paperbus -- "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_log" \
    -w -t 60 start -o "-p $pg_port -c listen_addresses=$bus -c unix_socket_directories= \
    -c max_connections=100 -c fsync=off" 9>&-) >/dev/null || fail "PostgreSQL did not start"
on gw psql "postgresql://paperbus@$bus:$pg_port/postgres" -qtAX -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS paperbus" -c "CREATE DATABASE paperbus" >/dev/null ||
    fail "cannot make the database"
for host in w1 w2 w3 gw; do
    ip netns exec "pbt-$host" bash -c "exec 3<>/dev/tcp/$bus/$pg_port" 2>/dev/null ||
        fail "pbt-$host cannot reach PostgreSQL at $bus:$pg_port"
done
pctl gw migrate >/dev/null || fail "migrations failed"
ok "PostgreSQL up, reached from every host, schema applied"

# ---- the bus's view ----

status_json() { pctl gw call bus.status '{"workers": true}'; }
live() { # SERVICE [STATUS_JSON]
    local json=${2:-$(status_json)}
    jq -r --arg s "$1" '[.services[] | select(.name == $s) | .live_workers] | first // 0' <<<"$json"
}
expired() {
    jq -r --arg s "$1" '[.services[] | select(.name == $s) | .expired_workers] | first // 0' <<<"$2"
}
served() { # SERVICE STATUS_JSON: "ID SERVED" per live worker, by id
    jq -r --arg s "$1" '.services[] | select(.name == $s) | .workers[]? | "\(.id) \(.served)"' <<<"$2" |
        LC_ALL=C sort
}
# Whether every worker of AFTER was there in BEFORE and has served more since.
all_served_more() { # BEFORE AFTER (served lists)
    [ -n "$2" ] || return 1
    LC_ALL=C join -a 2 -e MISSING -o 2.1,1.2,2.2 <(echo "$1") <(echo "$2") |
        awk '$2 == "MISSING" || $3 <= $2 { bad = 1 } END { exit bad }'
}
all_live() { # the deployment's workers, all registered
    local json
    json=$(status_json 2>/dev/null) || return 1
    [ "$(live index "$json")" = 3 ] && [ "$(live ingest "$json")" = 2 ] &&
        [ "$(live rank "$json")" = 1 ] && [ "$(live notify "$json")" = 1 ]
}
healthz() { on gw curl -s -o /dev/null -w '%{http_code}' -m 3 "$http/healthz" 2>/dev/null || true; }
healthy() { [ "$(healthz)" = 200 ]; }
live_is() { [ "$(live "$1" 2>/dev/null)" = "$2" ]; }
wait_until() { # SECONDS COMMAND...: polls every 0.1 s
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}
services_running() {
    local name
    for name in "${!pids[@]}"; do
        kill -0 "${pids[$name]}" 2>/dev/null || fail "$name (pid ${pids[$name]}) is no longer running"
    done
}

step "start the bus on pbt-db, then every service on its host"
start bus db bus
wait_until 10 pctl gw call bus.status '{}' >/dev/null 2>&1 || fail "the bus does not answer from pbt-gw"
start index-w1a w1 index
start index-w1b w1 index
start index-w2 w2 index
start ingest-w2 w2 ingest
start ingest-w3 w3 ingest
start rank w3 rank
start notify w3 notify
start gateway gw gateway
wait_until 60 all_live || fail "not every worker registered: $(status_json)"
wait_until 20 healthy || fail "the gateway is not healthy: $(healthz)"
services_running
ok "bus: index 3, ingest 2, rank 1, notify 1 live; gateway /healthz 200"

# ---- 1. ingest from two hosts at once ----

day1="$sample/arxiv-daily/2026-05-21.jsonl"
day2="$sample/arxiv-daily/2026-05-22.jsonl"
day3="$sample/arxiv-daily/2026-05-25.jsonl"
hf="$sample/hf/daily_papers-2024-10-25.json"

step "1. ingest the same two days from pbt-w2 and pbt-w3 at once"
before=$(status_json)
timed_ingest() { # HOST FILE...: prints the run's output, then its start and end (ms)
    local host=$1 started rc=0
    shift
    started=$(now_ms)
    on "$host" env PAPERBUS_LOG_LEVEL=warn "$bin/paperctl" ingest "$@" 2>&1 || rc=$?
    echo "ran $started $(now_ms)"
    return "$rc"
}
timed_ingest w2 "$day1" "$day2" >"$work/ingest-w2.out" &
ingest_a=$!
timed_ingest w3 "$day2" "$day1" >"$work/ingest-w3.out" &
ingest_b=$!
wait "$ingest_a" || fail "ingest from pbt-w2 failed: $(cat "$work/ingest-w2.out")"
wait "$ingest_b" || fail "ingest from pbt-w3 failed: $(cat "$work/ingest-w3.out")"
after=$(status_json)
for host in w2 w3; do
    note "pbt-$host, $(awk '/^ran / { printf "%d..%d ms", $2, $3 }' "$work/ingest-$host.out"): $(grep ' inserted, ' "$work/ingest-$host.out")"
done
cat "$day1" "$day2" | jq -r .id | sort -u >"$work/ids-two-days.out"
want=$(wc -l <"$work/ids-two-days.out")
sql "SELECT id FROM paper ORDER BY id" | LC_ALL=C sort >"$work/ids-db.out"
LC_ALL=C sort -o "$work/ids-two-days.out" "$work/ids-two-days.out"
cmp -s "$work/ids-two-days.out" "$work/ids-db.out" ||
    fail "the papers stored are not the files' $want ids: $(diff "$work/ids-two-days.out" "$work/ids-db.out" | head -5)"
reported=$(cat "$work/ingest-w2.out" "$work/ingest-w3.out" |
    awk '/ inserted, / { i += $1; u += $3 } END { print i, u }')
read -r inserted updated <<<"$reported"
pctl gw events paper.ingested --limit 100000 >"$work/events-1.out" || fail "cannot read the event log"
events=$(wc -l <"$work/events-1.out")
# A batch sent again (its worker expired while storing it: a loaded machine)
# may have been stored the first time, and then counts as unchanged.
resent=$(cat "$work/ingest-w2.out" "$work/ingest-w3.out" | grep -c "sending it again" || true)
if [ "$resent" = 0 ]; then
    [ "$inserted" = "$want" ] || fail "the two runs report $inserted papers inserted, the files hold $want"
    [ "$events" = $((inserted + updated)) ] ||
        fail "paper.ingested holds $events events for $inserted inserted + $updated updated"
else
    note "$resent batches were sent again (a worker expired under load): the runs' counts may fall short"
    [ "$events" -ge $((inserted + updated)) ] ||
        fail "paper.ingested holds $events events for $inserted inserted + $updated updated"
fi
awk '$1 != NR { exit 1 }' "$work/events-1.out" || fail "paper.ingested has a hole or a duplicate seq"
# One `inserted` event per paper, for exactly the stored papers.
sed 's/^[0-9]* paper.ingested //' "$work/events-1.out" |
    jq -r 'select(.change == "inserted") | .id' | LC_ALL=C sort >"$work/inserted-events.out"
cmp -s "$work/inserted-events.out" "$work/ids-db.out" ||
    fail "the inserted events are not one per stored paper: $(LC_ALL=C uniq -d "$work/inserted-events.out" | head -3)"
# Both ingest workers stored batches (when neither registered again meanwhile).
if [ "$(served ingest "$before" | cut -d ' ' -f 1)" = "$(served ingest "$after" | cut -d ' ' -f 1)" ]; then
    all_served_more "$(served ingest "$before")" "$(served ingest "$after")" ||
        fail "ingest.submit did not reach both ingest workers: $(served ingest "$after")"
    spread_note="; both ingest workers served"
else
    spread_note="; an ingest worker registered again meanwhile (busy past 3 heartbeats)"
fi
ok "$want papers, each once; $events events (seq 1..$events), one 'inserted' per paper$spread_note"

# ---- 2. queries spread over every index worker ----

queries=("language models" "diffusion" "reinforcement learning" "graph neural networks"
    "speculative decoding" "robot" "transformer attention" "benchmark" "agents" "vision")
search() { # QUERY: through the gateway; prints the HTTP status
    on gw curl -s -o "$work/search.out" -w '%{http_code}' -m 5 -G "$http/api/search" \
        --data-urlencode "q=$1" 2>/dev/null || true
}
index_caught_up() { # every live index worker finds paper ID (rounds of index.get)
    local id=$1 before after k
    before=$(served index "$(status_json)")
    for k in 1 2 3; do
        pctl gw call index.get "{\"ids\": [\"$id\"]}" 2>/dev/null | jq -e '.missing == []' >/dev/null ||
            return 1
    done
    after=$(served index "$(status_json)")
    [ "$(wc -l <<<"$after")" = 3 ] && all_served_more "$before" "$after"
}

step "2. searches through the gateway are spread over the 3 index workers"
last_id=$(tail -n 1 "$work/ids-db.out")
wait_until 20 index_caught_up "$last_id" || fail "not every index worker has the ingested papers"
# N searches; each index worker's `served` must rise. A round in which a
# worker registered again (a new id: a loaded machine can stall one past three
# heartbeats, and a search it held then fails) is void, and run again.
spread() { # N
    local before after i code
    before=$(served index "$(status_json)")
    for i in $(seq "$1"); do
        code=$(search "${queries[$((i % ${#queries[@]}))]}")
        if [ "$code" != 200 ]; then
            note "search $i answered $code: $(head -c 200 "$work/search.out")"
            return 1
        fi
        jq -e '.hits | length > 0' "$work/search.out" >/dev/null ||
            fail "search $i found nothing: $(head -c 300 "$work/search.out")"
    done
    after=$(served index "$(status_json)")
    note "served by worker (before -> after): $(LC_ALL=C join -a 2 <(echo "$before") <(echo "$after") |
        awk '{ printf "%s: %s -> %s; ", $1, NF == 3 ? $2 : "new", $NF }')"
    [ "$(wc -l <<<"$after")" = 3 ] && all_served_more "$before" "$after"
}
spread_over_all() { # N
    local attempt
    for attempt in 1 2 3; do
        spread "$1" && return 0
    done
    fail "3 rounds of $1 searches, and none was served by every index worker"
}
spread_over_all 30
ok "every index worker served some of the 30 searches"

# ---- 3. a worker host cut off, and back ----

# Every paper of the database, at its stored version, in every index worker:
# rounds of three index.get (the bus gives each to the least recently used
# worker) until one round was served by all three workers (their `served`
# counts all rose; nothing else calls index meanwhile) and every answer was
# complete.
index_complete() {
    local want_list=$1 ids before after k
    # index.get takes at most 1,000 ids; the sample holds 836 papers.
    [ "$(wc -l <"$work/ids-db.out")" -le 1000 ] || fail "more papers than one index.get can ask for"
    ids=$(jq -R . "$work/ids-db.out" | jq -sc '{ids: .}')
    before=$(served index "$(status_json)")
    for k in 1 2 3; do
        pctl gw call index.get "$ids" 2>/dev/null >"$work/get.out" || return 1
        jq -r '.papers[] | "\(.id) \(.version)"' "$work/get.out" | LC_ALL=C sort |
            cmp -s - "$want_list" || return 1
    done
    after=$(served index "$(status_json)")
    [ "$(wc -l <<<"$after")" = 3 ] && all_served_more "$before" "$after"
}

step "3. cut pbt-w1 (2 index workers) off: its switch port down"
json=$(status_json)
expired_before=$(expired index "$json")
[ "$(live index "$json")" = 3 ] || fail "want 3 index workers before the cut: $json"
cut_at=$(now_ms)
ip -n pbt-br link set pbt-w1 down
wait_until 10 live_is index 1 || fail "the bus still lists $(live index) index workers"
json=$(status_json)
[ "$(expired index "$json")" -ge $((expired_before + 2)) ] ||
    fail "want 2 more index workers expired, the bus counts $(expired index "$json") (was $expired_before)"
ok "both workers of pbt-w1 expired after $(($(now_ms) - cut_at)) ms (3 heartbeats: $((3 * heartbeat_ms)) ms)"

step "3. meanwhile: ingest another day and the Hugging Face papers from pbt-gw"
pctl gw ingest "$day3" "$hf" >"$work/ingest-gw.out" 2>&1 || fail "ingest during the cut failed: $(cat "$work/ingest-gw.out")"
note "pbt-gw: $(tail -n 1 "$work/ingest-gw.out")"
sql "SELECT id FROM paper ORDER BY id" | LC_ALL=C sort >"$work/ids-db.out"
all_ids=$( (cat "$day1" "$day2" "$day3" | jq -r .id; jq -r '.[].paper.id' "$hf") | sort -u | wc -l)
[ "$(wc -l <"$work/ids-db.out")" = "$all_ids" ] ||
    fail "want $all_ids papers stored, there are $(wc -l <"$work/ids-db.out")"
new_id=$(jq -r '.[0].paper.id' "$hf")
found_through_gateway() {
    [ "$(search "id:$1")" = 200 ] &&
        jq -e --arg id "$1" '[.hits[].id] | index($id) != null' "$work/search.out" >/dev/null
}
wait_until 10 found_through_gateway "$new_id" ||
    fail "a paper ingested during the cut is not found through the gateway: $(head -c 300 "$work/search.out")"
[ "$(live index)" -le 1 ] || fail "pbt-w1's workers came back while cut off"
ok "$all_ids papers stored; the one index worker left finds them"

step "3. restore pbt-w1's port"
# Cut for at least 3 s: 15 heartbeats.
while [ $(($(now_ms) - cut_at)) -lt 3000 ]; do sleep 0.1; done
note "pbt-w1 was cut off for $(($(now_ms) - cut_at)) ms"
restored_at=$(now_ms)
ip -n pbt-br link set pbt-w1 up
wait_until 20 live_is index 3 || fail "pbt-w1's index workers did not register again: $(status_json)"
note "both registered again $(($(now_ms) - restored_at)) ms after the port came back"
sql "SELECT id || ' ' || version FROM paper" | LC_ALL=C sort >"$work/versions.out"
wait_until 20 index_complete "$work/versions.out" ||
    fail "an index worker lacks papers or versions after the cut: $(jq -c .missing "$work/get.out" | head -c 300)"
services_running
ok "every index worker holds all $all_ids papers at their stored versions, $(($(now_ms) - restored_at)) ms after the port came back"

# ---- 4. the bus and database host cut off for 5 s ----

vote_paper=$(head -n 1 "$work/ids-db.out")
stop_streams="$work/stop-streams"
rm -f "$stop_streams"
search_stream() {
    local i=0 code started
    while [ ! -e "$stop_streams" ]; do
        i=$((i + 1))
        started=$(now_ms)
        code=$(on gw curl -s -o /dev/null -w '%{http_code}' -m 5 -G "$http/api/search" \
            --data-urlencode "q=${queries[$((i % ${#queries[@]}))]}" 2>/dev/null || true)
        echo "$started $code"
        sleep 0.05
    done
}
vote_stream() {
    local i=0 rc started
    while [ ! -e "$stop_streams" ]; do
        i=$((i + 1))
        started=$(now_ms)
        rc=0
        on gw env PAPERBUS_LOG_LEVEL=error PAPERBUS_REQUEST_TIMEOUT_MS=2500 \
            "$bin/paperctl" vote "$vote_paper" --user "netns-$i" >/dev/null 2>>"$work/votes.err" || rc=$?
        echo "$started netns-$i $rc"
    done
}

step "4. searches and votes stream from pbt-gw; pbt-db (bus + PostgreSQL) cut off for 5 s"
search_stream >"$work/searches.out" &
searches_pid=$!
vote_stream >"$work/votes.out" &
votes_pid=$!
sleep 1.5
cut_at=$(now_ms)
ip -n pbt-br link set pbt-db down
sleep 5
restored_at=$(now_ms)
ip -n pbt-br link set pbt-db up
note "pbt-db was cut off for $((restored_at - cut_at)) ms"
# What the bus lists while the workers come back: every poll's live
# workers by service, to tell whether a process was listed twice.
stop_watch="$work/stop-watch"
rm -f "$stop_watch"
(while [ ! -e "$stop_watch" ]; do
    status_json 2>/dev/null | jq -c '[.services[] | {(.name): .live_workers}] | add' || true
    sleep 0.05
done) >"$work/live-after-cut.out" &
watch_pid=$!
# Calls to ingest and notify while their workers come back: each is answered,
# and not by worker_died (a request handed to a registration whose socket is
# gone).
(while [ ! -e "$stop_watch" ]; do
    for method in ingest.harvest_status notify.status; do
        rc=0
        out=$(on gw env PAPERBUS_LOG_LEVEL=error PAPERBUS_REQUEST_TIMEOUT_MS=2500 \
            "$bin/paperctl" call "$method" '{}' 2>&1 >/dev/null) || rc=$?
        [ "$rc" = 0 ] && out=ok || out=$(sed -n 's/.*failed: [0-9]* \([a-z_]*\).*/\1/p' <<<"$out" | head -n 1)
        echo "$method ${out:-error}"
    done
done) >"$work/calls-after-cut.out" &
calls_pid=$!
wait_until 30 all_live || fail "not every worker registered again: $(status_json 2>&1)"
note "every worker live again $(($(now_ms) - restored_at)) ms after the port came back"
wait_until 20 healthy || fail "the gateway is not healthy again: $(healthz)"
note "gateway /healthz 200 $(($(now_ms) - restored_at)) ms after"
# Let the streams run on a while after the recovery.
sleep 2
touch "$stop_streams" "$stop_watch"
wait "$searches_pid" "$votes_pid" "$watch_pid" "$calls_pid" || true
services_running
most=$(jq -sc 'reduce .[] as $poll ({}; reduce ($poll | to_entries[]) as $e (.; .[$e.key] = ([.[$e.key] // 0, $e.value] | max)))' \
    "$work/live-after-cut.out")
note "most live workers listed at once after the cut: $most"
# Each process registers once: a socket a worker gave up on during the cut
# must not deliver its READY once the link is back (a registration whose
# socket is gone gets requests until it expires, answered worker_died).
jq -e '.index <= 3 and .ingest <= 2 and .rank <= 1 and .notify <= 1' <<<"$most" >/dev/null ||
    fail "the bus listed more workers than there are processes after the cut: $most"
note "calls to ingest and notify meanwhile: $(sort "$work/calls-after-cut.out" | uniq -c | awk '{ printf "%s %s x%d; ", $2, $3, $1 }')"
awk -v cut="$cut_at" -v back="$restored_at" '
    { phase = $1 < cut ? "before" : $1 < back ? "during" : "after"; n[phase]++; if ($2 == 200) good[phase]++ }
    END { printf "          searches: before %d/%d ok, during %d/%d, after %d/%d\n",
          good["before"], n["before"], good["during"], n["during"], good["after"], n["after"] }' \
    "$work/searches.out"
awk -v cut="$cut_at" -v back="$restored_at" '
    { phase = $1 < cut ? "before" : $1 < back ? "during" : "after"; n[phase]++; if ($3 == 0) good[phase]++ }
    END { printf "          votes: before %d/%d ok, during %d/%d, after %d/%d\n",
          good["before"], n["before"], good["during"], n["during"], good["after"], n["after"] }' \
    "$work/votes.out"
# The last searches and votes of the streams, after the recovery, all succeeded.
tail -n 3 "$work/searches.out" | awk '$2 != 200 { exit 1 }' ||
    fail "searches still fail after the recovery: $(tail -n 3 "$work/searches.out")"
tail -n 2 "$work/votes.out" | awk '$3 != 0 { exit 1 }' ||
    fail "votes still fail after the recovery: $(tail -n 2 "$work/votes.out"; tail -n 3 "$work/votes.err")"
ok "recovered by itself; the streams succeed again"

step "4. nothing doubled: each vote failed visibly or counts exactly once"
awk '$3 == 0 { print $2 }' "$work/votes.out" | LC_ALL=C sort >"$work/votes-ok.out"
awk '{ print $2 }' "$work/votes.out" | LC_ALL=C sort >"$work/votes-sent.out"
sql "SELECT user_id FROM vote WHERE paper_id = '$vote_paper'" | LC_ALL=C sort >"$work/votes-db.out"
[ -z "$(LC_ALL=C comm -23 "$work/votes-ok.out" "$work/votes-db.out")" ] ||
    fail "votes acknowledged but not stored: $(LC_ALL=C comm -23 "$work/votes-ok.out" "$work/votes-db.out" | head -3)"
[ -z "$(LC_ALL=C comm -23 "$work/votes-db.out" "$work/votes-sent.out")" ] ||
    fail "votes stored that were never sent: $(LC_ALL=C comm -23 "$work/votes-db.out" "$work/votes-sent.out" | head -3)"
pctl gw events vote.cast --limit 100000 | sed 's/^[0-9]* vote.cast //' |
    jq -r --arg p "$vote_paper" 'select(.paper == $p) | "\(.user) \(.up)"' | LC_ALL=C sort >"$work/vote-events.out"
sed 's/$/ true/' "$work/votes-db.out" | cmp -s - "$work/vote-events.out" ||
    fail "vote.cast events are not one per stored vote: $(diff <(sed 's/$/ true/' "$work/votes-db.out") "$work/vote-events.out" | head -5)"
stored=$(wc -l <"$work/votes-db.out")
rank_count() { pctl gw call rank.votes "{\"papers\": [\"$vote_paper\"]}" | jq -r '.papers[0].upvotes'; }
rank_counts() { [ "$(rank_count)" = "$1" ]; }
wait_until 5 rank_counts "$stored" ||
    fail "rank counts $(rank_count) upvotes, $stored votes are stored"
ok "$(wc -l <"$work/votes-sent.out") votes sent, $(wc -l <"$work/votes-ok.out") acknowledged, $stored stored, $stored events, rank counts $stored"

step "4. afterwards: searches spread over every worker, a new paper reaches every index"
spread_over_all 6
echo '{"id": "2612.54321", "title": "Namespaces: a paper ingested after the bus host came back", "abstract": "Seen by every index worker.", "authors": ["Netns Tester"], "categories": ["cs.NI"]}' |
    pctl w3 ingest - >"$work/ingest-after.out" 2>&1 || fail "ingest after the recovery failed: $(cat "$work/ingest-after.out")"
grep -q "^1 inserted" "$work/ingest-after.out" || fail "the new paper was not inserted: $(cat "$work/ingest-after.out")"
wait_until 5 index_caught_up 2612.54321 || fail "not every index worker has the paper ingested after the recovery"
ok "searches spread, the new paper is in every index worker"

# ---- the end ----

step "stop every service: each exits cleanly"
for name in gateway notify rank ingest-w3 ingest-w2 index-w2 index-w1b index-w1a bus; do
    kill -TERM "${pids[$name]}" 2>/dev/null || true
    rc=0
    wait "${pids[$name]}" || rc=$?
    [ "$rc" = 0 ] || fail "$name exited with status $rc"
    unset "pids[$name]"
done
ok "all 9 services exited with status 0"

echo "multi-host test passed in $(seconds "$(now_ms)") s"
