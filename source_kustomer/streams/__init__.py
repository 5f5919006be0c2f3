"""Every Kustomer object the connector reads, declared in one line each."""

import re

from source_kustomer.streams.base import KustomerStream
from source_kustomer.streams.lists import KustomerListStream, ListSpec
from source_kustomer.streams.search import KustomerSearchStream, SearchSpec

LIST_STREAMS = (
    ListSpec("users", "users", max_page_size=500),
    ListSpec("teams", "teams", max_page_size=500),
    ListSpec("tags", "tags"),
    ListSpec("shortcuts", "shortcuts"),
    ListSpec("brands", "brands"),
    ListSpec("queues", "routing/queues"),
    ListSpec("klasses", "klasses"),
    ListSpec("satisfaction", "satisfaction"),
    ListSpec("slas", "slas"),
    ListSpec("business_schedules", "schedules"),
)

SEARCH_STREAMS = (
    SearchSpec("customers", query_context="customer", field_prefix="customer"),
    SearchSpec("conversations", query_context="conversation", field_prefix="conversation"),
    SearchSpec("messages", query_context="message", field_prefix="message"),
    SearchSpec("notes", query_context="note", field_prefix="note"),
    SearchSpec("companies", query_context="company", field_prefix="company"),
)


def kobject_spec(klass: str) -> SearchSpec:
    """The search stream of one custom object klass: ``kobjects_{klass}``."""
    stream_name = "kobjects_" + re.sub(r"[^a-z0-9_]+", "_", klass.lower()).strip("_")
    return SearchSpec(stream_name, query_context=f"kobject_{klass}", field_prefix="kobject", schema_name="kobjects")


__all__ = [
    "KustomerStream",
    "KustomerListStream",
    "KustomerSearchStream",
    "ListSpec",
    "SearchSpec",
    "LIST_STREAMS",
    "SEARCH_STREAMS",
    "kobject_spec",
]
