"""Incremental streams over ``POST /v1/customers/search`` (and its archive), read exactly and verified."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Set, Tuple

from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http import timestamps
from kustomer_http.connection import KustomerConnection
from kustomer_http.errors import config_error
from kustomer_http.responses import error_detail, response_json
from kustomer_http.settings import EARLIEST_DATE
from kustomer_http.timestamps import earlier, instant, kustomer_time, parse_timestamp

from source_kustomer.audit_log import AUDIT_ROLES, DELETE_RETENTION
from source_kustomer.deletions import AUDIT_OBJECT_TYPES, DeletionsLog, DeletionsUnavailable, soft_deletion
from source_kustomer.discovery import CustomFieldTypes
from source_kustomer.keyset import RANGE_DONE, KeysetReader
from source_kustomer.offset_read import KeysetStats
from source_kustomer.search_plan import ARCHIVE, BOUNDARY_MARGIN, Phase, plan, reaches_past_history
from source_kustomer.search_ranges import Bound, Criteria, KeyRange, SearchPage, SearchRejected, SortKey
from source_kustomer.streams.base import KustomerStream

CURSOR = "updatedAt"
# A first sync reads deletions from this long before it began: far more than Kustomer's search trails its writes
# (search_lag_seconds), so a record deleted just before the sync but still found by search gets its marker.
FIRST_SYNC_DELETIONS_MARGIN = timedelta(days=1)
DELETIONS_SINCE = "deletionsSince"  # where this stream's reading of the audit log continues (with sync_deletes)
DELETIONS = "deletions"  # the slice after the records, with sync_deletes
CLOCK_SKEW_SECONDS = 300
MAX_BAND_IDS = 500_000  # ids remembered from the boundary band; past it, a record found twice there is emitted twice
MAX_SOFT_MARKED = 100_000  # soft-delete markers remembered, so their audit-log delete entry is not counted again


@dataclass(frozen=True)
class SearchSpec:
    """A searchable resource: stream name, queryContext, the prefix of its search fields, and how it is dated."""

    name: str
    query_context: str
    field_prefix: str
    schema_name: str = ""
    cursor: str = CURSOR  # the attribute dating a record's last change; also the state's key
    archived: bool = True  # Kustomer keeps its records older than two years in the archive search
    sorted: bool = True  # Kustomer sorts it by its time field (else it is read in time ranges, sort unused)
    description: str = ""
    metadata_resource: Optional[str] = None  # whose custom attribute definitions (GET /v1/metadata/…) type 'custom'

    @property
    def time_field(self) -> str:
        """The search field of the cursor."""
        return f"{self.field_prefix}_{'updated_at' if self.cursor == CURSOR else 'created_at'}"


def _saved_moment(stream: str, state: Mapping[str, Any], key: str, now: datetime) -> Optional[str]:
    value = state.get(key)
    if value is None:
        return None
    moment = parse_timestamp(value, f"state of stream '{stream}' ({key})")
    if moment < EARLIEST_DATE:
        raise config_error(
            f"The saved state of stream '{stream}' is before 1970 ({key} {value!r}), before any Kustomer record. "
            f"Reset the state of '{stream}'."
        )
    if (moment - now).total_seconds() > CLOCK_SKEW_SECONDS:
        raise config_error(
            f"The saved state of stream '{stream}' is in the future ({key} {value!r}); resuming from it would skip "
            f"records. Reset the state of '{stream}'."
        )
    return value


def search_state(stream: str, state: Any, now: datetime, key: str = CURSOR) -> Tuple[Optional[str], Optional[str]]:
    """(cursor, deletions position) a saved search state resumes from; a config_error for state not ours."""
    if not state:
        return None, None
    if not isinstance(state, Mapping):
        raise config_error(f"The saved state of stream '{stream}' is not an object. Reset the state of '{stream}'.")
    if key not in state and DELETIONS_SINCE not in state:
        raise config_error(
            f"The saved state of stream '{stream}' has no '{key}' cursor (keys: {sorted(map(str, state))}): it was "
            f"not written by this connector. Reset the state of '{stream}' to sync it from start_date."
        )
    return _saved_moment(stream, state, key, now), _saved_moment(stream, state, DELETIONS_SINCE, now)


class KustomerSearchStream(KustomerStream):
    """Records changed since the cursor, ascending; the state is a position every earlier record was read by."""

    max_page_size = 500

    def __init__(
        self, spec: SearchSpec, connection: KustomerConnection, custom_types: Optional[CustomFieldTypes] = None
    ) -> None:
        self.spec = spec
        self.schema_name = spec.schema_name
        self.description = spec.description
        self.metadata_resource = spec.metadata_resource
        self._cursor: Optional[str] = None
        self._incoming: Optional[str] = None
        self._deletions_since: Optional[str] = None
        self._window: Optional[KeyRange] = None
        self._started: Optional[datetime] = None
        self._band: Optional[Tuple[int, int]] = None  # the boundary band read from both searches (microseconds)
        self._band_seen: Set[str] = set()  # ids emitted from the band in this sync
        self._synced: Optional[int] = None  # incremental: the incoming cursor (records at or before it: re-reads)
        self._soft_marked: Set[str] = set()  # ids delivered as soft-delete markers in this sync
        self.deletions_log: Optional[DeletionsLog] = None  # set by the source when this sync reads deletions
        self.reader_stats: Optional[KeysetStats] = None
        super().__init__(connection, custom_types)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def cursor_field(self) -> str:  # type: ignore[override]
        return self.spec.cursor

    @property
    def state_key(self) -> str:
        """The key of the position in this stream's state."""
        return self.spec.cursor

    @property
    def delivers_deletions(self) -> bool:  # type: ignore[override]
        return self.config.sync_deletes

    @property
    def asks_for_deleted(self) -> bool:
        """Whether searches include soft-deleted records."""
        return self.config.include_deleted or self.config.sync_deletes

    @property
    def state(self) -> MutableMapping[str, Any]:
        state: MutableMapping[str, Any] = {self.state_key: self._cursor} if self._cursor else {}
        if self.config.sync_deletes and self._deletions_since:
            state[DELETIONS_SINCE] = self._deletions_since
        return state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._incoming, self._deletions_since = search_state(self.name, value, timestamps.utc_now(), self.state_key)
        self._cursor = self._incoming

    @property
    def deletions_since(self) -> str:
        """Where this stream's reading of the audit log for deletions continues: its saved position; for a stream
        with no saved state at all (a first sync, or after a reset) shortly before this sync began -- what was
        deleted earlier is not in this sync's records, and the destination holds none older -- else start_date
        (records synced before deletes were turned on may have been deleted since)."""
        if self._deletions_since:
            return self._deletions_since
        if self._incoming is None or self.sync_mode == SyncMode.full_refresh:
            begun = timestamps.utc_now() - FIRST_SYNC_DELETIONS_MARGIN
            return kustomer_time(max(self.config.start_date, begun))
        return kustomer_time(self.config.start_date)

    @property
    def keys(self) -> List[SortKey]:
        """The cursor's field first; for updatedAt, createdAt only for tie groups larger than a search can page."""
        first = SortKey(self.spec.time_field, self.spec.cursor)
        if self.spec.cursor != CURSOR:
            return [first]
        return [first, SortKey(f"{self.spec.field_prefix}_created_at", "createdAt")]

    def search_body(self, criteria: Criteria, sort_field: Optional[str]) -> Mapping[str, Any]:
        """The search body for criteria and a sort field (None for a stream read in time ranges), in Kustomer's
        published shape."""
        body: MutableMapping[str, Any] = {"and": criteria}
        if sort_field:
            body["sort"] = [{sort_field: "asc"}]
        body["queryContext"] = self.spec.query_context
        if self.asks_for_deleted:
            body["includeDeleted"] = True
        return body

    def fetch_page(self, criteria: Criteria, sort_field: Optional[str], page: int, archive: bool = False) -> SearchPage:
        """One page of a search of this stream's object, in order of ``sort_field`` (None: in no asked order);
        raises AccessRefused, or SearchRejected for 400/404."""
        self._check_sync_span()
        sort = sort_field if self.spec.sorted else None  # a range read relies on no order; none is asked for
        response = self.client.search(self.search_body(criteria, sort), page, self.effective_page_size, archive=archive)
        refusal = self.client.refusal(response)
        if refusal is not None:
            raise refusal
        if response.status_code in (400, 404):
            raise SearchRejected(f"HTTP {response.status_code}: {error_detail(response)}")
        records = self.page_records(response)
        document = response_json(response)
        meta = document.get("meta") if isinstance(document.get("meta"), Mapping) else {}
        total = meta.get("total")
        links = document.get("links") if isinstance(document.get("links"), Mapping) else {}
        return SearchPage(
            records=records,
            total=total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None,
            has_next=bool(links.get("next")),
        )

    def _check_sync_span(self) -> None:
        """A sync that reads both searches must end before records past the boundary band age into the archive."""
        if self._band is None or self._started is None or timestamps.utc_now() - self._started < BOUNDARY_MARGIN:
            return
        message = (
            f"Stream '{self.name}' has been reading for longer than {BOUNDARY_MARGIN.days} days, so records may have "
            "moved from Kustomer's standard search to its archive behind the reader. It stopped; the next sync "
            "resumes from the saved state and reads the boundary again."
        )
        raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)

    def window(self, sync_mode: SyncMode, now: datetime) -> Tuple[datetime, datetime]:
        """This sync's fixed bounds: the incoming cursor less lookback (or start_date) up to now less the search lag."""
        if sync_mode == SyncMode.incremental and self._incoming:
            lower = earlier(parse_timestamp(self._incoming, self.state_key), self.config.lookback)
        else:
            lower = self.config.start_date
        return lower, now - self.config.search_lag

    def parts(self) -> List[Mapping[str, Any]]:
        """The phases of this sync's window (archive and standard search), then, with sync_deletes, the deletions.
        The state is saved after each: a sync stopped before its deletions keeps its records and still reads every
        deletion next time."""
        sync_mode = self.sync_mode
        now = timestamps.utc_now()
        self._started = now
        self._synced = instant(self._incoming) if sync_mode == SyncMode.incremental and self._incoming else None
        low, high = self.window(sync_mode, now)
        self._window = KeyRange(self.keys[0], Bound(kustomer_time(low)), Bound(kustomer_time(high)))
        phases = plan(low, high, now, self.spec.archived)
        if len(phases) > 1:
            band = phases[1]
            self._band = (instant(band.low), instant(band.high))  # type: ignore[assignment]
        elif reaches_past_history(low, now):
            self.logger.warning(
                f"Stream '{self.name}': Kustomer keeps {self.name} changed more than two years ago neither in its "
                "search nor in its archive search, so those older than two years are not synced."
            )
        parts: List[Mapping[str, Any]] = [phase.as_slice() for phase in phases]
        if self.config.sync_deletes:
            self._warn_about_deletion_retention(now)
            parts.append({"phase": DELETIONS})
        return parts

    def read_part(self, part: Mapping[str, Any]) -> Iterable[Any]:
        """One phase of the window, or the deletions."""
        if part.get("phase") == DELETIONS:
            return self._hard_deletions()
        return self._records(Phase.from_slice(part))

    def _records(self, phase: Phase) -> Iterator[Any]:
        """Every record of one phase; the cursor moves only to positions every earlier record was read by."""
        reader = KeysetReader(
            fetch=lambda criteria, sort, page: self.fetch_page(criteria, sort, page, archive=phase.source == ARCHIVE),
            keys=self.keys,
            page_size=self.effective_page_size,
            stream=self.name,
            on_malformed=self.report_malformed,
            logger=self.logger,
        )
        self.reader_stats = reader.stats
        window = KeyRange(self.keys[0], Bound(phase.low), Bound(phase.high))
        records = reader.read(window) if self.spec.sorted else reader.read_by_ranges(window)
        since_checkpoint = 0
        for record in records:
            if record is RANGE_DONE:
                self._advance(reader.checkpoint, phase.cap)
                yield self.checkpoint()
                continue
            if self._seen_in_band(record):
                continue
            yield self.emit(record)
            self._advance(record[self.spec.cursor] if self.spec.sorted else reader.checkpoint, phase.cap)
            since_checkpoint += 1
            if since_checkpoint >= self.effective_page_size:
                since_checkpoint = 0
                yield self.checkpoint()
        if not self.spec.sorted:
            self._advance(reader.checkpoint, phase.cap)
        if phase.completes:
            self._advance(phase.completes, None)
        yield self.checkpoint()

    def emit(self, record: Mapping[str, Any]) -> Mapping[str, Any]:
        """What one search record becomes: itself, or a delete marker when deletes are synced."""
        deletion = soft_deletion(record) if self.config.sync_deletes else None
        if deletion is not None:
            self.progress.deletions += 1
            if len(self._soft_marked) < MAX_SOFT_MARKED:
                self._soft_marked.add(deletion.object_id)
            return deletion.marker()
        self.progress.records += 1
        if self.deletions_log is not None:  # merge records are checked against the customers emitted
            self.deletions_log.saw_live(AUDIT_OBJECT_TYPES.get(self.spec.name, ""), record)
        if self._synced is not None and instant(record[self.spec.cursor]) <= self._synced:  # type: ignore[operator]
            self.progress.possible_duplicates += 1
        return record

    def _seen_in_band(self, record: Mapping[str, Any]) -> bool:
        """Whether a record of the boundary band was already emitted in this sync (it may be found twice)."""
        if self._band is None:
            return False
        moment = instant(record[self.spec.cursor])
        if moment is None or not self._band[0] <= moment <= self._band[1]:
            return False
        if record["id"] in self._band_seen:
            return True
        if len(self._band_seen) < MAX_BAND_IDS:
            self._band_seen.add(record["id"])
        return False

    def _advance(self, position: Optional[str], cap: Optional[str]) -> None:
        """Move the cursor forward to ``position`` (never past ``cap``, never backwards)."""
        if position is None or position == self._cursor:
            return
        moment = instant(position)
        if cap is not None and moment > instant(cap):  # type: ignore[operator]
            position, moment = cap, instant(cap)
        if self._cursor is None or moment > instant(self._cursor):  # type: ignore[operator]
            self._cursor = position

    def _warn_about_deletion_retention(self, now: datetime) -> None:
        object_type = AUDIT_OBJECT_TYPES.get(self.spec.name)
        if object_type is None or self._deletions_since is None:
            return
        kept = DELETE_RETENTION
        if instant(self._deletions_since) < instant(kustomer_time(now - kept)):  # type: ignore[operator]
            self.logger.warning(
                f"Stream '{self.name}': deletions were last read up to {self._deletions_since}, but Kustomer keeps the "
                f"audit log's {object_type} deletions {kept.days} days, so deletions from before "
                f"{kustomer_time(now - kept)} may be gone and are not delivered; a full refresh of '{self.name}' "
                "removes what is gone."
            )

    def _hard_deletions(self) -> Iterable[Any]:
        """Delete markers for what the audit log says was deleted since this stream's position; then move it to
        where every deletion is settled."""
        object_type = AUDIT_OBJECT_TYPES.get(self.spec.name)
        if object_type is None or self.deletions_log is None:
            self._deletions_since = self._window.high.value  # type: ignore[union-attr]
            yield self.checkpoint()
            return
        try:
            deletions, settled = self.deletions_log.take(object_type)
        except DeletionsUnavailable as unavailable:
            self.logger.warning(
                f"Hard deletes of stream '{self.name}' are not synced: Kustomer refused the audit log ({unavailable}). "
                f"Give the API key {AUDIT_ROLES}; deletions since {self.deletions_since} are read then."
            )
            return
        for deletion in deletions:
            if deletion.object_id in self._soft_marked:
                continue  # delivered already, from search
            self.progress.deletions += 1
            yield deletion.marker()
        self._deletions_since = settled
        yield self.checkpoint()
