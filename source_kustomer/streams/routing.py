"""Routing: work items and work sessions, by search where Kustomer honours it, by their lists otherwise.

Kustomer's search request schema accepts ``queryContext`` ``work_item`` and ``work_session``, and a public client
searches both against real orgs, but the reference names no field of either. So each sync first asks two
questions of the search (``search_refusal``): is page 1 of the window, sorted by ``<object>_updated_at``, inside
the window and ascending, and does a narrower filter (after its last value) narrow it? Only then is the stream
read like every search stream (the verifying keyset reader, incremental on ``updatedAt``, exact for every
change). Otherwise the sync warns once, naming why, and reads the documented lists instead:

* work items: ``GET /v1/routing/conversations/{id}/work-items`` for every conversation changed since the
  state's ``conversationUpdatedAt``, found by the conversations' own exact search, up to ``ITEMS_IN_FLIGHT``
  conversations at a time, emitted in conversation order; the position moves past a conversation only once its
  items and every earlier conversation's are out. That relies on a work item's change also updating its
  conversation, which Kustomer does not promise (wrap-up and completion need not): a full refresh reads every
  item. A 404 for a conversation's items is never taken as "nothing there": the conversation is looked up, and
  only if it is gone are its items skipped; if it exists, the list is asked again, and if it stays 404 the
  position is held before that conversation for this sync (and the sync says so).
* work sessions: ``GET /v1/routing/work-sessions?user=false&active=false`` (every agent's sessions, ended ones
  too -- Kustomer states no defaults for either filter), read in full.

Kustomer keeps neither in its archive search: items and sessions last changed more than two years ago are not
synced by search, and the sync says so.
"""

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Deque, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Union
from urllib.parse import quote

from airbyte_cdk.models import AirbyteMessage
from kustomer_http import timestamps
from kustomer_http.connection import KustomerClient, KustomerConnection
from kustomer_http.pages import LinkTrail, linked_pages, list_error
from kustomer_http.responses import error_detail
from kustomer_http.timestamps import instant, kustomer_time, moment_of

from source_kustomer.keyset import Bound, ContractBroken, KeyRange, SearchRejected, SortKey, verified_records
from source_kustomer.streams.lists import FULL_REFRESH_COMPLETE, KustomerListStream, ListSpec
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


def search_refusal(stream: KustomerSearchStream) -> Optional[str]:
    """Why this sync cannot read ``stream`` by search (None: page 1 and a narrowed page 1 prove it can)."""
    low, high = stream.window(stream.sync_mode, timestamps.utc_now())
    key = SortKey(stream.spec.time_field, CURSOR)
    window = KeyRange(key, Bound(kustomer_time(low)), Bound(kustomer_time(high)))
    field_name = key.search_field
    try:
        first = stream.fetch_page(window.criteria(), field_name, 1)
        good, _ = verified_records(first.records, (window,), key)
        if len({record[CURSOR] for record in good}) < 2 or not first.has_next:
            return None  # too little to tell a filter from none; every record read is still verified
        last = good[-1][CURSOR]
        narrowed = KeyRange(key, Bound(last, inclusive=False), window.high)
        after = stream.fetch_page(narrowed.criteria(), field_name, 1)
        verified_records(after.records, (narrowed,), key)
        if after.total is not None and first.total is not None and after.total >= first.total:
            return f"a filter on {field_name} did not narrow its results ({after.total} of {first.total})"
    except SearchRejected as rejected:
        return f"it rejected a search by {field_name} ({rejected})"
    except ContractBroken as broken:
        return f"it did not filter or sort by {field_name} ({broken})"
    return None


def _fallback_warning(stream: KustomerSearchStream, reason: str, instead: str) -> None:
    stream.logger.warning(
        f"Stream '{stream.name}': Kustomer's search for {stream.spec.query_context} cannot be trusted in this sync: "
        f"{reason}. Reading {instead} instead."
    )


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


class WorkItemsStream(KustomerSearchStream):
    """Every work item changed since the state, by search; or every item of the conversations changed since it."""

    def __init__(self, connection: KustomerConnection) -> None:
        self._parent_cursor: Optional[str] = None
        self._held_before: Optional[int] = None  # a conversation whose items could not be read (microseconds)
        self._missing = 0
        self._gone = 0
        super().__init__(ITEMS_SPEC, connection)

    @property
    def delivers_deletions(self) -> bool:  # type: ignore[override]
        return False

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

    def parts(self) -> List[Mapping[str, Any]]:
        return [{"work_items": True}]

    def read_part(self, part: Mapping[str, Any]) -> Iterable[Any]:
        """By search when this sync proves it can be, else per conversation."""
        reason = search_refusal(self)
        if reason is None:
            for phase in super().parts():
                yield from super().read_part(phase)
            self._parent_cursor = None  # the item cursor is exact; a later fallback can start from it
            yield self.checkpoint()
            return
        _fallback_warning(
            self,
            reason,
            "each changed conversation's work items (GET /v1/routing/conversations/{id}"
            "/work-items); work-item changes that do not update their conversation wait for a full "
            "refresh",
        )
        yield from self._per_conversation()

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


class WorkSessionsStream(KustomerSearchStream):
    """Every work session changed since the state, by search; or, where search cannot be trusted, all of them
    from their list (user=false&active=false), the state then left where it was."""

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

    @property
    def delivers_deletions(self) -> bool:  # type: ignore[override]
        return False

    def parts(self) -> List[Mapping[str, Any]]:
        return [{"work_sessions": True}]

    def read_part(self, part: Mapping[str, Any]) -> Iterable[Any]:
        """By search when this sync proves it can be, else the whole list."""
        reason = search_refusal(self)
        if reason is None:
            for phase in super().parts():
                yield from super().read_part(phase)
            return
        _fallback_warning(self, reason, "every session from GET /v1/routing/work-sessions?user=false&active=false")
        listing = KustomerListStream(SESSIONS_LIST, self.connection)
        listing.progress = self.progress  # the list counts its pages and records as this stream's
        for record in listing.read_part({}):
            if not isinstance(record, AirbyteMessage):
                yield record  # the list's own position is not this stream's state
