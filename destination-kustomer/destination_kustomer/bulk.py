"""Kustomer's bulk requests, followed to their result: up to 100 creates (``POST /v1/{path}/bulk``) or updates
(``PUT /v1/{path}/bulk``, each item naming its ``id``) in one request.

Kustomer's bulk guide says a bulk request is queued (201, status ``queued``) and runs later: the job is polled
(``GET /v1/bulk/{id}``, backing off, at most ``MAX_POLLS`` times) while it is ``queued`` or ``running``, and once
``complete`` its batches (``GET /v1/bulk/{id}/batches``, following ``links.next``, at most ``MAX_BATCH_PAGES``
pages) say how many items succeeded and failed. A job whose answer already says ``complete`` (as the OpenAPI
examples show) is read at once; any other status ends the job without saying what it wrote. Which item failed is
not read from the results -- their shape is not published -- so what a job leaves open is settled item by item
by the caller, as ``BulkResult.outcome`` says.
"""

import time
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Tuple

import requests
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.connection import KustomerClient, OutcomeUnknown
from kustomer_http.errors import server_trouble
from kustomer_http.origin import UnsafeUrl, path_segment
from kustomer_http.pages import LinkTrail, linked_pages
from kustomer_http.responses import response_json

from destination_kustomer.errors import stop_if_key_refused
from destination_kustomer.objects import BULK_READ, KustomerObject

MAX_POLLS = 40
MAX_BATCH_PAGES = 100  # a job holds at most 100 items, so at most 100 batches
IN_PROGRESS = ("queued", "running")
WRITTEN = "written"  # the job completed and every item succeeded
REFUSED = "refused"  # Kustomer refused the request whole: nothing was written
UNSETTLED = "unsettled"  # the job ended (failures, or a status other than complete): which items it wrote is unknown
UNANSWERED = "unanswered"  # no usable answer to the request: a job may exist, and may still be writing
UNFINISHED = "unfinished"  # the job was still queued or running after MAX_POLLS polls


@dataclass(frozen=True)
class BulkResult:
    """What came of a bulk request: its outcome, the job, and the requests that followed it."""

    outcome: str
    job_id: Optional[str] = None
    status: Optional[str] = None
    follow_ups: int = 0  # requests that followed the job: status polls and batch pages
    answered: bool = True  # for UNANSWERED: Kustomer answered (with an error), rather than not at all


@dataclass(frozen=True)
class _Job:
    id: str
    segment: str  # the id as a path segment
    status: Any


class BulkJobs:
    """Bulk requests of one object: creates through a client that never sends one twice, updates and polls through
    one that retries; polls wait ``first_poll_seconds`` and then longer."""

    def __init__(
        self, creates: KustomerClient, updates: KustomerClient, target: KustomerObject, first_poll_seconds: float
    ) -> None:
        self.creates = creates
        self.updates = updates
        self.target = target
        self.first_poll = first_poll_seconds
        self.max_wait = first_poll_seconds * 8

    def run(self, verb: str, items: List[Mapping[str, Any]]) -> BulkResult:
        """Send ``items`` as one bulk create (``verb`` "create") or update and follow the job to its end."""
        client, method, roles = (
            (self.creates, "POST", self.target.roles.create)
            if verb == "create"
            else (self.updates, "PUT", self.target.roles.update)
        )
        try:
            response = client.send(method, client.api_url(f"{self.target.path}/bulk"), body=items)
        except OutcomeUnknown as unknown:
            return BulkResult(UNANSWERED, answered=unknown.answered)
        stop_if_key_refused(self.updates, response, f"to {verb} {self.target.name} records in bulk", roles)
        if not response.ok:
            return BulkResult(REFUSED)
        job = _job(response)
        if job is None:
            return BulkResult(UNANSWERED)
        polls = 0
        while job.status in IN_PROGRESS or not isinstance(job.status, str):  # no status said: still to be learnt
            if polls >= MAX_POLLS:
                return BulkResult(UNFINISHED, job.id, job.status, polls)
            time.sleep(min(self.max_wait, self.first_poll * 2 ** min(polls, 10)))
            polls += 1
            polled = _job(self._checked(self.updates.get(self.updates.api_url(f"bulk/{job.segment}")), job.id))
            if polled is None:
                raise _lost(job.id, "without the job")
            job = polled
        if job.status != "complete":
            return BulkResult(UNSETTLED, job.id, job.status, polls)
        succeeded, failed, pages = self._counts(job)
        outcome = WRITTEN if failed == 0 and succeeded == len(items) else UNSETTLED
        return BulkResult(outcome, job.id, job.status, polls + pages)

    def _checked(self, response: requests.Response, job_id: str) -> requests.Response:
        """A poll's or a results page's answer; the sync stops when Kustomer refuses it."""
        stop_if_key_refused(self.updates, response, "to follow bulk jobs to their result", BULK_READ)
        if not response.ok:
            raise _lost(job_id, f"with HTTP {response.status_code}")
        return response

    def _counts(self, job: _Job) -> Tuple[int, int, int]:
        """Items succeeded and failed, and the pages of batches read."""
        succeeded = failed = pages = 0
        trail = LinkTrail(f"list of results of bulk job {job.id}", max_pages=MAX_BATCH_PAGES)
        for page in linked_pages(self.updates, f"/v1/bulk/{job.segment}/batches", trail):
            pages += 1
            data = response_json(self._checked(page, job.id)).get("data")
            for batch in data if isinstance(data, list) else []:
                attributes = batch.get("attributes") if isinstance(batch, Mapping) else None
                if isinstance(attributes, Mapping):
                    succeeded += _count(attributes.get("successCount"))
                    failed += _count(attributes.get("failureCount"))
        return succeeded, failed, pages


def unfinished_error(result: BulkResult, target: KustomerObject, found: int, items: int) -> AirbyteTracedException:
    """The error that stops a sync whose bulk job was still unfinished after its polls, ``found`` of its ``items``
    records already written."""
    return server_trouble(
        f"Kustomer's bulk job {result.job_id} ({target.name}) had not ended after {result.follow_ups} checks (status "
        f"{result.status!r}), and {items - found} of its {items} records are not written yet. The sync stopped at "
        f"its last checkpoint. {_AFTER_THE_JOB.format(job_id=result.job_id)}"
    )


_AFTER_THE_JOB = (
    "Run the next sync once the job has ended (GET /v1/bulk/{job_id}): it looks every record up again and creates "
    "only those still missing."
)


def _lost(job_id: str, how: str) -> AirbyteTracedException:
    return server_trouble(
        f"Kustomer answered a question about its bulk job {job_id} {how}. The sync stopped at its last checkpoint. "
        + _AFTER_THE_JOB.format(job_id=job_id)
    )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _job(response: requests.Response) -> Optional[_Job]:
    """The job an answer describes, or None when it names none (or an id no URL can carry)."""
    body = response_json(response)
    data = body.get("data") if isinstance(body, Mapping) else None
    attributes = data.get("attributes") if isinstance(data, Mapping) else None
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str) or not isinstance(attributes, Mapping):
        return None
    try:
        return _Job(data["id"], path_segment(data["id"]), attributes.get("status"))
    except UnsafeUrl:
        return None
