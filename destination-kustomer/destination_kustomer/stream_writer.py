"""One stream's records into Kustomer, a batch at a time.

Records gather into a batch (at most ``batch_size``, never two with the same matching key -- the second closes
the batch, so the later record is written after the earlier). A flush looks every record of the batch up
(``finding``: by search and by GET at once) and writes the batch up to the first record whose object an earlier
record of it also writes (two emails of one customer): the rest is looked up again and written after, so no write
overwrites another of the same batch. The stream's first update is checked alone (``verify``) before anything
else of the batch is written; then the creates (``creates``: never one twice) and the updates (``updates``: only
what each record maps) go at the same time, in bulk requests of at most ``batch_size`` items and
``MAX_BODY_BYTES`` bytes. Writes waiting on a per-object limit are sent once their wait is over, before the flush
ends. Each record ends created, updated, soft-deleted, not found (``update`` and ``soft_delete`` never create) or
failed with Kustomer's reason.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any, List, Mapping, Optional

from kustomer_http.timestamps import kustomer_time, utc_now

from destination_kustomer.bodies import create_body
from destination_kustomer.creates import Create, Creates, Runs
from destination_kustomer.deferred import Deferred
from destination_kustomer.errors import RecordFailed
from destination_kustomer.finding import Finder
from destination_kustomer.lookups import Existing, folded
from destination_kustomer.mapping import MappedRecord, RecordMapper
from destination_kustomer.progress import StreamReport
from destination_kustomer.targets import UPSERT, StreamTarget
from destination_kustomer.updates import MAX_BODY_BYTES, Update, Updates, body_size, chunks

UNLISTED = "are not in the stream's configured schema (deselected, or not declared by the source)"


def create_runs(batch_size: int) -> Runs:
    """How creates are cut into requests: at most ``batch_size`` items and ``MAX_BODY_BYTES`` bytes each."""
    return lambda creates: chunks(creates, lambda item: body_size(item[1]), batch_size, MAX_BODY_BYTES)


class StreamWriter:
    """Batches, looks up and writes the records of one stream."""

    def __init__(
        self,
        target: StreamTarget,
        mapper: RecordMapper,
        finder: Finder,
        creates: Creates,
        updates: Updates,
        deferred: Deferred,
        paths: ThreadPoolExecutor,
        report: StreamReport,
        batch_size: int,
        dry_run: bool,
        imported_at: bool = False,
    ) -> None:
        self.target = target
        self.mapper = mapper
        self.finder = finder
        self.creates = creates
        self.updates = updates
        self.deferred = deferred
        self.paths = paths
        self.report = report
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.imported_at = imported_at and target.object.kind == "kobject"
        self._pending: List[MappedRecord] = []
        self._keys: set = set()

    def add(self, data: Mapping[str, Any]) -> None:
        """Take one record: mapped and checked now (a failure is reported at once), written with its batch."""
        self.report.add(records=1)
        skipped: List[str] = []
        unlisted: List[str] = []
        try:
            record = self.mapper.map(data, skipped, unlisted)
        except RecordFailed as failed:
            self.report.fail(self.mapper.key_of(data), failed.reason)
            return
        finally:
            if skipped:
                self.report.unmapped_fields(skipped, self._unknown)
            if unlisted:
                self.report.unmapped_fields(unlisted, UNLISTED)
        key = folded(self.target.matching_key, record.key)  # emails match in any case
        if key in self._keys or len(self._pending) >= self.batch_size:
            self.flush()
        self._pending.append(record)
        self._keys.add(key)

    @property
    def _unknown(self) -> str:
        return (
            f"are neither standard attributes of {self.target.object.name} nor custom attributes defined in Kustomer "
            "(define them in Kustomer, or rename them)"
        )

    def unreadable(self, line: int, reason: str) -> None:
        """Count an input line of this stream that could not be read as a record: a record not written."""
        self.report.add(records=1)
        self.report.fail(f"line {line} on stdin", f"{reason}; the line is not quoted")

    def flush(self) -> None:
        """Write every pending record (a batch takes as many rounds as it has records whose object repeats)."""
        batch, self._pending, self._keys = self._pending, [], set()
        while batch:
            batch = self._write(batch)
        self.deferred.drain()
        self.report.tick()

    def _write(self, batch: List[MappedRecord]) -> List[MappedRecord]:
        """Look ``batch`` up and write it up to the first record whose object an earlier one writes too; the records
        from there on are returned, not yet written."""
        creates: List[Create] = []
        updates: List[Update] = []
        objects: set = set()
        rest: List[MappedRecord] = []
        imported_at = kustomer_time(utc_now()) if self.imported_at else None
        for n, (record, found) in enumerate(zip(batch, self.finder.find(batch), strict=True)):
            if isinstance(found, Existing):
                if found.id in objects:
                    rest = batch[n:]
                    break
                objects.add(found.id)
                updates.append((record, found))
            elif isinstance(found, RecordFailed):
                self.report.fail(self.creates.name(record), found.reason)
            elif self.target.operation != UPSERT:
                self.report.add(not_found=1)
            else:
                try:
                    creates.append((record, create_body(record, self.target.object, imported_at)))
                except RecordFailed as failed:
                    self.report.fail(self.creates.name(record), failed.reason)
        if self.dry_run:
            self.report.add(would_create=len(creates), would_update=len(updates))
        else:
            self._both(creates, updates)
        return rest

    def _both(self, creates: List[Create], updates: List[Update]) -> None:
        """The stream's first update checked alone; then the creates and the other updates at the same time."""
        while updates and self.updates.check.pending:
            self.updates.write([updates.pop(0)])
        creating: Optional[Any] = self.paths.submit(self.creates.write, creates) if creates and updates else None
        try:
            self.updates.write(updates)
        finally:
            if creating is not None:
                creating.result()
        if creating is None:
            self.creates.write(creates)
