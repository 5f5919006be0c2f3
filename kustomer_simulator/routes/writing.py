"""What the write routes share: the body (bounded, JSON, held to the published schema), creates, updates, lookups by
key and bulk submissions, each answered as Kustomer does."""

import json
from typing import Any, List, Mapping
from urllib.parse import unquote

import orjson

from kustomer_simulator.collection import Collection
from kustomer_simulator.routes.base import ApiError, Reply, Request, bad_request, json_reply, not_found
from kustomer_simulator.timefmt import now_ms
from kustomer_simulator.write_contract import body_violation
from kustomer_simulator.writes import WriteRefused, kind_of


def _refused(refused: WriteRefused) -> ApiError:
    return ApiError(refused.status, "conflict" if refused.status == 409 else "not_found", "Refused", refused.detail)


def body_of(request: Request, coll: Collection, operation: str) -> Any:
    """The request's body, refused with 413 past ``--max-body-bytes`` and 400 unless the schema accepts it."""
    settings = request.settings.writes
    if settings.max_body_bytes and len(request.body) > settings.max_body_bytes:
        raise ApiError(
            413, "payload_too_large", "Payload Too Large", f"bodies are limited to {settings.max_body_bytes}"
        )
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise bad_request("the body is not JSON") from None
    violation = body_violation(
        kind_of(coll),
        operation,
        body,
        client_ref=settings.client_ref == "accepted",
        tree=settings.custom_tree == "accepted",
    )
    if violation:
        raise bad_request(f"invalid {operation.replace('_', ' ')} body: {violation}")
    return body


def created(request: Request, coll: Collection) -> Reply:
    """POST: create one record (201 with it), or 409 on a conflict the switches make one."""
    body = body_of(request, coll, "create")
    org = request.org
    with org.lock:
        try:
            i = org.store.create(coll, body, request.settings.writes, now_ms())
        except WriteRefused as refused:
            raise _refused(refused) from None
        return 201, orjson.dumps({"data": coll.render(i)}), 1


def updated(request: Request, coll: Collection, record_id: str) -> Reply:
    """PUT/PATCH by id: 200 with the updated record; 404 for an id that does not exist."""
    body = body_of(request, coll, "update")
    org = request.org
    with org.lock:
        i = coll.index_of(record_id)
        if i is None:
            raise not_found(request.path)
        try:
            org.store.update(coll, i, body, request.settings.writes, now_ms())
        except WriteRefused as refused:
            raise _refused(refused) from None
        return json_reply({"data": coll.render(i)}, 1)


def looked_up(request: Request, coll: Collection, key: str) -> Reply:
    """GET by externalId or email (the path's last segment, URL-encoded; an email in any case unless
    ``--email-case sensitive``): the record, or a miss as ``--lookup-miss`` says (200 with an empty ``data``
    object, or 404)."""
    value = unquote(request.params[key])
    org = request.org
    with org.lock:
        i = org.store.find(coll, key, value, request.settings.writes.email_case == "sensitive")
        if i is not None:
            return json_reply({"data": coll.render(i)}, 1)
    if request.settings.writes.lookup_miss == "404":
        raise not_found(request.path)
    return json_reply({"data": {}})


def bulk_submitted(request: Request, coll: Collection, operation: str, status: int = 201) -> Reply:
    """POST/PUT .../bulk: the job (``queued``, or ``complete`` under ``--bulk-mode sync``)."""
    items: List[Mapping[str, Any]] = body_of(request, coll, f"bulk_{operation}")
    if operation == "update" and request.query.get("ids"):
        raise bad_request("the simulator does not model ids= (the same data for many records)")
    org = request.org
    with org.lock:
        job = org.bulk.submit(org, coll, operation, items, request.settings.writes)
        return status, orjson.dumps({"data": job.render(org.org_id, now_ms())}), 0
