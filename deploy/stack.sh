#!/bin/bash
# The local paperbus stack: a private PostgreSQL under $PAPERBUS_VAR_DIR (or
# the one DATABASE_URL names), the schema, and every service built so far.
# `make run`, `make up`, `make down`, the tests and the benchmarks all come
# through here, so there is one way to start paperbus.
#
# usage: deploy/stack.sh COMMAND
#   run       start everything, print where it is, stop it all on Ctrl-C
#   up        start everything in the background; return once it is healthy
#   down      stop the services, then the private PostgreSQL
#   db-up     only PostgreSQL and the schema (what the tests need)
#   db-restart  restart the private PostgreSQL (failure tests use it)
#   status    say what runs where
#   env       print the environment a client needs, as shell assignments
#
# Settings (see the README's configuration table): PAPERBUS_VAR_DIR (var),
# PAPERBUS_PG_PORT (5433), DATABASE_URL (use that PostgreSQL instead of a
# private one; the services are then given it as PAPERBUS_DATABASE_URL),
# PAPERBUS_BIN_DIR (build/release/bin).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
var=${PAPERBUS_VAR_DIR:-var}
case "$var" in /*) ;; *) var="$root/$var" ;; esac
bin=${PAPERBUS_BIN_DIR:-$root/build/release/bin}
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
pg_port=${PAPERBUS_PG_PORT:-5433}
pg_user=paperbus
database=paperbus
external_url=${DATABASE_URL:-}
# notify mails through PAPERBUS_SMTP_URL; unless PAPERBUS_MAIL_CATCHER is
# off, a development mail catcher listens there and keeps every mail as an
# .eml file under $var/mail, so that a newcomer sees what is sent.
export PAPERBUS_SMTP_URL=${PAPERBUS_SMTP_URL:-smtp://127.0.0.1:2525}
mail_catcher=${PAPERBUS_MAIL_CATCHER:-on}

# Services in start order; each is started only if it has been built.
services=(bus ingest index rank notify gateway)

say() { printf 'paperbus: %s\n' "$*"; }
die() { printf 'paperbus: %s\n' "$*" >&2; exit 1; }

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- PostgreSQL ----

pg_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -x "$dir/pg_ctl" ] || die "PostgreSQL server binaries not found; run deploy/install-deps.sh"
    echo "$dir"
}

# PostgreSQL refuses to run as root, so as root the cluster belongs to an
# unprivileged system user. That user must be able to reach the data
# directory; a clone inside a private (0700) directory cannot give it that, so
# the cluster then lives under /var/tmp and var/pg links to it.
pg_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "$var/pg"
        return
    fi
    if [ -L "$var/pg" ]; then
        readlink -f "$var/pg"
        return
    fi
    id -u "$pg_user" >/dev/null 2>&1 ||
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$pg_user"
    mkdir -p "$var/pg"
    chown "$pg_user" "$var/pg"
    if runuser -u "$pg_user" -- test -w "$var/pg"; then
        echo "$var/pg"
        return
    fi
    rmdir "$var/pg"
    local elsewhere
    # Named after the directory's path and inode, so a new clone at the same
    # path starts a new cluster instead of finding an old one.
    elsewhere="/var/tmp/paperbus-pg/$(stat -c '%n %d %i' "$var" | cksum | cut -d ' ' -f 1)"
    mkdir -p "$elsewhere"
    chmod 711 /var/tmp/paperbus-pg
    chown "$pg_user" "$elsewhere"
    ln -s "$elsewhere" "$var/pg"
    echo "$elsewhere"
}

as_pg_user() {
    if [ "$(id -u)" -eq 0 ]; then
        # From /, since the user may not be allowed into the current directory.
        (cd / && runuser -u "$pg_user" -- "$@")
    else
        "$@"
    fi
}

database_url() {
    if [ -n "$external_url" ]; then
        echo "$external_url"
    else
        echo "postgresql://$pg_user@127.0.0.1:$pg_port/$database"
    fi
}

pg_running() {
    [ -z "$external_url" ] || return 1
    local data
    data="$(pg_root)/data"
    [ -f "$data/postmaster.pid" ] && as_pg_user "$(pg_bindir)/pg_ctl" -D "$data" status >/dev/null 2>&1
}

pg_start() {
    local bindir data log
    bindir=$(pg_bindir)
    data="$(pg_root)/data"
    # The log sits beside the cluster, where its owner can always write.
    log="$(pg_root)/postgresql.log"
    touch "$log"
    [ "$(id -u)" -ne 0 ] || chown "$pg_user" "$log"
    if [ ! -f "$data/PG_VERSION" ]; then
        say "creating a private PostgreSQL cluster in $data"
        as_pg_user "$bindir/initdb" -D "$data" --username="$pg_user" --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 >>"$log" 2>&1 ||
            die "initdb failed; see $log"
    fi
    if pg_running; then
        return
    fi
    if port_taken "$pg_port"; then
        die "port $pg_port is already taken on 127.0.0.1; set PAPERBUS_PG_PORT to a free port"
    fi
    as_pg_user "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 start \
        -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=200" \
        >/dev/null || die "PostgreSQL did not start; see $log"
    say "PostgreSQL started on 127.0.0.1:$pg_port"
}

pg_stop() {
    [ -z "$external_url" ] || return 0
    pg_running || return 0
    as_pg_user "$(pg_bindir)/pg_ctl" -D "$(pg_root)/data" -m fast -w -t 60 stop >/dev/null
    say "PostgreSQL stopped"
}

create_database() {
    [ -z "$external_url" ] || return 0
    local exists
    exists=$(psql -h 127.0.0.1 -p "$pg_port" -U "$pg_user" -d postgres -tAX \
        -c "SELECT 1 FROM pg_database WHERE datname = '$database'")
    if [ "$exists" != 1 ]; then
        psql -h 127.0.0.1 -p "$pg_port" -U "$pg_user" -d postgres -qX \
            -c "CREATE DATABASE $database" >/dev/null
    fi
}

db_up() {
    if [ -n "$external_url" ]; then
        say "using the PostgreSQL at DATABASE_URL"
    else
        pg_start
        create_database
    fi
    [ -x "$bin/paperctl" ] || die "$bin/paperctl is not built; run make"
    PAPERBUS_DATABASE_URL=$(database_url) "$bin/paperctl" migrate >/dev/null
}

# ---- services ----

service_pid() {
    local file="$var/run/$1.pid"
    [ -f "$file" ] || return 1
    local pid
    pid=$(cat "$file")
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

# The ports a service binds, from its endpoints (the bus binds three, the
# gateway one); a port already taken by something else is a clear error.
check_ports() {
    local name=$1 endpoint port
    local endpoints=()
    case "$name" in
    bus) endpoints=("${PAPERBUS_BUS_REQUESTS:-tcp://127.0.0.1:5555}"
        "${PAPERBUS_BUS_EVENTS_IN:-tcp://127.0.0.1:5556}"
        "${PAPERBUS_BUS_EVENTS_OUT:-tcp://127.0.0.1:5557}") ;;
    gateway) endpoints=("tcp://127.0.0.1:${PAPERBUS_HTTP_PORT:-8080}") ;;
    esac
    for endpoint in "${endpoints[@]}"; do
        case "$endpoint" in tcp://*:[0-9]*) ;; *) continue ;; esac
        port=${endpoint##*:}
        if port_taken "$port"; then
            die "port $port ($name) is already taken on 127.0.0.1; stop what holds it or set the PAPERBUS_ variable for it"
        fi
    done
}

# The mail catcher, on the host and port of PAPERBUS_SMTP_URL.
mail_catcher_up() {
    [ "$mail_catcher" != off ] || return 0
    [ -x "$bin/notify" ] || return 0
    service_pid mailcatcher >/dev/null && return 0
    local address=${PAPERBUS_SMTP_URL#smtp://}
    address=${address%%/*}
    case "$address" in
    127.0.0.1:[0-9]*) ;;
    *) die "the mail catcher listens on 127.0.0.1 only; PAPERBUS_SMTP_URL is $PAPERBUS_SMTP_URL (set PAPERBUS_MAIL_CATCHER=off to send through that server)" ;;
    esac
    local port=${address#127.0.0.1:}
    if port_taken "$port"; then
        die "port $port (mail catcher) is already taken on 127.0.0.1; set PAPERBUS_SMTP_URL to smtp://127.0.0.1:ANOTHER_PORT, or PAPERBUS_MAIL_CATCHER=off"
    fi
    mkdir -p "$var/run" "$var/log" "$var/mail"
    nohup /usr/bin/python3 "$root/deploy/mailcatcher.py" --port "$port" --dir "$var/mail" \
        >>"$var/log/mailcatcher.log" 2>&1 &
    echo $! >"$var/run/mailcatcher.pid"
    say "started the mail catcher on 127.0.0.1:$port (pid $!); mails go to $var/mail/"
}

services_up() {
    mkdir -p "$var/run" "$var/log"
    mail_catcher_up
    local name
    for name in "${services[@]}"; do
        [ -x "$bin/$name" ] || continue
        service_pid "$name" >/dev/null && continue
        check_ports "$name"
        PAPERBUS_DATABASE_URL=$(database_url) nohup "$bin/$name" >>"$var/log/$name.log" 2>&1 &
        echo $! >"$var/run/$name.pid"
        say "started $name (pid $!, log $var/log/$name.log)"
    done
}

services_down() {
    local name pid index
    # Stop in reverse order: the front first, the bus last, then the mail
    # catcher (notify may be sending).
    local stopping=("mailcatcher" "${services[@]}")
    for ((index = ${#stopping[@]} - 1; index >= 0; index--)); do
        name=${stopping[$index]}
        pid=$(service_pid "$name") || { rm -f "$var/run/$name.pid"; continue; }
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "$name did not stop within 10 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$var/run/$name.pid"
        say "stopped $name"
    done
}

status() {
    local name pid
    if [ -n "$external_url" ]; then
        echo "postgresql  external    DATABASE_URL"
    elif pg_running; then
        echo "postgresql  running     127.0.0.1:$pg_port  data $(pg_root)/data"
    else
        echo "postgresql  stopped"
    fi
    for name in "${services[@]}" mailcatcher; do
        if [ "$name" = mailcatcher ] && [ "$mail_catcher" = off ]; then
            continue
        elif [ "$name" != mailcatcher ] && [ ! -x "$bin/$name" ]; then
            continue
        elif pid=$(service_pid "$name"); then
            echo "$(printf '%-11s' "$name") running     pid $pid  log $var/log/$name.log"
        else
            echo "$(printf '%-11s' "$name") stopped"
        fi
    done
    echo
    echo "DATABASE_URL  $(database_url)"
    echo "bus           ${PAPERBUS_BUS_REQUESTS:-tcp://127.0.0.1:5555} (requests)," \
        "${PAPERBUS_BUS_EVENTS_IN:-tcp://127.0.0.1:5556} (events in)," \
        "${PAPERBUS_BUS_EVENTS_OUT:-tcp://127.0.0.1:5557} (events out)"
    echo "mail          $PAPERBUS_SMTP_URL$([ "$mail_catcher" = off ] || echo " (the mail catcher: every mail is an .eml file in $var/mail/)")"
    if [ -x "$bin/gateway" ]; then
        echo "web page      $(web_url)"
    fi
}

# Healthy means: every started service is still running, and the bus
# answers bus.status.
wait_healthy() {
    local name attempt
    for attempt in $(seq 100); do
        for name in "${services[@]}"; do
            [ -x "$bin/$name" ] || continue
            service_pid "$name" >/dev/null ||
                die "$name exited at start; see $var/log/$name.log"
        done
        if [ ! -x "$bin/bus" ] ||
            PAPERBUS_DATABASE_URL=$(database_url) PAPERBUS_LOG_LEVEL=error \
                PAPERBUS_REQUEST_TIMEOUT_MS=200 "$bin/paperctl" status >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    die "the bus did not answer within 10 s; see $var/log/bus.log"
}

# The bundled sample papers (three days of real arXiv listings, and one day
# of Hugging Face daily papers, whose upvotes make the trending list), loaded
# through ingest like any other file; loading them again changes nothing.
load_sample() {
    [ -x "$bin/ingest" ] || return 0
    say "loading the sample papers from deploy/sample"
    PAPERBUS_DATABASE_URL=$(database_url) PAPERBUS_LOG_LEVEL=error \
        "$bin/paperctl" ingest "$root"/deploy/sample/arxiv-daily/*.jsonl \
        "$root"/deploy/sample/hf/*.json |
        sed 's/^/paperbus: sample: /'
}

up() {
    db_up
    services_up
    wait_healthy
    load_sample
}

down() {
    services_down
    pg_stop
}

# Where a reader on this machine finds the page.
web_url() {
    local address=${PAPERBUS_HTTP_ADDRESS:-127.0.0.1}
    case "$address" in 0.0.0.0 | ::) address=127.0.0.1 ;; esac
    echo "http://$address:${PAPERBUS_HTTP_PORT:-8080}/"
}

# The gateway answers /healthz once the services it needs are live.
wait_for_page() {
    [ -x "$bin/gateway" ] || return 0
    local attempt
    for attempt in $(seq 100); do
        curl -fsS -o /dev/null "$(web_url)healthz" 2>/dev/null && return 0
        sleep 0.1
    done
    say "the gateway is not healthy yet; see $var/log/gateway.log and $(web_url)healthz"
}

# Opens the page in the desktop's browser, when there is a desktop.
open_page() {
    if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && command -v xdg-open >/dev/null; then
        xdg-open "$(web_url)" >/dev/null 2>&1 &
    fi
}

run() {
    up
    wait_for_page
    status
    open_page
    echo
    say "open $(web_url) in a browser"
    say "running; press Ctrl-C to stop"
    trap 'echo; down; exit 0' INT TERM
    while true; do
        sleep 1 &
        wait $! || true
    done
}

case "${1:-}" in
run) run ;;
up) up && status ;;
down) down ;;
db-up) db_up ;;
db-restart)
    [ -z "$external_url" ] || die "db-restart only restarts the private cluster"
    as_pg_user "$(pg_bindir)/pg_ctl" -D "$(pg_root)/data" -m fast -w -t 60 restart \
        -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=200" \
        >/dev/null
    ;;
status) status ;;
env) echo "PAPERBUS_DATABASE_URL=$(database_url)" ;;
*)
    sed -n '2,20p' "$0" >&2
    exit 2
    ;;
esac
