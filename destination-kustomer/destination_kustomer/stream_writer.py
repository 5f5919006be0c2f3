"""One stream's records into Kustomer, a batch at a time.

Records gather into a batch (at most ``batch_size``, never two with the same matching key -- the second closes
the batch, so the later record is written after the earlier). A flush looks every record of the batch up
(several lookups in flight) and writes the batch up to the first record whose object an earlier record of it
also writes (two emails of one customer): the rest is looked up again and written after, so no write overwrites
another of the same batch. Creates and updates each go as bulk requests of at most ``batch_size`` items and
``MAX_BODY_BYTES`` bytes (a single item as its own request); ``creates.py`` says how a create is never made twice.
An update a bulk job leaves open, or that Kustomer refuses in bulk, is sent alone (sending it twice changes
nothing). Each record ends created, updated, soft-deleted, not found (``update`` and ``soft_delete`` never create)
or failed with Kustomer's reason.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple, TypeVar, Union

import orjson

from destination_kustomer.bodies import create_body, soft_delete_body, update_body
from destination_kustomer.bulk import WRITTEN, BulkJobs
from destination_kustomer.creates import Create, Creates, Waits
from destination_kustomer.errors import RecordFailed
from destination_kustomer.lookups import Existing, Lookups
from destination_kustomer.mapping import MappedRecord, RecordMapper
from destination_kustomer.objects import EMAIL
from destination_kustomer.progress import StreamReport
from destination_kustomer.single import SingleWrites
from destination_kustomer.targets import SOFT_DELETE, UPSERT, StreamTarget

MAX_BODY_BYTES = 90_000  # under the 100 KB request limit seen for Kustomer
Found = Union[Existing, None, RecordFailed]
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


class StreamWriter:
    """Batches, looks up and writes the records of one stream."""

    def __init__(
        self,
        target: StreamTarget,
        mapper: RecordMapper,
        lookups: Lookups,
        singles: SingleWrites,
        bulk: BulkJobs,
        pool: ThreadPoolExecutor,
        report: StreamReport,
        batch_size: int,
        dry_run: bool,
        waits: Waits,
    ) -> None:
        self.target = target
        self.mapper = mapper
        self.lookups = lookups
        self.singles = singles
        self.bulk = bulk
        self.pool = pool
        self.report = report
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.creates = Creates(target, self._look_up, self._create_runs, singles, bulk, report, waits)
        self._pending: List[MappedRecord] = []
        self._keys: set = set()

    def add(self, data: Mapping[str, Any]) -> None:
        """Take one record: mapped and checked now (a failure is reported at once), written with its batch."""
        self.report.add(records=1)
        try:
            record = self.mapper.map(data)
        except RecordFailed as failed:
            self.report.fail(self.mapper.key_of(data), failed.reason)
            return
        finally:
            fresh = self.mapper.new_unmapped(self.report.unmapped)
            if fresh:
                self.report.report_unmapped(fresh, self.target.object.name)
        key = record.key.lower() if self.target.matching_key == EMAIL else record.key  # emails match in any case
        if key in self._keys or len(self._pending) >= self.batch_size:
            self.flush()
        self._pending.append(record)
        self._keys.add(key)

    def flush(self) -> None:
        """Write every pending record (a batch takes as many rounds as it has records whose object repeats)."""
        batch, self._pending, self._keys = self._pending, [], set()
        while batch:
            batch = self._write(batch)
        self.report.tick()

    def _write(self, batch: List[MappedRecord]) -> List[MappedRecord]:
        """Look ``batch`` up and write it up to the first record whose object an earlier one writes too; the records
        from there on are returned, not yet written."""
        creates: List[Create] = []
        updates: List[Tuple[MappedRecord, str, Dict[str, Any]]] = []
        objects: set = set()
        rest: List[MappedRecord] = []
        for n, (record, found) in enumerate(zip(batch, self._look_up(batch), strict=True)):
            if isinstance(found, Existing):
                if found.id in objects:
                    rest = batch[n:]
                    break
                objects.add(found.id)
            try:
                if isinstance(found, RecordFailed):
                    raise found
                if found is None:
                    if self.target.operation == UPSERT:
                        creates.append((record, create_body(record, self.target.object)))
                    else:
                        self.report.add(not_found=1)
                else:
                    body = (
                        soft_delete_body()
                        if self.target.operation == SOFT_DELETE
                        else update_body(record, self.target.object, found)
                    )
                    updates.append((record, found.id, body))
            except RecordFailed as failed:
                self.report.fail(self.creates.name(record), failed.reason)
        if self.dry_run:
            self.report.add(would_create=len(creates), would_update=len(updates))
        else:
            self.creates.write(creates)
            self._update(updates)
        return rest

    # ---- lookups -----------------------------------------------------------------------
    def _look_up(self, records: Sequence[MappedRecord]) -> List[Found]:
        self.report.add(lookups=len(records))
        return list(self.pool.map(self._find, records))

    def _find(self, record: MappedRecord) -> Found:
        try:
            return self.lookups.find(self.target.matching_key, record.key)
        except RecordFailed as failed:
            return failed

    # ---- writes ------------------------------------------------------------------------
    def _create_runs(self, creates: List[Create]) -> List[List[Create]]:
        return chunks(creates, lambda item: _size(item[1]), self.batch_size, MAX_BODY_BYTES)

    def _update(self, updates: List[Tuple[MappedRecord, str, Dict[str, Any]]]) -> None:
        done = "soft_deleted" if self.target.operation == SOFT_DELETE else "updated"
        for run in chunks(updates, lambda item: _size(item[2]) + 40, self.batch_size, MAX_BODY_BYTES):
            if len(run) > 1:
                result = self.bulk.run("update", [{"id": object_id, **body} for _, object_id, body in run])
                self.report.add(bulk_requests=1, bulk_follow_ups=result.follow_ups)
                if result.outcome == WRITTEN:
                    self.report.add(**{done: len(run)})
                    continue
            for record, object_id, body in run:  # alone, or again one by one: an update sent twice changes nothing
                self.report.add(single_writes=1)
                try:
                    self.singles.update(object_id, body)
                except RecordFailed as failed:
                    self.report.fail(self.creates.name(record), failed.reason)
                else:
                    self.report.add(**{done: 1})


def _size(body: Mapping[str, Any]) -> int:
    return len(orjson.dumps(body)) + 1
