"""How close source-kustomer gets to Kustomer's physical limit, what it costs, and how it compares with the
Singer tap-kustomer on identical simulated data. Prints tables, writes benchmarks/results.json, RESULTS.md
and chart.png. Run it with ./benchmarks/run.sh (it prepares the tap's venv and matplotlib).

This module runs the parts asked for (``--parts``) and keeps the others' last results: parts 1 (against the limit),
2 (own cost; start-up in ``startup.py``) and 4 (profile) are here; part 3 is ``side_by_side.py``, 5 reuses part 1,
6 is ``full_sync.py``, 7 ``destination_benchmark.py``; the report is ``report.py``.
"""

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional

from benchmarks import full_sync as full_sync_module
from benchmarks.destination_benchmark import destination_writes
from benchmarks.full_sync import extrapolated, full_sync
from benchmarks.processes import (
    ALL,
    ARCHIVED,
    AS_INSTALLED,
    ROOT,
    SEARCH,
    START,
    TOKEN,
    WORK,
    admin,
    log,
    machine_load,
    measure,
    our_catalog,
    our_command,
    simulator,
    truth,
    unlimited,
)
from benchmarks.report import chart, results_markdown
from benchmarks.side_by_side import marginal_us_per_record, ratios, side_by_side
from benchmarks.startup import own_import_share, startup_cost

OUT = ROOT / "benchmarks"
FIVE_YEARS_DAYS = 5 * 365
SEARCH_PAGE = 500
ALL_PARTS = {1, 2, 3, 4, 5, 6, 7}
STARTUP_RUNS = 5  # runs of each start-up command; the median is reported
STARTUP_SCALE = 10_000


# ---- 1. against the limit ----------------------------------------------------------------------------------
def against_the_limit(
    scale: int, minute: float, rpms=(90, 99), history_days: int = 330, streams=SEARCH
) -> List[Dict[str, Any]]:
    rows = []
    for search_rpm in rpms:
        with simulator(scale, limits=True, minute_seconds=minute, history_days=history_days) as url:
            config = {
                "api_token": TOKEN,
                "api_url": url,
                "start_date": START,
                "search_lag_seconds": 0,
                "rate_limit_window_seconds": minute,
                "search_requests_per_minute": search_rpm,
            }
            catalog = our_catalog(config, streams)
            before = admin(url, "stats")
            run = measure(our_command(config, catalog, f"limit-{search_rpm}"), singer=False)
            after = admin(url, "stats")
            counts = {s: len(ids) for s, ids in run.records.items()}
            minimum = sum(math.ceil(n / SEARCH_PAGE) for n in counts.values())
            searches = after["search_requests"] - before["search_requests"]
            archive = after["requests_by_route"].get("POST /v1/customers/archive/search", 0) - before[
                "requests_by_route"
            ].get("POST /v1/customers/archive/search", 0)
            throttled = after["by_status"].get("429", 0) - before["by_status"].get("429", 0)
            bound = 100 * SEARCH_PAGE  # records per simulated minute at Kustomer's search limit
            end_to_end = run.total / (run.wall_s / minute)
            steady = run.total / (((run.last_record_s or 0) - (run.first_record_s or 0)) / minute)
            rows.append(
                {
                    "search_requests_per_minute": search_rpm,
                    "records": run.total,
                    "wall_s": round(run.wall_s, 1),
                    "simulated_minutes": round(run.wall_s / minute, 2),
                    "records_per_sim_minute": round(end_to_end),
                    "fraction_of_bound": round(end_to_end / bound, 3),
                    "fraction_of_bound_while_reading": round(steady / bound, 3),
                    "http_429": throttled,
                    "search_requests": searches,
                    "archive_search_requests": archive,
                    "minimum_search_requests": minimum,
                    "requests_over_minimum": round(searches / minimum, 3),
                    "returncode": run.returncode,
                }
            )
            log(f"  limit, {search_rpm}/min: {rows[-1]}")
    return rows


# ---- 2. own cost -------------------------------------------------------------------------------------------
def own_cost(scales: List[int]) -> List[Dict[str, Any]]:
    rows = []
    for scale in scales:
        with simulator(scale, limits=False) as url:
            config = unlimited(url)
            catalog = our_catalog(config, ALL)
            run = measure(our_command(config, catalog, f"cost-{scale}"), singer=False)
            expected = truth(url, ALL, START)
            rows.append(
                {
                    "scale": scale,
                    "records": run.total,
                    "wall_s": round(run.wall_s, 2),
                    "records_per_s": round(run.total / run.wall_s),
                    "cpu_s": round(run.cpu_s, 2),
                    "cpu_s_per_100k": round(run.cpu_s / run.total * 100_000, 2),
                    "peak_rss_mb": round(run.peak_rss_mb, 1),
                    "lost": run.lost(expected),
                    "duplicates": run.duplicates(),
                    "returncode": run.returncode,
                }
            )
            log(f"  cost, {scale:,}: {rows[-1]}")
    return rows


def own_cost_marginal(rows: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """Part 2's marginal CPU per record between its two largest orgs."""
    if len(rows) < 2:
        return None
    small, large = sorted(rows, key=lambda row: row["records"])[-2:]
    return {"between": [small["scale"], large["scale"]], "cpu_us_per_record": marginal_us_per_record(small, large)}


# ---- 4. profile ---------------------------------------------------------------------------------------------
def profile(scale: int) -> str:
    """Where a 100k-record search sync spends its CPU: py-spy samples of whichever thread holds the GIL (the
    streams run on worker threads; a thread waiting for a socket, a lock or the GIL is not spending CPU), as the
    share of samples per function (self) and per caller chain (inclusive)."""
    with simulator(scale, limits=False) as url:
        config = unlimited(url)
        command = our_command(config, our_catalog(config, SEARCH), "profile")
        raw = WORK / "profile-samples.txt"
        py_spy = Path(sys.executable).parent / "py-spy"
        subprocess.run(
            [str(py_spy), "record", "-r", "250", "--gil", "-f", "raw", "-o", str(raw), "--", *command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env=AS_INSTALLED,  # bytecode cached, as the measured reads run
            check=True,
        )
    own: Counter = Counter()
    inclusive: Counter = Counter()
    busy = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        busy += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    lines = [f"py-spy, 250 samples/s of the thread holding the GIL; {busy:,} samples", ""]
    for title, counts in (("self", own), ("inclusive", inclusive)):
        lines += [f"{title}:"] + [f"{100 * n / busy:5.1f}%  {frame}" for frame, n in counts.most_common(40)] + [""]
    return "\n".join(lines)


def _full_sync_rows(results: Dict[str, Any], args: argparse.Namespace) -> List[Dict[str, Any]]:
    """Part 6's rows: the designs asked for run now, the others kept from the last run at the same scale."""
    if not args.full_variants:
        return full_sync(args.full_scale, args.full_minute)
    only = {name.strip() for name in args.full_variants.split(",")}
    unknown = only - set(full_sync_module.VARIANT_NAMES)
    if unknown:
        raise SystemExit(
            f"--full-variants: {sorted(unknown)} are not designs of part 6 ({full_sync_module.VARIANT_NAMES})"
        )
    settings = {"scale": args.full_scale, "minute_seconds": args.full_minute}
    if results.get("full_sync_settings", settings) != settings:
        raise SystemExit(f"--full-variants keeps rows measured at {results['full_sync_settings']}: run part 6 there")
    rows = {row["short"]: row for row in results.get("full_sync", []) if row["short"] not in only}
    rows.update({row["short"]: row for row in full_sync(args.full_scale, args.full_minute, only)})
    return [rows[name] for name in full_sync_module.VARIANT_NAMES if name in rows]


def main(argv: Optional[List[str]] = None) -> int:
    # A terminated benchmark still restores /etc/hosts and stops its simulators (finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit-scale", type=int, default=500_000)
    parser.add_argument("--limit-minute", type=float, default=12.0)
    parser.add_argument("--cost-scales", default="10000,100000,1000000")
    parser.add_argument("--side-scale", type=int, default=100_000)
    parser.add_argument("--side-timeout", type=float, default=240.0)
    parser.add_argument("--side-large-scale", type=int, default=1_000_000)
    parser.add_argument("--history-scale", type=int, default=500_000)
    parser.add_argument("--full-scale", type=int, default=100_000)
    parser.add_argument("--full-minute", type=float, default=6.0)
    parser.add_argument(
        "--full-variants", default="", help="part 6: the designs to run (short names); the others keep their last rows"
    )
    parser.add_argument("--write-records", type=int, default=10_000)
    parser.add_argument("--write-minute", type=float, default=6.0)
    parser.add_argument("--parts", default=",".join(map(str, ALL_PARTS)), help="parts to run; others keep their last")
    args = parser.parse_args(argv)
    parts = {int(p) for p in args.parts.split(",")}
    WORK.mkdir(parents=True, exist_ok=True)
    previous = OUT / "results.json"
    results: Dict[str, Any] = json.loads(previous.read_text()) if previous.exists() and parts != ALL_PARTS else {}
    results["machine"] = {"cores": os.cpu_count(), "python": sys.version.split()[0]}
    started = time.monotonic()
    if 1 in parts:
        log("1. Against the limit (search streams, real budgets, shrunk minute)")
        results["against_the_limit"] = against_the_limit(args.limit_scale, args.limit_minute)
        results["limit_settings"] = {"scale": args.limit_scale, "minute_seconds": args.limit_minute}
    if 2 in parts:
        log("2. Own cost (all streams, no limits)")
        with machine_load() as load:
            results["own_cost"] = own_cost([int(x) for x in args.cost_scales.split(",")])
            results["own_cost_marginal"] = own_cost_marginal(results["own_cost"])
            log("2. Start-up (median of runs)")
            results["startup"] = startup_cost(STARTUP_RUNS, STARTUP_SCALE, unlimited)
            results["startup_imports"] = own_import_share()
        results["startup_settings"] = {"runs": STARTUP_RUNS, "scale": STARTUP_SCALE, "load": load}
    if 3 in parts:
        log("3. Side by side with tap-kustomer (TLS simulator as api.kustomerapp.com)")
        with machine_load() as load:
            results["side_by_side"] = side_by_side(args.side_scale, args.side_timeout, args.side_large_scale)
        results["side_settings"] = {
            "scale": args.side_scale,
            "large_scale": args.side_large_scale,
            "timeout_s": args.side_timeout,
            "load": load,
        }
        results["ratios"] = ratios(results["side_by_side"])
    if 5 in parts:
        log("5. A five-year history: archive and standard search, real budgets, shrunk minute")
        results["five_year_backfill"] = against_the_limit(
            args.history_scale, args.limit_minute, rpms=(99,), history_days=FIVE_YEARS_DAYS, streams=ARCHIVED
        )
        results["history_settings"] = {"scale": args.history_scale, "minute_seconds": args.limit_minute}
    if 4 in parts:
        log("4. Profile of a 100k-record search sync")
        (OUT / "profile.txt").write_text(profile(100_000))
    if 6 in parts:
        log("6. A full sync of every stream against both budgets, each design")
        results["full_sync"] = _full_sync_rows(results, args)
        results["full_sync_settings"] = {"scale": args.full_scale, "minute_seconds": args.full_minute}
        results["full_sync_extrapolated"] = extrapolated(results["full_sync"])
    if 7 in parts:
        log("7. destination-kustomer writes against the org budget")
        results["destination_writes"] = destination_writes(args.write_records, args.write_minute)
        results["write_settings"] = {"records": args.write_records, "minute_seconds": args.write_minute}
    results["last_run"] = {"parts": sorted(parts), "seconds": round(time.monotonic() - started)}
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    md = results_markdown(results)
    (OUT / "RESULTS.md").write_text(md)
    chart(results, OUT / "chart.png")
    log(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
