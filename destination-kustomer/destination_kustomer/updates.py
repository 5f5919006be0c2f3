"""Updating the objects a batch found (soft deletes included): each with what its record maps and nothing read
back (``bodies.update_body``), in bulk requests or alone.

The first update of a stream goes alone and is checked (``verify``). An update refused for a stale ``rev`` (409:
the object changed since it was read) reads the object again and applies the record's fields to it anew -- never
the old values -- at most ``MAX_STALE`` times. One refused by a per-object limit waits for that object
(``deferred``) while the others are written. A bulk job that says what came of each item is taken at its word; one
that ended without saying, or a request Kustomer refused whole (or answered with an error), has its updates sent
again one by one (an update sent twice changes nothing the record did not map) -- never while a job carrying them
may still run: a job unfinished after its polls, or a request that may have queued one no answer named, stops the
sync (``bulk``).
"""

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

import orjson

from destination_kustomer.bodies import email_not_added, soft_delete_body, update_body
from destination_kustomer.bulk import ITEMIZED, WRITTEN, BulkJobs
from destination_kustomer.deferred import Deferred
from destination_kustomer.errors import RecordFailed
from destination_kustomer.lookups import Existing, Lookups
from destination_kustomer.mapping import MappedRecord
from destination_kustomer.progress import StreamReport
from destination_kustomer.single import Conflict, ObjectLimited, SingleWrites
from destination_kustomer.targets import SOFT_DELETE, StreamTarget
from destination_kustomer.verify import FirstUpdateCheck

MAX_BODY_BYTES = 90_000  # under the 100 KB request limit seen for Kustomer
MAX_STALE = 3
Update = Tuple[MappedRecord, Existing]  # a record and the object it updates, as last read
T = TypeVar("T")


def chunks(items: Sequence[T], size_of: Callable[[T], int], max_items: int, max_bytes: int) -> List[List[T]]:
    """``items`` in order, cut into runs of at most ``max_items`` and (but for a lone oversized item) ``max_bytes``."""
    runs: List[List[T]] = []
    run: List[T] = []
    used = 0
    for item in items:
        size = size_of(item)
        if run and (len(run) >= max_items or used + size > max_bytes):
            runs.append(run)
            run, used = [], 0
        run.append(item)
        used += size
    if run:
        runs.append(run)
    return runs


def body_size(body: Any) -> int:
    """The bytes a body takes in a bulk request."""
    return len(orjson.dumps(body)) + 1


@dataclass
class Updates:
    """The updates of one stream."""

    target: StreamTarget
    lookups: Lookups
    singles: SingleWrites
    bulk: Optional[BulkJobs]  # None: every update alone (no bulk reads, or batch_size 1)
    report: StreamReport
    deferred: Deferred
    batch_size: int
    check: FirstUpdateCheck
    name: Callable[[MappedRecord], str]

    @property
    def done(self) -> str:
        """The counter an update adds to."""
        return "soft_deleted" if self.target.operation == SOFT_DELETE else "updated"

    def body(self, record: MappedRecord, found: Existing) -> Dict[str, Any]:
        """What updating ``found`` with ``record`` sends."""
        if self.target.operation == SOFT_DELETE:
            return soft_delete_body()
        return update_body(record, self.target.object, found)

    def write(self, updates: List[Update]) -> None:
        """Update every object of ``updates``."""
        while updates and self.check.pending:
            self._checked(*updates.pop(0))
        bodies = [(record, found, self.body(record, found)) for record, found in updates]
        for run in chunks(bodies, lambda item: body_size(item[2]) + 40, self.batch_size, MAX_BODY_BYTES):
            if len(run) > 1 and self.bulk is not None:
                result = self.bulk.run("update", [{"id": found.id, **body} for _, found, body in run])
                self.report.add(bulk_requests=1, bulk_follow_ups=result.follow_ups)
                if result.outcome == WRITTEN:
                    self._written(run)
                    continue
                if result.outcome == ITEMIZED and result.items is not None:
                    for (record, found, body), item in zip(run, result.items, strict=True):
                        if item.written:
                            self._written([(record, found, body)])
                        else:
                            self._refused(record, found, body, item.status, item.detail)
                    continue
            for record, found, body in run:  # alone, or again one by one
                self.alone(record, found, body)

    def alone(
        self, record: MappedRecord, found: Existing, body: Optional[Dict[str, Any]] = None, waits: int = 0
    ) -> bool:
        """Update one object with its own request; whether it was written."""
        body = self.body(record, found) if body is None else body
        for _ in range(MAX_STALE + 1):
            self.report.add(single_writes=1)
            try:
                self.singles.update(found.id, body)
            except Conflict as conflict:
                fresh = self._reread(record, found, body, conflict.reason)
                if fresh is None:
                    return False
                found, body = fresh, self.body(record, fresh)
                continue
            except ObjectLimited as limited:
                self._wait(record, found, limited, waits)
                return False
            except RecordFailed as failed:
                self.report.fail(self.name(record), failed.reason)
                return False
            self._written([(record, found, body)])
            return True
        self.report.fail(self.name(record), f"the object kept changing while it was written ({MAX_STALE} tries)")
        return False

    def _checked(self, record: MappedRecord, found: Existing) -> None:
        """The stream's first update, alone, with the object read just before and just after."""
        self.report.add(lookups=1)
        try:
            before = self.lookups.read(found.id)
        except RecordFailed as failed:
            self.report.fail(self.name(record), failed.reason)
            return
        body = self.body(record, before)
        if not self.alone(record, before, body):
            return
        self.report.add(lookups=1)
        try:
            after = self.lookups.read(before.id)
        except RecordFailed:
            return  # checked with the next update
        self.check.judge(body, before, after)

    def _reread(self, record: MappedRecord, found: Existing, body: Dict[str, Any], reason: str) -> Optional[Existing]:
        """After a 409: the object read again when the ``rev`` sent was stale (None: the refusal stands)."""
        if "rev" not in body:
            self.report.fail(self.name(record), reason)
            return None
        self.report.add(lookups=1, stale_retries=1)
        try:
            fresh = self.lookups.read(found.id)
        except RecordFailed as failed:
            self.report.fail(self.name(record), failed.reason)
            return None
        if fresh.rev == body["rev"]:  # the object had not moved: the conflict was about something else
            self.report.fail(self.name(record), reason)
            return None
        return fresh

    def _refused(self, record: MappedRecord, found: Existing, body: Dict[str, Any], status: Any, detail: str) -> None:
        """A bulk item Kustomer refused: a stale rev or a per-object limit is written alone; anything else fails."""
        if status in (409, 429):
            self.alone(record, found, body)
        else:
            self.report.fail(self.name(record), f"Kustomer answered HTTP {status or '?'} to this item: {detail}")

    def _wait(self, record: MappedRecord, found: Existing, limited: ObjectLimited, waits: int) -> None:
        self.report.add(object_limited=1)
        if not self.deferred.wait(limited.wait, waits, lambda n: self._again(record, found, n)):
            self.report.fail(self.name(record), f"{limited.reason} (its object stayed limited)")

    def _again(self, record: MappedRecord, found: Existing, waits: int) -> None:
        self.report.add(lookups=1)
        try:
            fresh = self.lookups.read(found.id)
        except RecordFailed as failed:
            self.report.fail(self.name(record), failed.reason)
            return
        self.alone(record, fresh, waits=waits)

    def _written(self, run: List[Tuple[MappedRecord, Existing, Dict[str, Any]]]) -> None:
        self.report.add(**{self.done: len(run)})
        for record, found, _ in run:
            note = email_not_added(record, self.target.object, found)
            if note:
                self.report.partly(self.name(record), note)
