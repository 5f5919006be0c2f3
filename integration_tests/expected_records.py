"""integration_tests/expected_records.jsonl: a real read of a few streams from the acceptance simulator.

Regenerate with ``python -m integration_tests.expected_records --write`` (the data is deterministic).
"""

import json
import sys
from pathlib import Path
from typing import List

from integration_tests.harness import run_connector
from kustomer_simulator.testing import acceptance_simulator

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected_records.jsonl"
STREAMS = ("brands", "teams", "satisfaction", "business_schedules")


def read_expected() -> List[str]:
    """Read the expected streams through the real entrypoint; one CAT-style JSON line per record."""
    config = json.loads((HERE / "sample_config.json").read_text())
    catalog = json.loads((HERE / "configured_catalog.json").read_text())
    catalog["streams"] = [s for s in catalog["streams"] if s["stream"]["name"] in STREAMS]
    run = run_connector("read", config, catalog)
    lines = [
        json.dumps({"stream": m["record"]["stream"], "data": m["record"]["data"], "emitted_at": 0}, sort_keys=True)
        for m in run.of_type("RECORD")
    ]
    order = {name: n for n, name in enumerate(STREAMS)}
    # Streams are read concurrently: they come interleaved; each stream's own records keep their order.
    return sorted(lines, key=lambda line: order[json.loads(line)["stream"]])


if __name__ == "__main__":
    if "--write" in sys.argv:
        with acceptance_simulator():
            EXPECTED.write_text("\n".join(read_expected()) + "\n")
        print(f"wrote {EXPECTED}")
