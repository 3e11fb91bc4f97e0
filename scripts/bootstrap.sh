# Sourced by scripts/demo and scripts/test: everything a fresh machine needs, done once.
# A Python virtual environment in .venv with the package and its dev extras, and the
# front-end packages (GOV.UK Frontend, axe-core) from the npm registry in node_modules.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  # Debian packages the project needs (Node.js for npm, Chromium for browser tests).
  if ! command -v apt-get >/dev/null; then
    echo "error: please install: $*" >&2
    exit 1
  fi
  echo "Installing Debian packages: $*"
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

PYTHON_BIN="${PYTHON:-python3}"
if ! "$PYTHON_BIN" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed (found: $("$PYTHON_BIN" --version 2>&1))" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtual environment in .venv"
  "$PYTHON_BIN" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing Python packages"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

if ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi
# The certificate's Unicode font (names can be in any script).
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  apt_install fonts-dejavu-core
fi
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.cpm-lock; then
  echo "Installing front-end packages from npm"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.cpm-lock
fi

export PATH="$ROOT/.venv/bin:$PATH"
