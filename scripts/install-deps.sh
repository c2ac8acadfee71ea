#!/bin/sh
# install-deps.sh -- install the Debian packages keel needs to build, test and
# benchmark, skipping those already present. Idempotent; run as root (or with
# sudo available) on Debian 12.
set -eu

PKGS="build-essential pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev
libcmocka-dev libyaml-dev libxgboost-dev libcurl4-openssl-dev zlib1g-dev libdeflate-dev libisal-dev python3 python3-pytest python3-requests wrk sqlite3
chromium"

missing=""
# the web UI is built with Node.js and npm (any Node.js >= 18 will do, Debian's
# included); a Node.js that brings its own npm is left as it is
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"

for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
