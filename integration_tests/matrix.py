"""The fault matrix's rows, collected from every module (and every pytest-xdist worker) that adds one; written as
a table and printed at the end of the pytest run."""

import json
from typing import Any, Dict, List

from integration_tests.harness import ROOT

TABLE = ROOT / "build" / "fault_matrix.md"
ROWS_FILE = ROOT / "build" / "fault_matrix.rows.jsonl"  # one JSON row a line, appended by whichever process ran it


def start() -> None:
    """Forget the rows of an earlier run (called once, by the process that runs the session)."""
    ROWS_FILE.parent.mkdir(exist_ok=True)
    ROWS_FILE.write_text("")


def record(fault: str, mode: str, lost: int, duplicates: int, outcome: str, seconds: float) -> None:
    """One row: what was done to the sync, how it was run, what it lost and duplicated, how it ended."""
    row = {"fault": fault, "mode": mode, "lost": lost, "duplicates": duplicates, "outcome": outcome, "seconds": seconds}
    ROWS_FILE.parent.mkdir(exist_ok=True)
    with ROWS_FILE.open("a") as rows:
        rows.write(json.dumps(row) + "\n")


def rows() -> List[Dict[str, Any]]:
    """Every row recorded in this run, in the order they were written."""
    if not ROWS_FILE.exists():
        return []
    return [json.loads(line) for line in ROWS_FILE.read_text().splitlines() if line.strip()]


def write_table() -> str:
    """Write the rows as a markdown table to build/fault_matrix.md; returns it ('' when there are none)."""
    recorded = rows()
    if not recorded:
        return ""
    lines = ["| fault | mode | records lost | duplicates | outcome | seconds |", "|---|---|---|---|---|---|"]
    for row in sorted(recorded, key=lambda r: r["fault"]):
        lines.append(
            f"| {row['fault']} | {row['mode']} | {row['lost']} | {row['duplicates']} | {row['outcome']} | "
            f"{row['seconds']:.1f} |"
        )
    TABLE.write_text("\n".join(lines) + "\n")
    return TABLE.read_text()
