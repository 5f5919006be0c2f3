"""Sync a whole Kustomer org into DuckDB with PyAirbyte: the bundled simulator by default, or a real account.

Run through ./demo.sh, which prepares three environments so that nothing clashes: the project's (simulator),
the connector's own (its `source-kustomer` executable) and PyAirbyte's (this script).
"""

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from demo.report import ConnectorProgress, summary_table

ROOT = Path(__file__).resolve().parent.parent
# The connector's own venv, where PyAirbyte's venv executor expects it (install_root=ROOT): it can then report
# the installed version of airbyte-source-kustomer.
CONNECTOR = ROOT / ".venv-source-kustomer" / "bin" / "source-kustomer"
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
DEMO_TOKEN = "demo-token-not-a-secret"
# Streams the demo hard-deletes from: objects whose deletes Kustomer's audit log reports (docs/kustomer.md).
HARD_DELETED = ("customers", "conversations")
# Deleted conversations stay in the table as delete markers (_ab_cdc_deleted_at set): leave them out.
EXAMPLE_SQL = """
SELECT strftime(CAST(createdat AS TIMESTAMP), '%Y-%m') AS month,
       json_extract_string(CAST(channels AS JSON), '$[0]') AS channel,
       count(*) AS conversations
FROM conversations
WHERE _ab_cdc_deleted_at IS NULL
GROUP BY 1, 2
ORDER BY 1 DESC, 3 DESC
LIMIT 12
"""


class DemoError(Exception):
    """A problem the user can fix; printed as one line, no stack trace."""


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The demo's options."""
    parser = argparse.ArgumentParser(prog="./demo.sh", description=__doc__)
    parser.add_argument("--config", type=Path, help="a connector config.json for a real Kustomer account")
    parser.add_argument("--scale", type=int, default=50_000, help="simulated records (default 50,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--minute-seconds",
        type=float,
        default=10.0,
        help="the simulator's rate-limit 'minute' (default 10 s, so budgets bite quickly)",
    )
    parser.add_argument(
        "--mutate",
        type=int,
        default=250,
        help="records the simulated org updates per searchable stream between the two runs",
    )
    parser.add_argument(
        "--delete",
        type=int,
        default=5,
        help="records the simulated org deletes per searchable stream between two runs (soft and hard), and "
        "customer pairs it merges",
    )
    parser.add_argument("--runs", type=int, default=2, help="syncs to run (the second and later are incremental)")
    parser.add_argument("--db", type=Path, default=ROOT / "demo_output" / "kustomer.duckdb")
    parser.add_argument("--simulator-url", help="use an already running simulator instead of starting one")
    parser.add_argument("--report", type=Path, help="write the per-run summaries here as JSON")
    return parser.parse_args(argv)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _admin(url: str, path: str, payload: Optional[Dict[str, Any]] = None) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        f"{url}/__admin/{path}",
        data=data,
        method="POST" if data else "GET",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@contextmanager
def simulator(args: argparse.Namespace) -> Iterator[str]:
    """A simulated org on a loopback port, for the length of the demo."""
    if args.simulator_url:
        yield args.simulator_url.rstrip("/")
        return
    port = _free_port()
    command = [
        str(PROJECT_PYTHON),
        "-m",
        "kustomer_simulator",
        "serve",
        "--port",
        str(port),
        "--seed",
        str(args.seed),
        "--scale",
        str(args.scale),
        "--ties",
        "1200",
        "--token",
        DEMO_TOKEN,
        "--minute-seconds",
        str(args.minute_seconds),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        print(f"Starting the Kustomer simulator ({args.scale:,} records, seed {args.seed}) …", flush=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                _admin(url, "streams")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise DemoError(f"the simulator did not start: {process.stderr.read()[-500:]}") from None
                time.sleep(0.2)
        print(
            f"  serving {url}; rate limits: 1,000 requests and 100 searches per {args.minute_seconds:g}-second "
            "'minute'",
            flush=True,
        )
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def load_config(path: Path) -> Dict[str, Any]:
    """A real account's config, or a DemoError saying what is wrong with the file."""
    if not path.exists():
        raise DemoError(
            f"--config {path}: no such file. Write a JSON config (see README: 'Run against your Kustomer account')."
        )
    try:
        config = json.loads(path.read_text())
    except ValueError as error:
        raise DemoError(f"--config {path} is not valid JSON ({error.msg} at line {error.lineno}).") from None
    if not isinstance(config, dict) or not config.get("api_token"):
        raise DemoError(f"--config {path} has no 'api_token'. Paste a Kustomer API key there.")
    return config


def _table_counts(cache: Any, streams: List[str]) -> Dict[str, int]:
    """Rows per table that stand for live records: delete markers are not counted."""
    counts = {}
    for stream in streams:
        try:
            columns = {row["column_name"] for row in cache.run_sql_query(f'DESCRIBE "{stream}"')}
        except RuntimeError:  # no table: the stream had no records
            counts[stream] = 0
            continue
        live = "WHERE _ab_cdc_deleted_at IS NULL" if "_ab_cdc_deleted_at" in columns else ""
        counts[stream] = int(cache.run_sql_query(f'SELECT count(*) AS n FROM "{stream}" {live}')[0]["n"])
    return counts


def change_the_org(url: str, args: argparse.Namespace) -> None:
    """Between two runs: updates, soft deletes, hard deletes and merges, as a busy org makes them."""
    streams = _admin(url, "streams")["search"]
    changed = sum(len(_admin(url, "mutate", {"stream": s, "count": args.mutate})["ids"]) for s in streams)
    deleted = 0
    if args.delete:
        for stream in streams:
            deleted += len(_admin(url, "delete", {"stream": stream, "count": args.delete, "mode": "soft"})["ids"])
        for stream in HARD_DELETED:
            deleted += len(_admin(url, "delete", {"stream": stream, "count": args.delete, "mode": "hard"})["ids"])
        deleted += len(_admin(url, "merge", {"count": args.delete})["merged"])
    print(
        f"\nThe simulated org updates {changed:,} records across {len(streams)} streams and deletes {deleted:,} "
        f"(soft and hard deletes, and {args.delete} customer merges) …"
    )


def sync(config: Dict[str, Any], db: Path, run_number: int) -> Dict[str, Any]:
    """One PyAirbyte read of every stream into the DuckDB cache; returns the connector's summary."""
    import airbyte as ab
    from airbyte.caches import DuckDBCache

    progress = ConnectorProgress()
    source = ab.get_source(
        "source-kustomer", config=config, pip_url=str(ROOT), install_root=ROOT, install_if_missing=False
    )
    if run_number == 1:
        print(f"Connector: airbyte-source-kustomer {source.connector_version} ({CONNECTOR.parent.parent.name})")
    logger = logging.getLogger("airbyte.source-kustomer")  # PyAirbyte's logger for this connector's LOG messages
    logger.addHandler(progress)
    logger.setLevel(logging.INFO)
    try:
        try:
            source.check()
        except Exception as error:  # noqa: BLE001 - PyAirbyte raises its own types; show the connector's words
            raise DemoError(f"the connection check failed: {getattr(error, 'message', None) or error}") from None
        source.select_all_streams()
        cache = DuckDBCache(db_path=str(db), schema_name="main")
        kind = "full" if run_number == 1 else "incremental"
        print(f"\nRun {run_number} ({kind} where the stream allows it) …", flush=True)
        started = time.monotonic()
        try:
            source.read(cache=cache)
        except Exception as error:  # noqa: BLE001
            raise DemoError(f"the sync failed: {getattr(error, 'message', None) or error}") from None
        elapsed = time.monotonic() - started
        counts = _table_counts(cache, [row["stream"] for row in progress.summary])
        print(summary_table(progress.summary, counts))
        print(f"Run {run_number}: {sum(r['records'] for r in progress.summary):,} records in {elapsed:.1f}s")
        return {"run": run_number, "seconds": elapsed, "streams": progress.summary, "tables": counts, "cache": cache}
    finally:
        logger.removeHandler(progress)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the demo; exit 1 with one clear line on a user mistake."""
    args = parse_args(argv)
    os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("AIRBYTE_LOGGING_ROOT", str(args.db.parent / "logs"))
    args.db.parent.mkdir(parents=True, exist_ok=True)
    runs: List[Dict[str, Any]] = []
    try:
        if not CONNECTOR.exists():
            raise DemoError(f"{CONNECTOR} is missing; run ./demo.sh, which installs it.")
        if args.config:
            config = load_config(args.config)
            for n in range(1, args.runs + 1):
                runs.append(sync(config, args.db, n))
        else:
            args.db.unlink(missing_ok=True)  # a new simulated org: its cache starts empty
            with simulator(args) as url:
                config = {
                    "api_token": DEMO_TOKEN,
                    "api_url": url,
                    "start_date": "2000-01-01T00:00:00Z",
                    "search_lag_seconds": 0,
                    "rate_limit_window_seconds": args.minute_seconds,
                    "sync_deletes": True,
                }
                for n in range(1, args.runs + 1):
                    if n > 1:
                        change_the_org(url, args)
                    runs.append(sync(config, args.db, n))
    except DemoError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    cache = runs[-1]["cache"]
    print("\nConversations per channel per month, answered from DuckDB:")
    print(EXAMPLE_SQL.strip())
    for row in cache.run_sql_query(EXAMPLE_SQL):
        print(f"  {row['month']}  {str(row['channel']):<10} {row['conversations']:>6,}")
    print(f"\nDuckDB file: {args.db}  (try: duckdb {args.db} 'SELECT count(*) FROM customers')")
    if args.report:
        args.report.write_text(json.dumps([{k: v for k, v in r.items() if k != "cache"} for r in runs], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
