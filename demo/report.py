"""What the demo shows while it runs and after: connector progress lines, the per-stream summary table."""

import json
import logging
from typing import Any, Dict, List, Optional

PROGRESS_PREFIXES = ("progress ", "summary ")


class ConnectorProgress(logging.Handler):
    """Echo the connector's own progress lines (records, pages, rate waits) and keep its final summary."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.summary: List[Dict[str, Any]] = []
        self.errors: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("SYNC_SUMMARY "):
            self.summary = json.loads(message[len("SYNC_SUMMARY ") :])
        elif message.startswith("progress "):
            print(f"  … {message[len('progress ') :]}", flush=True)
        elif record.levelno >= logging.WARNING:
            self.errors.append(message)
            print(f"  ! {message}", flush=True)


def summary_table(rows: List[Dict[str, Any]], cached: Optional[Dict[str, int]] = None) -> str:
    """A fixed-width table: one line per stream and a total; ``cached`` adds the live rows in DuckDB."""
    header = (
        f"{'stream':<24}{'records':>10}{'requests':>10}{'seconds':>9}{'waits':>7}{'429s':>6}{'dups':>6}{'deleted':>9}"
    )
    if cached is not None:
        header += f"{'live rows':>11}"
    lines = [header, "-" * len(header)]
    totals = {"records": 0, "requests": 0, "http_429": 0, "possible_duplicates": 0, "rate_waits": 0, "deletions": 0}
    for row in sorted(rows, key=lambda r: r["stream"]):
        line = (
            f"{row['stream']:<24}{row['records']:>10,}{row['requests']:>10,}{row['duration_s']:>9.1f}"
            f"{row['rate_waits']:>7}{row['http_429']:>6}{row['possible_duplicates']:>6}{row['deletions']:>9,}"
        )
        if cached is not None:
            line += f"{cached.get(row['stream'], 0):>11,}"
        if row.get("skipped"):
            line += f"  (skipped: {row['skipped']})"
        lines.append(line)
        for key in totals:
            totals[key] += row[key]
    lines.append("-" * len(header))
    total = (
        f"{'total':<24}{totals['records']:>10,}{totals['requests']:>10,}{'':>9}"
        f"{totals['rate_waits']:>7}{totals['http_429']:>6}{totals['possible_duplicates']:>6}{totals['deletions']:>9,}"
    )
    if cached is not None:
        total += f"{sum(cached.values()):>11,}"
    lines.append(total)
    return "\n".join(lines)
