"""Part 7 of the benchmark: destination-kustomer against Kustomer's limit -- records written per minute next to
the bound the org budget sets at the configured utilization share, 429s, requests per record, bulk against single
writes. A scaled minute stands for Kustomer's 60 seconds; the destination is told the same window.

Each case upserts ``records`` customers (half of them exist already, so half are updates) through the real
entrypoint into a simulator with the org-wide budget of an Enterprise plan (1,000 requests a minute) and
asynchronous bulk jobs. Bound = the budget share (org budget x utilization) / the fewest requests a record needs (a
lookup each, and per bulk job of ``batch_size`` its request, one status poll and one page of batches; a single write
is one request). Every lookup, bulk request and poll costs one unit of the org-wide budget the source shares.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from benchmarks.processes import ROOT, TOKEN
from kustomer_simulator.server import ServerSettings
from kustomer_simulator.testing import running_simulator
from kustomer_simulator.timefmt import now_ms
from kustomer_simulator.writes import WriteSettings

ORG_PER_MINUTE = 1000
# (label, batch_size, api_utilization_percent)
CASES = [("bulk", 100, 50), ("bulk", 100, 100), ("single writes", 1, 50)]


def _lines(records: int) -> List[str]:
    lines = []
    for n in range(records):
        data = {"externalId": f"bench-{n}", "name": f"Bench {n}", "lifetimeValueNum": n}
        lines.append(json.dumps({"type": "RECORD", "record": {"stream": "customers", "data": data, "emitted_at": 0}}))
        if (n + 1) % 500 == 0 or n + 1 == records:
            state = {"type": "STREAM", "stream": {"stream_descriptor": {"name": "customers"}, "stream_state": {"n": n}}}
            lines.append(json.dumps({"type": "STATE", "state": state}))
    return lines


def run_case(label: str, batch: int, percent: int, records: int, minute_seconds: float) -> Dict[str, Any]:
    """One write of ``records`` customers; what it took."""
    writes = WriteSettings(bulk_seconds=minute_seconds / 60)  # a bulk job takes a (scaled) second
    settings = ServerSettings(
        tokens={TOKEN: frozenset()}, org_per_minute=ORG_PER_MINUTE, minute_seconds=minute_seconds, writes=writes
    )
    with running_simulator(server_settings=settings, scale=5000, seed=7) as sim:
        coll = sim.org.collections["customers"]
        with sim.org.lock:
            for n in range(0, records, 2):
                sim.org.store.create(coll, {"externalId": f"bench-{n}"}, writes, now_ms())
        sim.stats.reset()
        config = {
            "api_token": TOKEN,
            "api_url": sim.url,
            "rate_limit_window_seconds": minute_seconds,
            "batch_size": batch,
            "api_utilization_percent": percent,
        }
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "config.json").write_text(json.dumps(config))
            stream = {"name": "customers", "json_schema": {}, "supported_sync_modes": ["full_refresh"]}
            configured = {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "append_dedup"}
            catalog = {"streams": [configured]}
            (Path(tmp) / "catalog.json").write_text(json.dumps(catalog))
            command = [sys.executable, str(ROOT / "destination-kustomer" / "main.py"), "write"]
            command += ["--config", f"{tmp}/config.json", "--catalog", f"{tmp}/catalog.json"]
            started = time.monotonic()
            done = subprocess.run(command, input="\n".join(_lines(records)) + "\n", capture_output=True, text=True)
            wall = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"the write failed: {done.stdout[-2000:]}")
        summary = _summary(done.stdout)
        stats = sim.stats.snapshot()
    minutes = summary["duration_s"] / minute_seconds
    share = ORG_PER_MINUTE * percent // 100
    per_record = stats["requests"] / records
    return {
        "case": label,
        "batch_size": batch,
        "utilization_percent": percent,
        "records": records,
        "created": summary["created"],
        "updated": summary["updated"],
        "failed": summary["failed"],
        "scaled_minutes": round(minutes, 2),
        "records_per_minute": round(records / minutes),
        "bound_records_per_minute": round(share / _minimum_per_record(batch)),
        "requests_per_minute": round(stats["requests"] / minutes),
        "budget_share_per_minute": share,
        "requests_per_record": round(per_record, 3),
        "http_429": stats["by_status"].get("429", 0),
        "bulk_requests": summary["bulk_requests"],
        "single_writes": summary["single_writes"],
        "wall_s": round(wall, 1),
    }


def _minimum_per_record(batch: int) -> float:
    """Requests a record needs at least: its lookup and its share of one write (a bulk job: its request, a status
    poll and its batches)."""
    return 1 + (1 / batch * 3 if batch > 1 else 1)


def _summary(stdout: str) -> Dict[str, Any]:
    for line in stdout.splitlines():
        if '"SYNC_SUMMARY ' in line:
            return json.loads(json.loads(line)["log"]["message"][len("SYNC_SUMMARY ") :])[0]
    raise RuntimeError("the write printed no summary")


def destination_writes(records: int, minute_seconds: float) -> List[Dict[str, Any]]:
    """Every case, in order."""
    return [run_case(*case, records, minute_seconds) for case in CASES]
