"""Ask a demo DuckDB file one question, read-only, and print the answer as a small table.

Usage: .venv-pyairbyte/bin/python -m demo.query demo_output/simulator/kustomer.duckdb "SELECT count(*) FROM customers"
"""

import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    """Run the query; exit 1 with DuckDB's one-line message when it fails."""
    parser = argparse.ArgumentParser(prog="python -m demo.query", description=__doc__.splitlines()[0])
    parser.add_argument("db", help="the DuckDB file ./demo.sh wrote")
    parser.add_argument("sql", help="one SQL statement")
    args = parser.parse_args(argv)
    import duckdb

    try:
        with duckdb.connect(args.db, read_only=True) as con:
            cursor = con.execute(args.sql)
            columns = [column[0] for column in cursor.description or []]
            rows = cursor.fetchall()
    except duckdb.Error as error:
        print(f"query: {error}", file=sys.stderr)
        return 1
    cells = [columns] + [["" if value is None else str(value) for value in row] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        print("  ".join(value.rjust(width) for value, width in zip(line, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
