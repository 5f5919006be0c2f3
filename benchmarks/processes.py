"""Processes the benchmark runs and measures -- the simulator, our connector, the Singer tap -- and the streams and
configs its parts share."""

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import orjson

from source_kustomer.streams import LIST_STREAMS, SEARCH_STREAMS

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work"
TOKEN = "bench-token-not-a-secret-Xq3vR8mZ2kLw7nPb"
# Measured processes run as installed ones do: with their modules' bytecode cached (pip writes it at install; with
# PYTHONDONTWRITEBYTECODE set, a checkout would compile the connector's own modules at every start).
AS_INSTALLED = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
START = "2000-01-01T00:00:00Z"
KLASS_STREAMS = {"kobjects_order", "kobjects_subscription"}  # the simulator's default klasses
SEARCH = {spec.name for spec in SEARCH_STREAMS} | KLASS_STREAMS
# The streams whose history older than two years Kustomer keeps in its archive search.
ARCHIVED = {spec.name for spec in SEARCH_STREAMS if spec.archived} | KLASS_STREAMS
ALL = SEARCH | {spec.name for spec in LIST_STREAMS}
SHARED = {"customers", "conversations", "messages", "notes", "users", "teams", "tags", "shortcuts"}


def log(text: str) -> None:
    """Print a progress line at once."""
    print(text, flush=True)


def unlimited(url: str) -> Dict[str, Any]:
    """Our config when the simulator has no limits: budgets out of the way."""
    return {
        "api_token": TOKEN,
        "api_url": url,
        "start_date": START,
        "search_lag_seconds": 0,
        "search_requests_per_minute": 100,
        "api_utilization_percent": 100,
        "rate_limit_window_seconds": 0.5,
    }


@contextmanager
def machine_load(every: float = 10.0) -> Iterator[Dict[str, float]]:
    """The machine's one-minute load average while the block runs, sampled every ``every`` seconds: the dict it
    gives gets its min, median and max when the block ends (CPU figures on a shared machine move with it)."""
    samples = [os.getloadavg()[0]]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every):
            samples.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    figures: Dict[str, float] = {}
    try:
        yield figures
    finally:
        stop.set()
        sampler.join()
        figures.update(
            min=round(min(samples), 2), median=round(statistics.median(samples), 2), max=round(max(samples), 2)
        )


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def admin(url: str, path: str, payload: Optional[dict] = None, context: Any = None) -> Any:
    """Call the simulator's admin API."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(f"{url}/__admin/{path}", data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=300, context=context) as response:
        return json.loads(response.read())


@contextmanager
def simulator(
    scale: int,
    *,
    limits: bool,
    minute_seconds: float = 60.0,
    ties: Tuple[int, ...] = (),
    port: Optional[int] = None,
    tls: Optional[Tuple[Path, Path]] = None,
    host: str = "127.0.0.1",
    prerender: bool = True,
    history_days: int = 330,
    extra: Sequence[str] = (),
) -> Iterator[str]:
    """A simulator in its own process (pre-rendered by default, so it never paces the measured client)."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "kustomer_simulator",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--scale",
        str(scale),
        "--seed",
        "7",
        "--token",
        TOKEN,
        "--minute-seconds",
        str(minute_seconds),
        "--deleted-fraction",
        "0.01",
        "--history-days",
        str(history_days),
    ]
    command += list(extra)
    if prerender:
        command.append("--prerender")
    if ties:
        command += ["--ties", ",".join(str(t) for t in ties)]
    if not limits:
        command += ["--org-per-minute", "0", "--search-per-minute", "0"]
    if tls:
        command += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    log = open(WORK / f"simulator-{port}.log", "w")
    process = subprocess.Popen(command, cwd=ROOT, stderr=log)
    url = f"http://127.0.0.1:{port}"  # ignore-https-check: the simulator serves plain HTTP on loopback
    try:
        deadline = time.monotonic() + 900
        while True:
            try:
                if tls:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                admin(url, "streams")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"simulator failed: {(WORK / f'simulator-{port}.log').read_text()[-800:]}"
                    ) from None
                time.sleep(0.3)
        if tls:
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


@dataclass
class Measured:
    """What one connector process did and cost."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: Optional[int]
    records: Dict[str, List[str]] = field(default_factory=lambda: defaultdict(list))
    first_record_s: Optional[float] = None
    last_record_s: Optional[float] = None
    summary: List[Dict[str, Any]] = field(default_factory=list)
    error: Optional[str] = None
    timed_out: bool = False

    @property
    def total(self) -> int:
        """Records emitted, duplicates included."""
        return sum(len(ids) for ids in self.records.values())

    def duplicates(self) -> int:
        """Records emitted more than once (by id, per stream)."""
        return sum(sum(n - 1 for n in Counter(ids).values()) for ids in self.records.values())

    def lost(self, truth: Dict[str, Set[str]]) -> int:
        """Records in the truth this run never emitted."""
        return sum(len(ids - set(self.records.get(stream, []))) for stream, ids in truth.items())


def measure(
    command: List[str],
    *,
    singer: bool,
    env: Optional[Dict[str, str]] = None,
    timeout: float = 3600,
    stderr_path: Optional[Path] = None,
) -> Measured:
    """Run a connector, parse its stdout as it streams, and read its CPU time and peak RSS from wait4()."""
    started = time.monotonic()
    err = open(stderr_path or os.devnull, "w")
    # GNU time reports the child's own peak RSS: wait4()'s ru_maxrss would include the RSS this (large) process
    # had when it forked, which Linux carries into the child.
    rss_file = WORK / "maxrss.txt"
    command = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *command]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=err, cwd=ROOT, env={**AS_INSTALLED, **(env or {})}
    )
    result = Measured(0, 0, 0, None)
    deadline = started + timeout
    error_lines: List[str] = []
    for line in process.stdout:  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            result.timed_out = True
            process.kill()
            break
        if not line.startswith(b"{"):
            continue
        if line.startswith(b'{"type":"RECORD"') or line.startswith(b'{"type": "RECORD"'):
            message = orjson.loads(line)
            if singer:
                stream, rid = message["stream"], message["record"].get("id")
            else:
                stream, rid = message["record"]["stream"], message["record"]["data"].get("id")
            result.records[stream].append(rid)
            now = time.monotonic() - started
            result.first_record_s = result.first_record_s if result.first_record_s is not None else now
            result.last_record_s = now
        elif b"SYNC_SUMMARY " in line:
            result.summary = json.loads(orjson.loads(line)["log"]["message"][len("SYNC_SUMMARY ") :])
        elif b'"ERROR"' in line:
            error_lines.append(line.decode(errors="replace")[:400])
    _, status, usage = os.wait4(process.pid, 0)
    err.close()
    result.wall_s = time.monotonic() - started
    result.cpu_s = usage.ru_utime + usage.ru_stime
    result.peak_rss_mb = _peak_rss_kb(rss_file) / 1024
    result.returncode = os.waitstatus_to_exitcode(status)
    if error_lines:
        result.error = error_lines[0]
    if stderr_path and result.returncode not in (0, None) and not result.error:
        tail = stderr_path.read_text(errors="replace").strip().splitlines()[-1:] if stderr_path.exists() else []
        result.error = tail[0][:400] if tail else f"exit {result.returncode}"
    return result


def _peak_rss_kb(path: Path) -> float:
    lines = [line for line in path.read_text().splitlines() if line.strip().isdigit()] if path.exists() else []
    return float(lines[-1]) if lines else 0.0


def our_command(config: Dict[str, Any], catalog: Dict[str, Any], name: str, code: Path = ROOT) -> List[str]:
    """`python main.py read …` (of the connector in ``code``) with files written under benchmarks/work."""
    config_path, catalog_path = WORK / f"{name}-config.json", WORK / f"{name}-catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(catalog))
    return [sys.executable, str(code / "main.py"), "read", "--config", str(config_path), "--catalog", str(catalog_path)]


def our_catalog(config: Dict[str, Any], streams: Optional[Set[str]], code: Path = ROOT) -> Dict[str, Any]:
    """Discover (with the connector in ``code``), then configure ``streams`` (every one discovered when None;
    incremental where supported)."""
    path = WORK / "discover-config.json"
    path.write_text(json.dumps(config))
    out = subprocess.run(
        [sys.executable, str(code / "main.py"), "discover", "--config", str(path)],
        capture_output=True,
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)},
        check=True,
    )
    catalog = next(json.loads(line) for line in out.stdout.splitlines() if b'"CATALOG"' in line)["catalog"]
    configured = []
    for stream in catalog["streams"]:
        if streams is not None and stream["name"] not in streams:
            continue
        incremental = "incremental" in stream["supported_sync_modes"]
        configured.append(
            {
                "stream": stream,
                "sync_mode": "incremental" if incremental else "full_refresh",
                "destination_sync_mode": "append",
                "cursor_field": ["updatedAt"] if incremental else None,
            }
        )
    return {"streams": configured}


def truth(url: str, streams: Set[str], since: str, context: Any = None) -> Dict[str, Set[str]]:
    """Ids a correct sync of each stream must emit."""
    out = {}
    for stream in streams:
        records = admin(f"{url}", f"truth?stream={stream}&since={since}", context=context)["records"]
        out[stream] = {rid for rid, _ in records}
    return out
