#!/bin/sh
# Installs the Debian packages in deploy/packages.txt that are missing.
# Idempotent: when everything is present it only says so. As root it runs
# apt-get; otherwise it prints the exact command to run and fails.
#
# usage: deploy/install-deps.sh [ROLE...]   (default: build runtime test)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
roles=${*:-build runtime test}

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

if [ -z "$missing" ]; then
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
