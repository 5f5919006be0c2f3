"""Incremental streams over ``POST /v1/customers/search``, read exactly and verified by the keyset reader."""

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, List, Mapping, MutableMapping, Optional

from airbyte_cdk.models import SyncMode

from source_kustomer.client import AccessRefused
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


def search_state_cursor(stream: str, state: Any, now: datetime) -> Optional[str]:
    """The cursor a saved search state resumes from (None: start_date); a config_error for state not ours."""
    if not state:
        return None
    if not isinstance(state, Mapping):
        raise config_error(f"The saved state of stream '{stream}' is not an object. Reset the state of '{stream}'.")
    if CURSOR not in state:
        raise config_error(
            f"The saved state of stream '{stream}' has no '{CURSOR}' cursor (keys: {sorted(map(str, state))}): it was "
            f"not written by this connector. Reset the state of '{stream}' to sync it from start_date."
        )
    cursor = state[CURSOR]
    moment = parse_timestamp(cursor, f"state of stream '{stream}' ({CURSOR})")
    if (moment - now).total_seconds() > CLOCK_SKEW_SECONDS:
        raise config_error(
            f"The saved state of stream '{stream}' is in the future ({cursor!r}); resuming from it would skip "
            f"records. Reset the state of '{stream}'."
        )
    return cursor


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
        self.reader_stats: Optional[KeysetStats] = None
        super().__init__(*args, **kwargs)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def state(self) -> MutableMapping[str, Any]:
        return {CURSOR: self._cursor} if self._cursor else {}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._incoming = self._cursor = search_state_cursor(self.name, value, utc_now())

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
        if self.config.include_deleted:
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

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Mapping[str, Any]]:
        self.progress.start()
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
        try:
            for record in with_clear_errors(self.name, reader.read(self.window(sync_mode, utc_now()))):
                self._cursor = record[CURSOR]
                self.progress.records += 1
                if already_synced is not None and instant(record[CURSOR]) <= already_synced:
                    self.progress.possible_duplicates += 1
                yield record
        except AccessRefused as refusal:
            self.skip(refusal)
            return
        self.progress.finish()
