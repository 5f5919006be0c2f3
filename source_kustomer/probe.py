"""``source-kustomer probe --config config.json``: what a real Kustomer org does where the docs are silent.

A few read-only requests (never more than ``MAX_REQUESTS``, GETs and searches only, paced by the same budget as a
sync) answer the questions the connector's simulator leaves as switches: is ``<object>_created_at`` sortable
and filterable, are conversation times sorted, do the audit log's date filters include their bounds, does a
missing role get 401 or 403, what do the rate-limit headers mean, what happens past page 100, how large may a page
be, is ``meta.total`` exact or capped, how precise are timestamps. The answers are
printed as a table and written as JSON next to the simulator switch each one maps to. The API key is never
printed (every line goes through the connector's redaction).
"""

import argparse
import json
import logging
import re
import sys
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Dict, List, Mapping, Optional, Tuple

import requests
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http import redaction
from kustomer_http.connection import KustomerClient, KustomerConnection
from kustomer_http.rate_policy import EPOCH_THRESHOLD
from kustomer_http.responses import error_detail, response_json
from kustomer_http.timestamps import earlier, instant, kustomer_time

from source_kustomer.config import parse_config
from source_kustomer.discovery import KLASS_PAGE_SIZE
from source_kustomer.streams import LIST_STREAMS
from source_kustomer.version import USER_AGENT

MAX_REQUESTS = 30
SAMPLE = 20
WINDOW_PAGE, WINDOW_PAGE_SIZE = 101, 100
CONTEXTS = ("customer", "conversation", "message", "note", "company")


class ProbeStopped(Exception):
    """The probe cannot go on (invalid key, no search role, request budget spent); the message says why."""


@dataclass
class Finding:
    """One answered question, with what it was answered from and the simulator switch it maps to."""

    question: str
    answer: str
    evidence: str
    switch: Optional[str] = None


class Probe:
    """Asks a real org the open questions, at most ``MAX_REQUESTS`` read-only requests."""

    def __init__(self, connection: KustomerConnection) -> None:
        self.connection = connection
        self.client: KustomerClient = connection.client("probe", max_retries=2)
        self.requests = 0
        self.headers: Dict[str, Mapping[str, str]] = {}
        self.totals: Dict[str, int] = {}
        self.samples: List[str] = []
        self.since = kustomer_time(earlier(connection.config.start_date, timedelta(days=3650)))

    # ---- requests ---------------------------------------------------------------------------------------
    def _count(self) -> None:
        if self.requests >= MAX_REQUESTS:
            raise ProbeStopped(f"the probe's budget of {MAX_REQUESTS} requests is spent")
        self.requests += 1

    def get(self, url: str) -> requests.Response:
        self._count()
        response = self.client.get(url)
        self.headers.setdefault("other", response.headers)
        return response

    def search(self, body: Mapping[str, Any], page: int = 1, page_size: int = SAMPLE) -> requests.Response:
        self._count()
        response = self.client.search(body, page, page_size)
        if response.ok:
            self.headers.setdefault("search", response.headers)
        return response

    def body(self, context: str, prefix: str, sort: Tuple[str, str], *extra: Mapping[str, Any]) -> Dict[str, Any]:
        criteria = [{f"{prefix}_updated_at": {"gte": self.since}}, *extra]
        return {"and": criteria, "sort": [{sort[0]: sort[1]}], "queryContext": context}

    # ---- questions --------------------------------------------------------------------------------------
    def run(self) -> List[Finding]:
        findings = [self.key()]
        contexts = [(context, context) for context in CONTEXTS] + self.klass_context()
        for context, prefix in contexts:
            findings.append(self.created_at(context, prefix))
        largest = max(self.totals, key=self.totals.get) if self.totals else "customer"
        findings += [self.total(largest), self.past_window(largest), self.search_page_size(largest)]
        findings += [self.conversation_time_sort(), self.audit_bounds()]
        findings += [self.list_page_size(), self.missing_role(), self.rate_headers(), self.precision()]
        return findings

    def key(self) -> Finding:
        response = self.get(self.client.api_url("auth/tokens/current"))
        if response.status_code == 401:
            raise ProbeStopped("Kustomer rejected the API key (HTTP 401): it is invalid or has expired")
        data = response_json(response).get("data") if response.ok else None
        roles = (data or {}).get("attributes", {}).get("roles") if isinstance(data, Mapping) else None
        shown = ", ".join(map(str, roles)) if isinstance(roles, list) else "not listed"
        return Finding("API key", "valid", f"GET /v1/auth/tokens/current: HTTP {response.status_code}; roles: {shown}")

    def klass_context(self) -> List[Tuple[str, str]]:
        response = self.get(self.client.api_url(f"klasses?page=1&pageSize={KLASS_PAGE_SIZE}"))
        data = response_json(response).get("data") if response.ok else None
        for klass in data if isinstance(data, list) else []:
            name = (klass.get("attributes") or {}).get("name") if isinstance(klass, Mapping) else None
            if isinstance(name, str) and name:
                return [(f"kobject_{name}", "kobject")]
        return []

    def created_at(self, context: str, prefix: str) -> Finding:
        field = f"{prefix}_created_at"
        question = f"{field}: sort and filter"
        switch_key = prefix
        first = self.search(self.body(context, prefix, (field, "desc")))
        if first.status_code in (401, 403):
            return Finding(question, "not readable by this key", f"HTTP {first.status_code}: {error_detail(first)}")
        if first.status_code == 400:
            return Finding(
                question, "rejected", f"HTTP 400: {error_detail(first)}", f"--created-at {switch_key}=rejected"
            )
        if not first.ok:
            return Finding(question, "unknown", f"HTTP {first.status_code}")
        records = _records(first)
        self._remember(context, first, records)
        created = [instant(r.get("createdAt")) for r in records]
        created = [c for c in created if c is not None]
        if len(set(created)) < 2:
            return Finding(question, "inconclusive", f"only {len(set(created))} distinct createdAt values to compare")
        sorted_desc = created == sorted(created, reverse=True)
        pivot_value = sorted(created)[len(created) // 2]
        pivot = next(r["createdAt"] for r in records if instant(r.get("createdAt")) == pivot_value)
        second = self.search(self.body(context, prefix, (f"{prefix}_updated_at", "asc"), {field: {"gt": pivot}}))
        if second.status_code == 400:
            return Finding(
                question, "rejected", f"HTTP 400: {error_detail(second)}", f"--created-at {switch_key}=rejected"
            )
        later = [instant(r.get("createdAt")) for r in _records(second)]
        filtered = second.ok and all(c is not None and c > pivot_value for c in later)
        answer = "honoured" if sorted_desc and filtered else "ignored"
        evidence = (
            f"sort desc: {'honoured' if sorted_desc else 'not honoured'} over {len(created)} records; "
            f"filter gt {pivot}: {'honoured' if filtered else 'not honoured'}"
        )
        return Finding(question, answer, evidence, f"--created-at {switch_key}={answer}")

    def conversation_time_sort(self) -> Finding:
        field = "conversation_time_created_at"
        question = f"{field}: sort"
        body = {"and": [{field: {"gte": self.since}}], "sort": [{field: "desc"}], "queryContext": "conversation_time"}
        response = self.search(body)
        if not response.ok:
            return Finding(question, "unknown", f"HTTP {response.status_code}: {error_detail(response)}")
        created = [c for c in (instant(r.get("createdAt")) for r in _records(response)) if c is not None]
        if len(set(created)) < 2:
            return Finding(question, "inconclusive", f"only {len(set(created))} distinct createdAt values to compare")
        answer = "honoured" if created == sorted(created, reverse=True) else "ignored"
        return Finding(question, answer, f"sort desc over {len(created)} records", f"--conversation-time-sort {answer}")

    def audit_bounds(self) -> Finding:
        question = "audit-log filter[end] at an entry's own instant"
        newest = self.get(self.client.api_url("audit-logs?count=1"))
        entries = _records(newest)
        if not newest.ok or not entries or not isinstance(entries[0].get("createdAt"), str):
            return Finding(question, "unknown", f"HTTP {newest.status_code}; {len(entries)} entries")
        moment = entries[0]["createdAt"]
        bounded = self.get(self.client.api_url(f"audit-logs?count=1&filter[start]={moment}&filter[end]={moment}"))
        if not bounded.ok:
            return Finding(question, "unknown", f"HTTP {bounded.status_code}: {error_detail(bounded)}")
        answer = "inclusive" if _records(bounded) else "exclusive"
        return Finding(
            question, answer, f"an entry at {moment}, asked for {moment}..{moment}", f"--audit-bounds {answer}"
        )

    def _remember(self, context: str, response: requests.Response, records: List[Mapping[str, Any]]) -> None:
        meta = response_json(response).get("meta")
        total = meta.get("total") if isinstance(meta, Mapping) else None
        if isinstance(total, int) and not isinstance(total, bool):
            self.totals[context] = total
        self.samples += [r["updatedAt"] for r in records if isinstance(r.get("updatedAt"), str)]

    def _largest_body(self, context: str) -> Dict[str, Any]:
        prefix = "kobject" if context.startswith("kobject_") else context
        return self.body(context, prefix, (f"{prefix}_updated_at", "asc"))

    def total(self, context: str) -> Finding:
        if context not in self.totals:
            response = self.search(self._largest_body(context), page_size=1)
            if not response.ok:
                return Finding("meta.total above 10,000", "unknown", f"HTTP {response.status_code}")
            self._remember(context, response, _records(response))
        total = self.totals.get(context, -1)
        if total > 10_000:
            answer, switch = "exact", "--total exact"
        elif total == 10_000:
            answer, switch = "capped at 10,000 (or exactly 10,000)", "--total capped"
        else:
            answer, switch = "inconclusive", None
        return Finding("meta.total above 10,000", answer, f"{context}: meta.total {total:,}", switch)

    def past_window(self, context: str) -> Finding:
        response = self.search(self._largest_body(context), page=WINDOW_PAGE, page_size=WINDOW_PAGE_SIZE)
        question = f"search page {WINDOW_PAGE} (pageSize {WINDOW_PAGE_SIZE})"
        if response.status_code == 400:
            return Finding(question, "error", f"HTTP 400: {error_detail(response)}", "--past-window error")
        if not response.ok:
            return Finding(question, "unknown", f"HTTP {response.status_code}")
        served = len(_records(response))
        if served:
            return Finding(question, "served (no window)", f"{served} records on page {WINDOW_PAGE}")
        if self.totals.get(context, 0) < WINDOW_PAGE_SIZE * (WINDOW_PAGE - 1):
            return Finding(question, "inconclusive", f"{context} has fewer than 10,000 matching records")
        return Finding(question, "empty", "HTTP 200 with no records", "--past-window empty")

    def search_page_size(self, context: str) -> Finding:
        response = self.search(self._largest_body(context), page=1, page_size=1000)
        question = "search pageSize 1000"
        if response.status_code == 400:
            return Finding(question, "rejected", f"HTTP 400: {error_detail(response)}")
        meta = response_json(response).get("meta") if response.ok else None
        size = meta.get("pageSize") if isinstance(meta, Mapping) else None
        return Finding(question, f"clamped to {size}" if size else "unknown", f"{len(_records(response))} records")

    def list_page_size(self) -> Finding:
        response = self.get(self.client.api_url("tags?page=1&pageSize=1000"))
        question = "list pageSize 1000 (tags)"
        if response.status_code == 400:
            return Finding(question, "rejected", f"HTTP 400: {error_detail(response)}", "--list-over-max error")
        if not response.ok:
            return Finding(question, "unknown", f"HTTP {response.status_code}")
        meta = response_json(response).get("meta")
        size = meta.get("pageSize") if isinstance(meta, Mapping) else None
        return Finding(question, f"clamped to {size}", f"{len(_records(response))} records", "--list-over-max clamp")

    def missing_role(self) -> Finding:
        question = "status for a missing role"
        for spec in LIST_STREAMS:
            response = self.get(self.client.api_url(f"{spec.path}?page=1&pageSize=1"))
            if response.status_code in (401, 403):
                return Finding(
                    question,
                    str(response.status_code),
                    f"GET /v1/{spec.path}: {error_detail(response)}",
                    f"--missing-role-status {response.status_code}",
                )
            if self.requests >= MAX_REQUESTS - 1:
                break
        return Finding(question, "undetermined", "the key could read every list the probe tried")

    def rate_headers(self) -> Finding:
        parts, switch = [], None
        for kind in ("other", "search"):
            headers = self.headers.get(kind)
            if headers is None:
                continue
            reset = headers.get("x-ratelimit-reset")
            parts.append(f"{kind}: limit {headers.get('x-ratelimit-limit')}, reset {reset}")
            if switch is None:
                switch = f"--reset-mode {_reset_mode(reset)}"
        answer = switch.split()[-1] if switch else "unknown"
        return Finding("x-ratelimit-reset", answer, "; ".join(parts) or "no responses", switch)

    def precision(self) -> Finding:
        digits = {len(m.group(1)) if m.group(1) else 0 for m in map(_FRACTION.search, self.samples) if m}
        names = {0: "seconds", 3: "milliseconds", 6: "microseconds"}
        answer = names.get(next(iter(digits)), f"{next(iter(digits))} fraction digits") if len(digits) == 1 else "mixed"
        answer = answer if digits else "unknown"
        return Finding(
            "timestamp precision", answer, f"{len(self.samples)} updatedAt values; fraction digits {sorted(digits)}"
        )


_FRACTION = re.compile(r"T\d\d:\d\d:\d\d(?:\.(\d+))?")


def _reset_mode(value: Optional[str]) -> str:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return "absent"
    if number is None:
        return "absent"
    return "epoch" if number >= EPOCH_THRESHOLD else "seconds"


def _records(response: requests.Response) -> List[Mapping[str, Any]]:
    data = response_json(response).get("data") if response.ok else None
    out = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("attributes"), Mapping):
            out.append(item["attributes"])
    return out


def simulator_args(findings: List[Finding]) -> List[str]:
    """The findings as arguments of ``python -m kustomer_simulator serve`` (per-object settings joined)."""
    args: Dict[str, List[str]] = {}
    for finding in findings:
        if finding.switch:
            flag, value = finding.switch.split(" ", 1)
            args.setdefault(flag, []).append(value)
    return [part for flag, values in args.items() for part in (flag, ",".join(values))]


def render(findings: List[Finding], requests_made: int) -> str:
    """The findings as a plain-text table."""
    width = max(len(f.question) for f in findings)
    lines = [f"{'question':<{width}}  answer  (simulator switch)", "-" * (width + 40)]
    for finding in findings:
        switch = f"  ({finding.switch})" if finding.switch else ""
        lines.append(f"{finding.question:<{width}}  {finding.answer}{switch}")
        lines.append(f"{'':<{width}}    {finding.evidence}")
    lines.append(f"{requests_made} read-only requests")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """``source-kustomer probe``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="source-kustomer probe", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the connector's config.json")
    parser.add_argument("--out", default="kustomer-probe.json", help="where to write the findings as JSON")
    args = parser.parse_args(argv)
    logging.getLogger("airbyte").setLevel(logging.WARNING)
    try:
        with open(args.config, encoding="utf-8") as handle:
            config = parse_config(json.load(handle))
        redaction.register(config.api_token)
        probe = Probe(KustomerConnection(config, USER_AGENT, max_sends=MAX_REQUESTS))
        findings = probe.run()
    except (OSError, ValueError) as error:
        print(f"probe: cannot read {args.config} ({error.__class__.__name__})", file=sys.stderr)
        return 1
    except (AirbyteTracedException, ProbeStopped) as error:
        text = error.message if isinstance(error, AirbyteTracedException) else str(error)
        print(redaction.redact(f"probe stopped: {text}"), file=sys.stderr)
        return 1
    report = {
        "requests": probe.requests,
        "host": probe.connection.origin.url,
        "findings": [asdict(f) for f in findings],
        "simulator_args": simulator_args(findings),
    }
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(redaction.redact(json.dumps(report, indent=2)) + "\n")
    print(redaction.redact(render(findings, probe.requests)))
    print(f"written: {args.out}")
    return 0
