#!/bin/bash
# The deployment files hold together, checked without a Docker engine:
#   docker-compose.yml  docker-compose accepts it (and lists its services); every
#                       service of services/*/main.c but paperctl has a compose
#                       service, built from deploy/Dockerfile, with a health
#                       check; only the bus and the gateway publish ports; no
#                       container_name (so --scale works); every PAPERBUS_
#                       variable is a real setting; the bus binds tcp://*:PORT
#                       and the others connect to tcp://bus:PORT; the gateway
#                       listens on 0.0.0.0; the workers find postgres, wait
#                       long for it, and start after postgres and the bus are
#                       healthy.
#   deploy/Dockerfile   takes packages from deploy/packages.txt by role only (no
#                       apt-get line names a package) and reads only roles that
#                       exist; builds on debian:bookworm with role build, runs on
#                       debian:bookworm-slim with role runtime, as a non-root
#                       user, with a HEALTHCHECK and the entry point.
#   packages.txt        role runtime holds the package of every shared library
#                       the release programs link (so the slim image runs them).
#   docker-entrypoint.sh  knows every service; its health check passes with a
#                       live bus, fails for a service without a worker, and fails
#                       with no bus.
# Then each check is shown to fail: every file is broken in one way at a time,
# and the checks must name that problem.
#
# Environment from tests/run.sh: PAPERBUS_ROOT, PAPERBUS_BIN_DIR; and
# PAPERBUS_RELEASE_BIN_DIR (build/release/bin), the programs the image holds.
set -euo pipefail

root=${PAPERBUS_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${PAPERBUS_BIN_DIR:-$root/build/release/bin}
work=$(mktemp -d)
bus_pid=
cleanup() {
    [ -z "$bus_pid" ] || kill "$bus_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

command -v docker-compose >/dev/null ||
    fail "docker-compose is not installed (it is in deploy/packages.txt, role test: deploy/install-deps.sh test)"
[ -x "$bin/paperctl" ] || fail "$bin/paperctl is not built"
# shellcheck disable=SC2016 # the backquotes are the table's, not the shell's
"$bin/paperctl" config --markdown | sed -n 's/^| `\(PAPERBUS_[A-Z0-9_]*\)`.*/\1/p' >"$work/settings"

# The checks, in Python (PyYAML comes with docker-compose). Usage:
#   checks.py COMPOSE DOCKERFILE PACKAGES ENTRYPOINT
# prints one "problem: ..." line per problem and exits 1 if there is any.
cat >"$work/checks.py" <<'PYTHON'
import glob, os, re, subprocess, sys
import yaml

compose_path, dockerfile_path, packages_path, entrypoint_path = sys.argv[1:5]
root, settings_path, release_bin = os.environ["ROOT"], os.environ["SETTINGS"], os.environ["RELEASE_BIN"]
problems = []
def problem(text):
    problems.append(text)

services = sorted(os.path.basename(os.path.dirname(p))
                  for p in glob.glob(os.path.join(root, "services/*/main.c")))
services = [s for s in services if s != "paperctl"]
publishing = {"bus", "gateway"}
settings = set(open(settings_path).read().split())

# ---- packages.txt ----
roles = {}
for number, line in enumerate(open(packages_path), 1):
    fields = line.split()
    if not fields or fields[0].startswith("#"):
        continue
    if len(fields) != 2:
        problem(f"packages.txt line {number} is not '<role> <package>': {line.strip()}")
        continue
    roles.setdefault(fields[0], []).append(fields[1])

# ---- docker-compose.yml ----
# docker-compose is slow to start: its answer for a given text is kept in CACHE.
import hashlib
key = hashlib.sha256(open(compose_path, "rb").read()).hexdigest()
cached = os.path.join(os.environ["CACHE"], key)
if not os.path.exists(cached):
    run = subprocess.run(["docker-compose", "-f", compose_path, "config"],
                         capture_output=True, text=True)
    with open(cached, "w") as out:
        out.write(f"{run.returncode}\n" + (run.stdout if run.returncode == 0 else run.stderr))
status, text = open(cached).read().split("\n", 1)
if status != "0":
    problem(f"docker-compose config rejects {compose_path}: {text.strip()}")
    compose = {}
else:
    compose = yaml.safe_load(text).get("services", {})
    if "SHOW" in os.environ:
        print("docker-compose config: services " + " ".join(sorted(compose)))

def environment(name):
    env = compose.get(name, {}).get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}

if compose:
    for name in services:
        if name not in compose:
            problem(f"no compose service for {name} (services/{name}/main.c)")
    for name, service in compose.items():
        if "container_name" in service:
            problem(f"service {name} has container_name {service['container_name']}: "
                    f"docker compose up --scale {name}=N cannot work with a fixed name")
        if service.get("ports") and name not in publishing:
            problem(f"service {name} publishes ports {service['ports']}: only bus and gateway "
                    f"may (and a fixed host port stops --scale {name}=N)")
        for key in environment(name):
            if key.startswith("PAPERBUS_") and key not in settings:
                problem(f"service {name} sets {key}, which is not a paperbus setting "
                        f"(paperctl config --markdown)")
    for name in services:
        service = compose.get(name)
        if not service:
            continue
        check = service.get("healthcheck") or {}
        test = check.get("test")
        if not test or check.get("disable") or test == ["NONE"]:
            problem(f"service {name} has no health check")
        build = service.get("build") or {}
        if not isinstance(build, dict) or not str(build.get("dockerfile", "")).endswith(
                "deploy/Dockerfile"):
            problem(f"service {name} is not built from deploy/Dockerfile")
        env = environment(name)
        for key, port in (("PAPERBUS_BUS_REQUESTS", 5555), ("PAPERBUS_BUS_EVENTS_IN", 5556),
                          ("PAPERBUS_BUS_EVENTS_OUT", 5557)):
            wanted = f"tcp://*:{port}" if name == "bus" else f"tcp://bus:{port}"
            if env.get(key) != wanted:
                verb = "bind" if name == "bus" else "connect to the bus at"
                problem(f"service {name}: {key} is {env.get(key)!r}; it should {verb} {wanted}")
        if name not in ("bus", "gateway"):
            url = env.get("PAPERBUS_DATABASE_URL", "")
            if "@postgres:" not in url and "@postgres/" not in url:
                problem(f"service {name}: PAPERBUS_DATABASE_URL {url!r} does not point at postgres")
            if int(env.get("PAPERBUS_DB_CONNECT_TIMEOUT", "60")) < 600:
                problem(f"service {name}: PAPERBUS_DB_CONNECT_TIMEOUT is under 600 s; in "
                        f"containers a service should wait long for PostgreSQL")
            depends = service.get("depends_on") or {}
            for needed in ("postgres", "bus"):
                condition = depends.get(needed, {}).get("condition") if isinstance(depends, dict) else None
                if condition != "service_healthy":
                    problem(f"service {name} does not wait for {needed} to be healthy "
                            f"(depends_on {needed}: condition: service_healthy)")
    if "gateway" in compose and environment("gateway").get("PAPERBUS_HTTP_ADDRESS") != "0.0.0.0":
        problem("service gateway: PAPERBUS_HTTP_ADDRESS is not 0.0.0.0, so its published port "
                "reaches nothing")

# ---- deploy/Dockerfile ----
lines = open(dockerfile_path).read().split("\n")
instructions = []  # (first line number, text joined over continuations)
current, start = "", 0
for number, line in enumerate(lines, 1):
    if not current and (not line.strip() or line.lstrip().startswith("#")):
        continue
    if not current:
        start = number
    current += line.rstrip("\\").rstrip() + " " if line.rstrip().endswith("\\") else line
    if not line.rstrip().endswith("\\"):
        instructions.append((start, current.strip()))
        current = ""

def strip_substitutions(text):
    out, depth, i = "", 0, 0
    while i < len(text):
        if text.startswith("$(", i):
            depth += 1
            i += 2
            continue
        if depth and text[i] == "(":
            depth += 1
        elif depth and text[i] == ")":
            depth -= 1
            i += 1
            continue
        if not depth:
            out += text[i]
        i += 1
    return out

stages = []  # [base image, roles read, user]
for number, text in instructions:
    word = text.split()[0].upper()
    if word == "FROM":
        parts = text.split()
        alias = parts[3] if len(parts) > 3 and parts[2].upper() == "AS" else None
        stages.append({"from": parts[1], "alias": alias, "roles": set(), "user": None,
                       "line": number, "count": 0})
        continue
    if not stages:
        continue
    stage = stages[-1]
    stage["count"] += 1
    if word == "USER":
        stage["user"] = text.split()[1]
    if word == "RUN":
        for role in re.findall(r'\$1\s*==\s*"([^"]+)"', text):
            stage["roles"].add(role)
            if role not in roles:
                problem(f"Dockerfile line {number} reads role '{role}', which packages.txt lacks")
        for segment in re.split(r"&&|;|\|\|", strip_substitutions(text)):
            words = segment.split()
            for i, w in enumerate(words):
                if re.fullmatch(r"(apt-get|apt|aptitude)", w) and "install" in words[i + 1:]:
                    after = words[words.index("install", i) + 1:]
                    literal = [a for a in after if not a.startswith("-") and not a.startswith("$")]
                    if literal:
                        problem(f"Dockerfile line {number} installs {' '.join(literal)} by name; "
                                f"take packages from deploy/packages.txt by role")
    if word == "COPY" and "deploy/packages.txt" in text:
        stage["copies_packages"] = True

if not any(s.get("copies_packages") for s in stages):
    problem("Dockerfile does not COPY deploy/packages.txt")
build = [s for s in stages if s["from"].split(":")[0] == "debian" and s["from"].endswith(":bookworm")]
run_stages = [s for s in stages if s["from"].endswith(":bookworm-slim")]
if not build or "build" not in build[0]["roles"]:
    problem("Dockerfile has no debian:bookworm build stage installing role build")
if not run_stages:
    problem("Dockerfile has no debian:bookworm-slim stage to run in")
else:
    run_stage = run_stages[0]
    if "runtime" not in run_stage["roles"]:
        problem("the bookworm-slim stage does not install role runtime")
    if run_stage["roles"] - {"runtime"}:
        problem(f"the bookworm-slim stage installs roles {sorted(run_stage['roles'] - {'runtime'})}"
                f" besides runtime")
    if run_stage["user"] in (None, "root", "0"):
        problem("the bookworm-slim stage does not end as a non-root user (USER)")
words = [t.split()[0].upper() for _, t in instructions]
for needed in ("HEALTHCHECK", "ENTRYPOINT"):
    if needed not in words:
        problem(f"Dockerfile has no {needed}")
# A plain `docker build` makes the last stage: the bookworm-slim one, or a
# stage that is only "FROM" it.
if stages and run_stages:
    final, slim = stages[-1], run_stages[0]
    if final is not slim and not (final["from"] == slim["alias"] and final["count"] == 0):
        problem(f"the Dockerfile's last stage (line {final['line']}) is not the bookworm-slim "
                f"one: a plain docker build would make another image")

# ---- packages.txt role runtime against what the programs link ----
# LIBRARIES holds "program library package" lines, made once by the script.
if os.environ.get("LIBRARIES"):
    runtime = set(roles.get("runtime", [])) | {"libc6"}
    for line in open(os.environ["LIBRARIES"]):
        program, library, owner = line.split()
        if owner not in runtime:
            problem(f"{program} links {library} from package {owner}, which is not in role "
                    f"runtime of packages.txt (the image lacks it)")

# ---- docker-entrypoint.sh ----
text = open(entrypoint_path).read()
found = re.search(r'^services="([^"]*)"', text, re.M)
known = set(found.group(1).split()) if found else set()
for name in services:
    if name not in known:
        problem(f"docker-entrypoint.sh does not know service {name}")

for text in problems:
    print("problem: " + text)
sys.exit(1 if problems else 0)
PYTHON

# The release programs are what the image holds (make test builds them).
mkdir "$work/cache"
export ROOT=$root SETTINGS=$work/settings CACHE=$work/cache RELEASE_BIN=${PAPERBUS_RELEASE_BIN_DIR:-$root/build/release/bin}
checks() { # COMPOSE DOCKERFILE PACKAGES ENTRYPOINT
    /usr/bin/python3 "$work/checks.py" "$@"
}
compose=$root/docker-compose.yml dockerfile=$root/deploy/Dockerfile
packages=$root/deploy/packages.txt entrypoint=$root/deploy/docker-entrypoint.sh

# The shared libraries the release programs link, with their packages.
if [ -d "$RELEASE_BIN" ]; then
    for program in "$RELEASE_BIN"/*; do
        for library in $(readelf -d "$program" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            path=$(ldd "$program" | awk -v l="$library" '$1 == l { print $3 }')
            [ -n "$path" ] || fail "$program: $library is not found (ldd)"
            echo "$(basename "$program") $library $path"
        done
    done | sort -u -k 2,2 >"$work/needed"
    # The package of each, as dpkg recorded the file (with or without /usr,
    # the link or the file it names), asked in one call: dpkg -S is slow.
    while read -r _ _ path; do
        real=$(readlink -f "$path")
        printf '%s\n' "$path" "$real" "/usr${path#/usr}" "${path#/usr}" "/usr${real#/usr}" "${real#/usr}"
    done <"$work/needed" | sort -u >"$work/candidates"
    xargs dpkg -S <"$work/candidates" 2>/dev/null >"$work/owners" || true
    while read -r program library path; do
        real=$(readlink -f "$path")
        owner=$(awk -v a="$path" -v b="$real" '{ p = $NF; sub(/^\/usr/, "", p) }
            { x = a; sub(/^\/usr/, "", x); y = b; sub(/^\/usr/, "", y) }
            p == x || p == y { sub(/:.*/, "", $1); print $1; exit }' "$work/owners")
        [ -n "$owner" ] || fail "$program: no package holds $library ($path)"
        echo "$program $library $owner"
    done <"$work/needed" >"$work/libraries"
    export LIBRARIES=$work/libraries
else
    echo "# $RELEASE_BIN is not built: the check of role runtime against the programs' libraries is skipped"
fi

SHOW=1 checks "$compose" "$dockerfile" "$packages" "$entrypoint" >"$work/out" 2>&1 ||
    fail "the deployment files have problems:
$(cat "$work/out")"
cat "$work/out"
ok "docker-compose config passes; every service has a compose service with a health check; only bus and gateway publish; no container_name; settings, endpoints and start order hold"
ok "the Dockerfile takes packages from packages.txt by existing roles only; build on bookworm, run on bookworm-slim as non-root; role runtime covers the programs' libraries"

# ---- each check can fail ----
# mutate NAME FILE OLD NEW EXPECTED: breaks a copy of FILE (OLD replaced by NEW,
# OLD must be there) and expects the checks to fail naming EXPECTED.
mutate() {
    local name=$1 file=$2 old=$3 new=$4 expected=$5
    local copy="$work/$name"
    mkdir -p "$copy"
    local c=$compose d=$dockerfile p=$packages e=$entrypoint
    /usr/bin/python3 - "$file" "$copy/$(basename "$file")" "$old" "$new" <<'PYTHON' ||
import sys
source, target, old, new = sys.argv[1:5]
text = open(source).read()
if old not in text:
    sys.exit(1)
open(target, "w").write(text.replace(old, new, 1))
PYTHON
        fail "mutation '$name' no longer applies: '$old' is not in $file"
    case "$file" in
    "$compose") c="$copy/$(basename "$file")" ;;
    "$dockerfile") d="$copy/$(basename "$file")" ;;
    "$packages") p="$copy/$(basename "$file")" ;;
    "$entrypoint") e="$copy/$(basename "$file")" ;;
    esac
    if checks "$c" "$d" "$p" "$e" >"$copy/out" 2>&1; then
        fail "broken '$name', the checks still pass"
    fi
    grep -qF -- "$expected" "$copy/out" ||
        fail "broken '$name', the checks did not say '$expected':
$(cat "$copy/out")"
    echo "ok - broken '$name': $(grep -F -- "$expected" "$copy/out" | head -n 1)"
}

mutate invalid-compose "$compose" "    command: [\"rank\"]" "    command: [\"rank\"]
    helthcheck: {}" "docker-compose config rejects"
mutate missing-service "$compose" "  rank:
    <<: *paperbus" "  ranking:
    <<: *paperbus" "no compose service for rank"
mutate worker-ports "$compose" "    command: [\"index\"]" "    command: [\"index\"]
    ports: [\"7000:7000\"]" "service index publishes ports"
mutate container-name "$compose" "    command: [\"notify\"]" "    command: [\"notify\"]
    container_name: paperbus-notify" "service notify has container_name"
mutate no-healthcheck "$compose" "    command: [\"ingest\"]" "    command: [\"ingest\"]
    healthcheck:
      disable: true" "service ingest has no health check"
mutate unknown-setting "$compose" "PAPERBUS_DB_CONNECT_TIMEOUT: \"3600\"" \
    "PAPERBUS_DB_CONNECT_TIMOUT: \"3600\"" "not a paperbus setting"
mutate short-db-wait "$compose" "PAPERBUS_DB_CONNECT_TIMEOUT: \"3600\"" \
    "PAPERBUS_DB_CONNECT_TIMEOUT: \"60\"" "should wait long for PostgreSQL"
mutate local-bus "$compose" "PAPERBUS_BUS_REQUESTS: tcp://bus:5555" \
    "PAPERBUS_BUS_REQUESTS: tcp://127.0.0.1:5555" "it should connect to the bus at tcp://bus:5555"
mutate bus-binds-name "$compose" "PAPERBUS_BUS_EVENTS_OUT: tcp://*:5557" \
    "PAPERBUS_BUS_EVENTS_OUT: tcp://bus:5557" "it should bind tcp://*:5557"
mutate gateway-loopback "$compose" "PAPERBUS_HTTP_ADDRESS: 0.0.0.0" \
    "PAPERBUS_HTTP_ADDRESS: 127.0.0.1" "PAPERBUS_HTTP_ADDRESS is not 0.0.0.0"
mutate started-not-healthy "$compose" "  bus:
    condition: service_healthy" "  bus:
    condition: service_started" "does not wait for bus to be healthy"
mutate literal-package "$dockerfile" "USER paperbus
WORKDIR" "RUN apt-get update && apt-get install -y --no-install-recommends tini
USER paperbus
WORKDIR" "installs tini by name"
mutate unknown-role "$dockerfile" "awk '\$1 == \"runtime\" { print \$2 }'" \
    "awk '\$1 == \"runtimes\" { print \$2 }'" "reads role 'runtimes', which packages.txt lacks"
mutate build-role-in-image "$dockerfile" "awk '\$1 == \"runtime\" { print \$2 }'" \
    "awk '\$1 == \"runtime\" || \$1 == \"build\" { print \$2 }'" "installs roles ['build'] besides runtime"
mutate root-image "$dockerfile" "USER paperbus
WORKDIR" "WORKDIR" "does not end as a non-root user"
mutate no-healthcheck-in-image "$dockerfile" "HEALTHCHECK" "# HEALTHCHECK" "Dockerfile has no HEALTHCHECK"
mutate mailcatcher-default "$dockerfile" "
FROM paperbus
" "
" "is not the bookworm-slim one"
if [ -n "${LIBRARIES:-}" ]; then
    mutate library-not-runtime "$packages" "runtime libzmq5" "build   libzmq5" \
        "links libzmq.so.5 from package libzmq5, which is not in role runtime"
fi
mutate entrypoint-unaware "$entrypoint" 'services="bus ingest index rank notify gateway"' \
    'services="bus ingest index rank gateway"' "does not know service notify"

# ---- the entry point's health check against a real bus ----
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
requests_port=$(free_port)
PAPERBUS_BUS_EVENTS_IN="tcp://127.0.0.1:$(free_port)"
PAPERBUS_BUS_EVENTS_OUT="tcp://127.0.0.1:$(free_port)"
export PAPERBUS_BUS_EVENTS_IN PAPERBUS_BUS_EVENTS_OUT
export PAPERBUS_LOG_LEVEL=error
health() { PATH="$bin:$PATH" "$entrypoint" health "$@"; }
# As in the bus's container: it binds tcp://*:PORT, and is asked at 127.0.0.1.
export PAPERBUS_BUS_REQUESTS="tcp://*:$requests_port"
if health bus >"$work/health" 2>&1; then
    fail "health bus passed with no bus: $(cat "$work/health")"
fi
grep -q "did not answer" "$work/health" || fail "health bus without a bus did not say why: $(cat "$work/health")"
"$bin/bus" &
bus_pid=$!
for _ in $(seq 50); do
    health bus >"$work/health" 2>&1 && break
    sleep 0.1
done
health bus >"$work/health" 2>&1 || fail "health bus failed with a live bus: $(cat "$work/health")"
ok "health bus: fails with no bus, passes once the bus answers ($(cat "$work/health"))"
export PAPERBUS_BUS_REQUESTS="tcp://127.0.0.1:$requests_port"
if health index >"$work/health" 2>&1; then
    fail "health index passed with no index worker: $(cat "$work/health")"
fi
grep -q "index has no live worker" "$work/health" ||
    fail "health index did not name the missing worker: $(cat "$work/health")"
ok "health index: fails naming the service when it has no worker"
if health nothing-here >"$work/health" 2>&1 && ! grep -q "no live worker" "$work/health"; then
    fail "health of an unknown service passed"
fi
ok "health of a service without workers fails"
kill "$bus_pid"
wait "$bus_pid" 2>/dev/null || true
bus_pid=
