#!/usr/bin/env bash
# The unit tests on the newest airbyte-cdk 7.x release, beside the pinned one, so that a CDK release that breaks
# the connector shows up in CI before anyone upgrades. Skipped (with a line saying so) when the newest 7.x is
# the pinned version: the main test run has covered it. CDK_NEWEST=7.x.y runs it on another release.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
pinned=$(sed -n 's/.*"airbyte-cdk==\([0-9.]*\)".*/\1/p' pyproject.toml | head -1)
newest=${CDK_NEWEST:-$(.venv/bin/pip index versions airbyte-cdk 2>/dev/null | sed -n "s/^airbyte-cdk (\(7\.[0-9.]*\)).*/\1/p")}
if [ -z "$newest" ]; then
  newest=$(.venv/bin/pip index versions airbyte-cdk 2>/dev/null | sed -n 's/^Available versions: //p' | tr ',' '\n' \
    | tr -d ' ' | grep '^7\.' | head -1)
fi
if [ -z "$newest" ] || [ "$newest" = "$pinned" ]; then
  echo "newest airbyte-cdk 7.x is ${newest:-unknown}; pinned is $pinned: the main run covers it"
  exit 0
fi
echo "unit tests on the newest airbyte-cdk 7.x ($newest; pinned $pinned)"
VENV=.venv-cdk-newest
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "airbyte-cdk==$newest" "urllib3>=2.6" \
  "pytest>=8,<9" "requests-mock>=1.12" "jsonschema>=4.20" "markdown-it-py>=3" "airbyte-connector-models==0.1.12"
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e .
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider unit_tests
