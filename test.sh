#!/usr/bin/env bash
# The whole test suite from a fresh machine: lint, simulator, unit, integration, standard suites, image.
# Usage: ./test.sh [extra pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
# A Docker-compatible engine for the image tests (Podman here; a no-op where Docker already runs).
ENGINE="$ROOT/../shared/container/local-docker-engine.sh"
if [ -f "$ENGINE" ]; then
  eval "$(bash "$ENGINE" docker.io/airbyte/python-connector-base:4.0.2)"
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
bash scripts/newest_cdk.sh
# Two workers, each test file on one of them (a file's simulator fixtures are shared by its tests).
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile "$@"
