"""Full-refresh streams over Kustomer's paged lists (``GET /v1/{path}?page&pageSize``, follow links.next).

Pages are read one after another, each by the link the page before gave. Some lists take a filter that splits
them (users: ``deleted=false`` then ``deleted=true``, as Kustomer lists deactivated users only when asked;
klasses: each ``status``): each such variant is read in turn, its filter sent with every page (a next link that drops it
gets it back). After every page the stream checkpoints the link of the page to read next (resumable full
refresh): the state is ``{"next": "/v1/...?page=N..."}`` while a list is read and the CDK's completion marker
once it is done. Every next link -- from Kustomer or from saved state -- is resolved on the configured origin
before it is followed; a list that links back to a page already read, keeps returning records already read,
sends a page longer than asked for, or runs past ``MAX_LIST_PAGES`` pages stops with one clear error instead of
looping; a refusal after the first page stops it too, so a partial list is never taken for a whole one.
"""

from dataclasses import dataclass
from typing import Any, Iterable, List, Mapping, MutableMapping, Optional, Set, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from kustomer_http.errors import config_error
from kustomer_http.origin import Origin, UnsafeUrl
from kustomer_http.pages import LinkTrail, list_error, path_of
from kustomer_http.responses import error_detail, response_json

from source_kustomer.streams.base import KustomerStream

FULL_REFRESH_COMPLETE = "__ab_full_refresh_sync_complete"
NO_NEW_RECORDS_LIMIT = 3
MAX_LIST_IDS = 2_000_000  # ids remembered per list and sync, to notice a list that repeats itself (~200 MB)
Variant = Mapping[str, str]


@dataclass(frozen=True)
class ListSpec:
    """A list endpoint: stream name, path under /v1/, the largest pageSize it accepts, and the filter of each pass."""

    name: str
    path: str
    max_page_size: int = 100
    variants: Tuple[Variant, ...] = ({},)


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


def _variant_of(link: str, variants: Tuple[Variant, ...]) -> int:
    """Which variant a link belongs to: the last one whose filter it carries (the unfiltered one otherwise)."""
    query = dict(parse_qsl(urlsplit(link).query))
    for index in range(len(variants) - 1, -1, -1):
        if variants[index] and all(query.get(k) == v for k, v in variants[index].items()):
            return index
    return 0


class KustomerListStream(KustomerStream):
    """One list endpoint, every variant in turn, checkpointed after each page."""

    def __init__(self, spec: ListSpec, *args: Any, **kwargs: Any) -> None:
        self.spec = spec
        self.max_page_size = spec.max_page_size
        self._next: Optional[str] = None  # path and query of the next page to read; None: the first variant's page 1
        self._done = False
        self._variant = 0
        self._url = ""  # the absolute URL of the page being read
        self._partial = False  # pages of this variant were read before this one (in this sync or the last)
        self._more = False  # the page just read links to a further page of its variant
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

    def _first_page(self, variant: int) -> str:
        query = urlencode({**self.spec.variants[variant], "page": 1, "pageSize": self.effective_page_size})
        return f"/v1/{self.spec.path}?{query}"

    def parts(self) -> List[Mapping[str, Any]]:
        """Each variant from the one the state points into."""
        start = _variant_of(self._next, self.spec.variants) if self._next else 0
        return [{"variant": n} for n in range(start, len(self.spec.variants))]

    def read_part(self, part: Mapping[str, Any]) -> Iterable[Any]:
        """Every page of one variant, its filter sent with each (a next link that drops it gets it back)."""
        self._variant = part["variant"]
        resume = self._next if self._next and _variant_of(self._next, self.spec.variants) == self._variant else None
        self._partial = bool(resume) and resume != self._first_page(self._variant)
        self._enter(resume or self._first_page(self._variant))
        self._more = True
        while self._more:
            response = self.client.get(self._url, params=self.spec.variants[self._variant])
            yield from self._page(response.request, response)

    def _enter(self, link: str) -> None:
        self._url = self.client.link_url(link)
        parts = urlsplit(self._url)
        query = {**dict(parse_qsl(parts.query)), **self.spec.variants[self._variant]}
        self._trail.enter(f"{parts.path}?{urlencode(sorted(query.items()))}")  # the page as it is asked for

    def _page(self, request: requests.PreparedRequest, response: requests.Response) -> Iterable[Any]:
        partial, self._partial, self._more = self._partial, True, False
        refusal = self.client.refusal(response)
        if refusal is not None or response.status_code == 404:
            if partial:
                raise list_error(
                    f"Kustomer answered HTTP {response.status_code} ({error_detail(response)}) for a page of the "
                    f"{self.name} list after earlier pages were read; it is not taken as the end of the list"
                )
            if refusal is not None:
                raise refusal
            self.logger.warning(f"Skipping stream '{self.name}': Kustomer has no such list here (HTTP 404).")
            self._finish_variant()
            return
        if response.status_code == 400:
            raise list_error(
                f"Kustomer rejected the request for the {self.name} list (HTTP 400: {error_detail(response)})"
            )
        page = self.parse_response(response)
        asked = _page_size_of(request) or self.effective_page_size
        if len(page) > asked:
            raise list_error(f"Kustomer's {self.name} list sent a page of {len(page):,} records, {asked:,} asked for")
        records = self._new_records(page)
        self.progress.records += len(records)
        yield from records
        links = response_json(response).get("links")
        link = links.get("next") if isinstance(links, Mapping) else None
        if link:
            self._enter(link)
            self._next, self._more = path_of(self._url), True
        else:
            self._finish_variant()
        yield self.checkpoint()

    def _finish_variant(self) -> None:
        if self._variant + 1 < len(self.spec.variants):
            self._next = self._first_page(self._variant + 1)
        else:
            self._next, self._done = None, True

    def _new_records(self, page: List[MutableMapping[str, Any]]) -> List[MutableMapping[str, Any]]:
        records = []
        for record in page:
            if not isinstance(record.get("id"), str) or not record["id"]:
                self.report_malformed(record, "it has no id")
            elif record["id"] not in self._ids:
                if len(self._ids) >= MAX_LIST_IDS:
                    raise list_error(f"Kustomer's {self.name} list holds more than {MAX_LIST_IDS:,} records")
                self._ids.add(record["id"])
                records.append(record)
        self._idle_pages = 0 if records or not page else self._idle_pages + 1
        if self._idle_pages >= NO_NEW_RECORDS_LIMIT:
            raise list_error(
                f"Kustomer's list of {self.name} returned only records already read, "
                f"{NO_NEW_RECORDS_LIMIT} pages in a row"
            )
        return records


def _page_size_of(request: requests.PreparedRequest) -> Optional[int]:
    value = dict(parse_qsl(urlsplit(request.url or "").query)).get("pageSize")
    return int(value) if value and value.isdigit() else None
