"""The demo's simulated org: the bundled Kustomer simulator started on a loopback port for the length of the demo,
and the changes a busy org makes between two syncs (updates, soft and hard deletes, merges), through its admin API.
"""

import argparse
import json
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

from demo.report import counted

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
DEMO_TOKEN = "demo-token-not-a-secret-7Kq2Vx9Lm4Pz8Rb3Tn"
# The simulated audit log publishes an entry up to this long after it happened (the simulator's default), and the
# connector reads the log only up to its own publish lag before now: a little more, so that no entry is missed.
SIMULATOR_PUBLISH_LAG_SECONDS = 8
PUBLISH_LAG_SECONDS = SIMULATOR_PUBLISH_LAG_SECONDS + 2
# Streams the demo hard-deletes from: objects whose deletes Kustomer's audit log reports (docs/kustomer.md).
HARD_DELETED = ("customers", "conversations")


class SimulatorError(Exception):
    """The simulator did not start; printed as one line, as the demo's other errors."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def admin(url: str, path: str, payload: Optional[Dict[str, Any]] = None) -> Any:
    """Call the simulator's admin API (a GET, or a POST of ``payload``)."""
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
        "--audit-publish-lag-seconds",
        str(SIMULATOR_PUBLISH_LAG_SECONDS),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"  # ignore-https-check: the simulator serves plain HTTP on loopback
    try:
        print(f"Starting the Kustomer simulator ({args.scale:,} records, seed {args.seed}) …", flush=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                admin(url, "streams")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SimulatorError(f"the simulator did not start: {process.stderr.read()[-500:]}") from None
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


def change_the_org(url: str, args: argparse.Namespace) -> None:
    """Between two runs: updates, soft deletes, hard deletes and merges, as a busy org makes them; then the wait
    until the audit log has published them (the next sync reads it only up to its publish lag before now)."""
    streams = admin(url, "streams")["search"]
    # The org picks records to update at random, a record possibly twice: count the records, not the updates.
    updated = sum(len(set(admin(url, "mutate", {"stream": s, "count": args.mutate})["ids"])) for s in streams)
    deleted = merged = 0
    if args.delete:
        for stream in streams:
            deleted += len(admin(url, "delete", {"stream": stream, "count": args.delete, "mode": "soft"})["ids"])
        for stream in HARD_DELETED:
            deleted += len(admin(url, "delete", {"stream": stream, "count": args.delete, "mode": "hard"})["ids"])
        merged = len(admin(url, "merge", {"count": args.delete})["merged"])
    print(
        f"\nThe simulated org updates {counted(updated, 'record')} across {counted(len(streams), 'stream')} and "
        f"deletes {counted(deleted + merged, 'record')} (soft and hard deletes, and the customers merged away by "
        f"{counted(merged, 'merge')}); {PUBLISH_LAG_SECONDS} s for its audit log to publish them …",
        flush=True,
    )
    time.sleep(PUBLISH_LAG_SECONDS)
