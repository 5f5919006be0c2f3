"""Part 3 of the benchmark: source-kustomer and the Singer tap-kustomer 1.1.0 side by side on the same simulated
data -- the simulator served over TLS as api.kustomerapp.com (the tap's host is fixed), no limits, a tie cluster,
real budgets, and a ten times larger org -- and what each costs per record, the marginal CPU between the two org
sizes first.
"""

import json
import os
import shutil
import ssl
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List

from benchmarks.processes import (
    ROOT,
    SHARED,
    START,
    TOKEN,
    WORK,
    Measured,
    log,
    measure,
    our_catalog,
    our_command,
    simulator,
    truth,
    unlimited,
)

TAP = ROOT / ".venv-tap" / "bin" / "tap-kustomer"
KUSTOMER_HOST = "api.kustomerapp.com"
TOOLS = ("source-kustomer", "tap-kustomer 1.1.0")


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


def marginal_us_per_record(small: Dict[str, Any], large: Dict[str, Any]) -> float:
    """The CPU a run spends per record beyond a smaller run's: start-up, the same in both, cancels out."""
    return round((large["cpu_s"] - small["cpu_s"]) / (large["records"] - small["records"]) * 1e6, 1)


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
