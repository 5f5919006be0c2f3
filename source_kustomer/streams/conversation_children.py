"""What Kustomer lists under a conversation: its change history (``GET /v1/conversations/{id}/events``) and the
attachments of its messages (``GET /v1/conversations/{id}/attachments``), read for every conversation changed since
the stream's position.

The conversations come from their own exact search (the verifying keyset reader, trashed conversations included: a
conversation in the trash keeps its history), from the position (less the lookback) on; each one's list is read
page by page (``links.next``, at most ``MAX_PAGES_PER_CONVERSATION`` pages, none twice, none longer than asked for),
``CHILDREN_IN_FLIGHT`` conversations at a time, and emitted in the search's order. The position
(``conversationUpdatedAt``) moves to a point of the search only once every conversation before it is emitted. Each
record gets the conversation it was read from (``conversationId``) and that conversation's ``updatedAt`` when it was
read (``conversationUpdatedAt``, the cursor). A sync sends at most ``MAX_CHILD_REQUESTS`` requests for the lists;
reaching that saves the position and stops the stream with one clear error, and the next sync continues.

Kustomer does not say whether every new event or attachment moves its conversation's ``updatedAt``; its published
example of a conversation's events shows a change (its customer replaced) that did not. An incremental sync reads
the children of conversations whose ``updatedAt`` moved; a child that did not move it arrives with the
conversation's next change or a full refresh. An attachment listed without an ``id`` (the published example's
shape) is identified by the last segment of its ``links.self``; its pre-signed download link (``links.related``,
valid 10 minutes) is not synced: useless after that, and a credential to the file until then.
"""

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Deque, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Set, Tuple, Union
from urllib.parse import quote

from airbyte_cdk.models import AirbyteMessage
from kustomer_http import timestamps
from kustomer_http.connection import KustomerConnection
from kustomer_http.pages import LinkTrail, linked_pages, list_error
from kustomer_http.responses import error_detail

from source_kustomer.streams.base import KustomerStream
from source_kustomer.streams.children import (
    MAX_CHILD_REQUESTS,
    BudgetedClient,
    BudgetSpent,
    RequestBudget,
    identified,
)
from source_kustomer.streams.search import CURSOR, KustomerSearchStream, SearchSpec, search_state

CONVERSATIONS = SearchSpec("conversations", query_context="conversation", field_prefix="conversation")
POSITION = "conversationUpdatedAt"
CHILD_PAGE_SIZE = 100  # the documented default of both lists (no maximum is published)
MAX_PAGES_PER_CONVERSATION = 100
CHILDREN_IN_FLIGHT = 8  # conversations whose lists are read at once (their requests are independent)
Record = MutableMapping[str, Any]


@dataclass(frozen=True)
class ChildSpec:
    """A list under each conversation: stream name, path segment, what it lists (for messages), links not synced."""

    name: str
    path: str
    what: str
    dropped_links: Tuple[str, ...] = ()


@dataclass
class _Children:
    """The records listed under one conversation, as fetched."""

    records: List[Record] = field(default_factory=list)
    gone: bool = False  # the conversation was deleted between the search and its list


class ParentConversations(KustomerSearchStream):
    """The conversations whose children a child stream reads: the conversations' exact search, trashed ones included;
    its pages count as the child stream's, its records are not the child stream's."""

    @property
    def asks_for_deleted(self) -> bool:
        return True

    def emit(self, record: Mapping[str, Any]) -> Mapping[str, Any]:
        return record


class ConversationChildStream(KustomerStream):
    """The records listed under every conversation changed since the position, in the conversations' order."""

    def __init__(self, spec: ChildSpec, connection: KustomerConnection) -> None:
        self.spec = spec
        self._position: Optional[str] = None
        self._read = 0
        self._gone = 0
        super().__init__(connection)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def cursor_field(self) -> str:  # type: ignore[override]
        return POSITION

    @property
    def state(self) -> MutableMapping[str, Any]:
        return {POSITION: self._position} if self._position else {}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._position, _ = search_state(self.name, value, timestamps.utc_now(), POSITION)

    def read_part(self, part: Mapping[str, Any]) -> Iterable[Any]:
        """The children of every conversation the search finds, within the sync's budget of requests."""
        parent = ParentConversations(CONVERSATIONS, self.connection)
        parent.progress = self.progress
        parent.sync_mode = self.sync_mode
        parent.state = {CURSOR: self._position} if self._position else {}
        budget = RequestBudget(MAX_CHILD_REQUESTS)
        clients = [
            BudgetedClient(self.connection.client(f"{self.name}-{n}", self.rate_stats), budget)
            for n in range(CHILDREN_IN_FLIGHT)
        ]
        pending: Deque[Union[Future, str]] = deque()
        spent = False
        with ThreadPoolExecutor(CHILDREN_IN_FLIGHT, thread_name_prefix=self.name) as pool:
            try:
                for found in self._conversations(parent):
                    if isinstance(found, str):
                        pending.append(found)  # reached once every conversation before it is out
                        continue
                    if budget.spent:
                        spent = True
                        break
                    pending.append(pool.submit(self._children, clients[self._read % CHILDREN_IN_FLIGHT], found))
                    self._read += 1
                    while sum(isinstance(p, Future) for p in pending) >= CHILDREN_IN_FLIGHT:
                        yield from self._emit_next(pending)
                while pending:
                    yield from self._emit_next(pending)
            except BudgetSpent:  # a conversation's list was cut short: it and those after it wait for the next sync
                spent = True
                for waiting in pending:
                    if isinstance(waiting, Future):
                        waiting.cancel()
            finally:
                if self._gone:
                    self.logger.info(
                        f"Stream '{self.name}': {self._gone} conversations were deleted before their "
                        f"{self.spec.what} were read (skipped)."
                    )
        if spent:
            raise budget.reached(self.name, f"the {self.spec.what} of {self._read:,} conversations", self._position)

    @staticmethod
    def _conversations(parent: ParentConversations) -> Iterator[Union[Mapping[str, Any], str]]:
        """The conversations the search finds, and between them the positions it reaches."""
        for phase in parent.parts():
            for found in parent.read_part(phase):
                if not isinstance(found, AirbyteMessage):
                    yield found
                    continue
                position = found.state.stream.stream_state.__dict__.get(CURSOR)  # type: ignore[union-attr]
                if position:
                    yield position

    def _emit_next(self, pending: Deque[Union[Future, str]]) -> Iterator[Any]:
        head = pending.popleft()
        if isinstance(head, str):
            self._position = head
            yield self.checkpoint()
            return
        fetched: _Children = head.result()
        self._gone += fetched.gone
        for record in fetched.records:
            self.progress.records += 1
            yield record

    def _children(self, client: BudgetedClient, conversation: Mapping[str, Any]) -> _Children:
        """Every record listed under one conversation (in a pool thread; nothing is emitted here)."""
        conversation_id = str(conversation["id"])
        quoted = quote(conversation_id, safe="")
        first = f"/v1/conversations/{quoted}/{self.spec.path}?page=1&pageSize={CHILD_PAGE_SIZE}"
        what = f"{self.spec.what} of conversation {conversation_id}"
        trail = LinkTrail(f"list of {what}", max_pages=MAX_PAGES_PER_CONVERSATION)
        fetched = _Children()
        seen: Set[str] = set()
        for response in linked_pages(client, first, trail):  # type: ignore[arg-type]
            refusal = client.refusal(response)
            if refusal is not None:
                raise refusal
            if response.status_code == 404:
                if client.get(self.client.api_url(f"conversations/{quoted}")).status_code == 404:
                    return _Children(gone=True)
                raise list_error(f"Kustomer answered HTTP 404 for the {what}, though the conversation exists")
            if response.status_code >= 400:
                detail = error_detail(response)
                raise list_error(f"Kustomer answered HTTP {response.status_code} ({detail}) for the {what}")
            page = self.page_records(response)
            if len(page) > CHILD_PAGE_SIZE:
                raise list_error(f"Kustomer sent {len(page):,} {what} on one page, {CHILD_PAGE_SIZE} asked for")
            for record in page:
                record_id = identified(record)
                if record_id is None:
                    self.report_malformed(record, "it has no id, and no links.self to take one from")
                elif record_id not in seen:
                    seen.add(record_id)
                    fetched.records.append(self._as_synced(record, record_id, conversation))
        return fetched

    def _as_synced(self, record: Record, record_id: str, conversation: Mapping[str, Any]) -> Record:
        record["id"] = record_id
        record[POSITION] = conversation.get(CURSOR)
        record["conversationId"] = conversation["id"]
        links = record.get("links")
        if isinstance(links, MutableMapping):
            for name in self.spec.dropped_links:
                links.pop(name, None)
        return record
