"""Companies written through the API: create, update (PUT, ``deleted`` included), bulk create and update, and the
list a writer finds one in by externalId (``GET /v1/companies?externalId=``)."""

from kustomer_simulator.routes.base import Reply, Request, bad_request, serve_list
from kustomer_simulator.routes.writing import bulk_submitted, created, updated


def _companies(request: Request):
    return request.org.collections["companies"]


def companies(request: Request) -> Reply:
    """GET /v1/companies: every live company, or those with ``externalId``; ``filter`` alone is not modelled (400)
    and, as documented, giving both ignores both."""
    coll = _companies(request)
    external_id, text = request.query.get("externalId"), request.query.get("filter")
    if text is not None and external_id is None:
        raise bad_request("the simulator does not model filter= on companies")
    if external_id is None or text is not None:
        return serve_list(request, coll, coll.live_indexes)
    store = request.org.store

    def indexes():
        found = store.find(coll, "externalId", external_id)
        return iter(()) if found is None or found in coll.deleted else iter((found,))

    return serve_list(request, coll, indexes, filters=("externalId",))


def create(request: Request) -> Reply:
    """POST /v1/companies."""
    return created(request, _companies(request))


def update(request: Request) -> Reply:
    """PUT /v1/companies/{id}."""
    return updated(request, _companies(request), request.params["id"])


def bulk_create(request: Request) -> Reply:
    """POST /v1/companies/bulk."""
    return bulk_submitted(request, _companies(request), "create")


def bulk_update(request: Request) -> Reply:
    """PUT /v1/companies/bulk."""
    return bulk_submitted(request, _companies(request), "update")
