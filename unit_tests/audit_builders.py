"""Builders for the audit-log, deletion and merge tests: entries, the exact audit-log requests the connector makes,
merge records, and reads of the real source."""

import json
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.mock_http import HttpResponse
from airbyte_cdk.test.state_builder import StateBuilder

from source_kustomer import SourceKustomer
from unit_tests.conftest import NOW_ISO, catalog, config, error, get, page, search

SINCE = "2026-05-28T10:00:00.000Z"  # within one audit window (a week) of now
ASKED_FROM = "2026-05-28T09:59:59.999Z"
UNTIL = "2026-06-01T11:55:00.000Z"  # now less the publish lag the connector allows (5 minutes)
ASKED_TO = "2026-06-01T12:00:00.001Z"
MERGE_SOURCE, MERGE_TARGET, BYSTANDER = "a" * 24, "b" * 24, "c" * 24


def seconds(at: str) -> int:
    """The epoch second of an ISO time."""
    return int(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp())


def object_id(second: int, serial: int = 0) -> str:
    """An ObjectId of ``second``: 8 hex digits of it, then 16 of ``serial``."""
    return f"{second:08x}{serial:016x}"


def entry(
    verb: str,
    object_type: str,
    object_id_: str,
    published: str,
    created: Optional[str] = "",
    serial: int = 0,
    changes: Optional[dict] = None,
    stored: Optional[str] = None,
) -> dict:
    """An audit entry as Kustomer sends it: an ObjectId minted when it is ``stored`` (default: ``published``);
    createdAt earlier or absent."""
    attributes: Dict[str, Any] = {"eventVerb": verb, "objectType": object_type, "objectId": object_id_}
    if created is not None:
        attributes["createdAt"] = created or published
    attributes["publishedAt"] = published
    if changes is not None:
        attributes["changes"] = changes
    return {"type": "audit_log", "id": object_id(seconds(stored or published), serial), "attributes": attributes}


def _shifted(at: str, by_seconds: int) -> int:
    moment = datetime.fromisoformat(at.replace("Z", "+00:00")) + timedelta(seconds=by_seconds)
    return int(moment.timestamp() // 1)


def audit(
    before: Optional[str] = None,
    types: Optional[List[str]] = None,
    low: str = ASKED_FROM,
    high: str = ASKED_TO,
    form: str = "cursors",
):
    """The exact audit-log request the connector builds (it never follows Kustomer's next link): ``after`` and
    ``before`` ids three seconds wider than the dates (``form`` cursors), or the published form (``before`` alone,
    none on a first page)."""
    query: Dict[str, str] = {"count": "1000"}
    if types:
        query["filter[objectType]"] = types[0]
        if len(types) > 1:
            query["filter[include]"] = ",".join(types[1:])
    query.update({"filter[start]": low, "filter[end]": high})
    if form == "cursors":
        query["after"] = object_id(_shifted(low, -3))
        query["before"] = before or object_id(_shifted(high, 3))
    elif before:
        query["before"] = before
    return get("audit-logs", **query)


def audit_state(cursor: str = SINCE):
    return StateBuilder().with_stream_state("audit_logs", {"createdAt": cursor}).build()


def records_search(http_mocker, context: str, records: List[dict]) -> None:
    criteria = [{f"{context}_updated_at": {"gte": SINCE}}, {f"{context}_updated_at": {"lte": NOW_ISO}}]
    request = search(context, criteria)
    request._body = {**request._body, "includeDeleted": True}
    http_mocker.post(request, page(records))


def metadata(http_mocker, *resources: str) -> None:
    for name in resources:
        http_mocker.get(get(f"metadata/{name}"), error(404))


def deletions_read(streams: List[str], **overrides: Any):
    """A read of ``streams`` with sync_deletes, from SINCE (records and deletions)."""
    builder = StateBuilder()
    for name in streams:
        builder = builder.with_stream_state(name, {"updatedAt": SINCE, "deletionsSince": SINCE})
    return read(
        SourceKustomer(),
        config(sync_deletes=True, **overrides),
        catalog(*streams, mode=SyncMode.incremental),
        builder.build(),
        expecting_exception=True,
    )


def merge_record(n: int, source: str, target: str, status: str = "success", created: str = "") -> dict:
    """A customer_merge record."""
    return {
        "type": "customer_merge",
        "id": f"{n:024x}",
        "attributes": {"status": status, "createdAt": created or "2026-05-30T00:00:01.000Z"},
        "relationships": {
            "source": {"links": {"self": f"/v1/customers/{source}"}, "data": {"type": "customer", "id": source}},
            "target": {"links": {"self": f"/v1/customers/{target}"}, "data": {"type": "customer", "id": target}},
        },
    }


def merges_page(records: List[dict]) -> HttpResponse:
    return HttpResponse(json.dumps({"data": records, "links": {"next": None}, "meta": {"page": 1}}), 200)


def merges_of(customer: str):
    """The request for a customer's merge records."""
    return get(f"customers/{customer}/merges", page=1, pageSize=100)


def merge_entry(serial: int = 5, changes: Optional[dict] = None, at: str = "2026-05-30T00:00:00.000Z") -> dict:
    """A merge entry on the kept customer naming the one merged away (the connector's first guess of the shape)."""
    if changes is None:
        changes = {"relationships": {"mergedCustomers": {"op": "add", "before": [BYSTANDER], "after": [MERGE_SOURCE]}}}
    return entry("merge", "customer", MERGE_TARGET, at, serial=serial, changes=changes)


def markers(output) -> List[tuple]:
    return [
        (m.record.data["id"], m.record.data["_ab_cdc_deleted_at"])
        for m in output.records
        if "_ab_cdc_deleted_at" in m.record.data
    ]


def warnings(output) -> List[str]:
    return [m.log.message for m in output.logs if m.log.level.name == "WARN"]


def include_proof(http_mocker, types: List[str], newest: Optional[Dict[str, dict]] = None, comes_back: bool = True):
    """The requests proving filter[include] (once a sync, before a combined pass): the newest entry of each included
    type, then that entry asked for through the include (``comes_back``: whether it is answered)."""
    for kind in types[1:]:
        found = (newest or {}).get(kind)
        http_mocker.get(get("audit-logs", count=1, **{"filter[objectType]": kind}), page([found] if found else []))
        if found:
            number = int(found["id"], 16)
            combined = {"filter[objectType]": types[0], "filter[include]": ",".join(types[1:])}
            cursors = {"after": f"{number - 1:024x}", "before": f"{number + 1:024x}"}
            http_mocker.get(get("audit-logs", count=1, **combined, **cursors), page([found] if comes_back else []))
