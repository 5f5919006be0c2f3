"""Full-refresh streams over Kustomer's paged lists (``GET /v1/{path}?page&pageSize``, follow links.next)."""

from dataclasses import dataclass
from typing import Any, Iterable, List, Mapping, MutableMapping, Optional
from urllib.parse import urlsplit

import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.checkpoint.resumable_full_refresh_cursor import ResumableFullRefreshCursor
from airbyte_cdk.sources.streams.http import HttpStream

from source_kustomer.errors import with_clear_errors
from source_kustomer.rate_policy import response_json
from source_kustomer.streams.base import KustomerStream

FULL_REFRESH_COMPLETE = "__ab_full_refresh_sync_complete"


@dataclass(frozen=True)
class ListSpec:
    """A list endpoint: stream name, path under /v1/, and the largest pageSize it accepts."""

    name: str
    path: str
    max_page_size: int = 100


class KustomerListStream(KustomerStream):
    """One list endpoint read page by page; resumable (the CDK checkpoints the next link)."""

    def __init__(self, spec: ListSpec, *args: Any, **kwargs: Any) -> None:
        self.spec = spec
        self.max_page_size = spec.max_page_size
        super().__init__(*args, **kwargs)
        self.cursor = ResumableFullRefreshCursor()  # set explicitly: read_records below wraps the CDK's

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def state(self) -> MutableMapping[str, Any]:
        return super().state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        # A list finished in an earlier sync is read again: a full refresh always delivers the whole list.
        # (The CDK would skip it, and callers such as PyAirbyte hand that finished state back.)
        finished = bool((value or {}).get(FULL_REFRESH_COMPLETE))
        HttpStream.state.fset(self, {} if finished else value)  # type: ignore[attr-defined]

    def path(self, *, next_page_token: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> str:
        if next_page_token:
            return next_page_token["next"]
        return self.spec.path

    def request_params(
        self,
        stream_state: Optional[Mapping[str, Any]],
        stream_slice: Optional[Mapping[str, Any]] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
    ) -> MutableMapping[str, Any]:
        return {} if next_page_token else {"page": 1, "pageSize": self.effective_page_size}

    def next_page_token(self, response: requests.Response) -> Optional[Mapping[str, Any]]:
        if response.status_code == 403:
            return None
        link = (response_json(response).get("links") or {}).get("next")
        if not link:
            self.progress.finish()
            return None
        # links are paths; keep them on the host this sync talks to
        parts = urlsplit(link)
        return {"next": f"{parts.path}?{parts.query}" if parts.query else parts.path}

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Mapping[str, Any]]:
        self.progress.start()
        yield from with_clear_errors(
            self.name, super().read_records(sync_mode, cursor_field, stream_slice, stream_state)
        )
