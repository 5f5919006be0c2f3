"""Customer merges: which customers a merge took away, on Kustomer's own merge records only.

Kustomer publishes neither the verb nor the shape of what a merge writes to the audit log -- only that "a
customer's profile is merged with another profile" is logged -- so any entry about a customer that names a merge
(its ``eventVerb``, its ``eventName`` or a changed field mentioning one: ``merge_signal``) is a lead, never proof.
Each customer such an entry names (its ``objectId``, then the ids in its ``changes``) has its merge records read
(``GET /v1/customers/{id}/merges``, both ends of the merge, every page checked against the ``pageSize`` asked): a
``customer_merge`` record whose status is ``success`` names the customer merged away (its ``source``). A record
still pending is asked again (``GET /v1/customers/merges/{id}``, ``MAX_PENDING_RECHECKS`` times, seconds apart);
one still pending after that holds the customers' deletions position before its entry, so the next sync asks
again, until it is ``PENDING_GIVE_UP`` old -- then it is reported, never silently taken for "no merge". A record
that names neither customer asked about, or a customer merged into itself, is reported and not applied.

Without the merge role Kustomer refuses ``/merges``; each customer the entry names is then looked up, and only an
absence seen twice, ``ABSENCE_RECHECK_SECONDS`` apart, counts (Kustomer documents only 200 for that lookup; a
merged-away customer may even still answer 200, which this fallback then cannot see, and says so).

Every request counts against ``MAX_MERGE_LOOKUPS`` a sync; up to ``LOOKUPS_IN_FLIGHT`` entries are resolved at once,
each customer's records read once per sync.
"""

import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple
from urllib.parse import quote

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http import timestamps
from kustomer_http.connection import KustomerClient
from kustomer_http.responses import error_detail, response_json
from kustomer_http.timestamps import instant, kustomer_time, moment_of

from source_kustomer.audit_entry import OBJECT_ID, AuditEntry

MAX_MERGE_LOOKUPS = 5_000  # requests per sync for merges (/customers/{id}/merges, /customers/merges/{id}, lookups)
MAX_MERGE_CANDIDATES = 10  # customers a merge entry may name
LOOKUPS_IN_FLIGHT = 8  # merge entries resolved at once
MAX_MERGE_PAGES = 10  # pages of one customer's merges
MERGE_PAGE_SIZE = 100  # the pageSize asked (Kustomer's default)
MAX_PENDING_RECHECKS = 3  # times a pending merge is asked again in one sync
PENDING_GIVE_UP = timedelta(hours=24)  # a merge pending longer is reported and no longer waited for
ABSENCE_RECHECK_SECONDS = 10.0
MAX_REPORTED = 1_000  # contradicting merge records remembered for the report
MERGE_ROLES = "org.permission.customer_merge.read (legacy org.user.customer.read or org.admin.customer.merge.read)"
SUCCESS = "success"
_MERGE = re.compile("merge", re.IGNORECASE)
_MAX_CHANGE_KEYS = 1_000  # keys of an entry's changes looked at for a merge


@dataclass(frozen=True)
class MergedAway:
    """A customer Kustomer's records say was merged away, and when."""

    customer: str
    at: str  # the merge record's createdAt (the entry's time when the record has none, or without the role)
    into: Optional[str] = None  # the customer it was merged into (None: an absence seen twice)
    merge_id: Optional[str] = None


@dataclass
class MergeOutcome:
    """What resolving merge entries found, and whether all of it is certain."""

    found: List[MergedAway] = field(default_factory=list)
    settled: bool = True
    unsettled_at: Optional[int] = None  # the earliest merge entry (microseconds) left unsettled, when known

    def unsettle(self, moment: int) -> None:
        """Note a merge entry at ``moment`` that could not be settled."""
        self.settled = False
        self.unsettled_at = moment if self.unsettled_at is None else min(self.unsettled_at, moment)


def merge_signal(entry: AuditEntry) -> bool:
    """Whether a customer entry names a merge: in its eventVerb, its eventName or a changed field."""
    if entry.object_type != "customer":
        return False
    if any(isinstance(text, str) and _MERGE.search(text) for text in (entry.verb, entry.attributes.get("eventName"))):
        return True
    pending: List[Any] = [entry.attributes.get("changes")]
    looked = 0
    while pending and looked < _MAX_CHANGE_KEYS:
        value = pending.pop()
        if isinstance(value, Mapping):
            for key, inner in value.items():
                looked += 1
                if isinstance(key, str) and _MERGE.search(key):
                    return True
                pending.append(inner)
    return False


def named_ids(entry: AuditEntry) -> List[str]:
    """The customer ids a merge entry names: its objectId first, then every id-shaped text in its changes."""
    named: List[str] = []
    pending: List[Any] = [entry.attributes.get("changes"), entry.object_id]
    while pending and len(named) < MAX_MERGE_CANDIDATES:
        value = pending.pop()
        if isinstance(value, str) and OBJECT_ID.match(value) and value not in named:
            named.append(value)
        elif isinstance(value, Mapping):
            pending.extend(reversed(list(value.values())))
        elif isinstance(value, list):
            pending.extend(reversed(value))
    return named


@dataclass(frozen=True)
class _Record:
    """One ``customer_merge`` record, as far as it could be read."""

    id: str
    status: str
    source: str
    target: str
    created_at: Optional[str]

    @classmethod
    def read(cls, record: Any) -> Optional["_Record"]:
        if not isinstance(record, Mapping):
            return None
        attributes = record.get("attributes") if isinstance(record.get("attributes"), Mapping) else {}
        ends = [_related(record, name) for name in ("source", "target")]
        if not all(ends):
            return None
        created = attributes.get("createdAt") if instant(attributes.get("createdAt")) is not None else None
        status = attributes.get("status", SUCCESS)
        return cls(str(record.get("id") or ""), str(status), ends[0], ends[1], created)  # type: ignore[arg-type]

    def describe(self) -> str:
        return f"merge {self.id or '(no id)'} of customer {self.source} into {self.target}"


def _related(record: Mapping[str, Any], name: str) -> Optional[str]:
    relationships = record.get("relationships") if isinstance(record.get("relationships"), Mapping) else {}
    related = relationships.get(name) if isinstance(relationships.get(name), Mapping) else {}
    data = related.get("data") if isinstance(related.get("data"), Mapping) else {}
    value = data.get("id")
    return value if isinstance(value, str) and value else None


@dataclass
class _Pending:
    record: _Record
    entry: AuditEntry
    first_seen: float


class MergeResolver:
    """Which customers merge entries took away, from Kustomer's merge records (or, without the merge role, from an
    absence seen twice); what it could not apply is in ``contradictions``."""

    def __init__(self, client: KustomerClient, logger: logging.Logger, recheck_seconds: float) -> None:
        self.client = client
        self.logger = logger
        self.recheck_seconds = recheck_seconds
        self.lookups = 0
        self.refused: Optional[str] = None  # why /merges is refused, once it was
        self.contradictions: Dict[str, str] = {}  # merge records not applied -> why
        self.given_up: List[str] = []  # merges still pending after PENDING_GIVE_UP: reported, not applied
        self._listed: Set[str] = set()  # customers whose merges were read (or are being read) this sync
        self._unlisted: Dict[str, Tuple[float, AuditEntry]] = {}  # /merges answered 404 once: asked again later
        self._absent: Dict[str, Tuple[float, AuditEntry]] = {}  # fallback: first absence seen, to check again
        self._pending: Dict[str, _Pending] = {}  # merge records not yet successful, by merge id
        self._lock = threading.Lock()
        self._clients = threading.local()

    def resolve_all(self, entries: Sequence[AuditEntry]) -> List[MergeOutcome]:
        """The outcome of each entry, in the order given."""
        with ThreadPoolExecutor(LOOKUPS_IN_FLIGHT, thread_name_prefix="merges") as pool:
            return list(pool.map(self.resolve, entries))

    def resolve(self, entry: AuditEntry) -> MergeOutcome:
        """The customers one merge entry took away, and whether that is certain."""
        outcome = MergeOutcome()
        candidates = named_ids(entry)
        if self.refused is None:
            for candidate in candidates:
                if self._claim(candidate) and not self._merges_of(candidate, entry, outcome):
                    break
            if self.refused is None:
                return outcome
        for candidate in candidates:
            self._look_up(candidate, entry, outcome)
        return outcome

    def contradict(self, record: str, why: str) -> None:
        """Note a merge record not applied, and why."""
        with self._lock:
            if len(self.contradictions) < MAX_REPORTED:
                self.contradictions.setdefault(record, why)

    # ---- requests --------------------------------------------------------------------------------------
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

    def _merges_of(self, customer: str, entry: AuditEntry, outcome: MergeOutcome, again: bool = False) -> bool:
        """Read the merge records of one customer into ``outcome``; False when /merges is refused. A 404 is asked
        again later (``confirm``) before it counts as "no merges"."""
        path = f"customers/{quote(customer, safe='')}/merges?page=1&pageSize={MERGE_PAGE_SIZE}"
        url: Optional[str] = self.client.api_url(path)
        pages = 0
        while url is not None:
            if pages >= MAX_MERGE_PAGES or not self._spend():
                outcome.unsettle(entry.placed)
                return True
            pages += 1
            response = self._get(url)
            if response is None:
                outcome.unsettle(entry.placed)
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
                outcome.unsettle(entry.placed)
                return True
            document = response_json(response)
            data = document.get("data") if isinstance(document, Mapping) else None
            if not isinstance(data, list):
                raise _broken(f"the merges of customer {customer}: a page whose data is not a list")
            if len(data) > MERGE_PAGE_SIZE:
                raise _broken(
                    f"the merges of customer {customer}: a page of {len(data):,} records, though {MERGE_PAGE_SIZE} "
                    "were asked for"
                )
            for record in data:
                self._take(_Record.read(record), customer, entry, outcome)
            links = document.get("links") if isinstance(document, Mapping) else None
            link = links.get("next") if isinstance(links, Mapping) else None
            url = self.client.link_url(link) if link else None
        with self._lock:
            self._listed.add(customer)
        return True

    def _take(self, record: Optional[_Record], customer: str, entry: AuditEntry, outcome: MergeOutcome) -> None:
        """Apply one merge record read for ``customer``: a success is a customer merged away; anything else waits."""
        if record is None:
            return
        if customer not in (record.source, record.target):
            self.contradict(record.describe(), f"listed for customer {customer}, who is neither end of it")
        elif record.source == record.target:
            self.contradict(record.describe(), "a customer merged into itself")
        elif record.status == SUCCESS:
            at = record.created_at or kustomer_time(moment_of(entry.placed))
            outcome.found.append(MergedAway(record.source, at, record.target, record.id or None))
        elif record.id:
            with self._lock:
                self._pending.setdefault(record.id, _Pending(record, entry, time.monotonic()))
        else:
            outcome.unsettle(entry.placed)  # pending, and no id to ask again by: the next sync reads it again

    def _look_up(self, customer: str, entry: AuditEntry, outcome: MergeOutcome) -> None:
        """Fallback without the merge role: an absence is noted now and confirmed by ``confirm``."""
        with self._lock:
            if customer in self._absent:
                return
        if not self._spend():
            outcome.unsettle(entry.placed)
            return
        response = self._get(self.client.api_url(f"customers/{quote(customer, safe='')}"))
        if response is not None and response.status_code == 404:
            with self._lock:
                self._absent[customer] = (time.monotonic(), entry)
        elif response is None or not response.ok:
            outcome.unsettle(entry.placed)

    # ---- asked again ------------------------------------------------------------------------------------
    def confirm(self) -> MergeOutcome:
        """Ask again, seconds after the first answer, what was not yet an answer: a merges list that answered 404
        once, a customer found absent once, a merge record still pending (``MAX_PENDING_RECHECKS`` times)."""
        outcome = MergeOutcome()
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
                outcome.found.append(MergedAway(customer, kustomer_time(moment_of(entry.placed))))
            elif response is None or not response.ok:
                outcome.unsettle(entry.placed)
        self._absent.clear()
        self._settle_pending(outcome)
        return outcome

    def _settle_pending(self, outcome: MergeOutcome) -> None:
        for round_ in range(1, MAX_PENDING_RECHECKS + 1):
            for merge_id, pending in sorted(self._pending.items(), key=lambda item: item[1].first_seen):
                self._wait_since(pending.first_seen, round_)
                if not self._spend():
                    continue
                response = self._get(self.client.api_url(f"customers/merges/{quote(merge_id, safe='')}"))
                document = response_json(response) if response is not None and response.ok else None
                record = _Record.read(document.get("data")) if isinstance(document, Mapping) else None
                if record is None or record.status != SUCCESS:
                    continue
                if (record.source, record.target) != (pending.record.source, pending.record.target):
                    self.contradict(record.describe(), f"listed as {pending.record.describe()} while pending")
                else:
                    at = record.created_at or kustomer_time(moment_of(pending.entry.placed))
                    outcome.found.append(MergedAway(record.source, at, record.target, merge_id))
                del self._pending[merge_id]
        oldest_waited = instant(kustomer_time(timestamps.utc_now() - PENDING_GIVE_UP))
        for pending in self._pending.values():
            record = pending.record
            created = instant(record.created_at) or pending.entry.placed
            if created < oldest_waited:  # type: ignore[operator]
                self.given_up.append(
                    f"{record.describe()} ({record.status!r} since {kustomer_time(moment_of(created))})"
                )
            else:
                outcome.unsettle(pending.entry.placed)
        self._pending.clear()

    def _wait_since(self, first_seen: float, rounds: int = 1) -> None:
        wait = first_seen + rounds * self.recheck_seconds - time.monotonic()
        if wait > 0:
            time.sleep(wait)


def contradicting(found: Iterable[MergedAway], deleted_at: Mapping[str, str]) -> Dict[MergedAway, str]:
    """The merges that contradict each other or the sync's other deletions, and why: a cycle (a customer merged,
    through others, into itself), or a target deleted before it was merged into (``deleted_at``: when each
    customer the sync deletes was deleted)."""
    merges = [merge for merge in found if merge.into is not None]
    into = {merge.customer: merge.into for merge in merges}
    reasons: Dict[MergedAway, str] = {}
    for merge in merges:
        seen, current = {merge.customer}, merge.into
        while current in into and current not in seen:
            seen.add(current)
            current = into[current]
        if current == merge.customer:
            reasons[merge] = "a cycle: merged, through other merges, into itself"
            continue
        target_gone = instant(deleted_at.get(merge.into or ""))
        if target_gone is not None and target_gone < instant(merge.at):  # type: ignore[operator]
            reasons[merge] = f"its target was deleted before the merge, at {deleted_at[merge.into or '']}"
    return reasons


def _broken(what: str) -> AirbyteTracedException:
    message = (
        f"Kustomer answered {what}. The customers' deletions position was not moved: the next sync asks again. If "
        "this repeats, report it to Kustomer support with this message."
    )
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
