"""Kustomer's audit log (``GET /v1/audit-logs``), read one date window at a time and verified page by page.

What the connector takes from Kustomer's reference (see docs/kustomer-api-model.md):

* pages come newest first, ``count`` entries each (at most 1,000), and continue with ``before=<id of the last
  entry>``; the only published ``links.next`` carries no filters;
* entry ids are minted when an entry is published (the published example's id encodes its ``publishedAt``
  second), so id order is publish order, and ``createdAt`` can be earlier by seconds (7.3 s in the example);
* ``filter[start]``/``filter[end]`` select by a date field Kustomer does not name, and may exclude their bounds.

So a window keeps the entries *placed* in ``(low, high]``, an entry's place being its ``createdAt`` (its
``publishedAt`` when it has none; its id's second when it has neither, which is reported). The reader asks from
one millisecond before ``low`` to the publish lag it allows for (``audit_publish_lag_seconds``) after
``high``: under either date field that returns every entry placed in the window that was published within
that lag of its creation (one published later is reported). It builds every next request itself -- its own
filters plus ``before=<last id>`` -- and stops at the first entry published before ``low``, as every later one
is older still: a server that drops the filters costs at most one page past the window. Every page must be no
longer than asked, hold only the object types asked for, continue the descending id order and agree with it
in ``publishedAt`` (within a second, the resolution of an id); anything else stops the read, so its caller does
not move its position.
"""

import re
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterator, List, Mapping, Optional, Sequence
from urllib.parse import urlencode

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.connection import KustomerClient
from kustomer_http.responses import error_detail, response_json
from kustomer_http.timestamps import instant, kustomer_time, moment_of

AUDIT_PAGE_SIZE = 1000
SHORT_RETENTION = timedelta(days=90)
LONG_RETENTION = timedelta(days=365)
# Help Center, "Audit log storage limits" (2024): what Kustomer keeps 90 days; the rest (business rules, company
# updates, customer merges, message creation, saved searches, shortcuts, billing) 12 months.
SHORT_LIVED = "conversation, customer and message updates, routing events and sign-ins"
BOUND_MARGIN_MICROS = 1000  # bounds are asked one millisecond wider: Kustomer may exclude them
ID_SECOND = 1_000_000
AUDIT_ROLES = "org.permission.audit_logs.read (legacy org.user.audit_logs.read or org.admin.audit_logs.read)"
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


class AuditRefused(Exception):
    """The key may not read the audit log (401/403); ``reason`` quotes Kustomer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status


class AuditRejected(Exception):
    """Kustomer answered 400 or 404 to an audit-log request; the message quotes it."""


class TypeFilterIgnored(Exception):
    """A page held an entry of an object type that was not asked for: the type filter is not honoured."""


def _id_second(entry_id: str) -> Optional[int]:
    """The publish second (microseconds) an ObjectId-shaped entry id encodes."""
    return int(entry_id[:8], 16) * ID_SECOND if _OBJECT_ID.match(entry_id) else None


@dataclass(frozen=True)
class AuditEntry:
    """One entry as Kustomer sent it, and when it happened."""

    resource: Mapping[str, Any]
    id: str
    attributes: Mapping[str, Any]
    placed: int  # microseconds: createdAt, else publishedAt, else the id's second
    published: Optional[int]  # microseconds: publishedAt, else None
    id_second: Optional[int]
    dated_by: str  # createdAt | publishedAt | id

    @property
    def object_type(self) -> Any:
        """The entry's objectType."""
        return self.attributes.get("objectType")

    @property
    def verb(self) -> Any:
        """The entry's eventVerb."""
        return self.attributes.get("eventVerb")

    @property
    def object_id(self) -> Any:
        """The entry's objectId."""
        return self.attributes.get("objectId")

    def published_before(self, moment: int) -> bool:
        """Whether the entry was certainly published before ``moment`` (microseconds)."""
        if self.published is not None:
            return self.published < moment - BOUND_MARGIN_MICROS
        return self.id_second is not None and self.id_second + ID_SECOND <= moment - BOUND_MARGIN_MICROS

    def publish_lag(self) -> Optional[float]:
        """Seconds between createdAt and publishedAt, when both are known."""
        created = instant(self.attributes.get("createdAt"))
        return (self.published - created) / 1e6 if created is not None and self.published is not None else None


def parse_entry(resource: Any) -> Optional[AuditEntry]:
    """An entry of a page, or None when it has no id or no way to be placed in time."""
    if not isinstance(resource, Mapping) or not isinstance(resource.get("attributes"), Mapping):
        return None
    entry_id, attributes = resource.get("id"), resource["attributes"]
    if not isinstance(entry_id, str) or not entry_id:
        return None
    created, published = instant(attributes.get("createdAt")), instant(attributes.get("publishedAt"))
    id_second = _id_second(entry_id.lower())
    if created is not None:
        placed, dated_by = created, "createdAt"
    elif published is not None:
        placed, dated_by = published, "publishedAt"
    elif id_second is not None:
        placed, dated_by = id_second, "id"
    else:
        return None
    return AuditEntry(resource, entry_id, attributes, placed, published, id_second, dated_by)


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
class AuditReport:
    """What was noticed while reading, for one warning per sync instead of one per entry."""

    undated: int = 0  # entries without createdAt and publishedAt, placed by their id
    unplaceable: int = 0  # entries with no id or no date at all: skipped
    late: int = 0  # entries published later after their createdAt than the lag allowed for
    latest_lag: float = 0.0


def _query(low: int, high: int, lag: timedelta, object_types: Sequence[str], before: Optional[str]) -> str:
    params: List[tuple] = [("count", AUDIT_PAGE_SIZE)]
    if object_types:
        params.append(("filter[objectType]", object_types[0]))
        if len(object_types) > 1:
            params.append(("filter[include]", ",".join(object_types[1:])))
    start = moment_of(low - BOUND_MARGIN_MICROS)
    end = moment_of(high + int(lag.total_seconds() * 1e6) + BOUND_MARGIN_MICROS)
    params += [("filter[start]", kustomer_time(start)), ("filter[end]", kustomer_time(end))]
    if before is not None:
        params.append(("before", before))
    return urlencode(params, safe="[],:")


@dataclass
class AuditReader:
    """Reads windows of the audit log for one stream (or the deletions) of a sync."""

    client: KustomerClient
    on_page: Callable[[float], None]
    budget: AuditPageBudget
    publish_lag: timedelta  # how long after its createdAt an entry may be published (the example: 7.3 s)
    report: AuditReport = field(default_factory=AuditReport)

    def window(self, low: int, high: int, object_types: Sequence[str] = ()) -> Iterator[AuditEntry]:
        """Every entry placed in ``(low, high]`` (microseconds), newest first, of ``object_types`` (all if empty)."""
        return audit_window(self, low, high, object_types)


def audit_window(reader: AuditReader, low: int, high: int, object_types: Sequence[str]) -> Iterator[AuditEntry]:
    """Every entry placed in ``(low, high]`` (microseconds), newest first, of ``object_types`` (all when empty).

    Raises AuditRefused (no role), AuditRejected (400/404), TypeFilterIgnored, or a system error for a page that
    breaks the log's order or size.
    """
    client, report = reader.client, reader.report
    before: Optional[str] = None  # the last entry id read: the next page continues below it
    previous: Optional[AuditEntry] = None
    wanted = set(object_types)
    while True:
        reader.budget.spend()
        query = _query(low, high, reader.publish_lag, object_types, before)
        response = client.get(client.api_url(f"audit-logs?{query}"))
        reader.on_page(time.monotonic())
        if response.status_code in (401, 403):
            refusal = client.refusal(response)
            raise AuditRefused(response.status_code, refusal.reason if refusal else error_detail(response))
        if response.status_code in (400, 404):
            raise AuditRejected(f"HTTP {response.status_code}: {error_detail(response)}")
        document = response_json(response)
        data = document.get("data") if isinstance(document, Mapping) else None
        if not isinstance(data, list):
            raise _broken("a page whose data is not a list")
        if len(data) > AUDIT_PAGE_SIZE:
            raise _broken(f"a page of {len(data):,} entries, though {AUDIT_PAGE_SIZE:,} were asked for")
        kept, reached_start = [], False
        for resource in data:  # the whole page is checked before any of it is taken
            entry_id = resource.get("id") if isinstance(resource, Mapping) else None
            if isinstance(entry_id, str) and entry_id:
                if before is not None and entry_id.lower() >= before.lower():
                    raise _broken(f"entry {entry_id} after entry {before}, though the log is newest first by id")
                before = entry_id
            entry = parse_entry(resource)
            if entry is None:
                report.unplaceable += 1
                continue
            _check_publish_order(previous, entry)
            previous = entry
            if wanted and entry.object_type not in wanted:
                raise TypeFilterIgnored(f"asked for {', '.join(object_types)}, got an entry of {entry.object_type!r}")
            if reached_start or entry.published_before(low):
                reached_start = True
                continue
            lag = entry.publish_lag()
            if lag is not None and lag > reader.publish_lag.total_seconds():
                report.late += 1
                report.latest_lag = max(report.latest_lag, lag)
            if entry.dated_by == "id":
                report.undated += 1
            if low < entry.placed <= high:
                kept.append(entry)
        yield from kept
        if reached_start:
            return
        links = document.get("links") if isinstance(document.get("links"), Mapping) else {}
        if not data or not links.get("next"):
            return
        if before is None:
            raise _broken("a page without entry ids that links to a further page")


def _check_publish_order(previous: Optional[AuditEntry], entry: AuditEntry) -> None:
    """Ids follow the publish order: a later entry may not be published a second or more after an earlier one
    (within one second ids are not ordered by the millisecond)."""
    if previous is None or entry.published is None or previous.published is None:
        return
    if entry.published - previous.published >= ID_SECOND:
        raise _broken(
            f"entry {entry.id} published at {entry.attributes.get('publishedAt')} after entry {previous.id} "
            f"published at {previous.attributes.get('publishedAt')}, though ids follow the publish order"
        )


def _broken(what: str) -> AirbyteTracedException:
    message = (
        f"Kustomer's audit log answered with {what}. What was read from it in this sync is not saved as read; the "
        "next sync asks again. If this repeats, report it to Kustomer support with this message."
    )
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
