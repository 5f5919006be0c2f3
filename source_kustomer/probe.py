"""``source-kustomer probe --config config.json``: what a real Kustomer org does where the docs are silent.

A few read-only requests (GETs and searches only, paced by the same budget as a sync) answer the questions the
connector's simulator leaves as switches: is ``<object>_created_at`` sortable and filterable, and the routing
contexts' time fields; are conversation times sorted; which klasses exist in which status, and are a disabled
klass's objects served; which date the audit log's filters compare, do they include their bounds, how late are
entries published, do ``links.next`` keep the filters, is ``filter[include]`` honoured; what do work sessions and
users list without their filters; are customer merges listed for both sides, does a merged-away customer still
answer; does a missing role get 401 or 403; what do the rate-limit headers mean; what happens past page 100; how
large may a page be; is ``meta.total`` exact or capped; how precise are timestamps.

At most ``MAX_REQUESTS`` requests are sent, every attempt counted (retries too; the transport refuses any more).
Before each question the probe checks that the question fits in what is left, assuming every one of its requests
is retried as often as the client may; a question that does not fit is reported as not asked. Each question is
asked on its own: an answer of an unexpected shape becomes a finding and the probe goes on. Every value put into
a URL is encoded. The answers are printed as a table and written as JSON next to the simulator switch each one
maps to. The API key is never printed (every line goes through the connector's redaction).
"""

import argparse
import json
import logging
import math
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import requests
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http import redaction
from kustomer_http.connection import KustomerClient, KustomerConnection, listed_roles
from kustomer_http.definitions import KLASS_PAGE_SIZE, KLASS_STATUSES
from kustomer_http.rate_policy import EPOCH_THRESHOLD
from kustomer_http.responses import error_detail, response_json
from kustomer_http.timestamps import earlier, instant, kustomer_time, moment_of
from kustomer_http.transport import SendLimitReached

from source_kustomer.audit_log import AuditEntry, parse_entry
from source_kustomer.config import parse_config
from source_kustomer.deletions import MERGE_ROLES, MERGE_VERB, named_ids
from source_kustomer.streams import LIST_STREAMS
from source_kustomer.version import USER_AGENT

MAX_REQUESTS = 60  # every attempt counts; at most 23 of them are searches (69 with every retry), under 100/min
RETRIES = 2  # how often the probe's client retries one request
SAMPLE = 20
AUDIT_SAMPLE = 100
LIST_SAMPLE = 100
USERS_PAGE = 500  # the users list's largest page
WINDOW_PAGE, WINDOW_PAGE_SIZE = 101, 100
CONTEXTS = ("customer", "conversation", "message", "note", "company")
MILLISECOND = 1000  # microseconds
QUERY_SAFE = "[]:"  # readable in the evidence (on the wire urllib3 encodes brackets); '&', '=', ',' etc. encoded
NOT_ASKED = "not asked: the probe's request budget is spent"
REFUSED = "not readable by this key"
WHY_CHARS = 160


class ProbeStopped(Exception):
    """The probe cannot go on (the key is invalid); the message says why."""


class Unexpected(Exception):
    """An answer of a shape the probe cannot read; the message says what was wrong with it."""


@dataclass
class Finding:
    """One answered question, with what it was answered from and the simulator switch it maps to."""

    question: str
    answer: str
    evidence: str
    switch: Optional[str] = None


@dataclass(frozen=True)
class Question:
    """One question: its name, the requests it sends at most (each retried up to ``RETRIES`` times), and how to
    ask it (given its name, for its findings)."""

    name: str
    requests: int
    ask: Callable[[str], List[Finding]]


@dataclass(frozen=True)
class TimeField:
    """A search field asked to sort (desc) and filter (``gt`` a pivot); ``flag`` is the switch it settles."""

    context: str
    prefix: str
    attribute: str  # the record attribute the field holds: createdAt or updatedAt
    flag: Optional[str]  # None: reported only

    @property
    def name(self) -> str:
        """The search field, e.g. ``customer_created_at``."""
        return f"{self.prefix}_{'created' if self.attribute == 'createdAt' else 'updated'}_at"

    def switch(self, answer: str) -> Optional[str]:
        """The switch setting for this field's context (joined per context in ``simulator_args``)."""
        return f"{self.flag} {self.prefix}={answer}" if self.flag else None


@dataclass(frozen=True)
class Session:
    """What the work-session question reads of one session."""

    id: str
    user: Optional[str]
    ended: bool


class Probe:
    """Asks a real org the open questions, within ``MAX_REQUESTS`` read-only requests (retries included)."""

    def __init__(self, connection: KustomerConnection) -> None:
        self.connection = connection
        self.client: KustomerClient = connection.client("probe", max_retries=RETRIES)
        self.spent = False
        self.last = "no request"  # the request in flight or last answered, for the evidence of a failure
        self.headers: Dict[str, Mapping[str, str]] = {}
        self.totals: Dict[str, int] = {}
        self.samples: List[str] = []
        self.ids: Dict[str, List[str]] = {}  # record ids seen, by search context
        self.klasses: Dict[str, List[str]] = {}  # klass names, by status
        self.newest: Optional[List[AuditEntry]] = None  # the newest page of the audit log, once read
        self.audit: Dict[str, AuditEntry] = {}  # every audit entry read, by id
        self.audit_refused: Optional[str] = None
        self.date_field: Optional[str] = None
        self.merged_away: List[str] = []
        self.since = kustomer_time(earlier(connection.config.start_date, timedelta(days=3650)))

    # ---- budget and guard ---------------------------------------------------------------------------------
    @property
    def remaining(self) -> int:
        """Requests the probe may still send."""
        return MAX_REQUESTS - self.connection.sends

    def affords(self, requests_: int) -> bool:
        """Whether ``requests_`` requests fit in what is left, each retried as often as the client may (once the
        transport refused a request, none do; a question sending nothing always fits)."""
        return requests_ == 0 or (not self.spent and requests_ * (1 + RETRIES) <= self.remaining)

    def run(self) -> List[Finding]:
        """Every question, in order; a question that does not fit in the budget is reported as not asked."""
        findings: List[Finding] = []
        for question in self.questions():
            findings += self.ask(question)
        return findings

    def ask(self, question: Question) -> List[Finding]:
        """One question, guarded: the budget spent, no answer or an answer of an unexpected shape is a finding."""
        if not self.affords(question.requests):
            need = question.requests * (1 + RETRIES)
            left = f"{max(self.remaining, 0)} of {MAX_REQUESTS} left" if not self.spent else "the transport refused"
            return [Finding(question.name, NOT_ASKED, f"needs up to {need} requests with retries; {left}")]
        try:
            return question.ask(question.name)
        except SendLimitReached:
            self.spent = True
            evidence = f"stopped at {self.last}: the transport refused request {self.connection.sends + 1}"
            return [Finding(question.name, NOT_ASKED, evidence)]
        except AirbyteTracedException as error:
            return [Finding(question.name, "no answer", f"{self.last}: {error.message}")]
        except (Unexpected, LookupError, TypeError, ValueError, AttributeError) as error:
            return [Finding(question.name, f"unexpected answer: {_why(error)}", self.last)]

    # ---- requests -----------------------------------------------------------------------------------------
    def get(self, path: str, params: Optional[Mapping[str, Any]] = None) -> requests.Response:
        """GET ``/v1/<path>`` with ``params`` encoded (``path`` segments from the server must be ``_segment``-ed)."""
        query = urlencode(params or {}, safe=QUERY_SAFE)
        target = f"{path}?{query}" if query else path
        response = self._sent(f"GET /v1/{target}", lambda: self.client.get(self.client.api_url(target)))
        self.headers.setdefault("other", response.headers)
        return response

    def search(self, body: Mapping[str, Any], page: int = 1, page_size: int = SAMPLE) -> requests.Response:
        """One page of a standard search."""
        asked = f"POST /v1/customers/search?page={page}&pageSize={page_size} ({body.get('queryContext')})"
        response = self._sent(asked, lambda: self.client.search(body, page, page_size))
        if response.ok:
            self.headers.setdefault("search", response.headers)
        return response

    def _sent(self, asked: str, send: Callable[[], requests.Response]) -> requests.Response:
        self.last = asked
        response = send()
        self.last = f"{asked}: HTTP {response.status_code}"
        return response

    def _unknown(self, question: str) -> Finding:
        return Finding(question, "unknown", self.last)

    def said(self, response: requests.Response) -> str:
        """The last request and Kustomer's own words about a refusal."""
        return f"{self.last}: {error_detail(response)}"

    def body(self, context: str, prefix: str, sort: Tuple[str, str], *extra: Mapping[str, Any]) -> Dict[str, Any]:
        """A search of ``context`` since long before ``start_date``, sorted by ``sort``, narrowed by ``extra``."""
        criteria = [{f"{prefix}_updated_at": {"gte": self.since}}, *extra]
        return {"and": criteria, "sort": [{sort[0]: sort[1]}], "queryContext": context}

    # ---- the questions ------------------------------------------------------------------------------------
    def questions(self) -> Iterator[Question]:
        """The questions in the order asked; later ones use what earlier ones found (the list is lazy)."""
        yield Question("API key", 1, self.key)
        yield Question("klasses by status", len(KLASS_STATUSES), self.klass_statuses)
        for field in self.created_at_fields():
            yield Question(f"{field.name}: sort and filter", 2, lambda q, field=field: self.sort_and_filter(q, field))
        yield Question("meta.total above 10,000", 1, self.total)
        yield Question(f"search page {WINDOW_PAGE} (pageSize {WINDOW_PAGE_SIZE})", 1, self.past_window)
        yield Question("search pageSize 1000", 1, self.search_page_size)
        yield Question("conversation_time_created_at: sort", 1, self.conversation_time_sort)
        for field in ROUTING_FIELDS:
            yield Question(f"{field.name}: sort and filter", 2, lambda q, field=field: self.sort_and_filter(q, field))
        yield Question("custom objects of a disabled klass", 1, self.disabled_klass_objects)
        yield Question("audit-log publish lag (publishedAt - createdAt)", 1, self.audit_newest)
        yield Question("audit-log links.next of a filtered request", 1, self.audit_next_links)
        yield Question("audit-log filter[include]", 1, self.audit_include)
        yield Question("audit-log date field of filter[start]/filter[end]", 1, self.audit_date_field)
        yield Question("audit-log filter[start]/filter[end] at an entry's own instant", 1, self.audit_bounds)
        yield Question("customer merges (GET /v1/customers/{id}/merges)", 1, self.customer_merges)
        yield Question("GET /v1/customers/{id} of a customer merged away", 1, self.merged_lookup)
        yield Question("work sessions without user= and active=", 2, self.work_session_defaults)
        yield Question("users without deleted=", 2, self.users_default)
        yield Question("list pageSize 1000 (tags)", 1, self.list_page_size)
        yield Question("status for a missing role", 1, self.missing_role)  # one list after another, while it fits
        yield Question("x-ratelimit-reset", 0, self.rate_headers)
        yield Question("timestamp precision", 0, self.precision)

    def key(self, question: str) -> List[Finding]:
        """Whether the key is valid, and the roles Kustomer lists for it."""
        response = self.get("auth/tokens/current")
        if response.status_code == 401:
            raise ProbeStopped("Kustomer rejected the API key (HTTP 401): it is invalid or has expired")
        if not response.ok:
            return [Finding(question, "unknown", self.said(response))]
        roles = listed_roles(_document(response))
        shown = ", ".join(roles) if roles is not None else "not listed"
        return [Finding(question, "valid", f"{self.last}; roles: {shown}")]

    def klass_statuses(self, question: str) -> List[Finding]:
        """The klasses of each status (first page each): the ``--klasses`` setting."""
        for status in KLASS_STATUSES:
            response = self.get("klasses", {"status": status, "page": 1, "pageSize": KLASS_PAGE_SIZE})
            if response.status_code in (401, 403):
                return [Finding(question, REFUSED, self.said(response))]
            if not response.ok:
                return [Finding(question, "unknown", self.said(response))]
            self.klasses[status] = [_text(record.get("name"), "a klass name") for record in _records(response)]
        counts = ", ".join(f"{status} {len(names)}" for status, names in self.klasses.items())
        listed = "; ".join(f"{status}: {', '.join(names) or 'none'}" for status, names in self.klasses.items())
        spelled = [
            name if status == "enabled" else f"{name}:{status}"
            for status, names in self.klasses.items()
            for name in names
            if not re.search(r"[,:\s]", name)  # not expressible in the switch
        ]
        switch = f"--klasses {','.join(spelled)}" if spelled else None
        return [Finding(question, counts, f"GET /v1/klasses?status=<each>: HTTP 200; {listed}", switch)]

    def created_at_fields(self) -> List[TimeField]:
        """``<object>_created_at`` of every searched object, custom objects through the first enabled klass."""
        contexts = [(context, context) for context in CONTEXTS]
        contexts += [(f"kobject_{name}", "kobject") for name in self.klasses.get("enabled", [])[:1]]
        return [TimeField(context, prefix, "createdAt", "--created-at") for context, prefix in contexts]

    def sort_and_filter(self, question: str, field: TimeField) -> List[Finding]:
        """Is ``field`` sorted by (desc) and filtered by (``gt`` a pivot)? honoured, ignored or rejected."""
        first = self.search(self.body(field.context, field.prefix, (field.name, "desc")))
        refusal = self._search_refusal(question, first, field)
        if refusal is not None:
            return [refusal]
        records = self._remember(field.context, first)
        values = [v for v in (instant(r.get(field.attribute)) for r in records) if v is not None]
        if len(set(values)) < 2:
            return [Finding(question, "inconclusive", f"{self.last}: {len(set(values))} distinct {field.attribute}")]
        sorted_desc = values == sorted(values, reverse=True)
        pivot_value = sorted(values)[len(values) // 2]
        pivot = next(r[field.attribute] for r in records if instant(r.get(field.attribute)) == pivot_value)
        narrowed = {field.name: {"gt": pivot}}
        second = self.search(self.body(field.context, field.prefix, (f"{field.prefix}_updated_at", "asc"), narrowed))
        refusal = self._search_refusal(question, second, field)
        if refusal is not None:
            return [refusal]
        later = [instant(r.get(field.attribute)) for r in _records(second)]
        filtered = all(value is not None and value > pivot_value for value in later)
        answer = "honoured" if sorted_desc and filtered else "ignored"
        evidence = (
            f"sort desc: {'honoured' if sorted_desc else 'not honoured'} over {len(values)} records; "
            f"filter gt {pivot}: {'honoured' if filtered else 'not honoured'} over {len(later)} records ({self.last})"
        )
        return [Finding(question, answer, evidence, field.switch(answer))]

    def _search_refusal(self, question: str, response: requests.Response, field: TimeField) -> Optional[Finding]:
        if response.status_code in (401, 403):
            return Finding(question, REFUSED, self.said(response))
        if response.status_code == 400:
            return Finding(question, "rejected", self.said(response), field.switch("rejected"))
        if not response.ok:
            return Finding(question, "unknown", self.said(response))
        return None

    def conversation_time_sort(self, question: str) -> List[Finding]:
        """Are conversation times sorted by ``conversation_time_created_at``?"""
        field = "conversation_time_created_at"
        body = {"and": [{field: {"gte": self.since}}], "sort": [{field: "desc"}], "queryContext": "conversation_time"}
        response = self.search(body)
        if response.status_code == 400:
            return [Finding(question, "rejected", self.said(response), "--conversation-time-sort rejected")]
        if not response.ok:
            return [Finding(question, "unknown", self.said(response))]
        created = [c for c in (instant(r.get("createdAt")) for r in _records(response)) if c is not None]
        if len(set(created)) < 2:
            return [Finding(question, "inconclusive", f"{self.last}: {len(set(created))} distinct createdAt")]
        answer = "honoured" if created == sorted(created, reverse=True) else "ignored"
        evidence = f"{self.last}: sort desc over {len(created)} records"
        return [Finding(question, answer, evidence, f"--conversation-time-sort {answer}")]

    def _remember(self, context: str, response: requests.Response) -> List[Mapping[str, Any]]:
        """The records of a search page; its total, ids and updatedAt values are kept for later questions."""
        resources = _resources(response)
        meta = _document(response).get("meta")
        total = meta.get("total") if isinstance(meta, Mapping) else None
        if isinstance(total, int) and not isinstance(total, bool):
            self.totals[context] = total
        self.ids.setdefault(context, []).extend(r["id"] for r in resources if isinstance(r.get("id"), str))
        records = [r["attributes"] for r in resources]
        self.samples += [r["updatedAt"] for r in records if isinstance(r.get("updatedAt"), str)]
        return records

    def largest(self) -> str:
        """The context with the largest total seen (customer when none was seen)."""
        return max(self.totals, key=self.totals.__getitem__) if self.totals else "customer"

    def _largest_body(self, context: str) -> Dict[str, Any]:
        prefix = "kobject" if context.startswith("kobject_") else context
        return self.body(context, prefix, (f"{prefix}_updated_at", "asc"))

    def total(self, question: str) -> List[Finding]:
        """Is ``meta.total`` above 10,000 exact or capped?"""
        context = self.largest()
        if context not in self.totals:
            response = self.search(self._largest_body(context), page_size=1)
            if not response.ok:
                return [Finding(question, "unknown", self.said(response))]
            self._remember(context, response)
        total = self.totals.get(context, -1)
        if total > 10_000:
            answer, switch = "exact", "--total exact"
        elif total == 10_000:
            answer, switch = "capped at 10,000 (or exactly 10,000)", "--total capped"
        else:
            answer, switch = "inconclusive", None
        return [Finding(question, answer, f"POST /v1/customers/search ({context}): meta.total {total:,}", switch)]

    def past_window(self, question: str) -> List[Finding]:
        """What a search page past the 10,000-result window answers."""
        context = self.largest()
        response = self.search(self._largest_body(context), page=WINDOW_PAGE, page_size=WINDOW_PAGE_SIZE)
        if response.status_code == 400:
            return [Finding(question, "error", self.said(response), "--past-window error")]
        if not response.ok:
            return [Finding(question, "unknown", self.said(response))]
        served = len(_resources(response))
        if served:
            return [Finding(question, "served (no window)", f"{self.last}: {served} records")]
        if self.totals.get(context, 0) < WINDOW_PAGE_SIZE * (WINDOW_PAGE - 1):
            return [Finding(question, "inconclusive", f"{context} has fewer than 10,000 matching records")]
        return [Finding(question, "empty", f"{self.last} with no records", "--past-window empty")]

    def search_page_size(self, question: str) -> List[Finding]:
        """How a search pageSize of 1000 is answered."""
        response = self.search(self._largest_body(self.largest()), page=1, page_size=1000)
        if response.status_code == 400:
            return [Finding(question, "rejected", self.said(response))]
        if not response.ok:
            return [Finding(question, "unknown", self.said(response))]
        meta = _document(response).get("meta")
        size = meta.get("pageSize") if isinstance(meta, Mapping) else None
        answer = f"clamped to {size}" if size else "unknown"
        return [Finding(question, answer, f"{self.last}: {len(_resources(response))} records")]

    def disabled_klass_objects(self, question: str) -> List[Finding]:
        """Are the custom objects of a disabled klass still searched, or refused?"""
        if not self.klasses.get("disabled"):
            found = "listed none" if "disabled" in self.klasses else "was not read"
            return [Finding(question, "not asked: no disabled klass", f"GET /v1/klasses?status=disabled {found}")]
        name = self.klasses["disabled"][0]
        response = self.search(self.body(f"kobject_{name}", "kobject", ("kobject_updated_at", "asc")), page_size=1)
        if response.status_code in (401, 403):
            return [Finding(question, "refused", self.said(response), "--disabled-klass-objects refused")]
        if not response.ok:
            return [Finding(question, "unknown", self.said(response))]
        evidence = f"{self.last}: {len(_resources(response))} records"
        return [Finding(question, "served", evidence, "--disabled-klass-objects served")]

    # ---- audit log ----------------------------------------------------------------------------------------
    def audit_page(self, params: Mapping[str, Any]) -> Optional[List[AuditEntry]]:
        """The entries of one audit-log page (None when it was not served); every entry read is kept."""
        response = self.get("audit-logs", params)
        if response.status_code in (401, 403):
            self.audit_refused = self.said(response)
        if not response.ok:
            return None
        entries = [entry for entry in map(parse_entry, _resources(response)) if entry is not None]
        self.audit.update((entry.id, entry) for entry in entries)
        return entries

    def _audit_missing(self, question: str) -> Optional[Finding]:
        if self.newest:
            return None
        if self.audit_refused:
            return Finding(question, REFUSED, self.audit_refused)
        why = "the newest page was not read" if self.newest is None else "the newest page held no dated entry"
        return Finding(question, f"not asked: {why}", "GET /v1/audit-logs")

    def audit_newest(self, question: str) -> List[Finding]:
        """The newest page: how much later than ``createdAt`` its entries were published."""
        self.newest = self.audit_page({"count": AUDIT_SAMPLE})
        if self.newest is None:
            return [Finding(question, REFUSED, self.audit_refused) if self.audit_refused else self._unknown(question)]
        lags = [lag for lag in (entry.publish_lag() for entry in self.newest) if lag is not None]
        if not lags:
            evidence = f"{self.last}: {len(self.newest)} entries, none with both createdAt and publishedAt"
            return [Finding(question, "unknown", evidence)]
        largest = max(lags)
        evidence = f"{self.last}: the largest of {len(lags)} entries' lags"
        return [Finding(question, f"up to {largest:.3f} s", evidence, f"--audit-publish-lag-seconds {_ceil(largest)}")]

    def _types(self) -> List[str]:
        """The object types of the newest page, most frequent first."""
        counts = Counter(e.object_type for e in self.newest or [] if isinstance(e.object_type, str) and e.object_type)
        return [kind for kind, _ in counts.most_common()]

    def audit_next_links(self, question: str) -> List[Finding]:
        """Does a filtered request's ``links.next`` carry its filters?"""
        missing = self._audit_missing(question)
        if missing is not None:
            return [missing]
        kinds = self._types()
        if not kinds:
            return [Finding(question, "not asked: no entry names its objectType", "GET /v1/audit-logs")]
        response = self.get("audit-logs", {"count": 1, "filter[objectType]": kinds[0]})
        if not response.ok:
            return [Finding(question, "unknown", self.said(response))]
        links = _document(response).get("links")
        link = links.get("next") if isinstance(links, Mapping) else None
        if link is None:
            return [Finding(question, "inconclusive", f"{self.last}: no links.next")]
        carried = sorted(k for k in parse_qs(urlsplit(_text(link, "links.next")).query) if k.startswith("filter["))
        answer = "filtered" if carried else "bare"
        return [Finding(question, answer, f"{self.last}: links.next {link}", f"--audit-next-links {answer}")]

    def audit_include(self, question: str) -> List[Finding]:
        """Is ``filter[include]`` OR-ed with ``filter[objectType]``? Asked with two types of the newest page."""
        missing = self._audit_missing(question)
        if missing is not None:
            return [missing]
        kinds = self._types()
        if len(kinds) < 2:
            return [Finding(question, "not asked: the newest entries are of one objectType", f"types {kinds}")]
        main, extra = kinds[0], kinds[1]
        entries = self.audit_page({"count": AUDIT_SAMPLE, "filter[objectType]": main, "filter[include]": extra})
        if entries is None:
            return [self._unknown(question)]
        got = Counter(entry.object_type for entry in entries)
        shown = ", ".join(f"{kind} {n}" for kind, n in got.items()) or "none"
        if set(got) - {main, extra}:
            return [Finding(question, "inconclusive: filter[objectType] not honoured", f"{self.last}: {shown}")]
        answer = "honoured" if extra in got else "ignored"
        evidence = f"{self.last}: {shown} (the newest page holds {extra} entries)"
        return [Finding(question, answer, evidence, f"--audit-include {answer}")]

    def _entry_where(self, wanted: Callable[[AuditEntry], bool]) -> Optional[Tuple[AuditEntry, Dict[str, str]]]:
        """The newest entry ``wanted`` accepts, and the ``before`` that makes it the first one a request can see."""
        newer: Optional[AuditEntry] = None
        for entry in self.newest or []:
            if wanted(entry):
                return entry, ({"before": newer.id} if newer is not None else {})
            newer = entry
        return None

    def audit_date_field(self, question: str) -> List[Finding]:
        """Which time ``filter[start]``/``filter[end]`` compare: asked for a window holding an entry's
        ``createdAt`` but not its ``publishedAt`` (both strictly inside or outside, so the bounds do not matter)."""
        missing = self._audit_missing(question)
        if missing is not None:
            return [missing]
        found = self._entry_where(lambda entry: (_lag(entry) or 0) >= 2 * MILLISECOND)
        if found is None:
            evidence = f"none of {len(self.newest or [])} entries was published 2 ms or more after its createdAt"
            return [Finding(question, "inconclusive", evidence)]
        entry, before = found
        start = kustomer_time(moment_of(entry.placed - MILLISECOND))  # placed: its createdAt, as it has one
        end = kustomer_time(moment_of(entry.placed + (_lag(entry) or 0) - MILLISECOND))
        listed = self.audit_page({"count": 10, "filter[start]": start, "filter[end]": end, **before})
        if listed is None:
            return [self._unknown(question)]
        self.date_field = "createdAt" if entry.id in {e.id for e in listed} else "publishedAt"
        evidence = (
            f"entry {entry.id} (createdAt {entry.attributes['createdAt']}, publishedAt "
            f"{entry.attributes['publishedAt']}) {'returned' if self.date_field == 'createdAt' else 'not returned'} "
            f"for {start}..{end} ({self.last})"
        )
        return [Finding(question, self.date_field, evidence, f"--audit-date-field {self.date_field}")]

    def audit_bounds(self, question: str) -> List[Finding]:
        """Do ``filter[start]``/``filter[end]`` match an entry dated exactly at them? Asked at the instant of the
        date field found (without it, at an entry whose two dates are equal)."""
        missing = self._audit_missing(question)
        if missing is not None:
            return [missing]
        field = self.date_field or "createdAt"
        known = self.date_field is not None
        found = self._entry_where(lambda entry: _lag(entry) is not None and (known or _lag(entry) == 0))
        if found is None:
            return [Finding(question, "inconclusive", "the date field is unknown and no entry has equal dates")]
        entry, before = found
        moment = entry.attributes[field]
        listed = self.audit_page({"count": 10, "filter[start]": moment, "filter[end]": moment, **before})
        if listed is None:
            return [self._unknown(question)]
        answer = "inclusive" if entry.id in {e.id for e in listed} else "exclusive"
        evidence = f"entry {entry.id} at {field} {moment}, asked for {moment}..{moment} ({self.last})"
        return [Finding(question, answer, evidence, f"--audit-bounds {answer}")]

    # ---- merges -------------------------------------------------------------------------------------------
    def _merge_entry(self) -> Optional[AuditEntry]:
        """The newest customer merge entry read from the audit log."""
        merges = [e for e in self.audit.values() if e.verb == MERGE_VERB and e.object_type == "customer"]
        return max(merges, key=lambda e: e.id) if merges else None

    def customer_merges(self, question: str) -> List[Finding]:
        """Are a customer's merges readable; are they listed for the surviving customer (``--merges-listed-for``)?"""
        listed = "merges listed for the surviving customer"
        entry = self._merge_entry()
        seen = self.ids.get("customer", [])
        customer = entry.object_id if entry is not None else (seen[0] if seen else None)
        if not isinstance(customer, str) or not customer:
            return [Finding(question, "not asked: no customer id seen", "no customer search or merge entry read")]
        self.merged_away = [i for i in named_ids(entry) if i != customer] if entry is not None else []
        response = self.get(f"customers/{_segment(customer)}/merges", {"page": 1, "pageSize": LIST_SAMPLE})
        if response.status_code in (401, 403):
            evidence = f"{self.said(response)}; the role: {MERGE_ROLES}"
            refused = Finding(question, f"refused (HTTP {response.status_code})", evidence)
            return [refused, Finding(listed, "not asked: merges are not readable by this key", self.last)]
        if not response.ok:
            return [Finding(question, "unknown", self.said(response))]
        merges = _resources(response)
        available = Finding(question, "available", f"{self.last}: {len(merges)} merges")
        if entry is None:
            why = f"no customer merge entry among the {len(self.audit)} audit entries read"
            return [available, Finding(listed, f"not asked: {why}", "GET /v1/audit-logs")]
        sources = (_related(m, "source") for m in merges if _related(m, "target") == customer)
        self.merged_away += [source for source in sources if source]
        return [available, self._listed_for(listed, entry, merges)]

    def _listed_for(self, question: str, entry: AuditEntry, merges: List[Mapping[str, Any]]) -> Finding:
        customer = entry.object_id
        evidence = f"merge entry {entry.id} on customer {customer}; {self.last}: {len(merges)} merges"
        if any(_related(m, "target") == customer for m in merges):
            return Finding(question, "both", f"{evidence}, one with it as target", "--merges-listed-for both")
        if any(_related(m, "source") == customer for m in merges):
            return Finding(question, "inconclusive: the entry names the customer merged away", evidence)
        return Finding(question, "source", f"{evidence}, none with it as target", "--merges-listed-for source")

    def merged_lookup(self, question: str) -> List[Finding]:
        """What ``GET /v1/customers/{id}`` answers for a customer merged away."""
        if not self.merged_away:
            return [Finding(question, "not asked: no merged-away customer known", "no merge entry naming one")]
        gone = self.merged_away[0]
        response = self.get(f"customers/{_segment(gone)}")
        if response.status_code in (401, 403):
            return [Finding(question, REFUSED, self.said(response))]
        if response.status_code not in (200, 404):
            return [Finding(question, "unknown", self.said(response))]
        answer = str(response.status_code)
        return [Finding(question, answer, f"customer {gone} merged away: {self.last}", f"--merged-lookup {answer}")]

    # ---- lists --------------------------------------------------------------------------------------------
    def work_session_defaults(self, question: str) -> List[Finding]:
        """What work sessions are listed without ``user``/``active``, compared with ``user=false&active=false``."""
        plain = self.get("routing/work-sessions", {"page": 1, "pageSize": LIST_SAMPLE})
        if not plain.ok:
            return [Finding(question, REFUSED if plain.status_code in (401, 403) else "unknown", self.said(plain))]
        default, asked = _sessions(plain), self.last
        every_params = {"user": "false", "active": "false", "page": 1, "pageSize": LIST_SAMPLE}
        every = self.get("routing/work-sessions", every_params)
        if not every.ok:
            return [Finding(question, "unknown", self.said(every))]
        explicit = _sessions(every)
        evidence = f"{asked}: {_described(default)}; {self.last}: {_described(explicit)}"
        answer = _session_default(default, explicit)
        if answer is None:
            return [Finding(question, "inconclusive", evidence)]
        return [Finding(question, answer, evidence, f"--work-session-defaults {answer}")]

    def users_default(self, question: str) -> List[Finding]:
        """Does ``GET /v1/users`` without ``deleted`` list deactivated users (``deleted=true`` names them)?"""
        plain = self.get("users", {"page": 1, "pageSize": USERS_PAGE})
        if not plain.ok:
            return [Finding(question, REFUSED if plain.status_code in (401, 403) else "unknown", self.said(plain))]
        default, asked = _resources(plain), self.last
        links = _document(plain).get("links")
        more = isinstance(links, Mapping) and bool(links.get("next"))
        deleted = self.get("users", {"deleted": "true", "page": 1, "pageSize": USERS_PAGE})
        if not deleted.ok:
            return [Finding(question, "unknown", self.said(deleted))]
        deactivated = {_text(user.get("id"), "a user id") for user in _resources(deleted)}
        shown = [u for u in default if u.get("id") in deactivated or u["attributes"].get("deletedAt")]
        evidence = f"{asked}: {len(default)} users, {len(shown)} deactivated; {self.last}: {len(deactivated)} users"
        if not deactivated:
            return [Finding(question, "inconclusive: no deactivated user", evidence)]
        if not shown and more:
            return [Finding(question, "inconclusive", f"{evidence}; the default list has more pages")]
        answer = "all" if shown else "active"
        return [Finding(question, answer, evidence, f"--users-default {answer}")]

    def list_page_size(self, question: str) -> List[Finding]:
        """How a list pageSize above the maximum is answered."""
        response = self.get("tags", {"page": 1, "pageSize": 1000})
        if response.status_code == 400:
            return [Finding(question, "rejected", self.said(response), "--list-over-max error")]
        if not response.ok:
            return [Finding(question, "unknown", self.said(response))]
        meta = _document(response).get("meta")
        size = meta.get("pageSize") if isinstance(meta, Mapping) else None
        evidence = f"{self.last}: {len(_resources(response))} records, meta.pageSize {size}"
        if not isinstance(size, int) or isinstance(size, bool):
            return [Finding(question, "unknown", evidence)]
        return [Finding(question, f"clamped to {size}", evidence, "--list-over-max clamp")]

    def missing_role(self, question: str) -> List[Finding]:
        """401 or 403 for a role the key lacks: the lists are asked one after another while the budget lasts."""
        for tried, spec in enumerate(LIST_STREAMS):
            if tried and not self.affords(1):
                return [Finding(question, "undetermined", f"the {tried} lists tried were readable; budget spent")]
            response = self.get(spec.path, {"page": 1, "pageSize": 1})
            if response.status_code in (401, 403):
                status = str(response.status_code)
                return [Finding(question, status, self.said(response), f"--missing-role-status {status}")]
        return [Finding(question, "undetermined", "the key could read every list the probe tried")]

    # ---- from what was seen -------------------------------------------------------------------------------
    def rate_headers(self, question: str) -> List[Finding]:
        """What ``x-ratelimit-reset`` holds, from the first responses."""
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
        return [Finding(question, answer, "; ".join(parts) or "no responses", switch)]

    def precision(self, question: str) -> List[Finding]:
        """How many fraction digits the updatedAt values seen have."""
        digits = {len(m.group(1)) if m.group(1) else 0 for m in map(_FRACTION.search, self.samples) if m}
        names = {0: "seconds", 3: "milliseconds", 6: "microseconds"}
        answer = names.get(next(iter(digits)), f"{next(iter(digits))} fraction digits") if len(digits) == 1 else "mixed"
        answer = answer if digits else "unknown"
        evidence = f"{len(self.samples)} updatedAt values; fraction digits {sorted(digits)}"
        return [Finding(question, answer, evidence)]


ROUTING_FIELDS = (
    TimeField("work_item", "work_item", "updatedAt", "--routing-search"),
    TimeField("work_session", "work_session", "updatedAt", "--routing-search"),
    TimeField("work_item", "work_item", "createdAt", None),
)
_FRACTION = re.compile(r"T\d\d:\d\d:\d\d(?:\.(\d+))?")
_KINDS = ((bool, "a boolean"), (Mapping, "an object"), (list, "a list"), (str, "a string"), ((int, float), "a number"))


def _reset_mode(value: Optional[str]) -> str:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return "absent"
    if number is None:
        return "absent"
    return "epoch" if number >= EPOCH_THRESHOLD else "seconds"


def _ceil(seconds: float) -> int:
    return max(0, math.ceil(seconds))


def _why(error: Exception) -> str:
    text = str(error) if isinstance(error, Unexpected) else f"{error.__class__.__name__}: {error}"
    return text if len(text) <= WHY_CHARS else text[:WHY_CHARS] + "…"


def _kind(value: Any) -> str:
    """A JSON value's kind, as the findings name it."""
    if value is None:
        return "null or missing"
    return next((name for kind, name in _KINDS if isinstance(value, kind)), type(value).__name__)


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Unexpected(f"{what} is {_kind(value)}, not an object")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise Unexpected(f"{what} is {_kind(value)}, not a string")
    return value


def _document(response: requests.Response) -> Mapping[str, Any]:
    """The body as a JSON object."""
    try:
        body = response_json(response)
    except ValueError:
        raise Unexpected("the body is not JSON") from None
    return _object(body, "the body")


def _resources(response: requests.Response) -> List[Mapping[str, Any]]:
    """The records of a page: ``data`` must be a list of objects, each with an ``attributes`` object."""
    data = _document(response).get("data")
    if not isinstance(data, list):
        raise Unexpected(f"data is {_kind(data)}, not a list")
    for item in data:
        _object(_object(item, "a record").get("attributes"), "a record's attributes")
    return data


def _records(response: requests.Response) -> List[Mapping[str, Any]]:
    return [resource["attributes"] for resource in _resources(response)]


def _segment(value: str) -> str:
    """A server value as one path segment ('/', '?', '&', '=' and the rest encoded)."""
    return quote(value, safe="")


def _related(resource: Mapping[str, Any], name: str) -> Optional[str]:
    """The id of a to-one relationship (``relationships.<name>.data.id``), when it is there."""
    relationships = resource.get("relationships")
    related = relationships.get(name) if isinstance(relationships, Mapping) else None
    data = related.get("data") if isinstance(related, Mapping) else None
    found = data.get("id") if isinstance(data, Mapping) else None
    return found if isinstance(found, str) else None


def _lag(entry: AuditEntry) -> Optional[int]:
    """Microseconds from an entry's createdAt to its publishedAt, when it has both."""
    created = instant(entry.attributes.get("createdAt"))
    return entry.published - created if created is not None and entry.published is not None else None


def _sessions(response: requests.Response) -> List[Session]:
    sessions = []
    for resource in _resources(response):
        attributes = resource["attributes"]
        ended = attributes.get("signedOutAt") is not None or attributes.get("active") is False
        sessions.append(Session(_text(resource.get("id"), "a session id"), _related(resource, "user"), ended))
    return sessions


def _described(sessions: List[Session]) -> str:
    ended = sum(session.ended for session in sessions)
    return f"{len(sessions)} sessions ({ended} ended, {len({s.user for s in sessions})} users)"


def _session_default(default: List[Session], explicit: List[Session]) -> Optional[str]:
    """``false`` when the default list shows ended sessions of several users; ``true`` when it shows neither and
    fewer sessions than ``user=false&active=false``; None when it cannot tell (or the defaults are mixed)."""
    ended = any(session.ended for session in default)
    many = len({session.user for session in default}) > 1
    if ended and many:
        return "false"
    if not ended and not many and len(default) < len(explicit):
        return "true"
    return None


def simulator_args(findings: List[Finding]) -> List[str]:
    """The findings as arguments of ``python -m kustomer_simulator serve`` (per-object settings joined)."""
    args: Dict[str, List[str]] = {}
    for finding in findings:
        if finding.switch:
            flag, value = finding.switch.split(" ", 1)
            args.setdefault(flag, []).append(value)
    return [part for flag, values in args.items() for part in (flag, ",".join(values))]


def render(findings: List[Finding], requests_sent: int) -> str:
    """The findings as a plain-text table."""
    width = max(len(f.question) for f in findings)
    lines = [f"{'question':<{width}}  answer  (simulator switch)", "-" * (width + 40)]
    for finding in findings:
        switch = f"  ({finding.switch})" if finding.switch else ""
        lines.append(f"{finding.question:<{width}}  {finding.answer}{switch}")
        lines.append(f"{'':<{width}}    {finding.evidence}")
    skipped = sum(finding.answer == NOT_ASKED for finding in findings)
    lines.append(
        f"{requests_sent} read-only requests sent, retries included (at most {MAX_REQUESTS}); "
        f"{skipped} questions not asked for want of budget"
    )
    return "\n".join(lines)


class _RedactedLines(logging.Handler):
    """Log records as one redacted line each on stderr; no tracebacks (the findings say what failed)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(redaction.redact(f"probe: {record.levelname.lower()}: {record.getMessage()}"), file=sys.stderr)


def _quiet_logs() -> None:
    logger = logging.getLogger("airbyte")
    logger.handlers = [_RedactedLines()]
    logger.propagate = False
    logger.setLevel(logging.WARNING)


def main(argv: Optional[List[str]] = None) -> int:
    """``source-kustomer probe``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="source-kustomer probe", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the connector's config.json")
    parser.add_argument("--out", default="kustomer-probe.json", help="where to write the findings as JSON")
    args = parser.parse_args(argv)
    _quiet_logs()
    try:
        with open(args.config, encoding="utf-8") as handle:
            config = parse_config(json.load(handle))
    except (OSError, ValueError) as error:
        print(f"probe: cannot read {args.config} ({error.__class__.__name__})", file=sys.stderr)
        return 1
    except AirbyteTracedException as error:
        print(redaction.redact(f"probe stopped: {error.message}"), file=sys.stderr)
        return 1
    redaction.register(config.api_token)
    connection = KustomerConnection(config, USER_AGENT, max_sends=MAX_REQUESTS)
    try:
        findings = Probe(connection).run()
    except ProbeStopped as error:
        print(redaction.redact(f"probe stopped: {error}"), file=sys.stderr)
        return 1
    finally:
        connection.close()
    report = {
        "requests": connection.sends,
        "max_requests": MAX_REQUESTS,
        "host": connection.origin.url,
        "findings": [asdict(f) for f in findings],
        "simulator_args": simulator_args(findings),
    }
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(redaction.redact(json.dumps(report, indent=2)) + "\n")
    print(redaction.redact(render(findings, connection.sends)))
    print(f"written: {args.out}")
    return 0
