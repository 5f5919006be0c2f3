"""Run the real connector entrypoint (``python main.py …``) against a simulator and read what it says.

Every run is scanned for the API token in every form the connectors promise to mask (as typed, case-folded,
percent-encoded, in base64 or hex inside longer text): a leak fails the test.
"""

import base64
import binascii
import json
import math
import os
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple
from urllib.parse import quote, quote_plus, unquote, unquote_plus

from integration_tests import forked_connector
from kustomer_simulator.org import METADATA_RESOURCES
from kustomer_simulator.server import Simulator
from kustomer_simulator.timefmt import parse_iso_ms
from scripts.configured_catalog import configure

ROOT = Path(__file__).resolve().parent.parent
START_DATE = "2025-01-01T00:00:00.000Z"


def secrets_folder(folder: Path, config: Dict[str, Any], catalog: Optional[Dict[str, Any]] = None) -> Path:
    """``folder`` holding ``config.json`` (and ``catalog.json``), readable by a container's non-root user when
    mounted as ``/secrets``."""
    (folder / "config.json").write_text(json.dumps(config))
    if catalog:
        (folder / "catalog.json").write_text(json.dumps(catalog))
    folder.chmod(0o755)
    for item in folder.iterdir():
        item.chmod(0o644)
    return folder


def token_forms(token: str) -> List[str]:
    """Every literal form in which a leaked token could show up (the tests' own list, independent of the
    connector's): as typed and case-folded (a host name), with a '+' read as a space, percent-encoded as urllib
    writes it (escapes in either case, twice over), in hex, and the part of a base64 text that holds it at each byte
    alignment (found as the characters two encodings with opposite neighbouring bits agree on)."""
    raw = token.encode()
    quoted = [quote(token, safe=""), quote(token), quote_plus(token), quote(quote(token, safe=""), safe="")]
    lowered = [re.sub("%[0-9A-F]{2}", lambda escape: escape.group(0).lower(), text) for text in quoted]
    forms = {token, token.lower(), token.upper(), token.replace("+", " "), *quoted, *lowered, raw.hex()}
    forms.add(raw.hex().upper())
    for offset in range(3):
        zeros = base64.b64encode(bytes(offset) + raw + bytes(2)).decode()
        ones = base64.b64encode(b"\xff" * offset + raw + b"\xff\xff").decode()
        core = "".join(a for a, b in zip(zeros, ones, strict=True) if a == b).rstrip("=")
        forms.update((core, core.replace("+", "-").replace("/", "_")))
    return sorted(forms, key=len, reverse=True)


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{40,}")
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{80,}")


def hidden_key(text: str, token: str) -> Optional[str]:
    """How ``text`` still holds ``token`` once decoded (base64 at any alignment, hex, percent-escapes in any case
    or doubled), or None: a check that does not depend on knowing what the masked forms look like."""
    raw = token.encode()
    for run in _BASE64_RUN.findall(text):
        standard = run.replace("-", "+").replace("_", "/")
        for shift in range(4):
            part = standard[shift:]
            part = part[: len(part) - (len(part) % 4 == 1)]  # a last lone character holds no whole byte
            if raw in base64.b64decode(part + "=" * (-len(part) % 4)):
                return "base64"
    for run in _HEX_RUN.findall(text):
        for shift in (0, 1):
            part = run[shift:]
            try:
                if raw in binascii.unhexlify(part[: len(part) // 2 * 2]):
                    return "hex"
            except binascii.Error:
                continue
    escaped = "\n".join(line for line in text.splitlines() if "%" in line)
    if escaped:
        once = unquote(escaped)
        spaced = token.replace("+", " ").lower()
        for view in (once, unquote(once), unquote_plus(escaped), unquote_plus(once)):
            if token.lower() in view.lower() or spaced in view.lower():
                return "percent-encoded"
    return None


def assert_no_key(text: str, tokens: Iterable[str]) -> None:
    """Fail when ``text`` holds any of ``tokens`` in any form."""
    for token in tokens:
        if token:
            leaked = [form for form in token_forms(token) if form in text]
            assert not leaked, "the API token leaked into the output"
            assert hidden_key(text, token) is None, f"the API token leaked ({hidden_key(text, token)})"


@dataclass
class Run:
    """The outcome of one connector command."""

    returncode: int
    stdout: str
    stderr: str
    messages: List[Dict[str, Any]] = field(default_factory=list)
    network: List[Tuple[str, str, Any]] = field(default_factory=list)  # (lookup|connect, host, port), if observed
    peak_rss_mb: Optional[float] = None  # if observed
    seconds: float = 0.0

    def of_type(self, kind: str) -> List[Dict[str, Any]]:
        """Messages of one protocol type."""
        return [m for m in self.messages if m.get("type") == kind]

    def records(self, stream: Optional[str] = None) -> List[Dict[str, Any]]:
        """Record payloads, optionally of one stream."""
        return [
            m["record"]["data"] for m in self.of_type("RECORD") if stream is None or m["record"]["stream"] == stream
        ]

    def pairs(self, stream: str) -> List[Tuple[str, str]]:
        """(id, version) of every record of ``stream``, in emission order, duplicates kept: the version is the
        record's updatedAt, or createdAt for records that are never updated (conversation times, audit entries)."""
        return [(r["id"], r.get("updatedAt") or r.get("createdAt")) for r in self.records(stream)]

    def states(self) -> List[Dict[str, Any]]:
        """Every STATE message, in order."""
        return [m["state"] for m in self.of_type("STATE")]

    def position(self, stream: str) -> Optional[str]:
        """The audit-log position (createdAt) a run saved for ``stream``, if any: its entries up to it are read."""
        for state in reversed(self.states()):
            if state["stream"]["stream_descriptor"]["name"] == stream:
                return state["stream"]["stream_state"].get("createdAt")
        return None

    def final_state(self) -> List[Dict[str, Any]]:
        """The last state of each stream, as a --state file wants it."""
        last: Dict[str, Dict[str, Any]] = {}
        for state in self.states():
            last[state["stream"]["stream_descriptor"]["name"]] = state
        return list(last.values())

    def errors(self) -> List[Dict[str, Any]]:
        """Error traces."""
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"].get("type") == "ERROR"]

    def logs(self) -> List[str]:
        """Log lines."""
        return [m["log"]["message"] for m in self.of_type("LOG")]

    def summary(self) -> Dict[str, Dict[str, Any]]:
        """The connector's SYNC_SUMMARY, by stream."""
        for line in self.logs():
            if line.startswith("SYNC_SUMMARY "):
                return {row["stream"]: row for row in json.loads(line[len("SYNC_SUMMARY ") :])}
        return {}


def sim_config(sim: Simulator, token: str, **overrides: Any) -> Dict[str, Any]:
    """A config aimed at the simulator, with its shrunk rate-limit window."""
    config = {
        "api_token": token,
        "api_url": sim.url,
        "start_date": START_DATE,
        "search_lag_seconds": 0,
        "rate_limit_window_seconds": sim.budgets.minute_seconds,
        # At least the simulator's own publish lag (8 s unless a test sets it): audit_logs and deletions read up to
        # this long before now.
        "audit_publish_lag_seconds": max(1, math.ceil(sim.org.settings.audit_publish_lag_seconds) + 2),
    }
    config.update(overrides)
    return config


PROCESS_PROBE = ROOT / "integration_tests" / "process_probe"


def run_connector(
    command: str,
    config: Optional[Dict[str, Any]],
    catalog: Optional[Dict[str, Any]] = None,
    state: Optional[List[Dict[str, Any]]] = None,
    timeout: float = 600,
    secrets: Iterable[str] = (),
    observe: bool = False,
) -> Run:
    """Run ``python main.py <command>`` as Airbyte would; assert no secret leaks.

    With ``observe``, the process also records every host it looks up or connects to, and its peak memory.
    """
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, str(ROOT / "main.py"), command]
        paths = {"--config": config, "--catalog": catalog, "--state": state}
        for flag, content in paths.items():
            if content is not None:
                path = Path(tmp) / f"{flag[2:]}.json"
                path.write_text(json.dumps(content))
                args += [flag, str(path)]
        net_log, rss_log = Path(tmp) / "net.log", Path(tmp) / "rss.log"
        if observe:
            env["PYTHONPATH"] = os.pathsep.join([str(PROCESS_PROBE), str(ROOT), env.get("PYTHONPATH", "")])
            env.update(KUSTOMER_NET_LOG=str(net_log), KUSTOMER_RSS_LOG=str(rss_log))
        started = time.monotonic()
        # an observed run loads the probe's sitecustomize as the interpreter starts: a fresh process
        done = forked_connector.run(args, text=True, timeout=timeout, cwd=ROOT, env=env, fork=not observe)
        seconds = time.monotonic() - started
        network = [tuple(json.loads(line)) for line in net_log.read_text().splitlines()] if net_log.exists() else []
        peak = int(rss_log.read_text()) / 1024 if rss_log.exists() else None
    messages = []
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            try:
                messages.append(json.loads(line))
            except ValueError:
                pass
    run = Run(done.returncode, done.stdout, done.stderr, messages, network, peak, seconds)
    assert_no_key(done.stdout + "\n" + done.stderr, [(config or {}).get("api_token", ""), *secrets])
    return run


def configured_catalog(discovered: Run, streams: Optional[Set[str]] = None, incremental: bool = True) -> Dict[str, Any]:
    """A configured catalog from a discover run: incremental where supported (if asked), else full refresh."""
    return configure(discovered.of_type("CATALOG")[0]["catalog"], streams, incremental)


def truth(
    sim: Simulator, stream: str, since: Optional[str] = START_DATE, until: Optional[str] = None
) -> Set[Tuple[str, str]]:
    """What a correct sync of ``stream`` must emit (search streams and conversation times from ``since``; the audit
    log's entries created from ``since`` up to ``until``, where its sync stopped)."""
    if stream == "audit_logs":
        low, high = since or "", until or "9999"
        return {
            (e["id"], e["attributes"]["createdAt"])
            for e in sim.org.audit_log()
            if low <= e["attributes"]["createdAt"] <= high
        }
    if stream == "custom_attribute_metadata":
        resources = list(METADATA_RESOURCES) + [f"kobject.{k}" for k in sim.org.settings.klasses]
        return {
            (f"{resource}.{name}", definition.get("updatedAt"))
            for resource in resources
            for name, definition in (sim.org.metadata(resource) or {"attributes": {"properties": {}}})["attributes"][
                "properties"
            ].items()
        }
    if stream in sim.org.timed_streams:
        return set(sim.org.truth(stream, since_ms=parse_iso_ms(since) if since else None))
    return set(sim.org.truth(stream))


def lost_and_duplicates(sim: Simulator, run: Run, streams: Iterable[str]) -> Tuple[int, int]:
    """(records of ground truth the run did not emit, ids it emitted more than once) over ``streams``."""
    lost = duplicates = 0
    for stream in streams:
        pairs = run.pairs(stream)
        lost += len(truth(sim, stream, until=run.position(stream)) - set(pairs))
        duplicates += sum(n - 1 for n in Counter(rid for rid, _ in pairs).values())
    return lost, duplicates
