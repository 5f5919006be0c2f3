"""The README's main job at a small scale: PyAirbyte into DuckDB, checked against the simulator's truth, and its
activation step written back through destination-kustomer; each org in its own file; no warning a user could be
spared; every stream's schema mapped cleanly by PyAirbyte itself."""

import json
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import List, Set

import duckdb
import pytest

from demo.activation import LIFETIME_VALUES, summary_lines
from demo.run import DEMO_TOKEN
from integration_tests.harness import ROOT, run_connector, sim_config
from integration_tests.harness import truth as expected
from integration_tests.wheels import checkout_copy
from kustomer_simulator.server import ServerSettings
from kustomer_simulator.testing import running_simulator
from source_kustomer.schemas import METADATA_TYPES, SUFFIX_TYPES

# Lines a user should never have to read: Python warnings, PyAirbyte's type-mapping complaints, tracebacks.
AVOIDABLE = re.compile(r"warning|deprecat|could not determine|could not find sql type|traceback", re.IGNORECASE)
OTHER_ORG_TOKEN = "other-org-token-not-a-secret-7Kq2Vx9Lm4Pz8"
START = "2000-01-01T00:00:00Z"  # as the demo reads its own simulated org: everything
ACTIVATION = re.compile(
    r"activation: ([\d,]+) customers' lifetime value .* pushed to lifetimeValueNum through destination-kustomer in "
    r"[\d.]+s: ([\d,]+) updated, 0 created, 0 not found, 0 failed;.*\n"
    r"activation: read back with the source: ([\d,]+) of those customers, ([\d,]+) with the pushed value\n"
)


@pytest.fixture(scope="module")
def demo_sim():
    settings = ServerSettings(tokens={DEMO_TOKEN: frozenset()}, minute_seconds=3)
    with running_simulator(server_settings=settings, scale=3000, seed=51, tie_clusters=[300]) as sim:
        yield sim


@pytest.fixture(scope="module")
def pyairbyte_python() -> Path:
    """The demo's environments, as ./demo.sh installs them; PyAirbyte's interpreter."""
    done = subprocess.run(["bash", str(ROOT / "scripts" / "demo_env.sh")], capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return ROOT / ".venv-pyairbyte" / "bin" / "python"


def demo(*args: object) -> subprocess.CompletedProcess:
    """``./demo.sh args``, as a user runs it."""
    return subprocess.run(
        ["bash", str(ROOT / "demo.sh"), *map(str, args)], capture_output=True, text=True, timeout=1500, cwd=ROOT
    )


def synced_truth(sim, con: duckdb.DuckDBPyConnection, stream: str) -> Set[str]:
    """The ids a sync of ``stream`` must have brought: all of them, or for the audit log those up to the position
    the sync saved (it reads up to its publish lag before now; the entries after wait for the next sync)."""
    until = None
    if stream == "audit_logs":
        [state] = con.execute("SELECT state_json FROM _airbyte_state WHERE stream_name = ?", [stream]).fetchone()
        until = json.loads(state)["stream"]["stream_state"]["createdAt"]
    return {rid for rid, _ in expected(sim, stream, since=None, until=until)}


def avoidable(done: subprocess.CompletedProcess) -> List[str]:
    """The output lines a user could have been spared."""
    return [line for line in (done.stdout + done.stderr).splitlines() if AVOIDABLE.search(line)]


def test_demo_syncs_everything_then_only_what_changed(demo_sim, tmp_path):
    db, report = tmp_path / "demo.duckdb", tmp_path / "report.json"
    done = demo(
        *("--simulator-url", demo_sim.url, "--minute-seconds", "3", "--mutate", "40", "--delete", "3"),
        *("--db", db, "--report", report),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert avoidable(done) == []
    assert "Conversations per channel per month" in done.stdout
    installed = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"Connector: airbyte-source-kustomer {installed} " in done.stdout  # PyAirbyte reports the version
    runs = json.loads(report.read_text())["runs"]
    first, second = (
        {row["stream"]: dict(row, live_rows=run["tables"][row["stream"]]) for row in run["streams"]} for run in runs
    )
    assert set(first) == set(demo_sim.org.collections) | {"audit_logs", "custom_attribute_metadata"}
    with duckdb.connect(str(db), read_only=True) as con:
        for stream in first:
            truth = synced_truth(demo_sim, con, stream)
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
    for run in runs:  # PyAirbyte's total is the connector's records and delete markers, and the demo says so
        rows = run["streams"]
        records, markers = sum(r["records"] for r in rows), sum(r["deletions"] for r in rows)
        assert run["pyairbyte_records"] == records + markers
        assert f"PyAirbyte counted {records + markers:,} records: the connector's {records:,} records" in done.stdout
    # the activation step: a lifetime value computed in DuckDB, pushed through destination-kustomer, read back
    shown = ACTIVATION.search(done.stdout)
    assert shown, done.stdout[-3000:]
    pushed, updated, read_back, matching = (int(n.replace(",", "")) for n in shown.groups())
    with duckdb.connect(str(db), read_only=True) as con:
        values = dict(con.execute(LIFETIME_VALUES).fetchall())
    assert pushed == updated == read_back == matching == len(values) > 0
    with demo_sim.org.lock:
        customers = demo_sim.org.collections["customers"]
        for email, value in values.items():
            (holder,) = demo_sim.org.store.holders(customers, "email", email)
            assert customers.render(holder)["attributes"]["custom"]["lifetimeValueNum"] == value


def test_another_org_gets_its_own_file_and_state_and_never_shares_one(tmp_path):
    out, first_report, second_report = tmp_path / "out", tmp_path / "first.json", tmp_path / "second.json"
    first = demo("--scale", 600, "--runs", 1, "--minute-seconds", 2, "--output-dir", out, "--report", first_report)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    first_db = Path(json.loads(first_report.read_text())["db"])
    assert first_db == out / "simulator" / "kustomer.duckdb"
    with duckdb.connect(str(first_db), read_only=True) as con:
        first_ids = {row[0] for row in con.execute("SELECT id FROM customers").fetchall()}
    settings = ServerSettings(tokens={OTHER_ORG_TOKEN: frozenset()}, minute_seconds=2)
    with running_simulator(server_settings=settings, scale=600, seed=52) as other:
        config = tmp_path / "other-org.json"
        config.write_text(json.dumps(sim_config(other, OTHER_ORG_TOKEN, start_date=START, sync_deletes=True)))
        second = demo("--config", config, "--runs", 1, "--output-dir", out, "--report", second_report)
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        mixed = demo("--config", config, "--runs", 1, "--db", first_db)
    port = other.url.rsplit(":", 1)[1]
    second_db = Path(json.loads(second_report.read_text())["db"])
    assert second_db == out / f"127.0.0.1-{port}" / "kustomer.duckdb"
    [run] = json.loads(second_report.read_text())["runs"]
    synced = {row["stream"]: row for row in run["streams"]}
    with duckdb.connect(str(second_db), read_only=True) as con:
        for stream in synced:
            live = "WHERE _ab_cdc_deleted_at IS NULL" if stream in other.org.search_streams else ""
            rows = {row[0] for row in con.execute(f'SELECT id FROM "{stream}" {live}').fetchall()}
            assert rows == synced_truth(other, con, stream), stream  # that org's, only
        assert not first_ids & {row[0] for row in con.execute("SELECT id FROM customers").fetchall()}
    for stream in other.org.search_streams:  # a full first sync: every record of the new org, once
        assert synced[stream]["records"] + synced[stream]["deletions"] == other.org.collections[stream].count, stream
    assert "activation: skipped (the demo writes back only to its own simulated org)" in second.stdout
    assert summary_lines(None) == ["activation: skipped (the demo writes back only to its own simulated org)"]
    first_org = json.loads(first_report.read_text())["org"]
    assert mixed.returncode == 1 and f"holds the tables and sync state of {first_org}" in mixed.stderr
    with duckdb.connect(str(first_db), read_only=True) as con:  # the refused run left the first org's file alone
        assert {row[0] for row in con.execute("SELECT id FROM customers").fetchall()} == first_ids
    assert avoidable(first) == [] and avoidable(second) == []
    hint = re.search(r"^Ask it more, e\.g\.: (.+)$", second.stdout, re.M).group(1)
    answer = subprocess.run(shlex.split(hint), capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.split()[-1] == str(len(expected(other, "customers", since=None)))  # live customers


# PyAirbyte's own mapping of every property of every stream (and of every type a custom attribute can get), with
# the type converter its caches use (DuckDB's keeps the base one); it prints "Could not determine airbyte type"
# for a schema it cannot map to one type.
MAP_WITH_PYAIRBYTE = """
import contextlib, io, json, sys
from airbyte.types import SQLTypeConverter
converter = SQLTypeConverter()
unmapped = []
for where, schema in json.load(sys.stdin):
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        converter.to_sql_type(schema)
    if said.getvalue().strip():
        unmapped.append([where, said.getvalue().strip()])
print(json.dumps(unmapped))
"""


def test_pyairbyte_maps_every_stream_schema_to_one_type(demo_sim, pyairbyte_python):
    discovered = run_connector("discover", sim_config(demo_sim, DEMO_TOKEN, sync_deletes=True))
    assert discovered.returncode == 0, discovered.stderr[-2000:]
    streams = discovered.of_type("CATALOG")[0]["catalog"]["streams"]
    assert {"work_sessions", "custom_attribute_metadata"} <= {stream["name"] for stream in streams}
    properties = [
        (f"{stream['name']}.{name}", schema)
        for stream in streams
        for name, schema in stream["json_schema"]["properties"].items()
    ]
    custom_types = [(f"custom …{suffix}", schema) for suffix, schema in SUFFIX_TYPES] + [
        (f"custom ({declared})", schema) for declared, schema in METADATA_TYPES.items()
    ]
    done = subprocess.run(
        [str(pyairbyte_python), "-c", MAP_WITH_PYAIRBYTE],
        input=json.dumps(properties + custom_types),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # A snooze's value is a number or an object by the snooze's type: the one column PyAirbyte keeps as JSON text.
    assert [where for where, _ in json.loads(done.stdout)] == ["snoozes.value"]
    assert len(properties) > 100  # every stream's columns were mapped, not a few


# PyAirbyte installing the connector itself from a checkout (pip_url), into a venv of its own under install_root.
INSTALL_WITH_PYAIRBYTE = """
import json, sys
from pathlib import Path
import airbyte as ab
root, pip_url, config = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
source = ab.get_source("source-kustomer", config=config, pip_url=pip_url, install_root=root)
source.check()
source.select_streams(["customers", "users"])
source.read(cache=ab.DuckDBCache(db_path=root / "kustomer.duckdb"))
"""


def test_pyairbyte_installs_the_connector_from_a_checkout_and_reads_into_duckdb(demo_sim, pyairbyte_python, tmp_path):
    checkout = checkout_copy(tmp_path / "checkout")
    config = sim_config(demo_sim, DEMO_TOKEN, start_date=START, sync_deletes=True)
    # PyAirbyte installs with uv, from its venv's bin folder: on PATH, as in an activated venv
    env = {
        **os.environ,
        "PATH": f"{pyairbyte_python.parent}{os.pathsep}{os.environ['PATH']}",
        "AIRBYTE_OFFLINE_MODE": "1",
    }
    done = subprocess.run(
        [str(pyairbyte_python), "-c", INSTALL_WITH_PYAIRBYTE, str(tmp_path), str(checkout), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / ".venv-source-kustomer" / "bin" / "source-kustomer").exists()
    with duckdb.connect(str(tmp_path / "kustomer.duckdb"), read_only=True) as con:
        for stream, live in (("customers", "WHERE _ab_cdc_deleted_at IS NULL"), ("users", "")):
            rows = [r[0] for r in con.execute(f'SELECT id FROM "{stream}" {live}').fetchall()]
            assert len(rows) == len(set(rows)) and set(rows) == synced_truth(demo_sim, con, stream), stream
