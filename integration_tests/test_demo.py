"""The README's main job at a small scale: PyAirbyte into DuckDB, checked against the simulator's truth."""

import json
import subprocess
import tomllib

import duckdb
import pytest

from demo.run import DEMO_TOKEN
from integration_tests.harness import ROOT
from integration_tests.harness import truth as expected
from kustomer_simulator.server import ServerSettings
from kustomer_simulator.testing import running_simulator


@pytest.fixture(scope="module")
def demo_sim():
    settings = ServerSettings(tokens={DEMO_TOKEN: frozenset()}, minute_seconds=3)
    with running_simulator(server_settings=settings, scale=3000, seed=51, tie_clusters=[300]) as sim:
        yield sim


def test_demo_syncs_everything_then_only_what_changed(demo_sim, tmp_path):
    db, report = tmp_path / "demo.duckdb", tmp_path / "report.json"
    done = subprocess.run(
        [
            "bash",
            str(ROOT / "demo.sh"),
            "--simulator-url",
            demo_sim.url,
            "--minute-seconds",
            "3",
            "--mutate",
            "40",
            "--delete",
            "3",
            "--db",
            str(db),
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Conversations per channel per month" in done.stdout
    installed = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"Connector: airbyte-source-kustomer {installed} " in done.stdout  # PyAirbyte reports the version
    runs = json.loads(report.read_text())
    first, second = (
        {row["stream"]: dict(row, live_rows=run["tables"][row["stream"]]) for row in run["streams"]} for run in runs
    )
    assert set(first) == set(demo_sim.org.collections) | {"audit_logs", "custom_attribute_metadata"}
    with duckdb.connect(str(db), read_only=True) as con:
        for stream in first:
            truth = {rid for rid, _ in expected(demo_sim, stream, since=None)}
            searched = stream in demo_sim.org.search_streams
            live = "WHERE _ab_cdc_deleted_at IS NULL" if searched else ""
            rows = [r[0] for r in con.execute(f'SELECT id FROM "{stream}" {live}').fetchall()]
            assert len(rows) == len(set(rows)) and set(rows) == truth, stream
            assert second[stream]["live_rows"] == len(truth), stream
    for stream in demo_sim.org.search_streams:
        # the first run meets every record once: live, or soft-deleted before it (a marker); 3 more went after it
        collection = demo_sim.org.collections[stream]
        assert first[stream]["records"] + first[stream]["deletions"] == collection.count, stream
        assert first[stream]["deletions"] == len(collection.deleted) - 3, stream
        # the second run reads what the org changed (40 picks, fewer after soft-deleted ones, and the 3 customers
        # merges updated, and the record at the saved cursor), not the rest
        assert 0 < second[stream]["records"] <= 41 + (3 if stream == "customers" else 0), stream
        assert second[stream]["deletions"] >= 3, stream  # 3 soft deletes each, and hard deletes and merges
    assert second["customers"]["deletions"] >= 3 + 3 + 3  # soft, hard, merged away
