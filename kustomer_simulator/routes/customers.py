"""A customer by id, a customer's notes, and customer merges."""

import orjson

from kustomer_simulator.routes.base import (
    LIST_PAGE_MAX,
    Reply,
    Request,
    found_or_404,
    json_reply,
    list_page,
    list_paging,
    record_reply,
)
from kustomer_simulator.routes.lists import children
from kustomer_simulator.timefmt import now_ms


def customer(request: Request) -> Reply:
    """GET /v1/customers/{id}: 404 once hard-deleted; a customer merged away still answers 200 with the record as it
    was, or 404, as ``--merged-lookup`` says (Kustomer documents only the 200)."""
    org = request.org
    coll = org.collections["customers"]
    with org.lock:
        i = coll.issued(request.params["id"])
        if i is not None and i in coll.removed:
            still_served = i in org.merged_into and request.settings.merged_lookup == 200
            i = i if still_served else None
        return record_reply(request, coll, i)


def notes(request: Request) -> Reply:
    """GET /v1/customers/{id}/notes."""
    return children(request, "notes", "customer", "customers")


def merges(request: Request) -> Reply:
    """GET /v1/customers/{id}/merges: the merges the customer was the source of, or (``--merges-listed-for both``)
    either side of; paged like other lists."""
    page, size = list_paging(request, LIST_PAGE_MAX)
    org = request.org
    with org.lock:
        found = org.merges.of_customer(request.params["id"], request.settings.merges_listed_for)
        now = now_ms()
        data = [orjson.dumps(m.render(org.org_id, now)) for m in found[(page - 1) * size : page * size]]
    return list_page(request, page, size, data, more=len(found) > page * size)


def merge(request: Request) -> Reply:
    """GET /v1/customers/merges/{id}."""
    org = request.org
    with org.lock:
        found = found_or_404(request, org.merges.get(request.params["id"]))
        return json_reply({"data": found.render(org.org_id, now_ms())}, 1)
