"""Custom objects written through the API: create, update, bulk create and update, and the lookup by externalId
(``/v1/klasses/{name}/...``; an unknown klass is 404)."""

from kustomer_simulator.collection import Collection
from kustomer_simulator.routes.base import Reply, Request, collection_or_404
from kustomer_simulator.routes.writing import bulk_submitted, created, looked_up, updated


def _kobjects(request: Request) -> Collection:
    return collection_or_404(request, f"kobjects_{request.params['name']}")


def create(request: Request) -> Reply:
    """POST /v1/klasses/{name}."""
    return created(request, _kobjects(request))


def update(request: Request) -> Reply:
    """PUT /v1/klasses/{name}/{id}."""
    return updated(request, _kobjects(request), request.params["id"])


def by_external_id(request: Request) -> Reply:
    """GET /v1/klasses/{name}/externalId={externalId}."""
    return looked_up(request, _kobjects(request), "externalId")


def bulk_create(request: Request) -> Reply:
    """POST /v1/klasses/{name}/bulk."""
    return bulk_submitted(request, _kobjects(request), "create")


def bulk_update(request: Request) -> Reply:
    """PUT /v1/klasses/{name}/bulk (answered 200, as published, where the other bulk requests answer 201)."""
    return bulk_submitted(request, _kobjects(request), "update", status=200)
