#!/bin/sh
# The entry point of the paperbus image: the command names what the
# container runs.
#
#   bus | ingest | index | rank | notify | gateway [ARGS...]
#                        that service (gateway when no command is given)
#   paperctl ARGS...     the command-line client
#   mailcatcher [ARGS...]  the development mail catcher, on port 2525, keeping
#                        mails in /var/lib/paperbus/mail (image target mailcatcher)
#   health [SERVICE]     the health check of the service this container runs
#                        (the image's HEALTHCHECK): paperctl health SERVICE for
#                        the bus and the workers, /healthz for the gateway
#   anything else        run as given
#
# A service replaces this script (exec), so that it is PID 1 and receives the
# SIGTERM of `docker stop` itself.
set -eu

share=/usr/local/share/paperbus
services="bus ingest index rank notify gateway"

is_service() {
    case " $services " in *" $1 "*) return 0 ;; esac
    return 1
}

# The service this container runs: PID 1's name, or, behind an init
# (docker run --init), the first process with a service's name.
running_service() {
    name=$(cat /proc/1/comm 2>/dev/null || true)
    if is_service "$name" || [ "$name" = python3 ]; then
        echo "$name"
        return
    fi
    for comm in /proc/[0-9]*/comm; do
        name=$(cat "$comm" 2>/dev/null || true)
        if is_service "$name" || [ "$name" = python3 ]; then
            echo "$name"
            return
        fi
    done
}

health() {
    service=${1:-$(running_service)}
    case "$service" in
    gateway)
        exec curl -fsS --max-time 4 "http://127.0.0.1:${PAPERBUS_HTTP_PORT:-8080}/healthz"
        ;;
    bus | ingest | index | rank | notify)
        exec paperctl health "$service" --timeout 3000
        ;;
    python3 | mailcatcher)
        exec python3 -c 'import smtplib; smtplib.SMTP("127.0.0.1", 2525, timeout=4).quit()'
        ;;
    *)
        echo "health: no paperbus service runs in this container (${service:-nothing found})" >&2
        exit 1
        ;;
    esac
}

command=${1:-gateway}
[ $# -eq 0 ] || shift
case "$command" in
health) health "$@" ;;
mailcatcher)
    exec python3 "$share/mailcatcher.py" --host 0.0.0.0 --port 2525 \
        --dir /var/lib/paperbus/mail "$@"
    ;;
-h | --help)
    sed -n '2,16p' "$0"
    ;;
*)
    if is_service "$command" || [ "$command" = paperctl ]; then
        exec "/usr/local/bin/$command" "$@"
    fi
    exec "$command" "$@"
    ;;
esac
