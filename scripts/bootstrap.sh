#!/usr/bin/env bash
# Shared set-up for ./test.sh and ./demo.sh: a project venv with the connector, its tests and the simulator's needs.
# Idempotent; on a fresh Debian machine with Python 3.11 it installs everything from PyPI. pip's own output goes to
# .venv/install.log (shown if a step fails).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
source "$ROOT/scripts/quietly.sh"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  if ! "$PY" -m venv "$ROOT/.venv" 2>/dev/null; then
    echo "bootstrap: python3-venv is missing; installing it from Debian packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    "$PY" -m venv "$ROOT/.venv"
  fi
fi
stamp="$ROOT/.venv/.installed-$(cat "$ROOT/setup.py" "$ROOT/pyproject.toml" "$ROOT/destination-kustomer/pyproject.toml" \
  | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  PIP=("$ROOT/.venv/bin/pip" install --disable-pip-version-check)
  LOG="$ROOT/.venv/install.log"
  echo "bootstrap: installing the project's venv (.venv, about 430 MB) from PyPI: airbyte-cdk, both connectors" \
    "(editable), the simulator's and the tests' packages; under a minute on a fresh machine …" >&2
  quietly "$LOG" "${PIP[@]}" --upgrade pip
  # Both connectors editable: each maps kustomer_http to libs/kustomer-http/kustomer_http, the one source.
  quietly "$LOG" "${PIP[@]}" -e "$ROOT[tests]" -e "$ROOT/destination-kustomer"
  rm -f "$ROOT"/.venv/.installed-* && touch "$stamp"
  echo "bootstrap: .venv is ready" >&2
fi
