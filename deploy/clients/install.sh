#!/usr/bin/env bash
# Installs the third-party Mastodon clients the client-flow tests (crates/tusk/tests/api/clients.rs)
# drive, each pinned so that CI tests the same clients every run (bump on purpose):
#   - Mastodon.py (PyPI) into a venv, ~/.cache/tusk/tools/clients-venv (mastodon_py_flow.py);
#   - toot (PyPI, the command-line client) into its own venv, ~/.cache/tusk/tools/toot-venv
#     (toot_flow.py);
#   - megalodon (npm) into ~/.cache/tusk/tools/clients-node with `npm ci` from
#     deploy/clients/package-lock.json, which pins every package under it (megalodon_flow.mjs).
# Python, venv, Node.js and npm come from Debian's packages when missing.
# Idempotent: a part that already has its pinned version is left alone.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"
HERE="$TUSK_ROOT/deploy/clients"

VENV="${TUSK_CLIENTS_VENV:-$HOME/.cache/tusk/tools/clients-venv}"
MASTODON_PY_VERSION="${MASTODON_PY_VERSION:-2.3.3}"
TOOT_VENV="${TUSK_TOOT_VENV:-$HOME/.cache/tusk/tools/toot-venv}"
TOOT_VERSION="${TOOT_VERSION:-0.52.1}"
NODE_DIR="${TUSK_CLIENTS_NODE:-$HOME/.cache/tusk/tools/clients-node}"
# megalodon's version is the one in package.json / package-lock.json beside this script

# pip_install VENV DIST VERSION: DIST==VERSION in the venv VENV, unless it is there already.
pip_install() {
    local venv=$1 dist=$2 version=$3
    if [ -x "$venv/bin/python" ] &&
        "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$dist') != '$version')" 2>/dev/null; then
        return
    fi
    command -v python3 >/dev/null || apt_install python3
    python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
    log "installing $dist $version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$dist==$version"
}

pip_install "$VENV" Mastodon.py "$MASTODON_PY_VERSION"
pip_install "$TOOT_VENV" toot "$TOOT_VERSION"

# The lock installed last is kept beside node_modules once `npm ci` succeeded: the same lock
# means the same packages.
if ! cmp -s "$HERE/package-lock.json" "$NODE_DIR/installed-lock.json" ||
    [ ! -f "$NODE_DIR/node_modules/megalodon/package.json" ]; then
    command -v node >/dev/null || apt_install nodejs npm
    command -v npm >/dev/null || apt_install npm
    log "installing megalodon $(node -p "require('$HERE/package.json').dependencies.megalodon") into $NODE_DIR (npm ci)"
    mkdir -p "$NODE_DIR"
    rm -f "$NODE_DIR/installed-lock.json"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$NODE_DIR/"
    # engine-strict off: megalodon 10.3 declares node >= 22.21 (the version its authors build
    # with), uses nothing newer than Node 20 has, and this machine's Node.js is 20
    (cd "$NODE_DIR" && npm ci --engine-strict=false --no-audit --no-fund --loglevel=error)
    cp "$HERE/package-lock.json" "$NODE_DIR/installed-lock.json"
fi
