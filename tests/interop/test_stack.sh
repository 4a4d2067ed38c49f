#!/bin/bash
# The newcomer's path, as make up / make down run it: deploy/stack.sh brings
# up a private PostgreSQL, the bus, ingest, index and rank, loads the sample
# papers (searchable, and trending by their Hugging Face upvotes), is
# harmless when run twice, stops everything on down; and with DATABASE_URL it
# uses that PostgreSQL instead of starting its own.
#
# Environment from tests/run.sh: PAPERBUS_ROOT, PAPERBUS_BIN_DIR,
# PAPERBUS_DATABASE_URL (the test cluster, for the DATABASE_URL case).
set -euo pipefail

root=${PAPERBUS_ROOT:?}
stack="$root/deploy/stack.sh"
work=$(mktemp -d)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

export PAPERBUS_VAR_DIR="$work/var"
export PAPERBUS_PG_PORT=$(free_port)
export PAPERBUS_BUS_REQUESTS="tcp://127.0.0.1:$(free_port)"
export PAPERBUS_BUS_EVENTS_IN="tcp://127.0.0.1:$(free_port)"
export PAPERBUS_BUS_EVENTS_OUT="tcp://127.0.0.1:$(free_port)"
export PAPERBUS_SMTP_URL="smtp://127.0.0.1:$(free_port)"
export PAPERBUS_LOG_LEVEL=warn
test_database_url=$PAPERBUS_DATABASE_URL
unset PAPERBUS_DATABASE_URL DATABASE_URL

cleanup() {
    "$stack" down >/dev/null 2>&1 || true
    DATABASE_URL=$test_database_url "$stack" down >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

"$stack" up >"$work/up.log" 2>&1 || { cat "$work/up.log"; fail "stack up failed"; }
grep -q "^bus *running" "$work/up.log" || fail "the bus is not running: $(cat "$work/up.log")"
grep -q "^ingest *running" "$work/up.log" || fail "ingest is not running"
grep -q "sample: 836 inserted" "$work/up.log" || fail "the sample papers were not loaded: $(cat "$work/up.log")"
ok "up: PostgreSQL, bus and ingest running, 836 sample papers loaded"

# The index follows the sample's events: searching it finds sample papers.
grep -q "^index *running" "$work/up.log" || fail "index is not running: $(cat "$work/up.log")"
paperctl="${PAPERBUS_BIN_DIR:-$root/build/release/bin}/paperctl"
found=
for _ in $(seq 50); do
    found=$("$paperctl" search "speculative decoding" --json --limit 3 2>/dev/null || true)
    grep -q '"hits":\[{"id"' <<<"$found" && break
    sleep 0.2
done
grep -q '"hits":\[{"id"' <<<"$found" || fail "search found nothing in the sample: $found"
ok "index: the sample papers are searchable"

# Rank lists the sample: the Hugging Face papers trend by their upvotes.
grep -q "^rank *running" "$work/up.log" || fail "rank is not running: $(cat "$work/up.log")"
trending=
for _ in $(seq 50); do
    trending=$("$paperctl" trending --limit 3 --json 2>&1 || true)
    grep -q '"hits":\[{"id":"2410\.[0-9]*","title"' <<<"$trending" && break
    sleep 0.2
done
grep -q '"hits":\[{"id":"2410\.[0-9]*","title"' <<<"$trending" ||
    fail "trending does not list the sample's Hugging Face papers: $trending"
ok "rank: the sample's Hugging Face papers trend"

# The newcomer's mail: the catcher keeps what notify sends under var/mail.
grep -q "^notify *running" "$work/up.log" || fail "notify is not running: $(cat "$work/up.log")"
grep -q "^mailcatcher *running" "$work/up.log" || fail "the mail catcher is not running: $(cat "$work/up.log")"
mail="$work/var/mail"
mail_with() { # waits for a mail file holding $1; prints its name
    local file
    for _ in $(seq 100); do
        file=$(grep -l -- "$1" "$mail"/*.eml 2>/dev/null | head -n 1) && [ -n "$file" ] && {
            echo "$file"
            return 0
        }
        sleep 0.1
    done
    return 1
}
"$paperctl" subscribe newcomer@example.org >/dev/null || fail "paperctl subscribe failed"
confirmation=$(mail_with "To: newcomer@example.org") || fail "no confirmation mail in $mail"
token=$(/usr/bin/python3 -c '
import email, email.policy, re, sys
message = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
print(re.search(r"paperctl confirm (\S+)", message.get_body(("plain",)).get_content()).group(1))
' "$confirmation") || fail "no token in the confirmation mail"
"$paperctl" confirm "$token" | grep -q "newcomer@example.org is subscribed" || fail "confirm failed"
"$paperctl" digests run --now | grep -q "1 sent" || fail "the digest was not sent"
digest=$(mail_with "List-Unsubscribe-Post: List-Unsubscribe=One-Click") || fail "no digest in $mail"
grep -q "^To: newcomer@example.org" "$digest" || fail "the digest went elsewhere"
grep -q "Trending now" "$digest" || fail "the digest has no trending papers"
"$paperctl" unsubscribe newcomer@example.org | grep -q "^unsubscribed" || fail "unsubscribe failed"
left=$(psql "$("$stack" env | sed 's/^PAPERBUS_DATABASE_URL=//')" -tAX -c \
    "SELECT (SELECT count(*) FROM subscription) + (SELECT count(*) FROM mail_job)")
[ "$left" = 0 ] || fail "the address left rows behind: $left"
ok "notify: confirmation, digest (in var/mail, through the mail catcher) and unsubscribe"

url=$("$stack" env | sed 's/^PAPERBUS_DATABASE_URL=//')
papers=$(psql "$url" -tAX -c "SELECT count(*) FROM paper")
[ "$papers" = 836 ] || fail "want 836 papers, the database has $papers"
"$stack" up >"$work/up2.log" 2>&1 || fail "a second up failed: $(cat "$work/up2.log")"
grep -q "sample: 0 inserted, 0 updated, 1065 unchanged" "$work/up2.log" ||
    fail "a second up changed something: $(cat "$work/up2.log")"
ok "a second up is harmless"

"$stack" down >/dev/null
status=$("$stack" status)
grep -q "^postgresql  stopped" <<<"$status" || fail "PostgreSQL still runs after down: $status"
grep -q "^bus *stopped" <<<"$status" || fail "the bus still runs after down: $status"
grep -q "^mailcatcher *stopped" <<<"$status" || fail "the mail catcher still runs after down: $status"
ok "down stops everything"

# With DATABASE_URL: no private cluster, the given database is used.
export DATABASE_URL=$test_database_url
"$stack" up >"$work/up3.log" 2>&1 || { cat "$work/up3.log"; fail "up with DATABASE_URL failed"; }
grep -q "using the PostgreSQL at DATABASE_URL" "$work/up3.log" || fail "DATABASE_URL ignored"
[ ! -e "$work/var/pg/data/postmaster.pid" ] || fail "a private cluster was started anyway"
loaded=$(psql "$DATABASE_URL" -tAX -c "SELECT count(*) FROM paper")
[ "$loaded" -ge 836 ] || fail "the sample was not loaded into DATABASE_URL ($loaded papers)"
"$stack" down >/dev/null
ok "DATABASE_URL is used instead of a private cluster"
