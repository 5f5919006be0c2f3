"""Kustomer's audit log (``GET /v1/audit-logs``), read one date window at a time and verified page by page.

What the connector takes from Kustomer's reference (see docs/kustomer-api-model.md):

* pages come newest id first, ``count`` entries each (at most 1,000); ``before`` and ``after`` are entry ids that
  bound a page, and the reference says each "requires" the other, while its published example links use one alone;
* entry ids are Mongo ObjectIds whose first four bytes are a second at or after the entry was published (the
  published example's id encodes its ``publishedAt`` second) -- but nothing says ids follow the publish order;
* ``filter[start]``/``filter[end]`` select by a date field Kustomer does not name, and may exclude their bounds;
  ``filter[include]`` adds object types with "OR" logic, which may skip the date filter.

So a window keeps the entries *placed* in ``(low, high]``, an entry's place being its ``createdAt`` (its
``publishedAt`` when it has none; its id's second when it has neither, which is reported). Its request asks the
dates from one millisecond before ``low`` to the publish lag allowed for (``audit_publish_lag_seconds``) past
``high``, and the ids between ``after`` and ``before`` built from those times (``ID_MARGIN_SECONDS`` wider), so the
requests of consecutive windows overlap by the lag and each entry is kept by the one window it is placed in. Next
pages move ``before`` down to the lowest id read (a full page is followed even without a next link). Where Kustomer
refuses ``after`` with ``before``, the reader pages as the published links do (no cursor, then ``before`` alone) and
stops at the first id whose second is too old for any entry of the window. Every page is checked -- no longer than
asked, only the object types asked for, entries of included types inside the asked dates, progress below the last id
-- and an entry read already (at or above that id) is dropped. Ids out of order within a page and publish times out
of id order are counted and reported, never an error. An entry whose own times contradict each other (``createdAt``
after ``publishedAt``, or either after its id's second) cannot be placed: it is reported and skipped, and its
neighbours are read as usual. An entry, its place in time and its contradictions are ``audit_entry.py``.
"""

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple
from urllib.parse import urlencode

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.connection import KustomerClient
from kustomer_http.responses import error_detail, response_json
from kustomer_http.timestamps import kustomer_time, moment_of

from source_kustomer.audit_entry import (
    CLOCK_TOLERANCE,
    ID_SECOND,
    OBJECT_ID,
    AuditEntry,
    object_id_at,
    parse_entry,
    second_of_id,
)
from source_kustomer.audit_report import AuditReport

AUDIT_PAGE_SIZE = 1000
SHORT_RETENTION = timedelta(days=90)
LONG_RETENTION = timedelta(days=365)
# Help Center, "Audit log storage limits" (Oct 2024): what Kustomer keeps 90 days; the rest (business rules, company
# updates, customer merges, message creation, saved searches, shortcuts, billing) 12 months.
SHORT_LIVED = "conversation, customer and message updates, routing events and sign-ins"
# The same page names no delete among what it keeps 12 months (company *updates* are; deletes are not), so every
# delete entry is taken to be kept the short term -- as the simulator's retention table says.
DELETE_RETENTION = SHORT_RETENTION
BOUND_MARGIN_MICROS = 1000  # dates are asked one millisecond wider: Kustomer may exclude its bounds
ID_MARGIN_SECONDS = 2  # ids are asked this much wider than the dates: an id's second is whole, clocks differ
AUDIT_ROLES = "org.permission.audit_logs.read (legacy org.user.audit_logs.read or org.admin.audit_logs.read)"


class AuditRefused(Exception):
    """The key may not read the audit log (401/403); ``reason`` quotes Kustomer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status


class AuditRejected(Exception):
    """Kustomer answered 400 or 404 to an audit-log request; the message quotes it."""


class TypeFilterIgnored(Exception):
    """A combined page broke the filters asked: an entry of a type not asked for, or one of an included type
    outside the asked dates (``filter[include]`` OR-ed outside the date filter)."""


class AuditPageBudget:
    """The audit-log pages one sync may read, across every window and stream (a stated bound)."""

    def __init__(self, max_pages: int) -> None:
        self.max_pages = max_pages
        self.pages = 0
        self._lock = threading.Lock()

    def spend(self) -> None:
        """Count one page; one page past the bound stops the read with a clear error."""
        with self._lock:
            if self.pages >= self.max_pages:
                message = (
                    f"The audit log needed more than {self.max_pages:,} pages ({self.max_pages * AUDIT_PAGE_SIZE:,} "
                    "entries) in one sync. The sync stopped after the last window it read in full; the next sync "
                    "continues from there."
                )
                raise AirbyteTracedException(
                    message=message, internal_message=message, failure_type=FailureType.transient_error
                )
            self.pages += 1


@dataclass
class AuditReader:
    """Reads windows of the audit log for one stream (or the deletions) of a sync."""

    client: KustomerClient
    on_page: Callable[[float], None]
    budget: AuditPageBudget
    publish_lag: timedelta  # how long after its createdAt an entry may be published (the example: 7.3 s)
    report: AuditReport = field(default_factory=AuditReport)
    # How pages are asked: "cursors" (after with before, as the reference's text says), "published" (no cursor,
    # then before alone, as its example links do), or None until the first page settled it.
    paging: Optional[str] = None
    fallback_reason: Optional[str] = None  # what Kustomer said to after with before, once it refused it

    def window(self, low: int, high: int, object_types: Sequence[str] = ()) -> Iterator[AuditEntry]:
        """Every entry placed in ``(low, high]`` (microseconds), newest first, of ``object_types`` (all if empty)."""
        return audit_window(self, low, high, object_types)


@dataclass(frozen=True)
class _Ask:
    """What one window asks for: object types, dates (microseconds) and the ids those dates allow."""

    object_types: Sequence[str]
    start: int
    end: int

    @property
    def after(self) -> str:
        return object_id_at(self.start - (ID_MARGIN_SECONDS + 1) * ID_SECOND)

    @property
    def before(self) -> str:
        return object_id_at(self.end + (ID_MARGIN_SECONDS + 1) * ID_SECOND)

    def params(self) -> List[Tuple[str, Any]]:
        params: List[Tuple[str, Any]] = [("count", AUDIT_PAGE_SIZE)]
        if self.object_types:
            params.append(("filter[objectType]", self.object_types[0]))
            if len(self.object_types) > 1:
                params.append(("filter[include]", ",".join(self.object_types[1:])))
        return params + [("filter[start]", _time(self.start)), ("filter[end]", _time(self.end))]


def _time(micros: int) -> str:
    return kustomer_time(moment_of(micros))


def audit_window(reader: AuditReader, low: int, high: int, object_types: Sequence[str]) -> Iterator[AuditEntry]:
    """Every entry placed in ``(low, high]`` (microseconds), newest first, of ``object_types`` (all when empty),
    each once.

    Raises AuditRefused (no role), AuditRejected (400/404), TypeFilterIgnored, or a system error for a page that
    is longer than asked or makes no progress.
    """
    ask = _Ask(
        object_types,
        low - BOUND_MARGIN_MICROS,
        high + int(reader.publish_lag.total_seconds() * 1e6) + BOUND_MARGIN_MICROS,
    )
    report, wanted, included = reader.report, set(object_types), set(object_types[1:])
    cursor: Optional[str] = None  # the lowest id read: the next page continues below it
    previous: Optional[AuditEntry] = None  # the last entry read, in the order served
    while True:
        document = _page(reader, ask, cursor)
        data = document.get("data")
        if not isinstance(data, list):
            raise _broken("a page whose data is not a list")
        if len(data) > AUDIT_PAGE_SIZE:
            raise _broken(f"a page of {len(data):,} entries, though {AUDIT_PAGE_SIZE:,} were asked for")
        fresh = _fresh(data, cursor, report)
        kept: List[AuditEntry] = []
        for resource in fresh:  # the whole page is checked before any of it is taken
            entry = parse_entry(resource)
            if entry is None:
                report.unplaceable += 1
                continue
            if wanted and entry.object_type not in wanted:
                raise TypeFilterIgnored(f"asked for {', '.join(object_types)}, got an entry of {entry.object_type!r}")
            if entry.object_type in included and not entry.dated_between(ask.start, ask.end):
                raise TypeFilterIgnored(
                    f"entry {entry.id} of included type {entry.object_type!r} is dated outside the dates asked "
                    f"({_time(ask.start)} to {_time(ask.end)})"
                )
            why = entry.contradiction()
            if why is not None:
                report.contradicted(entry.id, why)
                continue
            _note_order(previous, entry, report)
            previous = entry
            if low < entry.placed <= high:
                _note_lag(entry, reader, report)
                kept.append(entry)
        yield from kept
        lowest = min((resource["id"] for resource in fresh), default=None)
        if cursor is not None and lowest is None and data:
            raise _broken(f"a page holding only entries read already (at or above id {cursor})")
        if lowest is not None:
            cursor = lowest
        links = document.get("links") if isinstance(document.get("links"), Mapping) else {}
        if not data or not links.get("next") and len(data) < AUDIT_PAGE_SIZE or _older_than_window(cursor, low):
            return
        if cursor is None:
            raise _broken("a page without entry ids that links to a further page")


def _page(reader: AuditReader, ask: _Ask, cursor: Optional[str]) -> Mapping[str, Any]:
    """One page of ``ask`` continuing below ``cursor``."""
    return _cursor_page(reader, ask.params(), ask.after, cursor or ask.before, cursor)


def _cursor_page(
    reader: AuditReader, params: List[Tuple[str, Any]], after: str, before: str, published_before: Optional[str]
) -> Mapping[str, Any]:
    """One page asked with ``after`` and ``before``, as the reference's text says -- or, once Kustomer refused
    that (the reader settles it on its first page), as the published links ask: ``published_before`` alone."""
    if reader.paging != "published":
        try:
            document = _get(reader, params + [("after", after), ("before", before)])
            reader.paging = "cursors"
            return document
        except AuditRejected as rejected:
            if reader.paging == "cursors":
                raise
            reader.paging, reader.fallback_reason = "published", str(rejected)
    return _get(reader, params + ([("before", published_before)] if published_before else []))


def include_unproven(reader: AuditReader, object_types: Sequence[str]) -> Optional[str]:
    """Why ``filter[include]`` cannot be trusted to add ``object_types[1:]`` to ``object_types[0]``, or None:
    the newest entry of each included type must come back through it (two requests per included type). A server
    that ignores the include answers such a request as if only the main type was asked for, so no page of a
    combined pass could show it."""
    main, included = object_types[0], list(object_types[1:])
    for kind in included:
        newest = _get(reader, [("count", 1), ("filter[objectType]", kind)]).get("data")
        entry_id = (
            newest[0].get("id") if isinstance(newest, list) and newest and isinstance(newest[0], Mapping) else None
        )
        if entry_id is None:
            continue  # no entry of that type at all: nothing a combined pass could miss
        if not isinstance(entry_id, str) or not OBJECT_ID.match(entry_id.lower()):
            return f"the newest {kind} entry's id {entry_id!r} is not an ObjectId to ask around"
        number = int(entry_id, 16)
        params = [("count", 1), ("filter[objectType]", main), ("filter[include]", ",".join(included))]
        above = f"{number + 1:024x}"
        document = _cursor_page(reader, params, f"{max(0, number - 1):024x}", above, above)
        data = document.get("data")
        if not isinstance(data, list) or entry_id not in [r.get("id") for r in data if isinstance(r, Mapping)]:
            return f"the newest {kind} entry ({entry_id}) did not come back through filter[include]"
    return None


def _get(reader: AuditReader, params: List[Tuple[str, Any]]) -> Mapping[str, Any]:
    reader.budget.spend()
    client = reader.client
    response = client.get(client.api_url(f"audit-logs?{urlencode(params, safe='[],:')}"))
    reader.on_page(time.monotonic())
    if response.status_code in (401, 403):
        refusal = client.refusal(response)
        raise AuditRefused(response.status_code, refusal.reason if refusal else error_detail(response))
    if response.status_code in (400, 404):
        raise AuditRejected(f"HTTP {response.status_code}: {error_detail(response)}")
    document = response_json(response)
    if not isinstance(document, Mapping):
        raise _broken("a page that is not a JSON object")
    return document


def _fresh(data: List[Any], cursor: Optional[str], report: AuditReport) -> List[Mapping[str, Any]]:
    """The resources of a page not read before: with an id below ``cursor``, each id once; ids out of order are
    counted. Resources without an id are kept (they are counted as unplaceable)."""
    fresh: List[Mapping[str, Any]] = []
    seen: Set[str] = set()
    ids: List[str] = []
    for resource in data:
        entry_id = resource.get("id") if isinstance(resource, Mapping) else None
        if not isinstance(entry_id, str) or not entry_id:
            fresh.append(resource)
            continue
        ids.append(entry_id)
        if entry_id in seen or cursor is not None and entry_id >= cursor:
            report.repeated += 1
            continue
        seen.add(entry_id)
        fresh.append(resource)
    if any(newer <= older for newer, older in zip(ids, ids[1:], strict=False)):
        report.unordered_pages += 1
    return fresh


def _note_order(previous: Optional[AuditEntry], entry: AuditEntry, report: AuditReport) -> None:
    """Count an entry published a second or more after the one before it in id order (observed, never fatal)."""
    if previous is not None and entry.published is not None and previous.published is not None:
        if entry.published - previous.published >= ID_SECOND:
            report.inverted += 1


def _note_lag(entry: AuditEntry, reader: AuditReader, report: AuditReport) -> None:
    if entry.dated_by == "id":
        report.undated += 1
    lag = entry.publish_lag()
    if lag is not None and lag > reader.publish_lag.total_seconds():
        report.late += 1
        report.latest_lag = max(report.latest_lag, lag)


def _older_than_window(cursor: Optional[str], low: int) -> bool:
    """Whether every entry below id ``cursor`` is certainly placed at or before ``low``: an entry whose times agree
    with its id was created before that id's second ended (within the clock tolerance), and ids below are older."""
    second = second_of_id(cursor.lower()) if cursor else None
    return second is not None and second + ID_SECOND + CLOCK_TOLERANCE <= low


def _broken(what: str) -> AirbyteTracedException:
    message = (
        f"Kustomer's audit log answered with {what}. What was read from it in this sync is not saved as read; the "
        "next sync asks again. If this repeats, report it to Kustomer support with this message."
    )
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
