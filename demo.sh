#!/usr/bin/env bash
# The main job: sync a whole (simulated) Kustomer org into a local DuckDB with PyAirbyte — a full sync, then an
# incremental one after the org changes — with progress and a per-stream summary.
# Usage: ./demo.sh [--scale N] [--runs N] [--mutate N] [--config path/to/config.json]   (--help for all)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
quiet() { "$@" >/dev/null 2>&1 || "$@"; }

bash scripts/bootstrap.sh   # the project's venv: the simulator

# The connector in a venv of its own (as Airbyte runs it), refreshed from this checkout. Its name is the one
# PyAirbyte's venv executor looks for, so PyAirbyte can report the installed connector's version.
VENV=.venv-source-kustomer
if [ ! -x "$VENV/bin/python" ]; then "$PY" -m venv "$VENV"; fi
sources_hash=$(cat setup.py pyproject.toml main.py $(find source_kustomer libs/kustomer-http -type f \
  -not -path '*__pycache__*' -not -path '*.egg-info*' | sort) | sha1sum | cut -c1-12)
if [ ! -f "$VENV/.installed-$sources_hash" ]; then
  echo "Installing the connector into $VENV …"
  quiet "$VENV/bin/pip" install -q --disable-pip-version-check ./libs/kustomer-http .
  rm -f "$VENV"/.installed-* && touch "$VENV/.installed-$sources_hash"
fi

# PyAirbyte (and its DuckDB cache) in a third venv, so its dependencies cannot clash with the connector's.
if [ ! -f .venv-pyairbyte/.installed-0.71.3 ]; then
  echo "Installing PyAirbyte 0.71.3 into .venv-pyairbyte (once, about a minute) …"
  "$PY" -m venv .venv-pyairbyte
  quiet .venv-pyairbyte/bin/pip install -q --disable-pip-version-check "airbyte==0.71.3"
  touch .venv-pyairbyte/.installed-0.71.3
fi

exec .venv-pyairbyte/bin/python -m demo.run "$@"
