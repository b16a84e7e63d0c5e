#!/usr/bin/env bash
# shellcheck disable=SC2016  # ${CREDENTIALS_DIRECTORY} in single quotes is meant literally
# Installs (or upgrades) the relayer as a systemd service. Runbook: deploy/README.md.
#
#   sudo deploy/install.sh [--source DIR] [--prefix DIR] [--python PYTHON] [--dry-run]
#
# Lays out, under PREFIX (default: the real root, /):
#   /opt/relayer/releases/<version>-<hash>/   a venv with the relayer installed from the
#                                             checkout, plus share/relayer/ (runbook, log
#                                             catalogue, alert rules, dashboard, metrics)
#   /opt/relayer/venv -> releases/<...>       the release in service (switched atomically)
#   /etc/systemd/system/relayer.service       the unit (DynamicUser=: no account to create)
#   /etc/relayer/relayer.toml                 a configuration skeleton, only if absent
# and keeps the three newest releases, so that a rollback is one `ln -sfn`.
#
# Idempotent: a release already built from identical sources is reused, an unchanged unit
# is left alone, an existing configuration is never touched. Keys are never created here.
#
#   --source DIR   checkout to install (default: the folder above this script)
#   --prefix DIR   install below DIR instead of / (staging, packaging, tests); implies no
#                  systemctl calls and no root requirement
#   --python EXE   interpreter for the venv, 3.11 or newer (default: python3)
#   --dry-run      print what would be done, change nothing
set -euo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=""
PYTHON="python3"
DRY_RUN=0
KEEP_RELEASES=3

usage() { sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "install.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --source) [ $# -ge 2 ] || die "--source needs a folder"; SOURCE="$2"; shift 2 ;;
        --source=*) SOURCE="${1#*=}"; shift ;;
        --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; PREFIX="$2"; shift 2 ;;
        --prefix=*) PREFIX="${1#*=}"; shift ;;
        --python) [ $# -ge 2 ] || die "--python needs an interpreter"; PYTHON="$2"; shift 2 ;;
        --python=*) PYTHON="${1#*=}"; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

if [ -n "$PREFIX" ]; then
    PREFIX="$(realpath -m "$PREFIX")"
    [ "$PREFIX" != / ] || PREFIX=""
fi
SOURCE="$(cd "$SOURCE" 2>/dev/null && pwd)" || die "no such source folder"
if [ ! -f "$SOURCE/pyproject.toml" ] || [ ! -d "$SOURCE/relayer" ]; then die "$SOURCE is not a relayer checkout"; fi
[ -n "$PREFIX" ] || [ "$DRY_RUN" -eq 1 ] || [ "$(id -u)" -eq 0 ] || die "run as root (or use --prefix DIR)"

OPT="$PREFIX/opt/relayer"
UNIT_DIR="$PREFIX/etc/systemd/system"
ETC="$PREFIX/etc/relayer"

say() { echo "==> $*"; }
run() {
    echo "+ $*"
    [ "$DRY_RUN" -eq 1 ] || "$@"
}

# --- what to install ---------------------------------------------------------------
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "$PYTHON is missing or older than 3.11 (Debian 12: apt-get install python3 python3-venv)"
VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$SOURCE/pyproject.toml" | head -n1)"
[ -n "$VERSION" ] || die "no version in $SOURCE/pyproject.toml"
# Stage a copy of what the package is built from: pip builds in the folder it is given,
# which must not be the checkout (it may be read-only, or someone else's), and a copy
# cannot change while it is hashed and built.
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
for item in pyproject.toml constraints.txt setup.cfg setup.py MANIFEST.in README.md LICENSE \
            relayer adapters light_clients deploy docs configs; do
    if [ -e "$SOURCE/$item" ]; then cp -a "$SOURCE/$item" "$STAGE/"; fi
done
find "$STAGE" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
# The release is named by its version and a hash of everything that goes into it, so that
# re-running on the same sources reuses it and any change of them makes a new one.
HASH="$(cd "$STAGE" && find . -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z \
        | xargs -0 sha256sum | sha256sum | cut -c1-12)"
RELEASE_NAME="$VERSION-$HASH"
RELEASE="$OPT/releases/$RELEASE_NAME"

say "relayer $VERSION from $SOURCE -> ${PREFIX:-/} (release $RELEASE_NAME)"

# --- the release venv ----------------------------------------------------------------
if [ -f "$RELEASE/.complete" ]; then
    say "release $RELEASE_NAME already built"
else
    run rm -rf "$RELEASE"
    run install -d -m 0755 "$OPT/releases"
    run "$PYTHON" -m venv "$RELEASE"
    run "$RELEASE/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    # A regular (not editable) install: the release does not depend on the checkout. The
    # versions are the ones the suite passed with (constraints.txt), like make setup's.
    CONSTRAINTS=()
    [ -f "$STAGE/constraints.txt" ] && CONSTRAINTS=(-c "$STAGE/constraints.txt")
    run "$RELEASE/bin/python" -m pip install --quiet --disable-pip-version-check "${CONSTRAINTS[@]}" "$STAGE"
    # The chain families shipped as distributions of their own (adapters/*/pyproject.toml:
    # FISCO BCOS, ChainMaker, Litecoin): plugins the core finds through their entry points.
    for family in "$STAGE"/adapters/*/pyproject.toml; do
        [ -f "$family" ] || continue
        run "$RELEASE/bin/python" -m pip install --quiet --disable-pip-version-check "${CONSTRAINTS[@]}" "$(dirname "$family")"
    done
    run "$RELEASE/bin/relayer" --help >/dev/null
    run install -d -m 0755 "$RELEASE/share/relayer"
    for f in deploy/README.md deploy/relayer.service deploy/metrics.txt \
             deploy/prometheus/relayer-alerts.yml deploy/grafana/relayer-dashboard.json \
             docs/logs.md docs/configuration.md configs/example-operator.toml; do
        if [ -f "$STAGE/$f" ]; then run install -m 0644 "$STAGE/$f" "$RELEASE/share/relayer/"; fi
    done
    run touch "$RELEASE/.complete"
fi

# Switch /opt/relayer/venv atomically (rename over the old link). A venv directory left
# by an older layout is kept as a release of its own.
if [ -d "$OPT/venv" ] && [ ! -L "$OPT/venv" ]; then
    run mv "$OPT/venv" "$OPT/releases/legacy-$(date +%Y%m%d%H%M%S)"
fi
if [ "$(readlink "$OPT/venv" 2>/dev/null)" != "releases/$RELEASE_NAME" ]; then
    PREVIOUS="$(readlink "$OPT/venv" 2>/dev/null || true)"
    run ln -sfn "releases/$RELEASE_NAME" "$OPT/venv.new"
    run mv -T "$OPT/venv.new" "$OPT/venv"
    [ -z "$PREVIOUS" ] || say "previous release: $OPT/$PREVIOUS (rollback: ln -sfn $PREVIOUS $OPT/venv && systemctl restart relayer)"
fi

# Keep the newest releases (and always the one in service).
if [ -d "$OPT/releases" ]; then
    current="$(readlink "$OPT/venv" 2>/dev/null || true)"
    # shellcheck disable=SC2012  # release names have no newlines
    ls -1t "$OPT/releases" | tail -n +$((KEEP_RELEASES + 1)) | while read -r old; do
        [ "releases/$old" = "$current" ] || run rm -rf "$OPT/releases/$old"
    done
fi

# --- the unit ------------------------------------------------------------------------
UNIT_CHANGED=0
if cmp -s "$STAGE/deploy/relayer.service" "$UNIT_DIR/relayer.service"; then
    say "unit $UNIT_DIR/relayer.service unchanged"
else
    run install -d -m 0755 "$UNIT_DIR"
    run install -m 0644 "$STAGE/deploy/relayer.service" "$UNIT_DIR/relayer.service"
    UNIT_CHANGED=1
fi

# --- configuration skeleton ------------------------------------------------------------
[ -d "$ETC" ] || run install -d -m 0755 "$ETC"
if [ -e "$ETC/relayer.toml" ]; then
    say "keeping existing $ETC/relayer.toml"
else
    say "writing the configuration skeleton $ETC/relayer.toml (from configs/example-operator.toml)"
    skeleton="$STAGE/relayer.toml"
    # The example, with the paths of a systemd installation: keys from systemd credentials
    # (LoadCredential= in the unit), state in StateDirectory=, the API on its default port.
    # ${CREDENTIALS_DIRECTORY} is literal text here: the relayer expands it at run time.
    key_line='key_file = "${CREDENTIALS_DIRECTORY}/keystore"                # LoadCredential=keystore:/etc/relayer/keystore.json'
    password_line='password_file = "${CREDENTIALS_DIRECTORY}/keystore-password"  # LoadCredential=keystore-password:/etc/relayer/keystore.password'
    if grep -q '^password_file *=' "$STAGE/configs/example-operator.toml"; then
        password_edit=(-e "s|^password_file *=.*|$password_line|")
    else
        password_edit=(-e "s|^\(key_file *=.*\)$|\1\n$password_line|")
    fi
    sed -e "s|^key_file *=.*|$key_line|" \
        "${password_edit[@]}" \
        -e 's|^state_dir *=.*|state_dir = "/var/lib/relayer"                            # StateDirectory=relayer|' \
        -e 's|^api_listen *=.*|api_listen = "127.0.0.1:7100"|' \
        "$STAGE/configs/example-operator.toml" >"$skeleton"
    for want in 'key_file = "${CREDENTIALS_DIRECTORY}/keystore"' 'password_file = ' \
                'state_dir = "/var/lib/relayer"' 'api_listen = "127.0.0.1:7100"'; do
        grep -qF "$want" "$skeleton" || die "configs/example-operator.toml changed shape: cannot set '$want' in the skeleton"
    done
    {
        echo "# Skeleton written by deploy/install.sh: replace the operator name, committee, chains"
        echo "# and routes with your consortium's, then check it (deploy/README.md, \"Configure\")."
        echo "#"
        cat "$skeleton"
    } >"$skeleton.full"
    mv "$skeleton.full" "$skeleton"
    run install -m 0644 "$skeleton" "$ETC/relayer.toml"
fi

# --- systemd ---------------------------------------------------------------------------
if [ -z "$PREFIX" ] && [ -d /run/systemd/system ] && [ "$UNIT_CHANGED" -eq 1 ]; then
    run systemctl daemon-reload
fi

cat <<EOF

Installed relayer $VERSION (release $RELEASE_NAME). Next steps (deploy/README.md):

  1. Operator key, as root (the files stay root-only; systemd hands them to the service):
       umask 077
       head -c 32 /dev/urandom | base64 > /etc/relayer/keystore.password
       /opt/relayer/venv/bin/relayer keys new --keystore /etc/relayer/keystore.json --password-file /etc/relayer/keystore.password
     (or import an existing key; register its address in the committee on-chain)
  2. Edit /etc/relayer/relayer.toml, then check it:
       /opt/relayer/venv/bin/relayer config check /etc/relayer/relayer.toml
  3. Start it and enable it at boot:
       systemctl enable --now relayer
       systemctl status relayer; journalctl -u relayer -f -o cat | jq .
  Upgrading? The new release is in place; apply it with: systemctl restart relayer
EOF
