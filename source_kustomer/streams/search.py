"""Incremental streams over ``POST /v1/customers/search``, read exactly and verified by the keyset reader."""

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, List, Mapping, MutableMapping, Optional, Tuple

from airbyte_cdk.models import SyncMode

from source_kustomer.client import AccessRefused
from source_kustomer.deletions import AUDIT_OBJECT_TYPES, AuditRefused, hard_deletions, soft_deletion
from source_kustomer.errors import config_error, with_clear_errors
from source_kustomer.keyset import (
    Bound,
    Criteria,
    KeyRange,
    KeysetReader,
    KeysetStats,
    SearchPage,
    SearchRejected,
    SortKey,
)
from source_kustomer.responses import error_detail, response_json
from source_kustomer.streams.base import KustomerStream
from source_kustomer.timestamps import earlier, instant, kustomer_time, parse_timestamp

CURSOR = "updatedAt"
DELETIONS_SINCE = "deletionsSince"  # where this stream's reading of the audit log continues (with sync_deletes)
RECORDS, DELETIONS = "records", "deletions"  # the two phases of a sync with sync_deletes
CLOCK_SKEW_SECONDS = 300


def utc_now() -> datetime:
    """The current time (one place, so tests can pin it)."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class SearchSpec:
    """A searchable resource: stream name, queryContext, and the prefix of its search fields."""

    name: str
    query_context: str
    field_prefix: str
    schema_name: str = ""


def _saved_moment(stream: str, state: Mapping[str, Any], key: str, now: datetime) -> Optional[str]:
    value = state.get(key)
    if value is None:
        return None
    moment = parse_timestamp(value, f"state of stream '{stream}' ({key})")
    if (moment - now).total_seconds() > CLOCK_SKEW_SECONDS:
        raise config_error(
            f"The saved state of stream '{stream}' is in the future ({key} {value!r}); resuming from it would skip "
            f"records. Reset the state of '{stream}'."
        )
    return value


def search_state(stream: str, state: Any, now: datetime) -> Tuple[Optional[str], Optional[str]]:
    """(cursor, deletions position) a saved search state resumes from; a config_error for state not ours."""
    if not state:
        return None, None
    if not isinstance(state, Mapping):
        raise config_error(f"The saved state of stream '{stream}' is not an object. Reset the state of '{stream}'.")
    if CURSOR not in state and DELETIONS_SINCE not in state:
        raise config_error(
            f"The saved state of stream '{stream}' has no '{CURSOR}' cursor (keys: {sorted(map(str, state))}): it was "
            f"not written by this connector. Reset the state of '{stream}' to sync it from start_date."
        )
    return _saved_moment(stream, state, CURSOR, now), _saved_moment(stream, state, DELETIONS_SINCE, now)


class KustomerSearchStream(KustomerStream):
    """Records updated since the cursor, ascending; state is the updatedAt of the last record emitted."""

    cursor_field = CURSOR
    http_method = "POST"
    max_page_size = 500

    def __init__(self, spec: SearchSpec, *args: Any, **kwargs: Any) -> None:
        self.spec = spec
        self.schema_name = spec.schema_name
        self._cursor: Optional[str] = None
        self._incoming: Optional[str] = None
        self._deletions_since: Optional[str] = None
        self._window: Optional[KeyRange] = None
        self.reader_stats: Optional[KeysetStats] = None
        super().__init__(*args, **kwargs)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def delivers_deletions(self) -> bool:  # type: ignore[override]
        return self.config.sync_deletes

    @property
    def state(self) -> MutableMapping[str, Any]:
        state: MutableMapping[str, Any] = {CURSOR: self._cursor} if self._cursor else {}
        if self.config.sync_deletes and self._deletions_since:
            state[DELETIONS_SINCE] = self._deletions_since
        return state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._incoming, self._deletions_since = search_state(self.name, value, utc_now())
        self._cursor = self._incoming

    @property
    def state_checkpoint_interval(self) -> Optional[int]:
        return self.effective_page_size

    @property
    def keys(self) -> List[SortKey]:
        """updatedAt (the cursor) first; createdAt only for tie groups larger than a search can page."""
        prefix = self.spec.field_prefix
        return [SortKey(f"{prefix}_updated_at", CURSOR), SortKey(f"{prefix}_created_at", "createdAt")]

    def path(self, **kwargs: Any) -> str:
        return "customers/search"

    def request_body_json(
        self,
        stream_state: Optional[Mapping[str, Any]],
        stream_slice: Optional[Mapping[str, Any]] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
    ) -> Optional[Mapping[str, Any]]:
        """The search body for criteria and a sort field (``next_page_token``), in Kustomer's published shape."""
        token = next_page_token or {}
        body = {
            "and": token["criteria"],
            "sort": [{token["sort"]: "asc"}],
            "queryContext": self.spec.query_context,
        }
        if self.config.include_deleted or self.config.sync_deletes:
            body["includeDeleted"] = True
        return body

    def _fetch(self, criteria: Criteria, sort_field: str, page: int) -> SearchPage:
        body = self.request_body_json(None, next_page_token={"criteria": criteria, "sort": sort_field})
        response = self.client.search(body, page, self.effective_page_size)  # type: ignore[arg-type]
        refusal = self.client.refusal(response)
        if refusal is not None:
            raise refusal
        if response.status_code in (400, 404):
            raise SearchRejected(f"HTTP {response.status_code}: {error_detail(response)}")
        records = self.parse_response(response)
        document = response_json(response)
        meta = document.get("meta") if isinstance(document.get("meta"), Mapping) else {}
        total = meta.get("total")
        links = document.get("links") if isinstance(document.get("links"), Mapping) else {}
        return SearchPage(
            records=list(records),
            total=total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None,
            has_next=bool(links.get("next")),
        )

    def window(self, sync_mode: SyncMode, now: datetime) -> KeyRange:
        """This sync's fixed bounds: the incoming cursor less lookback (or start_date) up to now less the search lag."""
        if sync_mode == SyncMode.incremental and self._incoming:
            lower = earlier(parse_timestamp(self._incoming, CURSOR), self.config.lookback)
        else:
            lower = self.config.start_date
        upper = now - self.config.search_lag
        return KeyRange(self.keys[0], Bound(kustomer_time(lower)), Bound(kustomer_time(upper)))

    def stream_slices(
        self,
        *,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Optional[Mapping[str, Any]]]:
        """With sync_deletes, the records and then the deletions, as two slices: the state is saved in between, so a
        sync stopped before its deletions keeps its records and still reads every deletion next time."""
        if not self.config.sync_deletes:
            return super().stream_slices(sync_mode=sync_mode, cursor_field=cursor_field, stream_state=stream_state)
        return [{"phase": RECORDS}, {"phase": DELETIONS}]

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Mapping[str, Any]]:
        self.progress.start()
        if self._window is None:
            self._window = self.window(sync_mode, utc_now())  # one window for both phases of this sync
        try:
            if (stream_slice or {}).get("phase") == DELETIONS:
                yield from with_clear_errors(self.name, self._hard_deletions(self._window.high.value))  # type: ignore[union-attr]
            else:
                yield from self._records(sync_mode)
        except AccessRefused as refusal:
            self.skip(refusal)
            return
        if not self.config.sync_deletes or (stream_slice or {}).get("phase") == DELETIONS:
            self.progress.finish()

    def _records(self, sync_mode: SyncMode) -> Iterable[Mapping[str, Any]]:
        """Every record of this sync's window, soft-deleted ones as delete markers when deletes are synced."""
        reader = KeysetReader(
            fetch=self._fetch,
            keys=self.keys,
            page_size=self.effective_page_size,
            stream=self.name,
            on_malformed=self.report_malformed,
            logger=self.logger,
        )
        self.reader_stats = reader.stats
        already_synced = instant(self._incoming) if sync_mode == SyncMode.incremental and self._incoming else None
        for record in with_clear_errors(self.name, reader.read(self._window)):  # type: ignore[arg-type]
            self._cursor = record[CURSOR]
            deletion = soft_deletion(record) if self.config.sync_deletes else None
            if deletion is not None:
                self.progress.deletions += 1
                yield deletion.marker()
                continue
            self.progress.records += 1
            if already_synced is not None and instant(record[CURSOR]) <= already_synced:
                self.progress.possible_duplicates += 1
            yield record

    def _hard_deletions(self, until: str) -> Iterable[Mapping[str, Any]]:
        """Delete markers for what the audit log says was deleted since the last sync's position; then move it."""
        object_type = AUDIT_OBJECT_TYPES.get(self.spec.name)
        since = self._deletions_since or kustomer_time(self.config.start_date)
        if object_type is not None:
            try:
                for deletion in hard_deletions(self.client, object_type, since, until, self.progress.page):
                    self.progress.deletions += 1
                    yield deletion.marker()
            except AuditRefused as refused:
                self.logger.warning(
                    f"Hard deletes of stream '{self.name}' are not synced: Kustomer refused the audit log ({refused}). "
                    f"Give the API key org.permission.audit_logs.read; deletions since {since} are read then."
                )
                return
        self._deletions_since = until
