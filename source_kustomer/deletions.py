"""Deletions as Airbyte delete markers: soft deletes from search, hard deletes and merges from the audit log.

A delete marker is a record with the object's ``id``, the cursor (``updatedAt``) set to the time of the deletion,
and ``_ab_cdc_deleted_at`` set to that time: a deduplicating destination then removes the row. A marker is only
ever written on proof -- a soft-deleted record as search returns it, a ``delete`` entry of the audit log, or a
merge record of ``GET /v1/customers/{id}/merges`` naming the customer as its ``source`` -- never because of one
404 (a blip or a lagging replica would delete a live row for good).

The audit log is read once per sync for every stream that syncs deletes (``DeletionsLog``): one pass with
``filter[objectType]`` and ``filter[include]`` for all their object types, checked on every page (an entry of a
type not asked for means the combined filter is not honoured; the pass is then made once per type). Windows are
read oldest first; the deletions of each stream are held until that stream takes them (at most
``MAX_HELD_DELETIONS``; a window holding more is read again in halves), and each stream's audit position moves
only to where every deletion before it is settled. A merge that cannot be settled (its lookups failed, or the
sync's ``MAX_MERGE_LOOKUPS`` are spent) keeps the customers' position before it, so the next sync asks again.

Without the merge role Kustomer refuses ``/merges``; the connector then looks each customer a merge entry names
up -- except the one the entry is about, which is the one kept -- and only an absence seen twice,
``ABSENCE_RECHECK_SECONDS`` apart, becomes a marker (Kustomer documents only 200 for that lookup; a merged-away
customer may even still answer 200, which this fallback then cannot see, and says so).
"""

import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Dict, Iterator, List, Mapping, MutableMapping, Optional, Sequence, Set, Tuple
from urllib.parse import quote

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.connection import KustomerClient
from kustomer_http.responses import error_detail, response_json
from kustomer_http.timestamps import instant, kustomer_time, moment_of

from source_kustomer.audit_log import (
    AuditEntry,
    AuditPageBudget,
    AuditReader,
    AuditRefused,
    AuditRejected,
    TypeFilterIgnored,
)

DELETED_AT = "_ab_cdc_deleted_at"
# Search streams whose hard deletes the audit log can be asked for, and the objectType filter of each.
AUDIT_OBJECT_TYPES = {
    "customers": "customer",
    "conversations": "conversation",
    "messages": "message",
    "companies": "company",
}
DELETE_VERB = "delete"
MERGE_VERB = "merge"
WINDOW = timedelta(days=7)
SMALLEST_WINDOW = timedelta(hours=1)
MAX_HELD_DELETIONS = 100_000  # per sync, across streams (about 30 MB)
MAX_MERGE_LOOKUPS = 5_000  # requests per sync for merges (GET /customers/{id}/merges or /customers/{id})
MAX_HELD_MERGES = 50_000  # merge entries of one window held to be settled oldest first (about 20 MB)
MAX_MERGE_CANDIDATES = 10  # customers a merge entry may name
LOOKUPS_IN_FLIGHT = 8  # merge entries resolved at once
MAX_MERGE_PAGES = 10  # pages of one customer's merges
MAX_DELETION_PAGES = 10_000  # audit-log pages per sync for deletions
ABSENCE_RECHECK_SECONDS = 10.0
MERGE_ROLES = "org.permission.customer_merge.read (legacy org.user.customer.read or org.admin.customer.merge.read)"
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


@dataclass(frozen=True)
class Deletion:
    """One object that was deleted, and when."""

    object_id: str
    object_type: str
    at: str

    def marker(self) -> MutableMapping[str, Any]:
        """The delete marker for this object."""
        return {"id": self.object_id, "type": self.object_type, "updatedAt": self.at, DELETED_AT: self.at}


def soft_deletion(record: Mapping[str, Any]) -> Optional[Deletion]:
    """The deletion a soft-deleted search record stands for (None for a live record)."""
    if record.get("deleted") is not True:
        return None
    at = record["updatedAt"]  # a soft delete updates the record: its place in the search order
    return Deletion(record["id"], str(record.get("type") or ""), at)


class DeletionsUnavailable(Exception):
    """The audit log cannot be read for deletions (the key lacks its role, or Kustomer rejected the request)."""


def named_ids(entry: AuditEntry) -> List[str]:
    """The customer ids a merge entry names: its objectId first, then every id-shaped text in its changes."""
    named: List[str] = []
    pending: List[Any] = [entry.attributes.get("changes"), entry.object_id]
    while pending and len(named) < MAX_MERGE_CANDIDATES:
        value = pending.pop()
        if isinstance(value, str) and _OBJECT_ID.match(value) and value not in named:
            named.append(value)
        elif isinstance(value, Mapping):
            pending.extend(reversed(list(value.values())))
        elif isinstance(value, list):
            pending.extend(reversed(value))
    return named


@dataclass
class _Outcome:
    deletions: List[Deletion] = field(default_factory=list)
    settled: bool = True
    unsettled_at: Optional[int] = None  # the earliest merge (microseconds) left unsettled, when known

    def unsettle(self, moment: int) -> None:
        """Note a merge at ``moment`` that could not be settled."""
        self.settled = False
        self.unsettled_at = moment if self.unsettled_at is None else min(self.unsettled_at, moment)


class MergeResolver:
    """Which customers a merge entry merged away, from Kustomer's own merge records (or, without the merge role,
    from an absence seen twice). Every request counts against ``MAX_MERGE_LOOKUPS``; up to ``LOOKUPS_IN_FLIGHT``
    entries are resolved at once (their lookups are independent), each customer looked up once per sync."""

    def __init__(self, client: KustomerClient, logger: logging.Logger, recheck_seconds: float) -> None:
        self.client = client
        self.logger = logger
        self.recheck_seconds = recheck_seconds
        self.lookups = 0
        self.refused: Optional[str] = None  # why /merges is refused, once it was
        self._listed: Set[str] = set()  # customers whose merges were read (or are being read) this sync
        self._unlisted: Dict[str, Tuple[float, AuditEntry]] = {}  # /merges answered 404 once: asked again later
        self._absent: Dict[str, Tuple[float, AuditEntry]] = {}  # fallback: first absence seen, to check again
        self._lock = threading.Lock()
        self._clients = threading.local()

    def resolve_all(self, entries: Sequence[AuditEntry]) -> List[_Outcome]:
        """The outcome of each entry, in the order given."""
        with ThreadPoolExecutor(LOOKUPS_IN_FLIGHT, thread_name_prefix="merges") as pool:
            return list(pool.map(self.resolve, entries))

    def _spend(self) -> bool:
        with self._lock:
            if self.lookups >= MAX_MERGE_LOOKUPS:
                return False
            self.lookups += 1
            return True

    def _claim(self, customer: str) -> bool:
        """Whether this thread is the first to read ``customer``'s merges in this sync."""
        with self._lock:
            if customer in self._listed or customer in self._unlisted:
                return False
            self._listed.add(customer)
            return True

    def _client(self) -> KustomerClient:
        client = getattr(self._clients, "client", None)
        if client is None:
            client = self._clients.client = self.client.connection.client("merges", self.client.stats)
        return client

    def _get(self, url: str) -> Optional[requests.Response]:
        """A lookup's response; None when Kustomer kept failing it (retries spent): then it is not settled."""
        try:
            return self._client().get(url)
        except AirbyteTracedException as error:
            if error.failure_type == FailureType.config_error:
                raise
            self.logger.info(f"A merge lookup kept failing ({error.message}); it is asked again next sync.")
            return None

    def resolve(self, entry: AuditEntry) -> _Outcome:
        """The merged-away customers of one merge entry, and whether that is certain."""
        outcome = _Outcome()
        candidates = named_ids(entry)
        if self.refused is None:
            for candidate in candidates:
                if not self._claim(candidate):
                    continue
                if not self._merges_of(candidate, entry, outcome):
                    break
            if self.refused is None:
                return outcome
        for candidate in candidates:
            if candidate != entry.object_id:
                self._look_up(candidate, entry, outcome)
        return outcome

    def _merges_of(self, customer: str, entry: AuditEntry, outcome: _Outcome, again: bool = False) -> bool:
        """Read the merge records of one customer into ``outcome``; False when /merges is refused. A 404 is asked
        again later (``confirm``) before it counts as "no merges"."""
        url: Optional[str] = self.client.api_url(f"customers/{quote(customer, safe='')}/merges?page=1&pageSize=100")
        pages = 0
        while url is not None:
            if pages >= MAX_MERGE_PAGES or not self._spend():
                outcome.settled = False
                return True
            pages += 1
            response = self._get(url)
            if response is None:
                outcome.settled = False
                return True
            if response.status_code in (401, 403):
                refusal = self._client().refusal(response)
                self.refused = f"HTTP {response.status_code}: {refusal.reason if refusal else error_detail(response)}"
                return False
            if response.status_code == 404:
                if not again:
                    with self._lock:
                        self._listed.discard(customer)
                        self._unlisted[customer] = (time.monotonic(), entry)
                    return True
                break  # twice: Kustomer knows no merges of this customer
            if not response.ok:
                outcome.settled = False
                return True
            document = response_json(response)
            for record in document.get("data") or [] if isinstance(document, Mapping) else []:
                deletion = _merged_away(record, entry)
                if deletion is not None:
                    outcome.deletions.append(deletion)
            links = document.get("links") if isinstance(document, Mapping) else None
            link = links.get("next") if isinstance(links, Mapping) else None
            url = self.client.link_url(link) if link else None
        with self._lock:
            self._listed.add(customer)
        return True

    def _look_up(self, customer: str, entry: AuditEntry, outcome: _Outcome) -> None:
        """Fallback without the merge role: an absence is noted now and confirmed by ``confirm_absences``."""
        with self._lock:
            if customer in self._absent:
                return
        if not self._spend():
            outcome.settled = False
            return
        response = self._get(self.client.api_url(f"customers/{quote(customer, safe='')}"))
        if response is not None and response.status_code == 404:
            with self._lock:
                self._absent[customer] = (time.monotonic(), entry)
        elif response is None or not response.ok:
            outcome.settled = False

    def confirm(self) -> _Outcome:
        """Ask again, ``recheck_seconds`` after the first answer, for every merge list that answered 404 once and
        every customer found absent once: a second 404 is an answer (no merges; merged away), one is not."""
        outcome = _Outcome()
        for customer, (first_seen, entry) in sorted(self._unlisted.items(), key=lambda item: item[1][0]):
            self._wait_since(first_seen)
            self._merges_of(customer, entry, outcome, again=True)
            if customer not in self._listed:
                outcome.unsettle(entry.placed)
        self._unlisted.clear()
        for customer, (first_seen, entry) in sorted(self._absent.items(), key=lambda item: item[1][0]):
            self._wait_since(first_seen)
            if not self._spend():
                outcome.unsettle(entry.placed)
                continue
            response = self._get(self.client.api_url(f"customers/{quote(customer, safe='')}"))
            if response is not None and response.status_code == 404:
                outcome.deletions.append(Deletion(customer, "customer", kustomer_time(moment_of(entry.placed))))
            elif response is None or not response.ok:
                outcome.unsettle(entry.placed)
        self._absent.clear()
        return outcome

    def _wait_since(self, first_seen: float) -> None:
        wait = first_seen + self.recheck_seconds - time.monotonic()
        if wait > 0:
            time.sleep(wait)


def _merged_away(record: Any, entry: AuditEntry) -> Optional[Deletion]:
    """The customer a successful ``customer_merge`` record merged away (its source), dated by the record."""
    if not isinstance(record, Mapping):
        return None
    attributes = record.get("attributes") if isinstance(record.get("attributes"), Mapping) else {}
    relationships = record.get("relationships") if isinstance(record.get("relationships"), Mapping) else {}
    source = relationships.get("source") if isinstance(relationships.get("source"), Mapping) else {}
    data = source.get("data") if isinstance(source.get("data"), Mapping) else {}
    source_id = data.get("id")
    if attributes.get("status", "success") != "success" or not isinstance(source_id, str) or not source_id:
        return None
    at = attributes.get("createdAt") if instant(attributes.get("createdAt")) is not None else None
    return Deletion(source_id, "customer", at or kustomer_time(moment_of(entry.placed)))


class DeletionsLog:
    """The audit-log deletions of one sync, read once for every stream that syncs deletes.

    ``since`` maps each object type to the position its stream's deletions continue from; ``until`` is where
    this sync's read ends. The first stream to ``take`` its deletions reads the log (under a lock); the others
    then take theirs from what it held for them.
    """

    def __init__(
        self,
        client: KustomerClient,
        since: Mapping[str, str],
        until: str,
        logger: logging.Logger,
        on_page: Callable[[float], None],
        publish_lag: timedelta,
        recheck_seconds: float = ABSENCE_RECHECK_SECONDS,
    ) -> None:
        self.client = client
        self.since = {object_type: instant(moment) for object_type, moment in since.items()}
        self.until = until
        self.logger = logger
        self.on_page = on_page
        self.merges = MergeResolver(client, logger, recheck_seconds)
        self.combined = len(since) > 1
        self._reader = AuditReader(client, on_page, AuditPageBudget(MAX_DELETION_PAGES), publish_lag)
        self._lock = threading.Lock()
        self._read = False
        self._failure: Optional[BaseException] = None
        self._held: Dict[str, Dict[str, Deletion]] = {object_type: {} for object_type in since}
        self._settled: Dict[str, str] = {object_type: moment for object_type, moment in since.items()}
        self._unsettled_merge: Optional[int] = None  # the earliest merge (microseconds) not settled

    def take(self, object_type: str) -> Tuple[List[Deletion], str]:
        """This stream's deletions (oldest first) and the position every deletion up to which is among them.

        Raises DeletionsUnavailable when the log cannot be read (the position then stays where it was).
        """
        with self._lock:
            if not self._read:
                self._read = True
                try:
                    self._read_log()
                except (AuditRefused, AuditRejected) as refused:
                    self._failure = DeletionsUnavailable(str(refused))
                except BaseException as error:  # noqa: BLE001 - every taker must see the same failure
                    self._failure = error
            held = self._held.pop(object_type, {})
            settled = self._settled.get(object_type)
        if self._failure is not None:
            raise self._failure
        return sorted(held.values(), key=lambda d: instant(d.at) or 0), settled or self.until

    # ---- reading ---------------------------------------------------------------------------------------
    def _read_log(self) -> None:
        low = min(self.since.values())
        high = instant(self.until)
        pending = list(_windows(low, high))  # type: ignore[arg-type]
        while pending:
            start, end = pending.pop(0)
            found = self._window(start, end)
            if found is None:  # too many deletions held: read the window again in halves
                if end - start <= SMALLEST_WINDOW.total_seconds() * 1e6:
                    raise _too_many(kustomer_time(moment_of(start)), kustomer_time(moment_of(end)))
                middle = start + (end - start) // 2
                pending[:0] = [(start, middle), (middle, end)]
                continue
            self._hold(found, end)
        confirmed = self.merges.confirm()
        if not confirmed.settled:
            self._unsettle(confirmed.unsettled_at if confirmed.unsettled_at is not None else low)
        if "customer" in self._held:
            self._add("customer", confirmed.deletions)
        if self._unsettled_merge is not None and "customer" in self._settled:
            position = kustomer_time(moment_of(max(self._unsettled_merge - 1000, self.since["customer"])))
            self._settled["customer"] = min(self._settled["customer"], position, key=lambda t: instant(t) or 0)
            self.logger.warning(
                f"Customer merges from {kustomer_time(moment_of(self._unsettled_merge))} on could not all be settled "
                f"in this sync ({self.merges.lookups:,} of at most {MAX_MERGE_LOOKUPS:,} merge lookups made); the "
                f"customers' deletions position stays at {self._settled['customer']} and the next sync goes on "
                "from there."
            )
        if self.merges.refused is not None and "customer" in self.since:
            self.logger.warning(
                f"Kustomer refused the customer merge records ({self.merges.refused}); merged-away customers are "
                "found only where Kustomer answers 404 for them twice, which it may not do. Give the API key "
                f"{MERGE_ROLES} to sync every merge."
            )

    def _window(self, start: int, end: int) -> Optional[Dict[str, List[Deletion]]]:
        """The deletions placed in ``(start, end]`` per object type; None when they are more than may be held."""
        types = sorted(self.since)
        while True:
            try:
                return self._collect(start, end, [types] if self.combined else [[t] for t in types])
            except TypeFilterIgnored as ignored:
                if not self.combined:
                    raise AuditRejected(f"Kustomer's audit log ignored filter[objectType] ({ignored})") from None
                self.logger.info(
                    f"Kustomer's audit log does not honour filter[include] ({ignored}); reading deletions once per "
                    "object type instead."
                )
                self.combined = False

    def _collect(self, start: int, end: int, passes: Sequence[Sequence[str]]) -> Optional[Dict[str, List[Deletion]]]:
        found: Dict[str, List[Deletion]] = {object_type: [] for object_type in self.since}
        merges: List[AuditEntry] = []  # resolved after the window is read, oldest first
        held = sum(len(held) for held in self._held.values())
        for object_types in passes:
            for entry in self._reader.window(start, end, object_types):
                if entry.object_type not in found or entry.placed <= self.since[entry.object_type]:  # type: ignore[operator]
                    continue
                if entry.verb == MERGE_VERB and entry.object_type == "customer":
                    merges.append(entry)
                    if len(merges) > MAX_HELD_MERGES:
                        return None
                elif entry.verb == DELETE_VERB and isinstance(entry.object_id, str) and entry.object_id:
                    at = kustomer_time(moment_of(entry.placed))
                    found[entry.object_type].append(Deletion(entry.object_id, entry.object_type, at))
                    held += 1
                    if held > MAX_HELD_DELETIONS:
                        return None
        oldest_first = sorted(merges, key=lambda merge: merge.placed)
        for entry, outcome in zip(oldest_first, self.merges.resolve_all(oldest_first), strict=True):
            if self._unsettled_merge is not None:
                break  # the customers' position cannot pass an earlier unsettled merge: these wait for next sync
            if not outcome.settled:
                self._unsettle(entry.placed)
            found["customer"].extend(outcome.deletions)
        return found

    def _unsettle(self, moment: int) -> None:
        if self._unsettled_merge is None or moment < self._unsettled_merge:
            self._unsettled_merge = moment

    def _hold(self, found: Mapping[str, List[Deletion]], end: int) -> None:
        for object_type, deletions in found.items():
            self._add(object_type, deletions)
            self._settled[object_type] = kustomer_time(moment_of(end))

    def _add(self, object_type: str, deletions: List[Deletion]) -> None:
        held = self._held.setdefault(object_type, {})
        for deletion in deletions:
            held.setdefault(deletion.object_id, deletion)


def _windows(low: int, high: int) -> Iterator[Tuple[int, int]]:
    step = int(WINDOW.total_seconds() * 1e6)
    start = low
    while start < high:
        yield start, min(start + step, high)
        start += step


def _too_many(start: str, end: str) -> AirbyteTracedException:
    message = (
        f"More than {MAX_HELD_DELETIONS:,} deletions or {MAX_HELD_MERGES:,} customer merges were logged between "
        f"{start} and {end}, more than one sync holds in memory. The records were synced; deletions since the last "
        "position are read again next sync. Please report this to the connector's maintainers."
    )
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
