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
# Four workers on two cores: most tests wait on simulated rate windows, lags and deadlines, not on the CPU. Each
# module's tests run on one worker (its simulator fixtures are made once) but for those conftest.py spreads, the
# slowest modules first (conftest.py); the reasons of skipped tests and the 15 slowest tests are listed at the end.
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n 4 --dist loadgroup --no-loadscope-reorder -rs \
  --durations=15 "$@"
