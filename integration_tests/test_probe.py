"""``source-kustomer probe`` against the simulator set every way: it must name the setting of each switch, stay
read-only and within its request budget, and never print the key."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from integration_tests.harness import ROOT, sim_config, token_forms
from kustomer_simulator.org import OrgSettings
from kustomer_simulator.search import SearchLimits
from kustomer_simulator.server import ServerSettings
from kustomer_simulator.testing import TEST_ANCHOR_MS, TEST_TOKEN, running_simulator
from source_kustomer.probe import MAX_REQUESTS

SETTINGS = {
    "A": {"created_at": "honoured", "missing_role_status": 401, "reset_mode": "epoch", "past_window": "error",
          "total": "exact", "list_over_max": "clamp",
          "conversation_time_sort": "honoured", "audit_bounds": "exclusive"},
    "B": {"created_at": "ignored", "missing_role_status": 403, "reset_mode": "seconds", "past_window": "empty",
          "total": "capped", "list_over_max": "error",
          "conversation_time_sort": "ignored", "audit_bounds": "inclusive"},
    "C": {"created_at": "rejected", "missing_role_status": 403, "reset_mode": "absent", "past_window": "error",
          "total": "exact", "list_over_max": "clamp",
          "conversation_time_sort": "honoured", "audit_bounds": "inclusive"},
}  # fmt: skip


def _probe(sim) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        config, out = Path(tmp) / "config.json", Path(tmp) / "probe.json"
        config.write_text(json.dumps(sim_config(sim, TEST_TOKEN)))
        args = [sys.executable, str(ROOT / "main.py"), "probe", "--config", str(config), "--out", str(out)]
        done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert done.returncode == 0, done.stderr[-2000:]
        printed = done.stdout + done.stderr + out.read_text()
        assert not any(form in printed for form in token_forms(TEST_TOKEN))
        return json.loads(out.read_text())


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_the_probe_names_every_switch_setting(name):
    chosen = SETTINGS[name]
    contexts = ("customer", "conversation", "message", "note", "company", "kobject")
    limits = SearchLimits(
        created_at={context: chosen["created_at"] for context in contexts},
        past_window=chosen["past_window"],
        total=chosen["total"],
        conversation_time_sort=chosen["conversation_time_sort"],
    )
    settings = ServerSettings(
        tokens={TEST_TOKEN: frozenset({"org.permission.sla.read"})},
        minute_seconds=2,
        reset_mode=chosen["reset_mode"],
        missing_role_status=chosen["missing_role_status"],
        list_over_max=chosen["list_over_max"],
        audit_bounds=chosen["audit_bounds"],
        search=limits,
    )
    org = OrgSettings(seed=47, scale=2000, anchor_ms=TEST_ANCHOR_MS, counts={"customers": 10_500})
    with running_simulator(org, settings) as sim:
        report = _probe(sim)
        routes = sim.stats.snapshot()["requests_by_route"]
    expected = [
        "--created-at",
        ",".join(f"{c}={chosen['created_at']}" for c in contexts),
        "--total",
        chosen["total"],
        "--past-window",
        chosen["past_window"],
        "--conversation-time-sort",
        chosen["conversation_time_sort"],
        "--audit-bounds",
        chosen["audit_bounds"],
        "--list-over-max",
        chosen["list_over_max"],
        "--missing-role-status",
        str(chosen["missing_role_status"]),
        "--reset-mode",
        chosen["reset_mode"],
    ]
    assert report["simulator_args"] == expected
    assert report["requests"] <= MAX_REQUESTS and sum(routes.values()) == report["requests"]
    assert all(route.startswith("GET ") or route.endswith("/search") for route in routes), routes
