"""Deletions as Airbyte delete markers: soft deletes from search, hard deletes and merges from the audit log.

A delete marker is a record with the object's ``id``, the cursor (``updatedAt``) set to the time of the deletion,
and ``_ab_cdc_deleted_at`` set to that time: a deduplicating destination then removes the row. A marker is only
ever written on proof -- a soft-deleted record as search returns it, a ``delete`` entry of the audit log, or a
successful merge record naming the customer as its ``source`` (``source_kustomer.merges``) -- never because of one
404 (a blip or a lagging replica would delete a live row for good).

The audit log is read once per sync for every stream that syncs deletes (``DeletionsLog``): one pass with
``filter[objectType]`` and ``filter[include]`` for all their object types, checked on every page (an entry of a
type not asked for, or one of an included type outside the dates asked, means the combined filter is not honoured;
the pass is then made once per type). Windows are read oldest first; the deletions of each stream are held until
that stream takes them -- at most ``MAX_HELD_DELETIONS`` a sync, those found through merges included: a window
holding more delete entries is read again in halves, and past that (or past it through merges) the sync stops with
one clear error and no position moves. Each stream's audit position moves only to where every deletion before it
is settled. A merge that cannot be settled (its lookups failed, it is still pending, or the sync's
``MAX_MERGE_LOOKUPS`` are spent) keeps the customers' position before it, so the next sync asks again. Merge
records that contradict each other or this sync's own records -- a cycle, a target deleted before it was merged
into, a customer this sync emitted as changed after the merge -- are reported, not marked.
"""

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Dict, Iterator, List, Mapping, MutableMapping, Optional, Sequence, Tuple

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.connection import KustomerClient
from kustomer_http.timestamps import instant, kustomer_time, moment_of

from source_kustomer.audit_entry import AuditEntry
from source_kustomer.audit_log import (
    AuditPageBudget,
    AuditReader,
    AuditRefused,
    AuditRejected,
    TypeFilterIgnored,
    include_unproven,
)
from source_kustomer.merges import (
    ABSENCE_RECHECK_SECONDS,
    MAX_MERGE_LOOKUPS,
    MERGE_ROLES,
    MergedAway,
    MergeResolver,
    contradicting,
    merge_signal,
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
WINDOW = timedelta(days=7)
SMALLEST_WINDOW = timedelta(hours=1)
MAX_HELD_DELETIONS = 100_000  # per sync, across streams, merges included (about 30 MB)
MAX_HELD_MERGES = 50_000  # merge entries of one window held to be settled oldest first (about 20 MB)
MAX_DELETION_PAGES = 10_000  # audit-log pages per sync for deletions
MAX_LIVE_REMEMBERED = 100_000  # customers this sync emitted, remembered to check merge records against (~15 MB)


@dataclass(frozen=True)
class Deletion:
    """One object that was deleted, and when (and, for a customer merged away, into whom)."""

    object_id: str
    object_type: str
    at: str
    merged_into: Optional[str] = None

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


def _of_merge(merged: MergedAway) -> Deletion:
    return Deletion(merged.customer, "customer", merged.at, merged.into)


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
        self._include_checked = False
        self._reader = AuditReader(client, on_page, AuditPageBudget(MAX_DELETION_PAGES), publish_lag)
        self._lock = threading.Lock()
        self._read = False
        self._failure: Optional[BaseException] = None
        self._held: Dict[str, Dict[str, Deletion]] = {object_type: {} for object_type in since}
        self._settled: Dict[str, str] = {object_type: moment for object_type, moment in since.items()}
        self._unsettled_merge: Optional[int] = None  # the earliest merge (microseconds) not settled
        self._live: Dict[str, str] = {}  # customers this sync emitted as live -> their updatedAt

    def saw_live(self, object_type: str, record: Mapping[str, Any]) -> None:
        """Note a live record a stream emitted: a merge record saying it was merged away before it last changed
        contradicts it (customers only, the first ``MAX_LIVE_REMEMBERED``)."""
        if object_type == "customer" and len(self._live) < MAX_LIVE_REMEMBERED:
            self._live[str(record.get("id"))] = str(record.get("updatedAt"))

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
        deletions = sorted(held.values(), key=lambda d: instant(d.at) or 0)
        if object_type == "customer":
            deletions = [deletion for deletion in deletions if not self._emitted_after(deletion)]
            self._report_merges()
        return deletions, settled or self.until

    def _emitted_after(self, deletion: Deletion) -> bool:
        """Whether this sync emitted the customer as changed after a merge took it away (reported)."""
        changed = self._live.get(deletion.object_id)
        if deletion.merged_into is None or changed is None or (instant(changed) or 0) <= (instant(deletion.at) or 0):
            return False
        self.merges.contradict(
            f"merge of customer {deletion.object_id} into {deletion.merged_into} at {deletion.at}",
            f"this sync read the customer as changed later, at {changed}",
        )
        return True

    def _report_merges(self) -> None:
        merges = self.merges
        if merges.contradictions:
            examples = "; ".join(f"{record}: {why}" for record, why in list(merges.contradictions.items())[:5])
            self.logger.warning(
                f"Stream 'customers': {len(merges.contradictions)} customer merge records were not applied because "
                f"they contradict each other or this sync's records (e.g. {examples}). No customer was marked "
                "deleted for them; please report them to Kustomer support."
            )
        if merges.given_up:
            self.logger.warning(
                f"Stream 'customers': {len(merges.given_up)} customer merges never succeeded "
                f"(e.g. {'; '.join(merges.given_up[:5])}); their customers were not marked deleted. If Kustomer "
                "completes them later, a full refresh of customers removes the rows merged away."
            )

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
            self._add("customer", [_of_merge(merged) for merged in confirmed.found], low, high)  # type: ignore[arg-type]
            self._drop_contradicting()
        self._report_reading(low)

    def _report_reading(self, low: int) -> None:
        if self._unsettled_merge is not None and "customer" in self._settled:
            position = kustomer_time(moment_of(max(self._unsettled_merge - 1000, self.since["customer"])))
            self._settled["customer"] = min(self._settled["customer"], position, key=lambda t: instant(t) or 0)
            self.logger.warning(
                f"Customer merges from {kustomer_time(moment_of(self._unsettled_merge))} on could not all be settled "
                f"in this sync (pending at Kustomer, or lookups failed; {self.merges.lookups:,} of at most "
                f"{MAX_MERGE_LOOKUPS:,} merge lookups made); the customers' deletions position stays at "
                f"{self._settled['customer']} and the next sync goes on from there."
            )
        if self.merges.refused is not None and "customer" in self.since:
            self.logger.warning(
                f"Kustomer refused the customer merge records ({self.merges.refused}); merged-away customers are "
                "found only where Kustomer answers 404 for them twice, which it may not do. Give the API key "
                f"{MERGE_ROLES} to sync every merge."
            )
        if self._reader.fallback_reason:
            self.logger.info(
                f"Kustomer refused 'after' with 'before' on the audit log ({self._reader.fallback_reason}); deletions "
                "were read as its published links page it, with 'before' alone."
            )
        for warning in self._reader.report.warnings("Deletions from the audit log", self._reader.publish_lag):
            self.logger.warning(warning)

    def _drop_contradicting(self) -> None:
        held = self._held["customer"]
        deleted_at = {object_id: deletion.at for object_id, deletion in held.items()}
        merged = [MergedAway(d.object_id, d.at, d.merged_into) for d in held.values() if d.merged_into is not None]
        for merge, why in contradicting(merged, deleted_at).items():
            self.merges.contradict(f"merge of customer {merge.customer} into {merge.into} at {merge.at}", why)
            held.pop(merge.customer, None)

    def _window(self, start: int, end: int) -> Optional[Dict[str, List[Deletion]]]:
        """The deletions placed in ``(start, end]`` per object type; None when they are more than may be held."""
        types = sorted(self.since)
        if self.combined and not self._include_checked:
            self._include_checked = True
            unproven = include_unproven(self._reader, types)
            if unproven is not None:
                self._no_combined_pass(unproven)
        while True:
            try:
                return self._collect(start, end, [types] if self.combined else [[t] for t in types])
            except TypeFilterIgnored as ignored:
                if not self.combined:
                    raise AuditRejected(f"Kustomer's audit log ignored filter[objectType] ({ignored})") from None
                self._no_combined_pass(str(ignored))

    def _no_combined_pass(self, why: str) -> None:
        self.logger.info(
            f"Kustomer's audit log does not honour filter[include] ({why}); reading deletions once per object type "
            "instead."
        )
        self.combined = False

    def _collect(self, start: int, end: int, passes: Sequence[Sequence[str]]) -> Optional[Dict[str, List[Deletion]]]:
        found: Dict[str, List[Deletion]] = {object_type: [] for object_type in self.since}
        merges: List[AuditEntry] = []  # resolved after the window is read, oldest first
        held = self._held_count()
        for object_types in passes:
            for entry in self._reader.window(start, end, object_types):
                if entry.object_type not in found or entry.placed <= self.since[entry.object_type]:  # type: ignore[operator]
                    continue
                if entry.verb == DELETE_VERB and isinstance(entry.object_id, str) and entry.object_id:
                    at = kustomer_time(moment_of(entry.placed))
                    found[entry.object_type].append(Deletion(entry.object_id, entry.object_type, at))
                    held += 1
                    if held > MAX_HELD_DELETIONS:
                        return None
                elif merge_signal(entry):
                    merges.append(entry)
                    if len(merges) > MAX_HELD_MERGES:
                        return None
        oldest_first = sorted(merges, key=lambda merge: merge.placed)
        for entry, outcome in zip(oldest_first, self.merges.resolve_all(oldest_first), strict=True):
            if self._unsettled_merge is not None:
                break  # the customers' position cannot pass an earlier unsettled merge: these wait for next sync
            if not outcome.settled:
                self._unsettle(outcome.unsettled_at if outcome.unsettled_at is not None else entry.placed)
            found["customer"].extend(_of_merge(merged) for merged in outcome.found)
            held += len(outcome.found)
            if held > MAX_HELD_DELETIONS:
                raise _too_many(kustomer_time(moment_of(start)), kustomer_time(moment_of(end)))
        return found

    def _held_count(self) -> int:
        return sum(len(held) for held in self._held.values())

    def _unsettle(self, moment: int) -> None:
        if self._unsettled_merge is None or moment < self._unsettled_merge:
            self._unsettled_merge = moment

    def _hold(self, found: Mapping[str, List[Deletion]], end: int) -> None:
        for object_type, deletions in found.items():
            self._held.setdefault(object_type, {})
            for deletion in deletions:
                self._held[object_type].setdefault(deletion.object_id, deletion)
            self._settled[object_type] = kustomer_time(moment_of(end))

    def _add(self, object_type: str, deletions: List[Deletion], start: int, end: int) -> None:
        held = self._held.setdefault(object_type, {})
        for deletion in deletions:
            held.setdefault(deletion.object_id, deletion)
        if self._held_count() > MAX_HELD_DELETIONS:
            raise _too_many(kustomer_time(moment_of(start)), kustomer_time(moment_of(end)))


def _windows(low: int, high: int) -> Iterator[Tuple[int, int]]:
    step = int(WINDOW.total_seconds() * 1e6)
    start = low
    while start < high:
        yield start, min(start + step, high)
        start += step


def _too_many(start: str, end: str) -> AirbyteTracedException:
    message = (
        f"More than {MAX_HELD_DELETIONS:,} deletions (customers merged away included) or {MAX_HELD_MERGES:,} "
        f"customer merges were logged between {start} and {end}, more than one sync holds in memory. The records "
        "were synced; deletions since the last position are read again next sync. Please report this to the "
        "connector's maintainers."
    )
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
