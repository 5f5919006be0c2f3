"""A bulk job (``GET /v1/bulk/{id}``) and its results (``GET /v1/bulk/{id}/batches``)."""

from kustomer_simulator.routes.base import Reply, Request, json_reply, not_found
from kustomer_simulator.timefmt import now_ms


def job(request: Request) -> Reply:
    """The job: queued, running or complete."""
    org = request.org
    with org.lock:
        found = org.bulk.get(request.params["id"])
        if found is None:
            raise not_found(request.path)
        return json_reply({"data": found.render(org.org_id, now_ms())}, 1)


def batches(request: Request) -> Reply:
    """The job's completed batches, each with its success and failure counts and per-item results."""
    org = request.org
    with org.lock:
        found = org.bulk.get(request.params["id"])
        if found is None:
            raise not_found(request.path)
        data = found.batches()
        return json_reply({"data": data}, len(data))
