#!/usr/bin/env bash
# The whole test suite from a fresh machine: lint, simulator, unit, integration, standard suites, image.
# Usage: ./test.sh [extra pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
# The image tests need a Docker-compatible engine: Docker's own socket or DOCKER_HOST, else a Podman API socket
# where one is served. Without one they are skipped (and fail under CI=1).
if [ -z "${DOCKER_HOST:-}" ] && [ ! -S /var/run/docker.sock ] && [ -S /run/podman/podman.sock ]; then
  export DOCKER_HOST=unix:///run/podman/podman.sock
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
bash scripts/newest_cdk.sh
# Two workers, each test file on one of them (a file's simulator fixtures are shared by its tests); the reasons of
# skipped tests and the 15 slowest tests are listed at the end.
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile -rs --durations=15 "$@"
