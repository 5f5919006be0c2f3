"""What the demo shows while it runs and after: one line per stream, the summary table and what its totals mean."""

import json
import logging
import sys
from typing import Any, Dict, List, Mapping, Optional, TextIO

SUMMARY_PREFIX = "SYNC_SUMMARY "
PROGRESS_PREFIX = "progress "
DONE_MARK = " — done in "  # how the connector ends a stream's last progress line
FOOTNOTES = (
    "waited: seconds during which at least one of the stream's requests was pausing before it was sent, to stay "
    "within Kustomer's rate budgets (which streams read at the same time share); requests pausing side by side "
    "count once, so a stream never waits longer than it ran.",
    "dups: possible duplicates, records at the previous sync's saved cursor read again because each incremental "
    "sync starts at it; an Append + Deduped destination (and PyAirbyte's cache) keeps one row per id.",
)


class ConnectorProgress(logging.Handler):
    """Shows the connector's log while a sync runs and keeps its final SYNC_SUMMARY.

    PyAirbyte hands every connector log line to this logger at INFO (the connector's own level is not kept); only
    its error messages come at ERROR. Quiet: one line per stream when it is done, and errors (on a terminal, the
    latest progress line is shown in place until then). Verbose: every line the connector logs.
    """

    def __init__(self, verbose: bool = False, out: Optional[TextIO] = None) -> None:
        super().__init__(level=logging.INFO)
        self.verbose = verbose
        self.out = out or sys.stdout
        self.live = self.out.isatty()
        self.summary: List[Dict[str, Any]] = []
        self._status_shown = False

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(SUMMARY_PREFIX):
            self.summary = json.loads(message[len(SUMMARY_PREFIX) :])
        if self.verbose:
            self._print(f"  | {message}")
        elif record.levelno >= logging.WARNING:
            self._print(f"  ! {message}")
        elif message.startswith(PROGRESS_PREFIX):
            line = message[len(PROGRESS_PREFIX) :]
            if DONE_MARK in line:
                self._print(f"  ✓ {line}")
            elif self.live:
                print(f"\r\033[K  … {line}", end="", file=self.out, flush=True)
                self._status_shown = True

    def _print(self, line: str) -> None:
        if self._status_shown:
            print("\r\033[K", end="", file=self.out)
            self._status_shown = False
        print(line, file=self.out, flush=True)


def summary_table(rows: List[Dict[str, Any]], live: Optional[Mapping[str, int]] = None) -> str:
    """A fixed-width table, one line per stream and a total; ``live`` adds the live rows in DuckDB.

    ``start`` is when the stream began, in seconds after the first stream did; ``secs`` how long it ran (``*``:
    it did not finish); ``waited`` the wall time its requests spent pausing for the rate budgets (``FOOTNOTES``).
    A stream read one of several ways (work items, work sessions) says which.
    """
    first_start = min((r["started_at"] for r in rows if r.get("started_at") is not None), default=None)
    header = (
        f"{'stream':<26}{'records':>9}{'deletions':>10}{'requests':>9}{'start':>7}{'secs':>7}"
        f"{'waited':>7}{'429s':>6}{'dups':>7}"
    )
    if live is not None:
        header += f"{'live rows':>10}"
    rule = "-" * len(header)
    lines = [header, rule]
    for row in sorted(rows, key=lambda r: r["stream"]):
        started = row.get("started_at")
        start = f"{started - first_start:.1f}" if started is not None and first_start is not None else "—"
        unfinished = "*" if started is not None and row.get("finished_at") is None else " "
        line = (
            f"{row['stream']:<26}{row['records']:>9,}{row['deletions']:>10,}{row['requests']:>9,}{start:>7}"
            f"{row['duration_s']:>6.1f}{unfinished}{row['rate_wait_s']:>7.1f}{row['http_429']:>6,}"
            f"{row['possible_duplicates']:>7,}"
        )
        if live is not None:
            line += f"{live.get(row['stream'], 0):>10,}"
        if row.get("skipped"):
            line += f"  (skipped: {row['skipped']})"
        elif row.get("read_path"):
            line += f"  (read {row['read_path']})"
        lines.append(line)
    total = (
        f"{'total':<26}{_sum(rows, 'records'):>9,}{_sum(rows, 'deletions'):>10,}{_sum(rows, 'requests'):>9,}"
        f"{'':>7}{_sum(rows, 'duration_s'):>6.1f} {_sum(rows, 'rate_wait_s'):>7.1f}{_sum(rows, 'http_429'):>6,}"
        f"{_sum(rows, 'possible_duplicates'):>7,}"
    )
    if live is not None:
        total += f"{sum(live.values()):>10,}"
    lines += [rule, total]
    return "\n".join(lines)


def _sum(rows: List[Dict[str, Any]], key: str) -> Any:
    return sum(row[key] for row in rows)


def counted(n: int, noun: str, plural: Optional[str] = None) -> str:
    """A count with its noun in the number it takes: ``1 record``, ``2 records``, ``1,000 records``."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def totals_line(rows: List[Dict[str, Any]], pyairbyte_records: int, live: Mapping[str, int]) -> str:
    """PyAirbyte's record total against the connector's records, delete markers and the live rows, in one line."""
    records, deletions = _sum(rows, "records"), _sum(rows, "deletions")
    line = (
        f"PyAirbyte counted {counted(pyairbyte_records, 'record')}: the connector's {counted(records, 'record')} "
        f"plus its {counted(deletions, 'delete marker')} (one per deleted record)"
    )
    if pyairbyte_records != records + deletions:
        line += f", and {pyairbyte_records - records - deletions:,} more the connector's summary does not count"
    live_rows = counted(sum(live.values()), "live row")
    return line + f"; the tables now hold {live_rows} (rows that are not delete markers)."


def timing_line(rows: List[Dict[str, Any]]) -> str:
    """Wall time of the streams against the sum of their times: how much they overlapped."""
    spans = [
        (row["started_at"], row["finished_at"] or row["started_at"] + row["duration_s"])
        for row in rows
        if row.get("started_at") is not None
    ]
    total = _sum(rows, "duration_s")
    if not spans:
        return f"Time: sum of stream times {total:.1f} s."
    wall = max(end for _, end in spans) - min(start for start, _ in spans)
    overlap = f": {total / wall:.1f}× overlap (streams are read concurrently)" if wall > 0 else ""
    return (
        f"Time: wall {wall:.1f} s from the first stream's start to the last one's end, "
        f"sum of stream times {total:.1f} s{overlap}."
    )
