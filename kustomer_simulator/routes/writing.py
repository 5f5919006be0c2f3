"""The write routes of customers, companies and custom objects, declared as handlers built per object: the body
(bounded, JSON, held to the published schema), creates, updates, lookups by key, the company list a writer finds
a company in, and bulk submissions, each answered as Kustomer does. ``kustomer_simulator.routes`` lists the rows."""

import json
from typing import Any, Callable, List, Mapping
from urllib.parse import unquote

import orjson

from kustomer_simulator.collection import Collection
from kustomer_simulator.routes.base import (
    ApiError,
    Handler,
    Reply,
    Request,
    bad_request,
    collection_or_404,
    json_reply,
    not_found,
    record_reply,
    serve_list,
)
from kustomer_simulator.timefmt import now_ms
from kustomer_simulator.write_contract import body_violation
from kustomer_simulator.writes import WriteRefused, kind_of

CollectionOf = Callable[[Request], Collection]  # the collection a request writes


def named(name: str) -> CollectionOf:
    """The collection ``name`` (customers, companies)."""
    return lambda request: request.org.collections[name]


def klass_objects(request: Request) -> Collection:
    """The custom objects of the klass the path names (404 for an unknown klass)."""
    return collection_or_404(request, f"kobjects_{request.params['name']}")


def _refused(refused: WriteRefused) -> ApiError:
    code = {404: "not_found", 409: "conflict", 429: "too_many_requests"}.get(refused.status, "refused")
    error = ApiError(refused.status, code, "Refused", refused.detail)
    if refused.retry_after is not None:
        error.headers["Retry-After"] = str(max(1, round(refused.retry_after)))
    return error


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


def create(collection_of: CollectionOf) -> Handler:
    """POST: create one record (201 with it), or 409/429 where the switches make one."""

    def handler(request: Request) -> Reply:
        coll = collection_of(request)
        body = body_of(request, coll, "create")
        org = request.org
        with org.lock:
            try:
                _, record = org.store.create(
                    coll, body, request.settings.writes, now_ms(), request.settings.minute_seconds
                )
            except WriteRefused as refused:
                raise _refused(refused) from None
        return 201, orjson.dumps({"data": record}), 1

    handler.__doc__ = create.__doc__
    return handler


def update(collection_of: CollectionOf, replace_param: bool = False) -> Handler:
    """PUT/PATCH by id: 200 with the updated record; 404 for an id that does not exist. With ``replace_param``
    (customers), ``replace=true`` -- replacing the whole document -- is not modelled (400)."""

    def handler(request: Request) -> Reply:
        if replace_param and request.query.get("replace") == "true":
            raise bad_request("the simulator does not model replace=true")
        coll = collection_of(request)
        body = body_of(request, coll, "update")
        org = request.org
        with org.lock:
            try:
                record = org.store.update_by_id(coll, request.params["id"], body, request.settings.writes, now_ms())
            except WriteRefused as refused:
                raise _refused(refused) from None
        return json_reply({"data": record}, 1)

    handler.__doc__ = update.__doc__
    return handler


def lookup(collection_of: CollectionOf, key: str) -> Handler:
    """GET by externalId or email (the path's last segment, URL-encoded; an email in any case unless
    ``--email-case sensitive``): the record, or a miss as ``--lookup-miss`` says (200 with an empty ``data``
    object, or 404). Under ``--agent-edits after-lookup`` an agent then edits the record found."""

    def handler(request: Request) -> Reply:
        coll = collection_of(request)
        value = unquote(request.params[key])
        org = request.org
        settings = request.settings.writes
        with org.lock:
            i = org.store.find(coll, key, value, settings.email_case == "sensitive")
            if i is not None:
                reply = json_reply({"data": coll.render(i)}, 1)
                org.store.after_lookup(coll, [i], settings, now_ms())
                return reply
        if settings.lookup_miss == "404":
            raise not_found(request.path)
        return json_reply({"data": {}})

    handler.__doc__ = lookup.__doc__
    return handler


def by_id(collection_of: CollectionOf) -> Handler:
    """GET by id (companies, custom objects): the record, live or soft-deleted; 404 for an id that does not exist.
    A writer reads an object again this way (after a stale ``rev``, or to check what an update changed)."""

    def handler(request: Request) -> Reply:
        coll = collection_of(request)
        with request.org.lock:
            return record_reply(request, coll, coll.index_of(request.params["id"]))

    handler.__doc__ = by_id.__doc__
    return handler


def companies(request: Request) -> Reply:
    """GET /v1/companies: every live company, or those ``externalId`` finds -- every one whose externalId starts
    with it, in any case (``--company-lookup prefix``, as the published example answers) or the exact one -- paged;
    ``filter`` alone is not modelled (400) and, as documented, giving both ignores both."""
    coll = request.org.collections["companies"]
    external_id, text = request.query.get("externalId"), request.query.get("filter")
    if text is not None and external_id is None:
        raise bad_request("the simulator does not model filter= on companies")
    if external_id is None or text is not None:
        return serve_list(request, coll, coll.live_indexes)
    store, settings = request.org.store, request.settings.writes
    found: List[int] = []

    def indexes():
        exact = store.find(coll, "externalId", external_id)
        matches = store.prefixed(coll, external_id) if settings.company_lookup == "prefix" else [exact]
        found.extend(i for i in matches if i is not None and i not in coll.deleted)
        return iter(found)

    reply = serve_list(request, coll, indexes, filters=("externalId",))
    with request.org.lock:
        store.after_lookup(coll, found, settings, now_ms())
    return reply


def bulk(collection_of: CollectionOf, operation: str, status: int = 201) -> Handler:
    """POST/PUT .../bulk: the job (``queued``, or ``complete`` under ``--bulk-mode sync``), answered ``status``."""

    def handler(request: Request) -> Reply:
        coll = collection_of(request)
        items: List[Mapping[str, Any]] = body_of(request, coll, f"bulk_{operation}")
        if operation == "update" and request.query.get("ids"):
            raise bad_request("the simulator does not model ids= (the same data for many records)")
        org = request.org
        with org.lock:
            job = org.bulk.submit(org, coll, operation, items, request.settings.writes, request.settings.minute_seconds)
            return status, orjson.dumps({"data": job.render(org.org_id, now_ms())}), 0

    handler.__doc__ = bulk.__doc__
    return handler
