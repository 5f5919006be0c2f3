"""Routing: work items and work sessions, by search where this sync's evidence allows, by their lists otherwise.

Kustomer's search request schema accepts ``queryContext`` ``work_item`` and ``work_session``, but the reference
names no field of either and says sorting by attributes other than the listed ``customer_*`` ones is unavailable;
the one public client that searches both against real orgs sends no sort, only ``<object>_..._at`` gte/lte in day
windows. So each sync first asks (``search_path`` in ``routing_proof.py``, two searches; three when the sort is
refused): does page 1 of the window, asked in order of ``<object>_updated_at``, lie inside the window, and does a
narrower filter (past its lowest ``updatedAt``) leave that record out? Each record is checked against its own
``updatedAt``, the attribute the field names (Kustomer names search fields after attributes:
``conversation_time_handle_at`` holds ``handleAt``); no other time stands in for it, as none dates a change. Then:

* the filter and the order proven (page 1 links on and is ascending over ``SORT_PROOF_VALUES`` values): read like
  every search stream, by the verifying keyset reader;
* the filter proven but not the order (refused, ignored, or too little to tell): read in time ranges like
  conversation times (``KeysetReader.read_by_ranges``), every page checked against its range. A past range can
  only lose records (a change moves a record past the window), so a range read in full holds every one left;
* neither (rejected, out of range, not narrowed, or records with no ``updatedAt`` to check): the sync warns once,
  naming why, and reads the documented lists instead:

  - work items: ``GET /v1/routing/conversations/{id}/work-items`` for every conversation changed since the
    state's ``conversationUpdatedAt``, found by the conversations' own exact search, up to ``ITEMS_IN_FLIGHT``
    conversations at a time, emitted in conversation order; the position moves past a conversation only once its
    items and every earlier conversation's are out. That relies on a work item's change also updating its
    conversation, which Kustomer does not promise (wrap-up and completion need not): a full refresh reads every
    item. A 404 for a conversation's items is never "nothing there": only a conversation that is gone is skipped;
    for a live one the list is asked again, and if it stays 404 the position is held before it (and said so).
  - work sessions: ``GET /v1/routing/work-sessions?user=false&active=false`` (every agent's sessions, ended ones
    too -- Kustomer states no defaults for either filter), read in full.

The path taken is the stream's ``read_path`` in the sync's summary. Kustomer keeps neither in its archive search:
items and sessions last changed more than two years ago are not synced by search, and the sync says so.
"""

from abc import abstractmethod
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Deque, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Union
from urllib.parse import quote

from airbyte_cdk.models import AirbyteMessage
from kustomer_http import timestamps
from kustomer_http.connection import KustomerClient, KustomerConnection
from kustomer_http.pages import LinkTrail, linked_pages, list_error
from kustomer_http.responses import error_detail
from kustomer_http.timestamps import instant, kustomer_time, moment_of

from source_kustomer.streams.lists import FULL_REFRESH_COMPLETE, KustomerListStream, ListSpec
from source_kustomer.streams.routing_proof import FALLBACK, SORTED, search_path
from source_kustomer.streams.search import CURSOR, KustomerSearchStream, SearchSpec, search_state

ITEMS_SPEC = SearchSpec(
    "work_items", query_context="work_item", field_prefix="work_item", schema_name="work_items", archived=False
)
SESSIONS_SPEC = SearchSpec(
    "work_sessions",
    query_context="work_session",
    field_prefix="work_session",
    schema_name="work_sessions",
    archived=False,
)
CONVERSATIONS_SPEC = SearchSpec("conversations", query_context="conversation", field_prefix="conversation")
SESSIONS_LIST = ListSpec("work_sessions", "routing/work-sessions", variants=({"user": "false", "active": "false"},))
PARENT_CURSOR = "conversationUpdatedAt"
WORK_ITEMS_PAGE_SIZE = 100
MAX_PAGES_PER_CONVERSATION = 100
ITEMS_IN_FLIGHT = 8  # conversations whose work items are fetched at once (their requests are independent)
MISSING_RETRIES = 2  # a 404 for a live conversation's work items is asked again this many times


class RoutingSearchStream(KustomerSearchStream):
    """A routing stream: by search on the path this sync proves (``search_path``), else by ``fallback``."""

    def __init__(self, spec: SearchSpec, connection: KustomerConnection) -> None:
        self._base_spec = spec
        super().__init__(spec, connection)

    @property
    def delivers_deletions(self) -> bool:  # type: ignore[override]
        return False

    def parts(self) -> List[Mapping[str, Any]]:
        return [{self.name: True}]

    def read_part(self, part: Mapping[str, Any]) -> Iterable[Any]:
        """By search on the path this sync proves, else the fallback (one warning naming why)."""
        self.spec = self._base_spec
        path = search_path(self)
        if path.how == FALLBACK:
            self.progress.read_path = f"{self.fallback_name} (search refused: {path.reason})"
            self.logger.warning(
                f"Stream '{self.name}': Kustomer's search for {self.spec.query_context} cannot be trusted in this "
                f"sync: {path.reason}. Reading {self.fallback_description} instead."
            )
            yield from self.fallback()
            return
        self.spec = replace(self._base_spec, sorted=path.how == SORTED)
        if path.how == SORTED:
            self.progress.read_path = f"by search, in order of {self.spec.time_field}"
        else:
            self.progress.read_path = f"by search, in time ranges of {self.spec.time_field} ({path.reason})"
            self.logger.info(
                f"Stream '{self.name}': reading by search in time ranges, no order relied on: {path.reason}."
            )
        for phase in super().parts():
            yield from super().read_part(phase)
        yield from self.after_search()

    def after_search(self) -> Iterable[Any]:
        """What follows a read by search (nothing by default)."""
        return ()

    @property
    @abstractmethod
    def fallback_name(self) -> str:
        """The fallback read, in a few words for the summary."""

    @property
    @abstractmethod
    def fallback_description(self) -> str:
        """The fallback read, as the object of the warning's "Reading … instead"."""

    @abstractmethod
    def fallback(self) -> Iterable[Any]:
        """The records when search cannot be trusted in this sync."""


class _Conversations(KustomerSearchStream):
    """The conversations whose work items a fallback reads: the conversations stream's exact search, counted as
    the work items stream's pages (its records are not the work items stream's records)."""

    @property
    def asks_for_deleted(self) -> bool:
        return True  # a conversation deleted into the trash keeps its routing history

    def emit(self, record: Mapping[str, Any]) -> Mapping[str, Any]:
        return record


@dataclass
class _Items:
    """The work items of one conversation, as fetched."""

    conversation: Mapping[str, Any]
    items: List[MutableMapping[str, Any]] = field(default_factory=list)
    gone: bool = False  # the conversation itself no longer exists
    missing: bool = False  # it exists, yet its work items kept answering 404


class WorkItemsStream(RoutingSearchStream):
    """Every work item changed since the state, by search; or every item of the conversations changed since it."""

    fallback_name = "per conversation"
    fallback_description = (
        "each changed conversation's work items (GET /v1/routing/conversations/{id}/work-items); work-item changes "
        "that do not update their conversation wait for a full refresh"
    )

    def __init__(self, connection: KustomerConnection) -> None:
        self._parent_cursor: Optional[str] = None
        self._held_before: Optional[int] = None  # a conversation whose items could not be read (microseconds)
        self._missing = 0
        self._gone = 0
        super().__init__(ITEMS_SPEC, connection)

    @property
    def state(self) -> MutableMapping[str, Any]:
        state: MutableMapping[str, Any] = {CURSOR: self._cursor} if self._cursor else {}
        if self._parent_cursor:
            state[PARENT_CURSOR] = self._parent_cursor
        return state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        now = timestamps.utc_now()
        if value and PARENT_CURSOR in value:
            self._parent_cursor, _ = search_state(self.name, value, now, PARENT_CURSOR)
        cursor = {CURSOR: value[CURSOR]} if value and CURSOR in value else {}
        self._incoming, _ = search_state(self.name, cursor, now, CURSOR)
        # A state from before work items were searched has only the conversations' position: items changed since
        # then are exactly those to read.
        self._incoming = self._incoming or self._parent_cursor
        self._cursor = value.get(CURSOR) if value else None

    def after_search(self) -> Iterable[Any]:
        self._parent_cursor = None  # the item cursor is exact; a later fallback can start from it
        yield self.checkpoint()

    def fallback(self) -> Iterable[Any]:
        return self._per_conversation()

    # ---- fallback -------------------------------------------------------------------------------------------
    def _per_conversation(self) -> Iterator[Any]:
        parent = _Conversations(CONVERSATIONS_SPEC, self.connection)
        parent.progress = self.progress
        parent.sync_mode = self.sync_mode
        start = self._parent_cursor or self._cursor
        parent.state = {CURSOR: start} if start else {}
        pending: Deque[Union[Future, AirbyteMessage]] = deque()
        clients = [self.connection.client(f"{self.name}-{n}", self.rate_stats) for n in range(ITEMS_IN_FLIGHT)]
        with ThreadPoolExecutor(ITEMS_IN_FLIGHT, thread_name_prefix=f"{self.name}-items") as pool:
            submitted = 0
            for phase in parent.parts():
                for message in parent.read_part(phase):
                    if isinstance(message, AirbyteMessage):
                        pending.append(message)  # the conversations' position, once every item before it is out
                        continue
                    pending.append(pool.submit(self._items_of, clients[submitted % ITEMS_IN_FLIGHT], message))
                    submitted += 1
                    while sum(isinstance(p, Future) for p in pending) >= ITEMS_IN_FLIGHT:
                        yield from self._emit_next(pending)
            while pending:
                yield from self._emit_next(pending)
        if self._missing or self._gone:
            self.logger.warning(
                f"Stream '{self.name}': {self._gone} conversations were deleted while their work items were read "
                f"(skipped); {self._missing} exist but their work items kept answering 404"
                + (
                    f", so the position stays before {kustomer_time(moment_of(self._held_before))} and the next sync "
                    "asks again."
                    if self._held_before is not None
                    else "."
                )
            )

    def _emit_next(self, pending: Deque[Union[Future, AirbyteMessage]]) -> Iterator[Any]:
        head = pending.popleft()
        if isinstance(head, AirbyteMessage):
            self._hold_parent_position(head.state.stream.stream_state.__dict__.get(CURSOR))  # type: ignore[union-attr]
            yield self.checkpoint()
            return
        fetched: _Items = head.result()
        if fetched.gone:
            self._gone += 1
        if fetched.missing:
            self._missing += 1
            moment = instant(fetched.conversation.get(CURSOR))
            if moment is not None and (self._held_before is None or moment < self._held_before):
                self._held_before = moment
        for item in fetched.items:
            self.progress.records += 1
            yield item

    def _hold_parent_position(self, position: Optional[str]) -> None:
        """Move the conversations' position to ``position``, never past a conversation whose items are missing."""
        if position is None:
            return
        if self._held_before is not None and (instant(position) or 0) >= self._held_before:
            position = kustomer_time(moment_of(self._held_before - 1000))
        if self._parent_cursor is None or (instant(position) or 0) > (instant(self._parent_cursor) or 0):
            self._parent_cursor = position

    def _items_of(self, client: KustomerClient, conversation: Mapping[str, Any]) -> _Items:
        """Every work item of one conversation (in a pool thread; nothing is emitted here)."""
        fetched = _Items(conversation)
        conversation_id = quote(str(conversation["id"]), safe="")
        first = f"/v1/routing/conversations/{conversation_id}/work-items?page=1&pageSize={WORK_ITEMS_PAGE_SIZE}"
        for attempt in range(MISSING_RETRIES + 1):
            fetched.items.clear()
            trail = LinkTrail(
                f"list of work items of conversation {conversation['id']}", max_pages=MAX_PAGES_PER_CONVERSATION
            )
            missing = False
            for response in linked_pages(client, first, trail):
                refusal = client.refusal(response)
                if refusal is not None:
                    raise refusal
                if response.status_code == 404:
                    missing = True
                    break
                if response.status_code == 400:
                    raise list_error(
                        f"Kustomer rejected the request for the work items of conversation {conversation_id} "
                        f"(HTTP 400: {error_detail(response)})"
                    )
                page = self.page_records(response)
                if len(page) > WORK_ITEMS_PAGE_SIZE:
                    raise list_error(
                        f"Kustomer sent {len(page):,} work items of conversation {conversation_id} on one page, "
                        f"{WORK_ITEMS_PAGE_SIZE} asked for"
                    )
                for item in page:
                    if not isinstance(item.get("id"), str) or not item["id"]:
                        self.report_malformed(item, "it has no id")
                    else:
                        fetched.items.append(item)
            if not missing:
                return fetched
            if not self._conversation_exists(client, conversation_id):
                fetched.items.clear()
                fetched.gone = True
                return fetched
            if attempt < MISSING_RETRIES:
                self.logger.info(
                    f"Conversation {conversation_id} exists but its work items answered 404; asking again."
                )
        fetched.items.clear()
        fetched.missing = True
        return fetched

    @staticmethod
    def _conversation_exists(client: KustomerClient, conversation_id: str) -> bool:
        """Whether ``GET /v1/conversations/{id}`` finds the conversation (anything but 404 counts as yes)."""
        return client.get(client.api_url(f"conversations/{conversation_id}")).status_code != 404


def list_state_of_sessions(state: Any) -> bool:
    """Whether a work_sessions state was written when the stream was a list (version 0.x): it is then dropped."""
    return isinstance(state, Mapping) and bool(state) and set(state) <= {"next", FULL_REFRESH_COMPLETE}


class WorkSessionsStream(RoutingSearchStream):
    """Every work session changed since the state, by search; or, where search cannot be trusted, all of them
    from their list (user=false&active=false), the state then left where it was."""

    fallback_name = "from the list"
    fallback_description = "every session from GET /v1/routing/work-sessions?user=false&active=false"

    def __init__(self, connection: KustomerConnection) -> None:
        super().__init__(SESSIONS_SPEC, connection)

    @property
    def state(self) -> MutableMapping[str, Any]:
        return super().state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        if list_state_of_sessions(value):
            self.logger.info("Stream 'work_sessions' was a list in an earlier version; it starts over from start_date.")
            value = {}
        KustomerSearchStream.state.fset(self, value)  # type: ignore[attr-defined]

    def fallback(self) -> Iterable[Any]:
        listing = KustomerListStream(SESSIONS_LIST, self.connection)
        listing.progress = self.progress  # the list counts its pages and records as this stream's
        for record in listing.read_part({}):
            if not isinstance(record, AirbyteMessage):
                yield record  # the list's own position is not this stream's state
