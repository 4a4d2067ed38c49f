#!/bin/sh
# Installs the Debian packages in deploy/packages.txt that are missing.
# Idempotent: when everything is present it only says so. As root it runs
# apt-get; otherwise it prints the exact command to run and fails.
#
# usage: deploy/install-deps.sh [ROLE...]
#        (default: every role in packages.txt: build runtime dev mailcatcher test)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
roles=${*:-$(awk '!/^#/ && NF && !seen[$1]++ { printf "%s ", $1 }' "$here/packages.txt")}
for role in $roles; do
    awk -v r="$role" '$1 == r { found = 1 } END { exit !found }' "$here/packages.txt" ||
        { echo "install-deps.sh: no role '$role' in $here/packages.txt" >&2; exit 2; }
done

wanted=""
for role in $roles; do
    wanted="$wanted $(awk -v r="$role" '$1 == r { print $2 }' "$here/packages.txt")"
done

missing=""
for package in $wanted; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
    *" installed") ;;
    *) missing="$missing $package" ;;
    esac
done

# The browser test drives Chromium from Node.js (playwright-core, from the npm
# registry). Node.js may come from elsewhere than Debian (nodesource); only
# when there is none at all are Debian's nodejs and npm installed.
browser_test=false
case " $roles " in *" test "*) browser_test=true ;; esac
if $browser_test && ! command -v node >/dev/null; then
    missing="$missing nodejs npm"
fi

# Installs tests/browser's pinned npm packages when they are missing.
npm_packages() {
    $browser_test || return 0
    [ -d "$here/../tests/browser/node_modules/playwright-core" ] && return 0
    echo "installing tests/browser's npm packages (playwright-core)"
    (cd "$here/../tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
}

if [ -z "$missing" ]; then
    npm_packages
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "paperbus needs these Debian packages:$missing" >&2
    echo "run: sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi

echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # the list is meant to split into words
apt-get install -y -q --no-install-recommends $missing
npm_packages
