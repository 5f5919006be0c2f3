"""Deletions as Airbyte delete markers: soft deletes from search, hard deletes and merges from the audit log.

A delete marker is a record with the object's ``id``, the cursor (``updatedAt``) set to the time of the deletion,
and ``_ab_cdc_deleted_at`` set to that time: a deduplicating destination then removes the row.

Hard deletes leave a trace only in the audit log (``GET /v1/audit-logs``), newest first, paged by ``before`` ids.
Kustomer documents filtering it by ``objectType`` only for some objects (company, conversation, customer, message),
so only their hard deletes are read. A customer merged into another leaves the log either a delete entry for the
customer merged away or only a merge entry (Kustomer does not document which; see docs/kustomer-api-model.md):
every customer a merge entry names is looked up (``GET /v1/customers/{id}``) and the ones that are gone become
delete markers. Entries expire after about a year: deletions older than that are gone from Kustomer too.
"""

import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Mapping, MutableMapping, Optional

from kustomer_http.connection import KustomerClient
from kustomer_http.timestamps import instant

from source_kustomer.audit_log import AuditRefused, audit_entries

DELETED_AT = "_ab_cdc_deleted_at"
# Search streams whose hard deletes the audit log can be asked for, and the objectType filter of each.
AUDIT_OBJECT_TYPES = {
    "customers": "customer",
    "conversations": "conversation",
    "messages": "message",
    "companies": "company",
}
DELETE_VERB = "delete"
MERGE_VERB = "merge"
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
MAX_MERGE_CANDIDATES = 10  # customers looked up per merge entry, at most


@dataclass(frozen=True)
class Deletion:
    """One object that was deleted, and when."""

    object_id: str
    object_type: str
    at: str

    def marker(self) -> MutableMapping[str, Any]:
        """The delete marker for this object."""
        return {"id": self.object_id, "type": self.object_type, "updatedAt": self.at, DELETED_AT: self.at}


def soft_deletion(record: Mapping[str, Any]) -> Optional[Deletion]:
    """The deletion a soft-deleted search record stands for (None for a live record)."""
    if record.get("deleted") is not True:
        return None
    at = record["updatedAt"]  # a soft delete updates the record: its place in the search order
    return Deletion(record["id"], str(record.get("type") or ""), at)


def hard_deletions(
    client: KustomerClient, object_type: str, since: str, until: str, on_page: Callable[[float], None]
) -> Iterator[Deletion]:
    """Every delete of ``object_type`` logged between ``since`` and ``until`` (inclusive), each object once.

    ``on_page`` is told of every request (for the stream's progress). The log is verified as it is read (see
    audit_log); a page that breaks its order or dates stops the stream, whose audit position then does not move.
    """
    found: Dict[str, Deletion] = {}
    merges: Dict[str, str] = {}  # customers a merge entry names -> when (looked up after the log is read)
    for entry in audit_entries(client, since, until, on_page, object_type):
        attributes = entry["attributes"]
        object_id = attributes.get("objectId")
        if attributes.get("objectType") != object_type:
            continue
        if attributes.get("eventVerb") == DELETE_VERB:
            if isinstance(object_id, str) and object_id and object_id not in found:
                found[object_id] = Deletion(object_id, object_type, attributes["createdAt"])
        elif attributes.get("eventVerb") == MERGE_VERB and object_type == "customer":
            for candidate in _named_ids(object_id, attributes.get("changes")):
                merges.setdefault(candidate, attributes["createdAt"])
    for candidate, at in merges.items():
        if candidate not in found and _customer_is_gone(client, candidate, on_page):
            found[candidate] = Deletion(candidate, object_type, at)
    yield from sorted(found.values(), key=lambda deletion: instant(deletion.at) or 0)


def _named_ids(object_id: Any, changes: Any) -> List[str]:
    """The object ids a merge entry names: its objectId and every id-shaped text in its changes."""
    named: List[str] = []
    pending = [object_id, changes]
    while pending and len(named) < MAX_MERGE_CANDIDATES:
        value = pending.pop()
        if isinstance(value, str) and OBJECT_ID.match(value) and value not in named:
            named.append(value)
        elif isinstance(value, Mapping):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return named


def _customer_is_gone(client: KustomerClient, customer_id: str, on_page: Callable[[float], None]) -> bool:
    """Whether ``GET /v1/customers/{id}`` says the customer no longer exists (404)."""
    response = client.get(client.api_url(f"customers/{customer_id}"))
    on_page(time.monotonic())
    refusal = client.refusal(response)
    if refusal is not None:
        raise AuditRefused(refusal.reason)
    return response.status_code == 404
