#!/usr/bin/env bash
# The main job: sync a whole (simulated) Kustomer org into a local DuckDB with PyAirbyte — a full sync, then an
# incremental one after the org changes — with one line per stream and a summary.
# Usage: ./demo.sh [--config path/to/config.json [--fresh]] [-v] [--scale N] [--runs N]   (--help for all)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
for arg in "$@"; do
  case "$arg" in
    -h | --help) exec "${PYTHON:-python3}" -m demo.run --help ;;  # before installing anything
  esac
done
bash scripts/demo_env.sh
exec .venv-pyairbyte/bin/python -m demo.run "$@"
