#!/usr/bin/env bash
# Shared set-up for ./test.sh and ./demo.sh: a project venv with the connector, its tests and the simulator's needs.
# Idempotent; on a fresh Debian machine with Python 3.11 it installs everything from PyPI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  if ! "$PY" -m venv "$ROOT/.venv" 2>/dev/null; then
    echo "bootstrap: python3-venv is missing; installing it from Debian packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    "$PY" -m venv "$ROOT/.venv"
  fi
fi
stamp="$ROOT/.venv/.installed-$(cat "$ROOT/setup.py" "$ROOT/pyproject.toml" "$ROOT/libs/kustomer-http/pyproject.toml" \
  | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing the project's venv (.venv) from PyPI, about a minute on a fresh machine" >&2
  "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check --upgrade pip >&2
  # The shared Kustomer HTTP layer first: the connectors' own requirement on it is then already met.
  "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check -e "$ROOT/libs/kustomer-http" >&2
  "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check -e "$ROOT[tests]" >&2
  rm -f "$ROOT"/.venv/.installed-* && touch "$stamp"
fi
