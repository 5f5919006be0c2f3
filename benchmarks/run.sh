#!/usr/bin/env bash
# The benchmark: throughput against Kustomer's limits, own cost at 10k/100k/1M records, and the Singer
# tap-kustomer side by side on the same simulated data. Needs root (it maps api.kustomerapp.com to 127.0.0.1
# in /etc/hosts for the tap, restoring the file afterwards) and about 10 minutes.
# Usage: ./benchmarks/run.sh [--parts 1,2,3,4] [--cost-scales 10000,100000] …
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
command -v /usr/bin/time >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time openssl; }
.venv/bin/pip install -q --disable-pip-version-check -e ".[tests,bench]"
if [ ! -x .venv-tap/bin/tap-kustomer ]; then
  "${PYTHON:-python3}" -m venv .venv-tap
  .venv-tap/bin/pip install -q --disable-pip-version-check "tap-kustomer==1.1.0"
fi
exec .venv/bin/python -m benchmarks.run_benchmark "$@"
