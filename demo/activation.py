"""The demo's activation step: data back into Kustomer. After the source has synced the org into DuckDB, compute each
customer's lifetime value there (the sum of their orders' ``totalNum``), push it onto those customers'
``lifetimeValueNum`` through destination-kustomer, then read the customers back with the source and check the
values landed.

The destination runs from its own venv through its entrypoint (``destination-kustomer write``), not through
PyAirbyte: PyAirbyte's ``Destination.write`` takes only a ``Source`` or a ``ReadResult``, and rows computed by a
SQL query are neither (offline, no PyAirbyte source can serve a local table either). The stream is an ``update``
stream matched by email, so no customer is created: the values go to the customers the source read.
"""

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from demo.report import counted

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "build" / "venv-destination-kustomer"  # its own venv, under build/ (ignored by git)
DESTINATION = VENV / "bin" / "destination-kustomer"
STREAM = "customer_lifetime_value"
KUSTOMER_KEYS = ("api_token", "api_url", "region", "organization", "rate_limit_window_seconds")
Query = Callable[[str], List[Mapping[str, Any]]]  # SQL in, rows (column -> value) out: the demo's DuckDB cache
TOP_CUSTOMERS = 500  # the customers with the highest lifetime value get it written (a few hundred requests)
STATE_EVERY = 100
LIFETIME_VALUES = f"""
WITH orders AS (
    SELECT json_extract_string(relationships, '$.customer.data.id') AS customer_id,
           sum(CAST(json_extract(custom, '$.totalNum') AS DOUBLE)) AS total
    FROM kobjects_order
    WHERE _ab_cdc_deleted_at IS NULL AND json_extract(custom, '$.totalNum') IS NOT NULL
    GROUP BY 1
)
SELECT json_extract_string(c.emails, '$[0].email') AS email, round(o.total, 2) AS lifetime_value
FROM customers AS c JOIN orders AS o ON o.customer_id = c.id
WHERE c._ab_cdc_deleted_at IS NULL AND json_extract_string(c.emails, '$[0].email') IS NOT NULL
ORDER BY lifetime_value DESC, email
LIMIT {TOP_CUSTOMERS}
"""


@dataclass
class Activation:
    """What the step did: the rows pushed, what the destination made of them, and what the source read back."""

    pushed: int = 0
    summary: Mapping[str, Any] = field(default_factory=dict)
    write_seconds: float = 0.0
    read_back: int = 0
    matching: int = 0
    mismatched: List[str] = field(default_factory=list)

    def lines(self) -> List[str]:
        """The step's lines for the demo's summary."""
        s = self.summary
        customers = counted(self.pushed, "customer's", "customers'")
        return [
            f"activation: {customers} lifetime value (sum of their orders' "
            f"totalNum) pushed to lifetimeValueNum through destination-kustomer in {self.write_seconds:.1f}s: "
            f"{s.get('updated', 0):,} updated, {s.get('created', 0):,} created, {s.get('not_found', 0):,} not found, "
            f"{s.get('failed', 0):,} failed; {counted(s.get('requests', 0), 'request')} "
            f"({s.get('bulk_requests', 0):,} bulk), {s.get('http_429', 0):,} throttled (429)",
            f"activation: read back with the source: {self.read_back:,} of those customers, {self.matching:,} with "
            f"the pushed value{self._mismatch_note()}",
        ]

    def _mismatch_note(self) -> str:
        if not self.mismatched:
            return ""
        return f", {len(self.mismatched)} without it (e.g. {', '.join(self.mismatched[:3])})"


def lifetime_values(query: Query) -> List[Tuple[str, float]]:
    """(email, lifetime value) of the customers with the highest lifetime value, from the synced DuckDB file."""
    return [(row["email"], float(row["lifetime_value"])) for row in query(LIFETIME_VALUES)]


def ensure_destination(python: str = sys.executable) -> Path:
    """destination-kustomer in its own venv (installed from this checkout; again only when its sources change)."""
    sources = sorted(
        path
        for folder in (ROOT / "destination-kustomer" / "destination_kustomer", ROOT / "libs" / "kustomer-http")
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and ".egg-info" not in str(path)
    )
    digest = hashlib.sha1(
        b"".join(
            p.read_bytes() for p in [ROOT / "setup.py", ROOT / "destination-kustomer" / "pyproject.toml", *sources]
        )
    )
    stamp = VENV / f".installed-{digest.hexdigest()[:12]}"
    if stamp.exists():
        return DESTINATION
    where = VENV.relative_to(ROOT)
    print(f"Installing destination-kustomer from this checkout into {where} (about a minute, once) …", flush=True)
    if not (VENV / "bin" / "python").exists():
        if subprocess.run([python, "-m", "venv", str(VENV)]).returncode != 0:
            raise RuntimeError(f"could not create {VENV} with {python}")
    with open(VENV / "install.log", "w") as log:
        install = [str(VENV / "bin" / "pip"), "install", "--disable-pip-version-check", "./destination-kustomer"]
        done = subprocess.run(install, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"installing destination-kustomer failed; see {VENV / 'install.log'}")
    for old in VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return DESTINATION


def _run(command: List[str], stdin: str = "") -> List[Dict[str, Any]]:
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=1800)
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0:
        errors = [m["trace"]["error"]["message"] for m in messages if m.get("type") == "TRACE"]
        raise RuntimeError(errors[-1] if errors else done.stderr.strip()[-500:])
    return messages


def push(destination: Path, kustomer: Mapping[str, Any], rows: List[Tuple[str, float]], work: Path) -> Dict[str, Any]:
    """Write the rows through the destination's entrypoint; its summary of the stream."""
    config = {
        **{key: kustomer[key] for key in KUSTOMER_KEYS if key in kustomer},
        "stream_mappings": [{"stream": STREAM, "object": "customer", "matching_key": "email"}],
        "api_utilization_percent": 80,
    }
    stream = {"name": STREAM, "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh"]}
    catalog = {"streams": [{"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "update"}]}
    (work / "destination.json").write_text(json.dumps(config))
    (work / "activation_catalog.json").write_text(json.dumps(catalog))
    lines = []
    for n, (email, value) in enumerate(rows, 1):
        data = {"email": email, "lifetimeValueNum": value}
        lines.append(json.dumps({"type": "RECORD", "record": {"stream": STREAM, "data": data, "emitted_at": 0}}))
        if n % STATE_EVERY == 0 or n == len(rows):
            descriptor = {"stream_descriptor": {"name": STREAM}, "stream_state": {"pushed": n}}
            lines.append(json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": descriptor}}))
    command = [str(destination), "write", "--config", str(work / "destination.json")]
    messages = _run([*command, "--catalog", str(work / "activation_catalog.json")], "\n".join(lines) + "\n")
    for message in messages:
        text = message.get("log", {}).get("message", "") if message.get("type") == "LOG" else ""
        if text.startswith("SYNC_SUMMARY "):
            return next(row for row in json.loads(text[len("SYNC_SUMMARY ") :]) if row["stream"] == STREAM)
    raise RuntimeError("destination-kustomer wrote no summary")


def read_back(source: Path, kustomer: Mapping[str, Any], since: datetime, work: Path) -> Dict[str, Any]:
    """The customers the source reads as changed since ``since``: lifetimeValueNum by email."""
    config = {**kustomer, "start_date": since.strftime("%Y-%m-%dT%H:%M:%SZ"), "search_lag_seconds": 0}
    (work / "source.json").write_text(json.dumps(config))
    discovered = _run([str(source), "discover", "--config", str(work / "source.json")])
    streams = next(m for m in discovered if m["type"] == "CATALOG")["catalog"]["streams"]
    customers = next(s for s in streams if s["name"] == "customers")
    configured = {"stream": customers, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
    (work / "source_catalog.json").write_text(json.dumps({"streams": [configured]}))
    command = [str(source), "read", "--config", str(work / "source.json")]
    messages = _run([*command, "--catalog", str(work / "source_catalog.json")])
    values: Dict[str, Any] = {}
    for message in messages:
        if message.get("type") == "RECORD" and message["record"]["stream"] == "customers":
            record = message["record"]["data"]
            for email in record.get("emails") or []:
                values[email.get("email")] = (record.get("custom") or {}).get("lifetimeValueNum")
    return values


def activate(query: Query, destination: Path, source: Path, kustomer: Mapping[str, Any]) -> Activation:
    """The whole step. ``kustomer``: the source's config (its key, host and rate-limit window are the destination's)."""
    rows = lifetime_values(query)
    started_at = datetime.now(timezone.utc) - timedelta(seconds=1)
    result = Activation(pushed=len(rows))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        result.summary = push(destination, kustomer, rows, Path(tmp))
        result.write_seconds = time.monotonic() - started
        values = read_back(source, kustomer, started_at, Path(tmp))
    result.read_back = sum(1 for email, _ in rows if email in values)
    result.matching = sum(1 for email, value in rows if values.get(email) == value)
    result.mismatched = [email for email, value in rows if values.get(email) != value]
    return result


def run_step(query: Query, source: Path, kustomer: Mapping[str, Any]) -> Activation:
    """The step as ./demo.sh runs it: the destination installed in its own venv first (once)."""
    print("\nActivation: computing each customer's lifetime value in DuckDB and pushing it back …", flush=True)
    return activate(query, ensure_destination(), source, kustomer)


def summary_lines(activation: Optional[Activation]) -> List[str]:
    """The step's lines for the demo's summary, or the line saying why there are none."""
    if activation is None:
        return ["activation: skipped (the demo writes back only to its own simulated org)"]
    return activation.lines()
