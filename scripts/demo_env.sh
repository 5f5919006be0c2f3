#!/usr/bin/env bash
# The demo's environments, each installed once and refreshed when its sources change: the project's (.venv: the
# simulator), the connector's own (.venv-source-kustomer, as Airbyte runs it) and PyAirbyte's (.venv-pyairbyte, so
# its dependencies cannot clash with the connector's). pip's output goes to each venv's install.log.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
source scripts/quietly.sh

bash scripts/bootstrap.sh

# Its name is the one PyAirbyte's venv executor looks for, so PyAirbyte can report the installed connector's version.
VENV=.venv-source-kustomer
if [ ! -x "$VENV/bin/python" ]; then "$PY" -m venv "$VENV"; fi
sources_hash=$(cat setup.py pyproject.toml main.py $(find source_kustomer libs/kustomer-http/kustomer_http -type f \
  -not -path '*__pycache__*' | sort) | sha1sum | cut -c1-12)
if [ ! -f "$VENV/.installed-$sources_hash" ]; then
  echo "Installing the connector from this checkout into $VENV (about 340 MB, about a minute) …"
  quietly "$VENV/install.log" "$VENV/bin/pip" install --disable-pip-version-check .
  rm -f "$VENV"/.installed-* && touch "$VENV/.installed-$sources_hash"
fi

PYAIRBYTE=0.71.3
if [ ! -f ".venv-pyairbyte/.installed-$PYAIRBYTE" ]; then
  echo "Installing PyAirbyte $PYAIRBYTE and DuckDB into .venv-pyairbyte (once; about 780 MB, about two minutes) …"
  "$PY" -m venv .venv-pyairbyte
  quietly .venv-pyairbyte/install.log .venv-pyairbyte/bin/pip install --disable-pip-version-check "airbyte==$PYAIRBYTE"
  touch ".venv-pyairbyte/.installed-$PYAIRBYTE"
fi
