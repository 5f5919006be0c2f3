"""Sync a whole Kustomer org into DuckDB with PyAirbyte: the bundled simulator by default, or a real account.

Run through ./demo.sh, which prepares three environments so that nothing clashes: the project's (simulator),
the connector's own (its `source-kustomer` executable) and PyAirbyte's (this script). Each org gets its own
DuckDB file, and so its own sync state: demo_output/<host>/kustomer.duckdb.
"""

import argparse
import contextlib
import io
import json
import logging
import os
import shlex
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from demo import activation, store
from demo.report import FOOTNOTES, ConnectorProgress, summary_table, timing_line, totals_line
from demo.simulated_org import DEMO_TOKEN, PUBLISH_LAG_SECONDS, SimulatorError, change_the_org, simulator

ROOT = Path(__file__).resolve().parent.parent
# The connector's own venv, where PyAirbyte's venv executor expects it (install_root=ROOT): it can then report
# the installed version of airbyte-source-kustomer.
CONNECTOR = ROOT / ".venv-source-kustomer" / "bin" / "source-kustomer"
CONNECTOR_PYTHON = CONNECTOR.parent / "python"
LIVE_ONLY = "WHERE _ab_cdc_deleted_at IS NULL"
# Deleted conversations stay in the table as delete markers (_ab_cdc_deleted_at set): leave them out.
EXAMPLE_SQL = f"""
SELECT strftime(CAST(createdat AS TIMESTAMP), '%Y-%m') AS month,
       json_extract_string(CAST(channels AS JSON), '$[0]') AS channel,
       count(*) AS conversations
FROM conversations
{LIVE_ONLY}
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
    parser.add_argument("--seed", type=int, default=7, help="the simulated org's seed (default 7)")
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
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=ROOT / "demo_output",
        help="where each org's DuckDB file and logs go: <dir>/<host>/ (default demo_output; the simulated org: "
        "<dir>/simulator/)",
    )
    parser.add_argument("--db", type=Path, help="a DuckDB file of your choice instead of <output-dir>/<host>/")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="with --config: delete that org's DuckDB file (tables and sync state) and start over with a full sync "
        "(the simulated org always starts fresh)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show everything: connector logs, PyAirbyte")
    parser.add_argument("--simulator-url", help="use an already running simulator instead of starting one")
    parser.add_argument("--report", type=Path, help="write the per-run summaries here as JSON")
    return parser.parse_args(argv)


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


def open_org_file(db: Path, org: str, fresh: bool) -> None:
    """Make ``db`` the file of ``org``: emptied when ``fresh``; never a file that holds another org."""
    try:
        found = store.stamped_org(db)
    except store.UnreadableFile as reason:
        raise DemoError(f"{_shown(db)} cannot be opened ({reason}); name another --db.") from None
    if found is not None and found != org:
        raise DemoError(
            f"{_shown(db)} holds the tables and sync state of {found}, not {org}. Leave out --db (each org gets "
            "its own file under --output-dir) or name another file."
        )
    if fresh:
        store.forget(db)
    elif found is None and db.exists():
        raise DemoError(
            f"{_shown(db)} was not written by the demo for {org} (it names no org): pass --fresh to start it over "
            "for this org, or name another --db."
        )
    store.claim(db, org)


def _live_filter(cache: Any, stream: str) -> Optional[str]:
    """``WHERE`` clause for the rows of ``stream`` that are not delete markers ('' when it has none; None when
    the stream has no table)."""
    try:
        columns = {row["column_name"] for row in cache.run_sql_query(f'DESCRIBE "{stream}"')}
    except RuntimeError:  # no table: the stream had no records
        return None
    return LIVE_ONLY if "_ab_cdc_deleted_at" in columns else ""


def _table_counts(cache: Any, streams: List[str]) -> Dict[str, int]:
    """Rows per table that stand for live records: delete markers are not counted."""
    counts = {}
    for stream in streams:
        live = _live_filter(cache, stream)
        rows = [] if live is None else cache.run_sql_query(f'SELECT count(*) AS n FROM "{stream}" {live}')
        counts[stream] = int(rows[0]["n"]) if rows else 0
    return counts


@contextmanager
def library_output(verbose: bool) -> Iterator[None]:
    """PyAirbyte's own chatter (log-file notices, the check result, its progress panel, its closing line): shown
    with -v, else held back, and its last lines shown only if the sync fails. The demo's own lines are written to
    the stdout it had before."""
    if verbose:
        yield
        return
    held = io.StringIO()
    try:
        with contextlib.redirect_stderr(held), contextlib.redirect_stdout(held):
            yield
    except BaseException:
        tail = [line for line in held.getvalue().splitlines() if line.strip()][-15:]
        if tail:
            print("\n".join(["PyAirbyte's last lines:"] + tail), file=sys.stderr)
        raise


def sync(config: Dict[str, Any], db: Path, run_number: int, incremental: bool, verbose: bool) -> Dict[str, Any]:
    """One PyAirbyte read of every stream into the DuckDB cache (``incremental``: the file holds a saved state);
    returns the connector's summary."""
    out = sys.stdout
    progress = ConnectorProgress(verbose=verbose, out=out)
    logger = logging.getLogger("airbyte.source-kustomer")  # PyAirbyte's logger for this connector's LOG messages
    with library_output(verbose):
        import airbyte as ab
        from airbyte.caches import DuckDBCache

        source = ab.get_source(
            "source-kustomer", config=config, pip_url=str(ROOT), install_root=ROOT, install_if_missing=False
        )
        if run_number == 1:
            print(
                f"Connector: airbyte-source-kustomer {source.connector_version} ({CONNECTOR.parent.parent.name})",
                file=out,
            )
        logger.addHandler(progress)
        logger.setLevel(logging.INFO)
        try:
            try:
                source.check()
            except Exception as error:  # noqa: BLE001 - PyAirbyte raises its own types; show the connector's words
                raise DemoError(f"the connection check failed: {getattr(error, 'message', None) or error}") from None
            source.select_all_streams()
            cache = DuckDBCache(db_path=str(db), schema_name="main")
            kind = "incremental" if incremental else "full"
            print(f"\nRun {run_number} ({kind} where the stream allows it) into {_shown(db)} …", file=out, flush=True)
            started = time.monotonic()
            try:
                result = source.read(cache=cache)
            except Exception as error:  # noqa: BLE001
                raise DemoError(f"the sync failed: {getattr(error, 'message', None) or error}") from None
            elapsed = time.monotonic() - started
        finally:
            logger.removeHandler(progress)
    counts = _table_counts(cache, [row["stream"] for row in progress.summary])
    print(summary_table(progress.summary, counts))
    print(totals_line(progress.summary, result.processed_records, counts))
    print(timing_line(progress.summary))
    print("\n".join(FOOTNOTES))
    print(f"Run {run_number}: done in {elapsed:.1f} s (reading, then PyAirbyte writing its tables).")
    return {
        "run": run_number,
        "seconds": elapsed,
        "pyairbyte_records": result.processed_records,
        "streams": progress.summary,
        "tables": counts,
        "cache": cache,
    }


def _shown(path: Path) -> str:
    """A path as the user can type it from where the demo runs."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def closing_hint(cache: Any, db: Path) -> str:
    """A query the user can run next, with what the project installed, counting live customers."""
    live = _live_filter(cache, "customers")
    sql = f"SELECT count(*) AS live_customers FROM customers {live or ''}".strip()
    command = [_shown(ROOT / ".venv-pyairbyte" / "bin" / "python"), "-m", "demo.query", _shown(db), sql]
    return f"DuckDB file: {_shown(db)}\nAsk it more, e.g.: {shlex.join(command)}"


def quiet_library_warnings() -> None:
    """Google's client libraries, which PyAirbyte imports for its BigQuery cache and secret manager, warn on
    import that their future releases drop Python 3.11; nothing the demo can act on."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.api_core\._python_version_support")


def main(argv: Optional[List[str]] = None) -> int:
    """Run the demo; exit 1 with one clear line on a user mistake."""
    args = parse_args(argv)
    runs: List[Dict[str, Any]] = []
    activated: Optional[activation.Activation] = None
    try:
        if not CONNECTOR.exists():
            raise DemoError(f"{CONNECTOR} is missing; run ./demo.sh, which installs it.")
        config = load_config(args.config) if args.config else None
        if args.config:
            try:
                org = store.connector_origin(CONNECTOR_PYTHON, args.config)
            except ValueError as reason:
                raise DemoError(f"--config {args.config}: {reason}") from None
        else:
            org = store.SIMULATED
        db = args.db or store.db_path(args.output_dir, org)
        open_org_file(db, org, fresh=args.fresh or config is None)
        resumed = store.has_sync_state(db)  # read before PyAirbyte opens the file
        os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
        os.environ.setdefault("DO_NOT_TRACK", "1")
        os.environ.setdefault("AIRBYTE_LOGGING_ROOT", str(db.parent / "logs"))
        quiet_library_warnings()
        if config is not None:
            for n in range(1, args.runs + 1):
                runs.append(sync(config, db, n, resumed or n > 1, args.verbose))
        else:
            with simulator(args) as url:
                config = {
                    "api_token": DEMO_TOKEN,
                    "api_url": url,
                    "start_date": "2000-01-01T00:00:00Z",
                    "search_lag_seconds": 0,
                    "rate_limit_window_seconds": args.minute_seconds,
                    "audit_publish_lag_seconds": PUBLISH_LAG_SECONDS,
                    "sync_deletes": True,
                }
                for n in range(1, args.runs + 1):
                    if n > 1:
                        change_the_org(url, args)
                    runs.append(sync(config, db, n, resumed or n > 1, args.verbose))
                try:
                    activated = activation.run_step(runs[-1]["cache"].run_sql_query, CONNECTOR, config)
                except RuntimeError as error:
                    raise DemoError(f"the activation step failed: {error}") from None
    except (DemoError, SimulatorError) as error:
        print(f"demo: {error}", file=sys.stderr)
        if not args.verbose:
            print("demo: ./demo.sh -v … shows everything the connector and PyAirbyte said.", file=sys.stderr)
        return 1
    cache = runs[-1]["cache"]
    live = _live_filter(cache, "conversations")
    if live is not None:
        sql = EXAMPLE_SQL.replace(LIVE_ONLY, live)
        print("\nConversations per channel per month, answered from DuckDB:")
        print(sql.strip())
        for row in cache.run_sql_query(sql):
            print(f"  {row['month']}  {str(row['channel']):<10} {row['conversations']:>6,}")
    print("\n" + "\n".join(activation.summary_lines(activated)))
    print(f"\n{closing_hint(cache, db)}")
    if args.report:
        report = [{k: v for k, v in r.items() if k != "cache"} for r in runs]
        args.report.write_text(json.dumps({"org": org, "db": str(db), "runs": report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
