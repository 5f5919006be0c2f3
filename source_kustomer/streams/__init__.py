"""Every Kustomer object the connector reads, declared in one line each, and the streams one command builds from
those tables (``catalog_streams``): the same for discover and read."""

import re
from typing import Dict, List, Tuple

from kustomer_http.connection import KustomerConnection
from kustomer_http.definitions import KLASS_STATUSES
from kustomer_http.errors import config_error
from kustomer_http.responses import AUTH_MESSAGE

from source_kustomer.discovery import CustomFieldTypes, list_klasses
from source_kustomer.streams.audit_logs import AuditLogsStream
from source_kustomer.streams.base import KustomerStream
from source_kustomer.streams.conversation_children import ChildSpec, ConversationChildStream
from source_kustomer.streams.included import IncludedSpec, IncludedStream
from source_kustomer.streams.lists import KustomerListStream, ListSpec
from source_kustomer.streams.metadata import CustomAttributeMetadataStream
from source_kustomer.streams.routing import WorkItemsStream, WorkSessionsStream
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
    ListSpec("snoozes", "snoozes"),
    ListSpec("cards", "cards"),
    ListSpec("team_routing_settings", "routing/settings"),
    ListSpec("routing_statuses", "routing/statuses"),
    ListSpec("queue_rules", "routing/queue-rules"),
)
_LISTED = {spec.name: spec for spec in LIST_STREAMS}
# Records Kustomer serves only inside their parent's answer (GET /v1/slas/{id}?versions=all, /v1/schedules/{id}).
INCLUDED_STREAMS = (
    IncludedSpec("sla_versions", _LISTED["slas"], {"versions": "all"}, "sla_version", named_by="versions"),
    IncludedSpec("business_holidays", _LISTED["business_schedules"], {"include": "holidays"}, "holiday"),
)
# Lists under each conversation changed since the position (GET /v1/conversations/{id}/...).
CONVERSATION_CHILD_STREAMS = (
    ChildSpec("conversation_events", "events", "events"),
    ChildSpec("message_attachments", "attachments", "attachments", dropped_links=("related",)),
)

# metadata_resource: Kustomer documents custom attribute metadata (GET /v1/metadata/{resource}) for these objects only.
SEARCH_STREAMS = (
    SearchSpec("customers", query_context="customer", field_prefix="customer", metadata_resource="customer"),
    SearchSpec(
        "conversations", query_context="conversation", field_prefix="conversation", metadata_resource="conversation"
    ),
    SearchSpec("messages", query_context="message", field_prefix="message", metadata_resource="message"),
    SearchSpec("notes", query_context="note", field_prefix="note", archived=False),
    SearchSpec("companies", query_context="company", field_prefix="company", metadata_resource="company"),
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
        metadata_resource=f"kobject.{klass}",
    )


def catalog_streams(connection: KustomerConnection) -> List[KustomerStream]:
    """Every stream of this org: the list, search, included and conversation-child tables, one kobjects_* stream
    per klass, work items and sessions, the audit log and the custom attribute definitions. Asks whether the key is
    valid (a config_error if not) and lists the klasses; custom attribute types are fetched when a schema is first
    asked for (or all at once by ``prefetch_custom_types``)."""
    client = connection.client("discover")
    if not client.key_is_valid():  # (the answer also tells the budget the org's limit)
        raise config_error(AUTH_MESSAGE)
    klasses = list_klasses(client)
    types = CustomFieldTypes(client)
    names = kobject_stream_names([(klass.name, klass.id) for klass in klasses])
    searches = list(SEARCH_STREAMS) + [kobject_spec(names[k.name], k.name, k.status) for k in klasses]
    return [
        *(KustomerListStream(spec, connection) for spec in LIST_STREAMS),
        *(KustomerSearchStream(spec, connection, types) for spec in searches),
        *(IncludedStream(spec, connection) for spec in INCLUDED_STREAMS),
        *(ConversationChildStream(spec, connection) for spec in CONVERSATION_CHILD_STREAMS),
        WorkItemsStream(connection),
        WorkSessionsStream(connection),
        AuditLogsStream(connection),
        CustomAttributeMetadataStream(connection, [klass.name for klass in klasses]),
    ]


def prefetch_custom_types(streams: List[KustomerStream]) -> None:
    """Fetch the custom attribute definitions ``streams`` are typed by, several at once."""
    typed = [stream for stream in streams if stream.custom_types is not None and stream.metadata_resource]
    if typed:
        typed[0].custom_types.prefetch(sorted({stream.metadata_resource for stream in typed}))  # type: ignore


__all__ = [
    "KustomerStream",
    "KustomerListStream",
    "KustomerSearchStream",
    "ListSpec",
    "SearchSpec",
    "LIST_STREAMS",
    "SEARCH_STREAMS",
    "INCLUDED_STREAMS",
    "CONVERSATION_CHILD_STREAMS",
    "catalog_streams",
    "kobject_spec",
    "kobject_stream_names",
    "prefetch_custom_types",
]
