"""Part 6 of the benchmark: a full sync of every stream against both of Kustomer's budgets at once.

A realistic org (customers, conversations with their work items, messages, notes, companies, custom objects,
conversation times, work sessions, the audit log, every list) on real budgets -- 1,000 requests a minute for the
org, 100 searches a minute for API keys -- on a shrunk minute, with each request taking 100 ms of a real minute
(scaled like the minute). Four designs, each on a fresh copy of the same org:

* the design before (the previous release's code, from git, against a simulator set the lenient way that code
  needs): one stream at a time, work items one conversation at a time;
* streams concurrently, work items per conversation (Kustomer's search ignoring work_item fields);
* streams concurrently, work items and sessions by search in order (Kustomer honouring filter and sort);
* streams concurrently, work items and sessions by search in time ranges (Kustomer honouring the filter, not the
  sort -- the simulator's default, and what the one public client that searches them relies on).

The physical limit of a sync is ``max(searches / search budget, all requests / org budget)``: both budgets are
spent at the same time, a search counting against both. The connector's budgets are moving one-minute windows, so
``n`` requests at a share of ``s`` a minute need at least ``ceil(n / s) - 1`` minutes (the first ``s`` go at once).
At the connector's default shares (90 searches and 80 % of the org's 1,000 a minute) that is the bound each run is
compared with: over the whole process (whose start-up, ~2 s of imports and the probe, a shrunk minute inflates
tenfold) and while reading (first record to last).
"""

import math
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

from benchmarks.processes import ROOT, TOKEN, WORK, admin, measure, our_catalog, our_command, simulator, truth
from source_kustomer.streams import LIST_STREAMS

SEARCH_SHARE = 90  # searches a minute: the connector's default search_requests_per_minute
ORG_LIMIT, ORG_SHARE = 1000, 0.8  # the simulator's org budget; the connector's default api_utilization_percent
LATENCY_S = 0.1  # a request's time in a real minute (Kustomer answers in 100-300 ms)
FIXED = {spec.name for spec in LIST_STREAMS} | {"custom_attribute_metadata"}  # their size does not grow with the org
UNCOUNTED = {"audit_logs", "custom_attribute_metadata"}  # their truth is checked by the tests, not here
BEFORE = "08bdf1b"  # the last release before streams were read concurrently
# What that code needs of the API (it read the audit log by following filtered next links and createdAt order,
# and listed users and work sessions with the list's defaults): the data is the same, only the answers differ.
LENIENT = [
    "--audit-next-links", "filtered", "--audit-date-field", "createdAt", "--audit-publish-lag-seconds", "0",
    "--work-session-defaults", "false", "--users-default", "all",
]  # fmt: skip
VARIANTS = [  # (short name, design, release, streams at a time, Kustomer's search of routing objects)
    ("before", "the design before: one stream at a time, work items one conversation at a time", BEFORE, 1, "ignored"),
    ("per conversation", "4 streams at a time, work items per conversation (8 at a time)", None, 4, "ignored"),
    ("by search", "4 streams at a time, work items and sessions by search", None, 4, "honoured"),
    ("by filter", "4 streams at a time, work items and sessions by filter-only search (time ranges)", None, 4,
     "filter-only"),
]  # fmt: skip
VARIANT_NAMES = [short for short, *_ in VARIANTS]
FULL = "2000-01-01T00:00:00Z"


def _config(url: str, minute: float, concurrency: int) -> Dict[str, Any]:
    return {
        "api_token": TOKEN,
        "api_url": url,
        "start_date": FULL,
        "search_lag_seconds": 0,
        "audit_publish_lag_seconds": 10,
        "rate_limit_window_seconds": minute,
        "max_concurrent_streams": concurrency,
    }


def full_sync(scale: int, minute: float, only: Optional[Set[str]] = None) -> List[Dict[str, Any]]:
    """One row per design (those named in ``only``, else all): wall time in minutes, requests by budget, the
    two-budget bound, 429s, lost."""
    rows = []
    for short, name, release, concurrency, routing in VARIANTS:
        if only is not None and short not in only:
            continue
        extra = ["--routing-search", routing, "--org-per-minute", str(ORG_LIMIT)] + (LENIENT if release else [])
        code = checkout(release) if release else ROOT
        with simulator(scale, limits=True, minute_seconds=minute, extra=extra) as url:
            config = _config(url, minute, concurrency)
            catalog = our_catalog(config, None, code)
            streams = {s["stream"]["name"] for s in catalog["streams"]}
            admin(url, "faults", {"kind": "slow", "seconds": LATENCY_S * minute / 60, "count": -1})
            before = admin(url, "stats")
            command = our_command(config, catalog, f"full-{release or 'now'}-{concurrency}-{routing}", code)
            run = measure(command, singer=False, env={"PYTHONPATH": str(code)})
            after = admin(url, "stats")
            expected = truth(url, streams - UNCOUNTED, FULL)
            searches = after["search_requests"] - before["search_requests"]
            requests = after["requests"] - before["requests"]
            throttled = after["by_status"].get("429", 0) - before["by_status"].get("429", 0)
            bound = _bound_minutes(searches, requests)
            minutes = run.wall_s / minute
            reading = ((run.last_record_s or 0) - (run.first_record_s or 0)) / minute
            per_stream = {row["stream"]: row["requests"] for row in run.summary}
            rows.append(
                {
                    "short": short,
                    "design": name,
                    "records": run.total,
                    "minutes": round(minutes, 2),
                    "search_requests": searches,
                    "other_requests": requests - searches,
                    "bound_minutes": round(bound, 2),
                    "bound_over_measured": round(bound / minutes, 3),
                    "minutes_while_reading": round(reading, 2),
                    "bound_over_measured_while_reading": round(bound / reading, 3) if reading else None,
                    "http_429": throttled,
                    "lost": run.lost(expected),
                    "returncode": run.returncode,
                    "requests_by_stream": per_stream,
                    "conversations": len(expected.get("conversations", ())),
                }
            )
    return rows


def _bound_minutes(searches: int, requests: int) -> int:
    """The two-budget bound: searches on the search share, every request (searches too) on the org share."""
    return max(_minutes_at(searches, SEARCH_SHARE), _minutes_at(requests, ORG_LIMIT * ORG_SHARE))


def _minutes_at(requests: int, per_minute: float) -> int:
    """The fewest whole minutes a moving one-minute window of ``per_minute`` needs for ``requests``."""
    return max(0, math.ceil(requests / per_minute) - 1)


def checkout(commit: str) -> Path:
    """A work tree of ``commit`` under benchmarks/work (made once)."""
    tree = WORK / f"release-{commit}"
    if not (tree / "main.py").exists():
        subprocess.run(["git", "worktree", "add", "--force", "--detach", str(tree), commit], cwd=ROOT, check=True)
    return tree


def extrapolated(rows: List[Dict[str, Any]], conversations: int = 1_000_000) -> List[Dict[str, Any]]:
    """Each design's requests scaled to an org of ``conversations`` conversations: every stream but the lists and
    metadata (which do not grow with the org) in proportion; the hours its measured pace and the two-budget bound
    then need."""
    out = []
    for row in rows:
        factor = conversations / max(1, row["conversations"])
        fixed = sum(n for stream, n in row["requests_by_stream"].items() if stream in FIXED)
        searches = round(row["search_requests"] * factor)
        requests = searches + round((row["other_requests"] - fixed) * factor) + fixed
        bound = _bound_minutes(searches, requests)
        scaled = {s: n if s in FIXED else round(n * factor) for s, n in sorted(row["requests_by_stream"].items())}
        out.append(
            {
                "short": row["short"],
                "design": row["design"],
                "conversations": conversations,
                "search_requests": searches,
                "other_requests": requests - searches,
                "hours_at_measured_pace": round(row["minutes"] * factor / 60, 1),
                "bound_hours": round(bound / 60, 1),
                "requests_by_stream": scaled,
            }
        )
    return out
