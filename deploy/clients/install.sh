#!/usr/bin/env bash
# Installs the third-party Mastodon client library the client-flow test drives (Mastodon.py, from
# PyPI) into a virtualenv under ~/.cache/tusk/tools/clients-venv. Idempotent: a venv that already
# imports the pinned version is left alone.
set -euo pipefail

VENV="${TUSK_CLIENTS_VENV:-$HOME/.cache/tusk/tools/clients-venv}"
# pinned so that CI tests the same client every run; bump on purpose
MASTODON_PY_VERSION="${MASTODON_PY_VERSION:-2.3.3}"

if [ -x "$VENV/bin/python" ] &&
  "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('Mastodon.py') != '$MASTODON_PY_VERSION')" 2>/dev/null; then
  exit 0
fi

# shellcheck source-path=SCRIPTDIR source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

command -v python3 >/dev/null || apt_install python3
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
log "installing Mastodon.py $MASTODON_PY_VERSION into $VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "Mastodon.py==$MASTODON_PY_VERSION"
