"""A bulk job (``GET /v1/bulk/{id}``) and its results (``GET /v1/bulk/{id}/batches``)."""

from kustomer_simulator.bulk_jobs import BulkJob
from kustomer_simulator.routes.base import Reply, Request, found_or_404, json_reply, paging
from kustomer_simulator.timefmt import now_ms


def _job_or_404(request: Request) -> BulkJob:
    """The job the path names (the caller holds the org's lock), or 404."""
    return found_or_404(request, request.org.bulk.get(request.params["id"]))


def job(request: Request) -> Reply:
    """The job: queued, running or complete."""
    org = request.org
    with org.lock:
        return json_reply({"data": _job_or_404(request).render(org.org_id, now_ms())}, 1)


def batches(request: Request) -> Reply:
    """The batches of a job that ended, each with its success and failure counts and per-item results: one a page,
    linking to the next, under ``--bulk-results paged`` (``page=``, from 1), else all on one page."""
    org = request.org
    with org.lock:
        data = _job_or_404(request).batches(now_ms())
    if request.settings.writes.bulk_results == "single":
        return json_reply({"data": data, "links": {"self": request.path, "next": None}}, len(data))
    page, _ = paging(request.query)
    shown = data[page - 1 : page]
    more = page < len(data)
    links = {"self": f"{request.path}?page={page}", "next": f"{request.path}?page={page + 1}" if more else None}
    return json_reply({"data": shown, "links": links}, len(shown))
