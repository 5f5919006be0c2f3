"""How close source-kustomer gets to Kustomer's physical limit, what it costs, and how it compares with the
Singer tap-kustomer on identical simulated data. Prints tables, writes benchmarks/results.json, RESULTS.md
and chart.png. Run it with ./benchmarks/run.sh (it prepares the tap's venv and matplotlib).
"""

import argparse
import json
import math
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from benchmarks import destination_benchmark
from benchmarks import full_sync as full_sync_module
from benchmarks.destination_benchmark import ORG_PER_MINUTE, SEARCH_PER_MINUTE, destination_writes
from benchmarks.full_sync import extrapolated, full_sync
from benchmarks.processes import (
    ROOT,
    TOKEN,
    WORK,
    Measured,
    admin,
    measure,
    our_catalog,
    our_command,
    simulator,
    truth,
)
from benchmarks.startup import own_import_share, startup_cost
from source_kustomer.keyset import MAX_SPLIT_SEARCHES
from source_kustomer.streams import LIST_STREAMS, SEARCH_STREAMS

OUT = ROOT / "benchmarks"
START = "2000-01-01T00:00:00Z"
KLASS_STREAMS = {"kobjects_order", "kobjects_subscription"}  # the simulator's default klasses
SEARCH = {spec.name for spec in SEARCH_STREAMS} | KLASS_STREAMS
# The streams whose history older than two years Kustomer keeps in its archive search.
ARCHIVED = {spec.name for spec in SEARCH_STREAMS if spec.archived} | KLASS_STREAMS
FIVE_YEARS_DAYS = 5 * 365
ALL = SEARCH | {spec.name for spec in LIST_STREAMS}
SHARED = {"customers", "conversations", "messages", "notes", "users", "teams", "tags", "shortcuts"}
TAP = ROOT / ".venv-tap" / "bin" / "tap-kustomer"
KUSTOMER_HOST = "api.kustomerapp.com"
TOOLS = ("source-kustomer", "tap-kustomer 1.1.0")
SEARCH_PAGE = 500
ALL_PARTS = {1, 2, 3, 4, 5, 6, 7}
STARTUP_RUNS = 5  # runs of each start-up command; the median is reported
STARTUP_SCALE = 10_000
FULL_SYNC_COLUMNS = [
    "design",
    "records",
    "minutes",
    "search_requests",
    "other_requests",
    "bound_minutes",
    "bound_over_measured",
    "minutes_while_reading",
    "bound_over_measured_while_reading",
    "http_429",
    "lost",
    "returncode",
]
EXTRAPOLATED_COLUMNS = ["design", "search_requests", "other_requests", "hours_at_measured_pace", "bound_hours"]
LIMIT_COLUMNS = [
    "search_requests_per_minute",
    "records",
    "simulated_minutes",
    "fraction_of_bound",
    "fraction_of_bound_while_reading",
    "http_429",
    "search_requests",
    "minimum_search_requests",
    "requests_over_minimum",
]


def log(text: str) -> None:
    print(text, flush=True)


def unlimited(url: str) -> Dict[str, Any]:
    """Our config when the simulator has no limits: budgets out of the way."""
    return {
        "api_token": TOKEN,
        "api_url": url,
        "start_date": START,
        "search_lag_seconds": 0,
        "search_requests_per_minute": 100,
        "api_utilization_percent": 100,
        "rate_limit_window_seconds": 0.5,
    }


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


def marginal_us_per_record(small: Dict[str, Any], large: Dict[str, Any]) -> float:
    """The CPU a run spends per record beyond a smaller run's: start-up, the same in both, cancels out."""
    return round((large["cpu_s"] - small["cpu_s"]) / (large["records"] - small["records"]) * 1e6, 1)


def own_cost_marginal(rows: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """Part 2's marginal CPU per record between its two largest orgs."""
    if len(rows) < 2:
        return None
    small, large = sorted(rows, key=lambda row: row["records"])[-2:]
    return {"between": [small["scale"], large["scale"]], "cpu_us_per_record": marginal_us_per_record(small, large)}


# ---- 3. side by side with the Singer tap ---------------------------------------------------------------------
@contextmanager
def kustomer_on_loopback() -> Iterator[Path]:
    """A throwaway CA and a certificate for api.kustomerapp.com, and that host mapped to 127.0.0.1 meanwhile."""
    tls = WORK / "tls"
    shutil.rmtree(tls, ignore_errors=True)
    tls.mkdir(parents=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tls, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=source-kustomer benchmark CA",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        f"/CN={KUSTOMER_HOST}",
    )
    (tls / "san.cnf").write_text(f"subjectAltName=DNS:{KUSTOMER_HOST}\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
    )
    hosts = Path("/etc/hosts")
    marker = "  # source-kustomer benchmark"
    # A run killed without its finally block (a machine restart) leaves its line behind: never keep it.
    original = "".join(
        line for line in hosts.read_text().splitlines(keepends=True) if not line.rstrip().endswith(marker)
    )
    hosts.write_text(original.rstrip("\n") + f"\n127.0.0.1 {KUSTOMER_HOST}{marker}\n")
    try:
        yield tls
    finally:
        hosts.write_text(original)


def tap_catalog(config_path: Path, streams: set) -> Path:
    out = subprocess.run([str(TAP), "--config", str(config_path), "--discover"], capture_output=True, check=True)
    catalog = json.loads(out.stdout)
    chosen = []
    for stream in catalog["streams"]:
        if stream["tap_stream_id"] not in streams:
            continue
        for entry in stream.get("metadata", []):
            if entry.get("breadcrumb") == []:
                entry["metadata"]["selected"] = True
        chosen.append(stream)
    catalog["streams"] = chosen
    path = WORK / "tap-catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def _row(tool: str, run: Measured, expected: Dict[str, set], timeout_s: float) -> Dict[str, Any]:
    finished = run.returncode == 0 and not run.timed_out
    if finished:
        outcome = "completed"
    elif run.timed_out:
        outcome = f"did not finish within {timeout_s:.0f}s"
    else:
        outcome = f"crashed: {run.error or run.returncode}"
    measured = not run.timed_out  # a killed process leaves no CPU or RSS figure
    return {
        "tool": tool,
        "outcome": outcome,
        "records": run.total,
        "wall_s": round(run.wall_s, 2),
        "records_per_s": round(run.total / run.wall_s) if run.wall_s else 0,
        "cpu_s": round(run.cpu_s, 2) if measured else "n/a",
        "cpu_us_per_record": round(run.cpu_s / max(1, run.total) * 1e6, 1) if measured else "n/a",
        "peak_rss_mb": round(run.peak_rss_mb, 1) if measured else "n/a",
        "lost": run.lost(expected),
        "duplicates": run.duplicates(),
    }


def side_by_side(scale: int, timeout_s: float, large_scale: int) -> List[Dict[str, Any]]:
    rows: List[Dict[str, Any]] = []
    variants = [  # (name, simulator options, org size, time allowed)
        ("no limits, no ties", dict(limits=False), scale, timeout_s),
        ("tie cluster of 1,200 (more than a page)", dict(limits=False, ties=(1200,)), scale, timeout_s),
        (
            "real budgets (1,000/min org, 100/min search, 60-second minute)",
            dict(limits=True, minute_seconds=60.0),
            scale,
            timeout_s,
        ),
        (
            f"no limits, no ties, {large_scale:,}-record org",
            dict(limits=False),
            large_scale,
            timeout_s * large_scale / scale,
        ),
    ]
    with kustomer_on_loopback() as tls:
        env = {"REQUESTS_CA_BUNDLE": str(tls / "ca.pem")}
        os.environ.update(env)  # discover runs of both tools too
        context = ssl.create_default_context(cafile=str(tls / "ca.pem"))
        base = f"https://{KUSTOMER_HOST}"
        for name, options, size, allowed in variants:
            with simulator(size, port=443, tls=(tls / "server.pem", tls / "server.key"), **options):
                expected = truth(base, SHARED, START, context=context)
                tap_config = WORK / "tap-config.json"
                tap_config.write_text(json.dumps({"api_token": TOKEN, "start_date": START, "user_agent": "benchmark"}))
                catalog_path = tap_catalog(tap_config, SHARED)
                theirs = measure(
                    [str(TAP), "--config", str(tap_config), "--catalog", str(catalog_path)],
                    singer=True,
                    env=env,
                    timeout=allowed,
                    stderr_path=WORK / "tap-stderr.log",
                )
                ours_config = {"api_token": TOKEN, "api_url": base, "start_date": START, "search_lag_seconds": 0}
                if options.get("limits"):
                    ours_config["rate_limit_window_seconds"] = options["minute_seconds"]
                else:
                    ours_config.update({k: v for k, v in unlimited(base).items() if k not in ("api_url",)})
                ours = measure(
                    our_command(ours_config, our_catalog(ours_config, SHARED), "side"),
                    singer=False,
                    env=env,
                    timeout=allowed,
                )
            for tool, run in zip(TOOLS, (ours, theirs), strict=True):
                rows.append({"variant": name, **_row(tool, run, expected, allowed)})
                log(f"  side by side, {name}: {rows[-1]}")
    os.environ.pop("REQUESTS_CA_BUNDLE", None)
    return rows


def ratios(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Ours over theirs for each unlimited variant both tools finished, and the CPU each tool spends per extra
    record between the two org sizes (start-up left out: it is the same at both)."""
    finished = [r for r in rows if r["variant"].startswith("no limits, no ties") and r["cpu_us_per_record"] != "n/a"]
    by_variant: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for row in finished:
        by_variant.setdefault(row["variant"], {})[row["tool"]] = row
    out: Dict[str, Any] = {}
    for variant, tools in by_variant.items():
        if len(tools) < 2:
            continue
        ours, theirs = (tools[tool] for tool in TOOLS)
        out[variant] = {
            "throughput_ours_over_theirs": round(ours["records_per_s"] / max(1, theirs["records_per_s"]), 2),
            "cpu_per_record_ours_over_theirs": round(ours["cpu_us_per_record"] / theirs["cpu_us_per_record"], 3),
            "peak_rss_ours_over_theirs": round(ours["peak_rss_mb"] / theirs["peak_rss_mb"], 2),
            "lost_ours_vs_theirs": [ours["lost"], theirs["lost"]],
            "duplicates_ours_vs_theirs": [ours["duplicates"], theirs["duplicates"]],
        }
    sizes = [tools for tools in by_variant.values() if len(tools) == 2]
    if len(sizes) == 2:
        marginal = {tool: marginal_us_per_record(sizes[0][tool], sizes[1][tool]) for tool in TOOLS}
        ratio = round(marginal[TOOLS[0]] / marginal[TOOLS[1]], 3)
        records = {tool: [sizes[0][tool]["records"], sizes[1][tool]["records"]] for tool in TOOLS}
        out["marginal_cpu_us_per_record"] = {**marginal, "ours_over_theirs": ratio, "records": records}
    return out


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


# ---- report -------------------------------------------------------------------------------------------------
def table(rows: List[Dict[str, Any]], columns: List[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append(
            "| "
            + " | ".join(f"{row.get(c, ''):,}" if isinstance(row.get(c), int) else str(row.get(c, "")) for c in columns)
            + " |"
        )
    return "\n".join(lines)


def chart(results: Dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    limit = results["against_the_limit"]
    axes[0].bar(
        [f"{r['search_requests_per_minute']}/min budget" for r in limit],
        [100 * r["fraction_of_bound"] for r in limit],
        color="#3465a4",
    )
    axes[0].axhline(90, color="red", linestyle="--", label="target 90 %")
    axes[0].set_ylim(0, 100)
    axes[0].set_title("Search throughput, % of Kustomer's bound")
    axes[0].legend()
    cost = results["own_cost"]
    axes[1].plot([r["scale"] for r in cost], [r["peak_rss_mb"] for r in cost], marker="o", label="peak RSS (MB)")
    axes[1].plot(
        [r["scale"] for r in cost], [r["cpu_s_per_100k"] for r in cost], marker="s", label="CPU s per 100k records"
    )
    axes[1].set_xscale("log")
    axes[1].set_title("Own cost vs. records synced")
    axes[1].legend()
    side = [r for r in results["side_by_side"] if r["variant"] == "no limits, no ties"]
    labels = [r["tool"] for r in side]
    axes[2].bar(
        [f"{label}\nrecords/s" for label in labels], [r["records_per_s"] for r in side], color=["#3465a4", "#999999"]
    )
    axes[2].set_title("Same data, no limits: records/s")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _own_cost_headline(results: Dict[str, Any]) -> List[str]:
    """The connector's own CPU per record, marginal (first), then its start-up, measured apart."""
    lines = [
        "## Own cost: CPU per record (marginal) and start-up",
        "",
        "CPU per record is the **marginal** cost: the process CPU a sync adds per record between two org sizes, so "
        "the start-up, the same at both, is left out (it is measured apart, below).",
        "",
    ]
    side = results.get("ratios", {}).get("marginal_cpu_us_per_record")
    if side:
        ours, theirs = side[TOOLS[0]], side[TOOLS[1]]
        read = side.get("records", {}).get(TOOLS[0])
        lines.append(
            f"* Side by side with the Singer tap (part 3: the streams both read, no limits, orgs of "
            f"{results['side_settings']['scale']:,} and {results['side_settings']['large_scale']:,} records"
            + (f"; {read[0]:,} and {read[1]:,} records read" if read else "")
            + f"): source-kustomer **{ours} µs** per record, {TOOLS[1]} {theirs} µs: "
            f"**{side['ours_over_theirs']}x the tap's** (target: at most 0.1x)."
        )
    part2 = results.get("own_cost_marginal")
    if part2:
        lines.append(
            f"* Every stream (part 2, orgs of {part2['between'][0]:,} and {part2['between'][1]:,}): "
            f"{part2['cpu_us_per_record']} µs per record."
        )
    startup = results.get("startup")
    if startup:
        settings, imports = results["startup_settings"], results["startup_imports"]
        lines += [
            "",
            f"Start-up: the process CPU of commands that read little or nothing, median of {settings['runs']} runs "
            "each (bytecode cached, as an installed connector runs; CPU figures on this shared machine move "
            "±15 % between runs, so each run is listed):",
            "",
            table(startup, ["command", "cpu_s_median", "cpu_s_runs"]),
            "",
            f"Of the time `spec` spends importing modules ({imports['spec_import_us'] / 1000:.0f} ms under "
            f"`python -X importtime`), the connector's own take {imports['spec_import_us_own_modules'] / 1000:.0f} "
            "ms; the rest is airbyte-cdk and its dependencies. The connector loads airbyte-cdk with the garbage "
            "collector off, which is why `spec` can cost less than importing airbyte-cdk alone.",
        ]
    return lines + [""]


def _full_sync_section(results: Dict[str, Any]) -> List[str]:
    if "full_sync" not in results:
        return []
    settings = results["full_sync_settings"]
    rows = results["full_sync_extrapolated"]
    streams = sorted({stream for row in rows for stream in row["requests_by_stream"]})
    per_stream = [{"stream": s, **{row["short"]: row["requests_by_stream"].get(s, 0) for row in rows}} for s in streams]
    return [
        f"## 6. A full sync of every stream ({settings['scale']:,}-record org, {settings['minute_seconds']:g}-second "
        "minute, both budgets at once)",
        "",
        (full_sync_module.__doc__ or "").split("\n\n", 1)[1].strip(),
        "",
        table(results["full_sync"], FULL_SYNC_COLUMNS),
        "",
        "Extrapolated to an org of 1,000,000 conversations (requests in proportion; lists and metadata as measured):",
        "",
        table(rows, EXTRAPOLATED_COLUMNS),
        "",
        "Requests per stream at that size:",
        "",
        table(per_stream, ["stream"] + [row["short"] for row in rows]),
        "",
        *_ranges_note(rows),
    ]


def _ranges_note(rows: List[Dict[str, Any]]) -> List[str]:
    """How the time-range design's searches extrapolate, and where they stand against the cap of a range read."""
    by_filter = next((row for row in rows if row["short"] == "by filter"), None)
    if by_filter is None:
        return []
    items = by_filter["requests_by_stream"].get("work_items", 0)
    return [
        "Read in time ranges, a stream's searches grow with its records: a range too large for one search is "
        "split into ranges of about half the 10,000-result window (one sizing search each), each then read in "
        "pages of 500; larger orgs fill their ranges better, so the proportional figure is an upper estimate. At "
        f"1,000,000 conversations, work items read in time ranges take at most about {items:,} searches per full "
        f"sync, under the {MAX_SPLIT_SEARCHES:,} a range read may spend in a sync once it splits (an hour at 90 "
        "searches a minute).",
        "",
    ]


def _destination_section(results: Dict[str, Any]) -> List[str]:
    if "destination_writes" not in results:
        return []
    settings = results["write_settings"]
    rows = results["destination_writes"]
    return [
        f"## 7. Destination writes ({settings['records']:,} customers a case; {settings['minute_seconds']:g}-second "
        f"minute; org budget {ORG_PER_MINUTE:,}/min, search {SEARCH_PER_MINUTE}/min)",
        "",
        (destination_benchmark.__doc__ or "").split("\n\n", 1)[1].strip(),
        "",
        table(rows, list(rows[0])),
        "",
    ]


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
        results["own_cost"] = own_cost([int(x) for x in args.cost_scales.split(",")])
        results["own_cost_marginal"] = own_cost_marginal(results["own_cost"])
        log("2. Start-up (median of runs)")
        results["startup"] = startup_cost(STARTUP_RUNS, STARTUP_SCALE, unlimited)
        results["startup_imports"] = own_import_share()
        results["startup_settings"] = {"runs": STARTUP_RUNS, "scale": STARTUP_SCALE}
    if 3 in parts:
        log("3. Side by side with tap-kustomer (TLS simulator as api.kustomerapp.com)")
        results["side_by_side"] = side_by_side(args.side_scale, args.side_timeout, args.side_large_scale)
        results["side_settings"] = {
            "scale": args.side_scale,
            "large_scale": args.side_large_scale,
            "timeout_s": args.side_timeout,
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
    md = [
        "# Benchmark results",
        "",
        f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}. "
        f"Generated by `./benchmarks/run.sh`; its last run (parts {', '.join(map(str, results['last_run']['parts']))}) "
        f"took {results['last_run']['seconds']} s.",
        "",
        *_own_cost_headline(results),
        f"## 1. Against the limit ({results['limit_settings']['scale']:,} records, "
        f"{results['limit_settings']['minute_seconds']:g}-second minute)",
        "",
        "Bound = 100 search requests/min x 500 records/page = 50,000 records per minute.",
        "",
        table(results["against_the_limit"], LIMIT_COLUMNS),
        "",
        "## 2. Own cost (every stream, simulator without limits, pre-rendered)",
        "",
        table(
            results["own_cost"],
            [
                "scale",
                "records",
                "wall_s",
                "records_per_s",
                "cpu_s",
                "cpu_s_per_100k",
                "peak_rss_mb",
                "lost",
                "duplicates",
            ],
        ),
        "",
        "`cpu_s_per_100k` is a whole run's CPU over its records, start-up included; the marginal figure above "
        "leaves start-up out.",
        "",
    ]
    if "side_by_side" in results:  # absent only when part 3 never ran
        md += [
            f"## 3. Side by side with tap-kustomer ({results['side_settings']['scale']:,}-record org, streams: "
            f"{', '.join(sorted(SHARED))})",
            "",
            table(
                results["side_by_side"],
                [
                    "variant",
                    "tool",
                    "outcome",
                    "records",
                    "records_per_s",
                    "cpu_us_per_record",
                    "peak_rss_mb",
                    "lost",
                    "duplicates",
                ],
            ),
            "",
            "Ratios (ours / theirs, no limits, no ties), per org size, and the CPU per record each tool adds between "
            "the two sizes (start-up, the same at both, left out; the headline above): "
            + json.dumps(results["ratios"]),
            "",
        ]
    md += ["## 4. Profile", "", "See `profile.txt` (py-spy, the thread holding the GIL, 100k-record search sync).", ""]
    if "five_year_backfill" in results:
        md += [
            f"## 5. A five-year history ({results['history_settings']['scale']:,}-record org, "
            f"{results['history_settings']['minute_seconds']:g}-second minute, streams with an archive: "
            f"{', '.join(sorted(ARCHIVED))})",
            "",
            "Records older than two years come from the archive search, the rest from standard search, the two "
            "weeks around the boundary from both; archive searches count against the same 100/min search budget. "
            "Same bound as part 1. A fraction above 1 is possible: budgets reset on fixed one-minute windows, so a run "
            "that touches 10 windows in 9.2 minutes may make 10 x 99 searches.",
            "",
            table(results["five_year_backfill"], LIMIT_COLUMNS + ["archive_search_requests"]),
            "",
        ]
    md += _full_sync_section(results) + _destination_section(results)
    (OUT / "RESULTS.md").write_text("\n".join(md))
    chart(results, OUT / "chart.png")
    log("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
