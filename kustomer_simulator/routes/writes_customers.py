"""Customers written through the API: create, update (PUT and PATCH), bulk create and update, and the lookups by
externalId and email a writer finds them with."""

from kustomer_simulator.routes.base import Reply, Request, bad_request
from kustomer_simulator.routes.writing import bulk_submitted, created, looked_up, updated


def _customers(request: Request):
    return request.org.collections["customers"]


def create(request: Request) -> Reply:
    """POST /v1/customers."""
    return created(request, _customers(request))


def update(request: Request) -> Reply:
    """PUT or PATCH /v1/customers/{id} (``replace=true``, replacing the whole document, is not modelled: 400)."""
    if request.query.get("replace") == "true":
        raise bad_request("the simulator does not model replace=true")
    return updated(request, _customers(request), request.params["id"])


def by_external_id(request: Request) -> Reply:
    """GET /v1/customers/externalId={externalId}."""
    return looked_up(request, _customers(request), "externalId")


def by_email(request: Request) -> Reply:
    """GET /v1/customers/email={email}."""
    return looked_up(request, _customers(request), "email")


def bulk_create(request: Request) -> Reply:
    """POST /v1/customers/bulk."""
    return bulk_submitted(request, _customers(request), "create")


def bulk_update(request: Request) -> Reply:
    """PUT /v1/customers/bulk."""
    return bulk_submitted(request, _customers(request), "update")
