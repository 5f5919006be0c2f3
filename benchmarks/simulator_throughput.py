"""How fast the simulator serves (it must never be what a benchmark measures): one server process, one
client process, search pages of 500 and small list pages; cold (rendered on demand) and pre-rendered.

Usage: .venv/bin/python -m benchmarks.simulator_throughput [--scale 200000]
"""

import argparse
import json
import sys
import time
from typing import List, Optional

import requests

from benchmarks.processes import TOKEN, simulator


def serve_rates(url: str, pages: int) -> dict:
    """Requests/s and records/s for the 20 search pages of 500 inside the result window; small list pages/s."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    body = {"sort": [{"message_updated_at": "asc"}], "queryContext": "message"}
    records, started = 0, time.perf_counter()
    for page in range(1, pages + 1):
        records += len(session.post(f"{url}/v1/customers/search?page={page}&pageSize=500", json=body).json()["data"])
    search_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(500):
        session.get(f"{url}/v1/brands")
    list_s = time.perf_counter() - started
    return {
        "search_requests_per_s": round(pages / search_s, 1),
        "records_per_s": round(records / search_s),
        "small_list_requests_per_s": round(500 / list_s),
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=200_000)
    args = parser.parse_args(argv)
    out = {}
    for label, prerender in (("cold", False), ("pre-rendered", True)):
        started = time.perf_counter()
        with simulator(args.scale, limits=False, prerender=prerender) as url:
            ready = time.perf_counter() - started
            out[label] = {"startup_s": round(ready, 1), **serve_rates(url, pages=20)}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
