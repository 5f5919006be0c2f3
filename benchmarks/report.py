"""The benchmark's report: RESULTS.md (the own-cost headline first, then each part's table) and chart.png, from
the results of every part (results.json).
"""

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

from benchmarks import destination_benchmark
from benchmarks import full_sync as full_sync_module
from benchmarks.destination_benchmark import ORG_PER_MINUTE, SEARCH_PER_MINUTE
from benchmarks.processes import ARCHIVED, SHARED
from benchmarks.side_by_side import TOOLS
from source_kustomer.keyset import MAX_SPLIT_SEARCHES

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
            f"**{side['ours_over_theirs']}x the tap's** (target: at most 0.1x). One run of each tool at each size, "
            f"one after the other{_load(results['side_settings'])}."
        )
    part2 = results.get("own_cost_marginal")
    if part2:
        lines.append(
            f"* Every stream (part 2, orgs of {part2['between'][0]:,} and {part2['between'][1]:,}): "
            f"{part2['cpu_us_per_record']} µs per record{_load(results.get('startup_settings', {}))}."
        )
    startup = results.get("startup")
    if startup:
        settings, imports = results["startup_settings"], results["startup_imports"]
        lines += [
            "",
            f"Start-up: the process CPU of commands that read little or nothing, median of {settings['runs']} runs "
            "each (bytecode cached, as an installed connector runs; CPU figures on this shared machine move "
            f"±15 % between runs, so each run is listed{_load(settings)}):",
            "",
            table(startup, ["command", "cpu_s_median", "cpu_s_runs"]),
            "",
            f"Of the time `spec` spends importing modules ({imports['spec_import_us'] / 1000:.0f} ms under "
            f"`python -X importtime`), the connector's own take {imports['spec_import_us_own_modules'] / 1000:.0f} "
            "ms; the rest is airbyte-cdk and its dependencies. What start-up the connector itself adds is cut: it "
            "loads airbyte-cdk with the garbage collector off (no collections over the million objects the import "
            "leaves, about 0.1 s: why `spec` can cost less than importing airbyte-cdk alone), parses spec.yaml with "
            "libyaml (the CDK's pure-Python parse took about 10 ms, twice a command), imports none of the streams for "
            "`spec` and `check`, and looks its installed version up once.",
        ]
    return lines + [""]


def _load(settings: Dict[str, Any]) -> str:
    """The machine's load while a part ran, as a clause (nothing when it was not recorded)."""
    load = settings.get("load")
    if not load:
        return ""
    return (
        f"; the machine's one-minute load average meanwhile {load['median']:.2f} (median; {load['min']:.2f} to "
        f"{load['max']:.2f}) on {os.cpu_count()} cores shared with other work"
    )


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


def results_markdown(results: Dict[str, Any]) -> str:
    """RESULTS.md: the own-cost headline, then every part that has run."""
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
    return "\n".join(md)
