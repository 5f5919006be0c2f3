"""Incremental streams over ``POST /v1/customers/search``, read exactly by the keyset reader."""

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, List, Mapping, MutableMapping, Optional

import requests
from airbyte_cdk.models import SyncMode

from source_kustomer.config import parse_timestamp
from source_kustomer.errors import with_clear_errors
from source_kustomer.keyset import Criteria, KeysetReader, SearchPage, SortKey
from source_kustomer.rate_policy import response_json
from source_kustomer.streams.base import KustomerStream

CURSOR = "updatedAt"


def utc_now() -> datetime:
    """The current time (one place, so tests can pin it)."""
    return datetime.now(timezone.utc)


def kustomer_time(moment: datetime) -> str:
    """A datetime in Kustomer's format: 2019-12-26T18:35:41.583Z."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class SearchSpec:
    """A searchable resource: stream name, queryContext, and the prefix of its search fields."""

    name: str
    query_context: str
    field_prefix: str
    schema_name: str = ""


class _Forbidden(Exception):
    """Kustomer answered 403 for this stream's search."""


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
        super().__init__(*args, **kwargs)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def state(self) -> MutableMapping[str, Any]:
        return {CURSOR: self._cursor} if self._cursor else {}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        cursor = (value or {}).get(CURSOR)
        self._incoming = self._cursor = (
            kustomer_time(parse_timestamp(cursor, f"state of {self.name}")) if cursor else None
        )

    @property
    def state_checkpoint_interval(self) -> Optional[int]:
        return self.effective_page_size

    def path(self, **kwargs: Any) -> str:
        return "customers/search"

    def request_params(
        self,
        stream_state: Optional[Mapping[str, Any]],
        stream_slice: Optional[Mapping[str, Any]] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
    ) -> MutableMapping[str, Any]:
        return {"page": next_page_token["page"], "pageSize": self.effective_page_size}

    def request_body_json(
        self,
        stream_state: Optional[Mapping[str, Any]],
        stream_slice: Optional[Mapping[str, Any]] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
    ) -> Optional[Mapping[str, Any]]:
        body = {
            "and": next_page_token["criteria"],
            "sort": [{next_page_token["sort"]: "asc"}],
            "queryContext": self.spec.query_context,
        }
        if self.config.include_deleted:
            body["includeDeleted"] = True
        return body

    def next_page_token(self, response: requests.Response) -> Optional[Mapping[str, Any]]:
        return None  # the keyset reader decides every request

    def _fetch(self, criteria: Criteria, sort_field: str, page: int) -> SearchPage:
        _, response = self._fetch_next_page(next_page_token={"criteria": criteria, "sort": sort_field, "page": page})
        records = self.page_records(response)
        if records is None:
            raise _Forbidden()
        body = response_json(response)
        total = (body.get("meta") or {}).get("total")
        return SearchPage(
            records, total if isinstance(total, int) else None, bool((body.get("links") or {}).get("next"))
        )

    def window(self, sync_mode: SyncMode, now: datetime) -> Criteria:
        """This sync's fixed bounds: the incoming cursor less lookback (or start_date) up to now less the search lag."""
        if sync_mode == SyncMode.incremental and self._incoming:
            lower = parse_timestamp(self._incoming, CURSOR) - self.config.lookback
        else:
            lower = self.config.start_date
        upper = now - self.config.search_lag
        updated = f"{self.spec.field_prefix}_updated_at"
        return [{updated: {"gte": kustomer_time(lower)}}, {updated: {"lte": kustomer_time(upper)}}]

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Mapping[str, Any]]:
        self.progress.start()
        prefix = self.spec.field_prefix
        reader = KeysetReader(
            fetch=self._fetch,
            keys=[SortKey(f"{prefix}_updated_at", CURSOR), SortKey(f"{prefix}_created_at", "createdAt")],
            page_size=self.effective_page_size,
            logger=self.logger,
        )
        already_synced = self._incoming if sync_mode == SyncMode.incremental else None
        try:
            for record in with_clear_errors(self.name, reader.read(self.window(sync_mode, utc_now()))):
                self._cursor = record[CURSOR]
                self.progress.records += 1
                if already_synced and record[CURSOR] <= already_synced:
                    self.progress.possible_duplicates += 1
                yield record
        except _Forbidden:
            return
        self.progress.finish()
