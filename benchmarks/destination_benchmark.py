"""Part 7 of the benchmark: destination-kustomer against Kustomer's limits -- records written per minute next to the
bound both budgets set together, 429s, requests per record, duplicates and losses; the design that looks customers
up by search and by GET at once, and the previous design (``lookup_by_search`` off: one GET a record), in one run.

Each case writes ``records`` customers through the real entrypoint into a simulator with an Enterprise plan's
budgets (1,000 requests a minute org-wide, 100 searches a minute) and asynchronous bulk jobs (a scaled second
each), at 100 % of both: an upsert of a mostly-existing set (90 % updates, 10 % creates) and an initial load
(100 % creates). A scaled minute stands for Kustomer's 60 seconds; the destination is told the same window. No
agent edits records meanwhile (the switch matrix covers that).

Bound = the most records a minute both budgets carry together, at the requests per record the run measured:
every key searched costs 1/20 of a search and, when search misses it, a GET; every key looked up by GET costs a
GET; every record costs its share of the writes (``write_requests_per_record``: bulk requests, polls, pages of
results, single writes, reads of the first update's check). Search carries at most 20 x 100 keys a minute; the org
budget carries the rest -- and the searches themselves, which count against both budgets.
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
SEARCH_PER_MINUTE = 100
KEYS_PER_SEARCH = 20
# (label, existing share of the records, lookup_by_search)
CASES = [
    ("upsert 90 % existing: search + GET", 0.9, True),
    ("upsert 90 % existing: GET only (previous design)", 0.9, False),
    ("initial load: search + GET", 0.0, True),
    ("initial load: GET only (previous design)", 0.0, False),
]


def _lines(records: int) -> List[str]:
    lines = []
    for n in range(records):
        data = {"externalId": f"bench-{n}", "name": f"Bench {n}", "lifetimeValueNum": n}
        lines.append(json.dumps({"type": "RECORD", "record": {"stream": "customers", "data": data, "emitted_at": 0}}))
        if (n + 1) % 500 == 0 or n + 1 == records:
            state = {"type": "STREAM", "stream": {"stream_descriptor": {"name": "customers"}, "stream_state": {"n": n}}}
            lines.append(json.dumps({"type": "STATE", "state": state}))
    return lines


def _write(url: str, minute_seconds: float, records: int, by_search: bool) -> Dict[str, Any]:
    """Run the entrypoint's write; its summary row and wall seconds."""
    config = {
        "api_token": TOKEN,
        "api_url": url,
        "rate_limit_window_seconds": minute_seconds,
        "batch_size": 100,
        "api_utilization_percent": 100,
        "search_requests_per_minute": SEARCH_PER_MINUTE,
        "lookup_by_search": by_search,
    }
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(config))
        stream = {"name": "customers", "json_schema": {}, "supported_sync_modes": ["full_refresh"]}
        configured = {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "append_dedup"}
        (Path(tmp) / "catalog.json").write_text(json.dumps({"streams": [configured]}))
        command = [sys.executable, str(ROOT / "destination-kustomer" / "main.py"), "write"]
        command += ["--config", f"{tmp}/config.json", "--catalog", f"{tmp}/catalog.json"]
        started = time.monotonic()
        done = subprocess.run(command, input="\n".join(_lines(records)) + "\n", capture_output=True, text=True)
        wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"the write failed: {done.stdout[-2000:]}")
    return {**_summary(done.stdout), "wall_s": wall}


def bound_per_minute(miss_rate: float, write_cost: float, by_search: bool) -> float:
    """Records a minute both budgets carry at these per-record costs (see the module's docstring): by GET alone, or
    -- where search pays (it misses less than 19 keys in 20) -- as many keys by search as its budget carries."""
    by_get = ORG_PER_MINUTE / (1 + write_cost)
    per_searched = 1 / KEYS_PER_SEARCH + miss_rate + write_cost  # org requests per searched key
    if not by_search or per_searched >= 1 + write_cost:
        return by_get
    searched = min(KEYS_PER_SEARCH * SEARCH_PER_MINUTE, ORG_PER_MINUTE / per_searched)
    return searched + (ORG_PER_MINUTE - searched * per_searched) / (1 + write_cost)


def run_case(label: str, existing: float, by_search: bool, records: int, minute_seconds: float) -> Dict[str, Any]:
    """One write of ``records`` customers; what it took."""
    writes = WriteSettings(bulk_seconds=minute_seconds / 60, agent_edits="none")  # a bulk job takes a (scaled) second
    settings = ServerSettings(
        tokens={TOKEN: frozenset()},
        org_per_minute=ORG_PER_MINUTE,
        search_per_minute=SEARCH_PER_MINUTE,
        minute_seconds=minute_seconds,
        writes=writes,
    )
    with running_simulator(server_settings=settings, scale=5000, seed=7) as sim:
        coll = sim.org.collections["customers"]
        with sim.org.lock:
            for n in range(int(records * existing)):
                sim.org.store.create(coll, {"externalId": f"bench-{n}", "name": "old"}, writes, now_ms())
        sim.stats.reset()
        summary = _write(sim.url, minute_seconds, records, by_search)
        stats = sim.stats.snapshot()
        with sim.org.lock:
            holders = [len(sim.org.store.holders(coll, "externalId", f"bench-{n}")) for n in range(records)]
    minutes = summary["duration_s"] / minute_seconds
    searched = summary["searched_keys"]
    miss_rate = summary["search_misses"] / searched if searched else 1.0
    write_cost = (stats["requests"] - summary["lookups"] - summary["search_lookups"]) / records
    bound = bound_per_minute(miss_rate, write_cost, by_search)
    return {
        "case": label,
        "records": records,
        "created": summary["created"],
        "updated": summary["updated"],
        "failed": summary["failed"],
        "lost": sum(1 for count in holders if count == 0),
        "duplicates": sum(count - 1 for count in holders if count > 1),
        "scaled_minutes": round(minutes, 2),
        "records_per_minute": round(records / minutes),
        "bound_records_per_minute": round(bound),
        "of_bound": round(records / minutes / bound, 2),
        "searches": stats["search_requests"],
        "searched_keys": searched,
        "search_miss_rate": round(miss_rate, 3) if searched else None,
        "lookups_by_get": summary["lookups"],
        "write_requests_per_record": round(write_cost, 3),
        "requests_per_record": round(stats["requests"] / records, 3),
        "org_requests_per_minute": round(stats["requests"] / minutes),
        "http_429": stats["by_status"].get("429", 0),
        "wall_s": round(summary["wall_s"], 1),
    }


def _summary(stdout: str) -> Dict[str, Any]:
    for line in stdout.splitlines():
        if '"SYNC_SUMMARY ' in line:
            return json.loads(json.loads(line)["log"]["message"][len("SYNC_SUMMARY ") :])[0]
    raise RuntimeError("the write printed no summary")


def destination_writes(records: int, minute_seconds: float) -> List[Dict[str, Any]]:
    """Every case, in order."""
    return [run_case(*case, records, minute_seconds) for case in CASES]
