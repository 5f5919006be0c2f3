"""What a command loads and does before its work: the spec as the CDK would read it, the streams only for the
commands that read, the garbage collector off while airbyte-cdk loads and back on, tuned, for the command."""

import json
import logging
import subprocess
import sys
from pathlib import Path

from airbyte_cdk.connector import BaseConnector

from kustomer_simulator.testing import TEST_TOKEN, running_simulator
from source_kustomer import SourceKustomer
from source_kustomer.run import YOUNG_COLLECTION_THRESHOLD

ROOT = Path(__file__).resolve().parent.parent
# What only some commands need: the streams and their readers (read, discover), the probe, the simulator.
NOT_FOR_SPEC_OR_CHECK = (
    "source_kustomer.streams",
    "source_kustomer.state",
    "source_kustomer.concurrency",
    "source_kustomer.keyset",
    "source_kustomer.deletions",
    "source_kustomer.merges",
    "source_kustomer.audit_log",
    "source_kustomer.probe",
    "kustomer_simulator",
)


def test_the_spec_is_the_one_the_cdks_own_reading_of_spec_yaml_gives():
    logger = logging.getLogger("airbyte")
    source = SourceKustomer()
    assert source.spec(logger) == BaseConnector.spec(source, logger)


def _started(command: str) -> dict:
    """Run ``command`` as the console script does, in a fresh interpreter; what it had loaded, and the collector."""
    probe = (
        "import gc, json, sys\n"
        "from source_kustomer.start import main\n"
        "try:\n"
        f"    main({command.split()!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('source_kustomer', 'kustomer_')))\n"
        "print('STARTED ' + json.dumps({'loaded': loaded, 'gc': [gc.isenabled(), gc.get_threshold()[0]]}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("STARTED "))
    return json.loads(line[len("STARTED ") :])


def test_spec_loads_none_of_the_streams_and_leaves_the_collector_on_tuned_for_a_sync():
    started = _started("spec")
    assert started["gc"] == [True, YOUNG_COLLECTION_THRESHOLD]
    assert "source_kustomer.source" in started["loaded"]
    assert [m for m in started["loaded"] if m.startswith(NOT_FOR_SPEC_OR_CHECK)] == []


def test_check_loads_none_of_the_streams_either(tmp_path):
    config = tmp_path / "config.json"
    with running_simulator() as sim:
        config.write_text(json.dumps({"api_token": TEST_TOKEN, "api_url": sim.url}))
        started = _started(f"check --config {config}")
    assert "kustomer_http.connection" in started["loaded"]  # it did connect
    assert [m for m in started["loaded"] if m.startswith(NOT_FOR_SPEC_OR_CHECK)] == []


def test_read_loads_what_it_reads_with(tmp_path):
    config = tmp_path / "config.json"
    catalog = tmp_path / "catalog.json"
    stream = {"name": "tags", "json_schema": {}, "supported_sync_modes": ["full_refresh"]}
    catalog.write_text(
        json.dumps({"streams": [{"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "append"}]})
    )
    with running_simulator() as sim:
        config.write_text(json.dumps({"api_token": TEST_TOKEN, "api_url": sim.url}))
        started = _started(f"read --config {config} --catalog {catalog}")
    assert {"source_kustomer.streams", "source_kustomer.concurrency", "source_kustomer.state"} <= set(started["loaded"])


def test_the_probe_runs_with_the_collector_on():
    started = _started("probe --help")
    assert started["gc"][0] is True
    assert "source_kustomer.probe" in started["loaded"]
