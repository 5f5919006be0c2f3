"""Full-refresh streams over Kustomer's paged lists (``GET /v1/{path}?page&pageSize``, follow links.next).

A list stream is a ``ListSpec`` row read through one ``ListPages``: the paginator of that list, whose job is the
next request given the last response. Pages are read one after another, each by the link the page before gave.
Some lists take a filter that splits them (users: ``deleted=false`` then ``deleted=true``, as Kustomer lists
deactivated users only when asked; klasses: each ``status``): each such variant is read in turn, its filter sent
with every page (a next link that drops it gets it back). After every page the stream checkpoints the link of the
page to read next, with its variant's filter (resumable full refresh): the state is ``{"next": "/v1/...?page=N..."}``
while a list is read and the CDK's completion marker once it is done. A link an earlier version saved without its
filter, in a list whose variants all filter, cannot say which variant it was in: that list starts over. Every next
link -- from Kustomer or from saved state -- is resolved on the configured origin before it is followed; a list
that links back to a page already read, keeps returning records already read, sends a page longer than asked for,
or runs past ``MAX_LIST_PAGES`` pages stops with one clear error instead of looping; a refusal after the first page
stops it too, so a partial list is never taken for a whole one.
"""

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Set, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from kustomer_http.connection import KustomerClient, KustomerConnection
from kustomer_http.errors import config_error
from kustomer_http.origin import Origin, UnsafeUrl
from kustomer_http.pages import LinkTrail, list_error, path_of
from kustomer_http.responses import error_detail, response_json

from source_kustomer.streams.base import KustomerStream

FULL_REFRESH_COMPLETE = "__ab_full_refresh_sync_complete"
NO_NEW_RECORDS_LIMIT = 3
MAX_LIST_IDS = 2_000_000  # ids remembered per list and sync, to notice a list that repeats itself (~200 MB)
Variant = Mapping[str, str]
Record = MutableMapping[str, Any]


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


def _variant_of(link: str, variants: Tuple[Variant, ...]) -> Optional[int]:
    """Which variant a link belongs to: the last one whose filter it carries, else the unfiltered one (or the only
    one); None when the link carries none of several filters (it cannot say which it was saved in)."""
    query = dict(parse_qsl(urlsplit(link).query))
    for index in range(len(variants) - 1, -1, -1):
        if variants[index] and all(query.get(k) == v for k, v in variants[index].items()):
            return index
    unfiltered = [index for index, variant in enumerate(variants) if not variant]
    if unfiltered or len(variants) == 1:
        return unfiltered[0] if unfiltered else 0
    return None


def with_filter(link: str, variant: Variant) -> str:
    """``link`` (a path and query) carrying ``variant``'s filter, as it is saved and asked for."""
    parts = urlsplit(link)
    query = {**dict(parse_qsl(parts.query)), **variant}
    return f"{parts.path}?{urlencode(query)}" if query else parts.path


@dataclass(frozen=True)
class ListPage:
    """What is kept of one page of a list: its records not read before, and the next link it gave (None on the
    last page of its variant)."""

    records: List[Record]
    next: Any


def _page_size_of(url: str) -> Optional[int]:
    value = dict(parse_qsl(urlsplit(url).query)).get("pageSize")
    return int(value) if value and value.isdigit() else None


class ListPages:
    """The paginator of one list: the next request, given the last response.

    ``url`` is the page to ask for next (None once the last variant's last page is read), sent with ``filter``;
    ``read(response)`` checks the page that came back and returns its new records and next link; ``follow(link)``
    then moves on -- to the link Kustomer gave, to the next variant, or to the end. It holds what keeps a list finite
    and whole: the loop guard (no page twice, at most ``MAX_LIST_PAGES``), the size cap (no page longer than asked
    for), the repeat check (at most ``MAX_LIST_IDS`` ids, and never ``NO_NEW_RECORDS_LIMIT`` pages in a row of ids
    already read), and ``state``, the resumable position (``{"next": link}``, then the CDK's completion marker).
    """

    def __init__(
        self,
        spec: ListSpec,
        client: KustomerClient,
        page_size: int,
        parse: Callable[[requests.Response], List[Record]],
        on_malformed: Callable[[Any, str], None],
        logger: logging.Logger,
    ) -> None:
        self.spec = spec
        self.client = client
        self.page_size = page_size
        self.parse = parse
        self.on_malformed = on_malformed
        self.logger = logger
        self.variant = 0
        self.link: Optional[str] = None  # path and query of the page read next, as saved; None: page 1 of a variant
        self.done = False
        self._url: Optional[str] = None  # the absolute URL of the page to ask for, once entered into the trail
        self._partial = False  # pages of this variant were read before the one asked for (in this sync or the last)
        self._trail = LinkTrail(f"list of {spec.name}")
        self._ids: Set[str] = set()
        self._idle_pages = 0

    @property
    def state(self) -> MutableMapping[str, Any]:
        """Where the list resumes."""
        if self.done:
            return {FULL_REFRESH_COMPLETE: True}
        return {"next": self.link} if self.link else {}

    def resume(self, link: Optional[str]) -> None:
        """Start from ``link`` (a saved state's, already resolved on the origin), or from the first page."""
        self.link, self.done, self._url = link, False, None
        variant = _variant_of(link, self.spec.variants) if link else 0
        if variant is None:
            filters = " or ".join(urlencode(v) for v in self.spec.variants)
            self.logger.warning(
                f"Stream '{self.spec.name}': the saved position {link} does not say which part of the list "
                f"({filters}) it was in (an earlier version saved it without its filter), so the list is read again "
                "from its first page."
            )
            self.link, variant = None, 0
        self.variant = variant

    @property
    def filter(self) -> Variant:
        """The filter of the variant being read, sent with every page of it."""
        return self.spec.variants[self.variant]

    @property
    def url(self) -> Optional[str]:
        """The absolute URL of the next page to ask for; None when the list is read."""
        if self.done:
            return None
        if self._url is None:
            self._enter(self.link or self._first_page(self.variant))
        return self._url

    def read(self, response: requests.Response) -> Optional[ListPage]:
        """The page just asked for, checked: its records not read before and its next link; None when Kustomer has
        no such list here (nothing was read: the list moves on to its next variant, or ends). The response is not
        kept: once read, it can go."""
        refusal = self.client.refusal(response)
        if refusal is not None or response.status_code == 404:
            if self._partial:
                raise list_error(
                    f"Kustomer answered HTTP {response.status_code} ({error_detail(response)}) for a page of the "
                    f"{self.spec.name} list after earlier pages were read; it is not taken as the end of the list"
                )
            if refusal is not None:
                raise refusal
            self.logger.warning(f"Skipping stream '{self.spec.name}': Kustomer has no such list here (HTTP 404).")
            self._finish_variant()
            return None
        if response.status_code == 400:
            raise list_error(
                f"Kustomer rejected the request for the {self.spec.name} list (HTTP 400: {error_detail(response)})"
            )
        page = self.parse(response)
        asked = _page_size_of(self._url or "") or self.page_size
        if len(page) > asked:
            raise list_error(
                f"Kustomer's {self.spec.name} list sent a page of {len(page):,} records, {asked:,} asked for"
            )
        links = response_json(response).get("links")
        return ListPage(self._new_records(page), links.get("next") if isinstance(links, Mapping) else None)

    def follow(self, link: Any) -> None:
        """Move on from the page just read: to ``link``, the next link it gave (checked), else to the next variant
        or the end."""
        if link:
            self._enter(link)
            self.link = with_filter(path_of(self._url), self.filter)  # type: ignore[arg-type]
        else:
            self._finish_variant()

    def _first_page(self, variant: int) -> str:
        query = urlencode({**self.spec.variants[variant], "page": 1, "pageSize": self.page_size})
        return f"/v1/{self.spec.path}?{query}"

    def _enter(self, link: str) -> None:
        """Make ``link`` the page asked for next: on the origin, never a page already read, within the bound."""
        url = self.client.link_url(link)
        parts = urlsplit(url)
        query = {**dict(parse_qsl(parts.query)), **self.filter}
        self._trail.enter(f"{parts.path}?{urlencode(sorted(query.items()))}")  # the page as it is asked for
        self._partial = self._url is not None or link != self._first_page(self.variant)
        self._url = url

    def _finish_variant(self) -> None:
        self._url = None
        if self.variant + 1 < len(self.spec.variants):
            self.variant += 1
            self.link = self._first_page(self.variant)
        else:
            self.link, self.done = None, True

    def _new_records(self, page: List[Record]) -> List[Record]:
        records = []
        for record in page:
            if not isinstance(record.get("id"), str) or not record["id"]:
                self.on_malformed(record, "it has no id")
            elif record["id"] not in self._ids:
                if len(self._ids) >= MAX_LIST_IDS:
                    raise list_error(f"Kustomer's {self.spec.name} list holds more than {MAX_LIST_IDS:,} records")
                self._ids.add(record["id"])
                records.append(record)
        self._idle_pages = 0 if records or not page else self._idle_pages + 1
        if self._idle_pages >= NO_NEW_RECORDS_LIMIT:
            raise list_error(
                f"Kustomer's list of {self.spec.name} returned only records already read, "
                f"{NO_NEW_RECORDS_LIMIT} pages in a row"
            )
        return records


class KustomerListStream(KustomerStream):
    """One list endpoint, every variant in turn, checkpointed after each page: a ``ListSpec`` and its pages."""

    def __init__(self, spec: ListSpec, connection: KustomerConnection) -> None:
        self.spec = spec
        self.max_page_size = spec.max_page_size
        super().__init__(connection)
        self.pages = ListPages(
            spec, self.client, self.effective_page_size, self.page_records, self.report_malformed, self.logger
        )

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self.pages.state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self.pages.resume(list_state_link(self.name, self.connection.origin, value))

    def read_part(self, part: Mapping[str, Any]) -> Iterable[Any]:
        """Every page of every variant, each followed by the list's position."""
        while (url := self.pages.url) is not None:
            yield from self._page(url)

    def _page(self, url: str) -> Iterator[Any]:
        """One page's records, then the list's position. Its response goes once read, the page when this ends:
        nothing of it is held while the next page is asked for."""
        page = self.pages.read(self.client.get(url, params=self.pages.filter))
        if page is None:
            return
        self.progress.records += len(page.records)
        yield from page.records
        self.pages.follow(page.next)
        yield self.checkpoint()
