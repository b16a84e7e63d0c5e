#!/usr/bin/env bash
# Installs the operations tools the tests under tests/ops need, when missing:
#   promtool         (Debian package "prometheus")  - checks deploy/prometheus/*.yml
#   systemd-analyze  (Debian package "systemd")     - checks deploy/relayer.service
#   litecoind        (Debian package "litecoind")   - the Litecoin family's regtest node (adapters/litecoin)
#   initdb, postgres (Debian package "postgresql")  - the PostgreSQL store (tests/pg_server.py, relayer devnet up --store postgresql: relayer/devnet/postgres.py); Debian
#                    keeps them in /usr/lib/postgresql/VERSION/bin, off PATH, and creates the system user
#                    "postgres" the tests run the server as when they run as root
# Idempotent and quiet: does nothing when every tool is already there. Installs only when
# running as root with apt-get available; otherwise prints what is missing and exits 0, so
# that `make setup` still works for a developer without root (the tests that need the tools
# then fail, saying what to install).
set -euo pipefail

declare -A PACKAGE_OF=([promtool]=prometheus [systemd-analyze]=systemd [litecoind]=litecoind [initdb]=postgresql)
has() { command -v "$1" >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null; }
missing=()
for tool in "${!PACKAGE_OF[@]}"; do
    has "$tool" || missing+=("${PACKAGE_OF[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-tools: missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
out=$(mktemp)
# --no-install-recommends: only promtool is wanted, not the node exporter and friends.
# policy-rc.d 101: do not start the Prometheus or PostgreSQL server the packages ship, if an init runs.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi
cleanup() {
    if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi
    rm -f "$out"
}
trap cleanup EXIT
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$out" 2>&1; then
    cat "$out" >&2
    echo "ensure-tools: apt-get failed installing ${missing[*]}" >&2
    exit 1
fi
for tool in "${!PACKAGE_OF[@]}"; do
    has "$tool" || { echo "ensure-tools: $tool still missing after install" >&2; exit 1; }
done
echo "ensure-tools: installed ${missing[*]}"
