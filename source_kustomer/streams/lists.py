"""Full-refresh streams over Kustomer's paged lists (``GET /v1/{path}?page&pageSize``, follow links.next).

One page per ``read_records`` call, so the CDK checkpoints after every page (resumable full refresh): the state
is ``{"next": "/v1/...?page=N..."}`` while a list is read and the CDK's completion marker once it is done.
Every next link -- from Kustomer or from saved state -- is resolved on the configured origin before it is
followed; a list that links back to a page already read, keeps returning records already read, or runs past
``MAX_LIST_PAGES`` pages stops with one clear error instead of looping.
"""

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, MutableMapping, Optional, Set

from airbyte_cdk.models import SyncMode
from kustomer_http.errors import config_error
from kustomer_http.origin import Origin, UnsafeUrl
from kustomer_http.responses import error_detail

from source_kustomer.link_trail import LinkTrail, list_error, path_of
from source_kustomer.streams.base import KustomerStream

FULL_REFRESH_COMPLETE = "__ab_full_refresh_sync_complete"
NO_NEW_RECORDS_LIMIT = 3


@dataclass(frozen=True)
class ListSpec:
    """A list endpoint: stream name, path under /v1/, and the largest pageSize it accepts."""

    name: str
    path: str
    max_page_size: int = 100


def list_state_link(stream: str, origin: Origin, state: Any) -> Optional[str]:
    """The link a saved list state resumes from (None: start from page 1); a config_error for state not ours."""
    if not state:
        return None
    if not isinstance(state, Mapping):
        raise config_error(f"The saved state of stream '{stream}' is not an object. Reset the state of '{stream}'.")
    if state.get(FULL_REFRESH_COMPLETE) is True and len(state) == 1:
        return None  # a finished list is read again in full: a full refresh always delivers the whole list
    if set(state) != {"next"}:
        raise config_error(
            f"The saved state of stream '{stream}' has keys {sorted(map(str, state))}; this connector writes only "
            f"'next' or '{FULL_REFRESH_COMPLETE}' for a list. Reset the state of '{stream}'."
        )
    try:
        return path_of(origin.resolve(state["next"]))
    except UnsafeUrl as reason:
        raise config_error(
            f"The saved state of stream '{stream}' has a next link that {reason}; the connector only follows links "
            f"on {origin.url}. Reset the state of '{stream}'."
        ) from None


class KustomerListStream(KustomerStream):
    """One list endpoint, one page per call; resumable by the next link."""

    def __init__(self, spec: ListSpec, *args: Any, **kwargs: Any) -> None:
        self.spec = spec
        self.max_page_size = spec.max_page_size
        self._next: Optional[str] = None  # path and query of the next page; None: page 1
        self._done = False
        self._trail = LinkTrail(f"list of {spec.name}")
        self._ids: Set[str] = set()
        self._idle_pages = 0
        super().__init__(*args, **kwargs)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def state(self) -> MutableMapping[str, Any]:
        if self._done:
            return {FULL_REFRESH_COMPLETE: True}
        return {"next": self._next} if self._next else {}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._next = list_state_link(self.name, self.connection.origin, value)
        self._done = False

    def path(self, **kwargs: Any) -> str:
        return self.spec.path

    def read_slice(self, sync_mode: SyncMode, stream_slice: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        """One page: the first, or the one the state points to (the CDK checkpoints after each)."""
        url = self.client.link_url(self._next or f"/v1/{self.path()}?page=1&pageSize={self.effective_page_size}")
        self._trail.enter(url)
        response = self.client.get(url)
        refusal = self.client.refusal(response)
        if refusal is not None or response.status_code == 404:
            if refusal is not None:
                self.skip(refusal)
            else:
                self.logger.warning(f"Skipping stream '{self.name}': Kustomer has no such list here (HTTP 404).")
            self._next, self._done = None, True
            return
        if response.status_code == 400:
            raise list_error(
                f"Kustomer rejected the request for the {self.name} list (HTTP 400: {error_detail(response)})"
            )
        page = self.parse_response(response)
        records = []
        for record in page:
            if not isinstance(record.get("id"), str) or not record["id"]:
                self.report_malformed(record, "it has no id")
            elif record["id"] not in self._ids:
                self._ids.add(record["id"])
                records.append(record)
        self._idle_pages = 0 if records or not page else self._idle_pages + 1
        if self._idle_pages >= NO_NEW_RECORDS_LIMIT:
            raise list_error(
                f"Kustomer's list of {self.name} returned only records already read, "
                f"{NO_NEW_RECORDS_LIMIT} pages in a row"
            )
        self.progress.records += len(records)
        yield from records
        link = self.next_page_token(response)
        if link is None:
            self._next, self._done = None, True
            self.progress.finish()
        else:
            self._next = path_of(self.client.link_url(link["next"]))
