"""scripts/configured_catalog.py, the README's recipe for a configured catalog: discover, choose, and the catalog
it writes is one ``read`` accepts."""

import json
import subprocess
import sys

import pytest

from integration_tests.harness import ROOT, run_connector, sim_config
from kustomer_simulator.testing import TEST_TOKEN, running_simulator

SCRIPT = ROOT / "scripts" / "configured_catalog.py"


@pytest.fixture(scope="module")
def config_path(tmp_path_factory):
    with running_simulator(scale=300, seed=61) as sim:
        path = tmp_path_factory.mktemp("catalog") / "config.json"
        path.write_text(json.dumps(sim_config(sim, TEST_TOKEN)))
        yield path


def configured(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_the_catalog_holds_every_stream_incremental_where_supported(config_path):
    done = configured("--config", str(config_path))
    assert done.returncode == 0, done.stderr
    streams = {s["stream"]["name"]: s for s in json.loads(done.stdout)["streams"]}
    discovered = run_connector("discover", json.loads(config_path.read_text())).of_type("CATALOG")[0]["catalog"]
    assert set(streams) == {stream["name"] for stream in discovered["streams"]}
    for name, stream in streams.items():
        incremental = "incremental" in stream["stream"]["supported_sync_modes"]
        assert stream["sync_mode"] == ("incremental" if incremental else "full_refresh"), name
        assert stream["destination_sync_mode"] == ("append_dedup" if incremental else "overwrite"), name
        assert stream["cursor_field"] == (stream["stream"]["default_cursor_field"] if incremental else None), name
    assert streams["customers"]["sync_mode"] == "incremental" and streams["users"]["sync_mode"] == "full_refresh"


def test_chosen_streams_make_a_catalog_that_read_accepts(config_path, tmp_path):
    done = configured("--config", str(config_path), "--streams", "customers,users")
    assert done.returncode == 0, done.stderr
    catalog = json.loads(done.stdout)
    assert sorted(s["stream"]["name"] for s in catalog["streams"]) == ["customers", "users"]
    read = run_connector("read", json.loads(config_path.read_text()), catalog=catalog)
    assert read.returncode == 0, read.stderr[-2000:]
    assert {m["record"]["stream"] for m in read.of_type("RECORD")} == {"customers", "users"}
    full = configured("--config", str(config_path), "--streams", "customers", "--full-refresh")
    assert json.loads(full.stdout)["streams"][0]["sync_mode"] == "full_refresh"


def test_an_unknown_stream_or_a_bad_config_is_one_line(config_path, tmp_path):
    unknown = configured("--config", str(config_path), "--streams", "customers,custmers")
    assert unknown.returncode == 1 and "no stream custmers" in unknown.stderr and "customers" in unknown.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"api_token": "x", "api_url": "ftp://example.com"}))
    failed = configured("--config", str(bad))
    assert failed.returncode == 1 and failed.stdout == "" and len(failed.stderr.strip().splitlines()) == 1
