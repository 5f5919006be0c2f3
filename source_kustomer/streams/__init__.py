"""Every Kustomer object the connector reads, declared in one line each."""

import re
from typing import Dict, List, Tuple

from kustomer_http.definitions import KLASS_STATUSES

from source_kustomer.streams.base import KustomerStream
from source_kustomer.streams.lists import KustomerListStream, ListSpec
from source_kustomer.streams.search import KustomerSearchStream, SearchSpec

# Kustomer lists deactivated users only with deleted=true (and active ones with deleted=false); klasses by status,
# enabled only unless asked.
USER_VARIANTS = ({"deleted": "false"}, {"deleted": "true"})
LIST_STREAMS = (
    ListSpec("users", "users", max_page_size=500, variants=USER_VARIANTS),
    ListSpec("teams", "teams", max_page_size=500),
    ListSpec("tags", "tags"),
    ListSpec("shortcuts", "shortcuts"),
    ListSpec("brands", "brands"),
    ListSpec("queues", "routing/queues"),
    ListSpec("klasses", "klasses", variants=tuple({"status": status} for status in KLASS_STATUSES)),
    ListSpec("satisfaction", "satisfaction"),
    ListSpec("slas", "slas"),
    ListSpec("business_schedules", "schedules"),
)

SEARCH_STREAMS = (
    SearchSpec("customers", query_context="customer", field_prefix="customer"),
    SearchSpec("conversations", query_context="conversation", field_prefix="conversation"),
    SearchSpec("messages", query_context="message", field_prefix="message"),
    SearchSpec("notes", query_context="note", field_prefix="note", archived=False),
    SearchSpec("companies", query_context="company", field_prefix="company"),
    # Written once, dated by createdAt; sorting by it is undocumented, and Kustomer keeps none older than two years.
    SearchSpec(
        "conversation_times",
        query_context="conversation_time",
        field_prefix="conversation_time",
        cursor="createdAt",
        archived=False,
        sorted=False,
    ),
)

# Kustomer documents custom attribute metadata (GET /v1/metadata/{resource}) for these objects only.
METADATA_RESOURCES = {
    "customers": "customer",
    "conversations": "conversation",
    "messages": "message",
    "companies": "company",
}


def _normalized(klass: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", klass.lower()).strip("_") or "klass"


def kobject_stream_names(klasses: List[Tuple[str, str]]) -> Dict[str, str]:
    """Stream names for (klass name, klass id) pairs: ``kobjects_<name>``, unique and stable.

    Names are lower-cased and every run of other characters becomes ``_``. When several klasses normalise to
    the same text (``order-item``, ``order_item``, ``Order Item``), the one whose name is already normal keeps
    the plain name -- failing that, the one with the smallest id (the oldest) -- and each other one gets the
    last six characters of its klass id appended: ``kobjects_order_item_3f9a2c``.
    """
    groups: Dict[str, List[Tuple[str, str]]] = {}
    for name, klass_id in klasses:
        groups.setdefault(_normalized(name), []).append((name, klass_id))
    names: Dict[str, str] = {}
    taken = {f"kobjects_{normal}" for normal in groups}
    for normal, members in sorted(groups.items()):
        members.sort(key=lambda member: (member[0] != normal, member[1]))
        names[members[0][0]] = f"kobjects_{normal}"
        for name, klass_id in members[1:]:
            candidate = f"kobjects_{normal}_{klass_id[-6:].lower()}"
            if candidate in taken:  # a klass really named like that: fall back to the whole id
                candidate = f"kobjects_{normal}_{_normalized(klass_id)}"
            taken.add(candidate)
            names[name] = candidate
    return names


def kobject_spec(stream_name: str, klass: str, status: str = "enabled") -> SearchSpec:
    """The search stream of one custom object klass (its status said in the stream's description)."""
    return SearchSpec(
        stream_name,
        query_context=f"kobject_{klass}",
        field_prefix="kobject",
        schema_name="kobjects",
        description=f"Custom objects of the Kustomer klass '{klass}' (klass status: {status}).",
    )


__all__ = [
    "KustomerStream",
    "KustomerListStream",
    "KustomerSearchStream",
    "ListSpec",
    "SearchSpec",
    "LIST_STREAMS",
    "METADATA_RESOURCES",
    "SEARCH_STREAMS",
    "kobject_spec",
    "kobject_stream_names",
]
