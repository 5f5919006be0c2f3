"""The fault matrix's rows, collected from every module that adds one; printed at the end of the pytest run."""

from typing import Any, Dict, List

from integration_tests.harness import ROOT

ROWS: List[Dict[str, Any]] = []
TABLE = ROOT / "build" / "fault_matrix.md"


def record(fault: str, mode: str, lost: int, duplicates: int, outcome: str, seconds: float) -> None:
    """One row: what was done to the sync, how it was run, what it lost and duplicated, how it ended."""
    ROWS.append(
        {"fault": fault, "mode": mode, "lost": lost, "duplicates": duplicates, "outcome": outcome, "seconds": seconds}
    )


def write_table() -> None:
    """Write the rows as a markdown table to build/fault_matrix.md."""
    if not ROWS:
        return
    lines = ["| fault | mode | records lost | duplicates | outcome | seconds |", "|---|---|---|---|---|---|"]
    for row in ROWS:
        lines.append(
            f"| {row['fault']} | {row['mode']} | {row['lost']} | {row['duplicates']} | {row['outcome']} | "
            f"{row['seconds']:.1f} |"
        )
    TABLE.parent.mkdir(exist_ok=True)
    TABLE.write_text("\n".join(lines) + "\n")
