"""Routing work items: Kustomer lists them only per conversation (``GET /v1/routing/conversations/{id}/work-items``).

The stream searches conversations exactly as the conversations stream does (keyset on updatedAt, archive for
the older ones) and reads each conversation's work items; its state is the updatedAt of the last conversation
whose work items were all emitted. Incremental syncs therefore rely on Kustomer updating a conversation when one
of its work items changes (routing assigns, queues and completes conversations); docs/kustomer-api-model.md
records that assumption and the simulator switch that breaks it. A full refresh reads every conversation's items.
"""

from typing import Any, Iterator, Mapping
from urllib.parse import quote

from kustomer_http.responses import error_detail

from source_kustomer.link_trail import LinkTrail, linked_pages, list_error
from source_kustomer.streams.search import KustomerSearchStream, SearchSpec

WORK_ITEMS_PAGE_SIZE = 100
MAX_PAGES_PER_CONVERSATION = 100
PARENT_CURSOR = "conversationUpdatedAt"
SPEC = SearchSpec("work_items", query_context="conversation", field_prefix="conversation", schema_name="work_items")


class WorkItemsStream(KustomerSearchStream):
    """Every work item of every conversation changed since the state's conversation updatedAt."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(SPEC, *args, **kwargs)

    @property
    def state_key(self) -> str:
        return PARENT_CURSOR

    @property
    def delivers_deletions(self) -> bool:  # type: ignore[override]
        return False

    @property
    def asks_for_deleted(self) -> bool:
        return True  # a conversation deleted into the trash keeps its routing history

    def emit(self, record: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        """The work items of one conversation (the cursor moves past it only after they are all out)."""
        conversation = quote(record["id"], safe="")
        first = f"/v1/routing/conversations/{conversation}/work-items?page=1&pageSize={WORK_ITEMS_PAGE_SIZE}"
        trail = LinkTrail(f"list of work items of conversation {record['id']}", max_pages=MAX_PAGES_PER_CONVERSATION)
        for response in linked_pages(self.client, first, trail):
            refusal = self.client.refusal(response)
            if refusal is not None:
                raise refusal
            if response.status_code == 404:
                return  # the conversation was deleted since it was found
            if response.status_code == 400:
                raise list_error(
                    f"Kustomer rejected the request for the work items of conversation {conversation} "
                    f"(HTTP 400: {error_detail(response)})"
                )
            for item in self.parse_response(response):
                if not isinstance(item.get("id"), str) or not item["id"]:
                    self.report_malformed(item, "it has no id")
                    continue
                self.progress.records += 1
                yield item
