"""Kustomer's bulk requests, followed to their result: up to 100 creates (``POST /v1/{path}/bulk``) or updates
(``PUT /v1/{path}/bulk``, each item naming its ``id``) in one request.

Kustomer's bulk guide says a bulk request is queued (201, status ``queued``) and runs later: the job is polled
(``GET /v1/bulk/{id}``, backing off, at most ``MAX_POLLS`` times) while it is ``queued`` or ``running``, and once
``complete`` its batches (``GET /v1/bulk/{id}/batches``, following ``links.next``, at most ``MAX_BATCH_PAGES``
pages) say how many items succeeded and failed. A job whose answer already says ``complete`` (as the OpenAPI
examples show) is read at once; any other status ends the job without saying what it wrote.

Each item carries ``_clientRef`` (its place in the request), as the portal's "Bulk operations" guide recommends,
and the batches then list each item's outcome under ``results`` ("Get bulk operation batches"). Those outcomes are
used only when they add up: every item answered once, under a reference that was sent, with a status that says
written or failed, and as many of each as the batches count. Kustomer's published item schemas do not list
``_clientRef``: a request refused (400) with it is sent once more without it, and if that one is accepted the
rest of the sync sends none. Where the outcomes are not given, or do not add up, the caller settles each item
itself, as ``BulkResult.outcome`` says.
"""

import logging
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

import requests
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.connection import KustomerClient, OutcomeUnknown
from kustomer_http.errors import server_trouble
from kustomer_http.origin import UnsafeUrl, path_segment
from kustomer_http.pages import LinkTrail, linked_pages
from kustomer_http.responses import response_json

from destination_kustomer.errors import stop_if_key_refused
from destination_kustomer.objects import BULK_READ, KustomerObject

logger = logging.getLogger("airbyte")
CLIENT_REF = "_clientRef"
WRITTEN_STATUSES = ("created", "updated", "success")  # an item's outcome in the batches' results
FAILED_STATUSES = ("failed", "failure", "error")
MAX_POLLS = 40
MAX_BATCH_PAGES = 100  # a job holds at most 100 items, so at most 100 batches
IN_PROGRESS = ("queued", "running")
WRITTEN = "written"  # the job completed and every item succeeded
ITEMIZED = "itemized"  # the job completed and said what came of each item (``BulkResult.items``)
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
    items: Optional[List["ItemOutcome"]] = None  # for ITEMIZED: each item's outcome, in the request's order


@dataclass(frozen=True)
class ItemOutcome:
    """What a job did with one item: written (with the object's id) or failed (with Kustomer's status and words)."""

    written: bool
    id: Optional[str] = None
    status: Optional[int] = None
    detail: str = ""


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
        self.refs = True  # whether items carry _clientRef (off once Kustomer refused a request for it)

    def run(self, verb: str, items: List[Mapping[str, Any]]) -> BulkResult:
        """Send ``items`` as one bulk create (``verb`` "create") or update and follow the job to its end."""
        client, method, roles = (
            (self.creates, "POST", self.target.roles.create)
            if verb == "create"
            else (self.updates, "PUT", self.target.roles.update)
        )
        refs = self.refs
        url = client.api_url(f"{self.target.path}/bulk")
        try:
            response = client.send(method, url, body=_referenced(items) if refs else items)
            if refs and response.status_code == 400:  # perhaps _clientRef: once more without it
                response, refs = client.send(method, url, body=items), False
                if response.ok:
                    self.refs = False
                    logger.info("Kustomer refused _clientRef on bulk items; each job's outcome is settled without.")
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
        (succeeded, failed), results, pages = self._read_batches(job)
        if failed == 0 and succeeded == len(items):
            return BulkResult(WRITTEN, job.id, job.status, polls + pages)
        outcomes = _itemized(results, len(items), succeeded, failed) if refs else None
        if outcomes is not None:
            return BulkResult(ITEMIZED, job.id, job.status, polls + pages, items=outcomes)
        return BulkResult(UNSETTLED, job.id, job.status, polls + pages)

    def _checked(self, response: requests.Response, job_id: str) -> requests.Response:
        """A poll's or a results page's answer; the sync stops when Kustomer refuses it."""
        stop_if_key_refused(self.updates, response, "to follow bulk jobs to their result", BULK_READ)
        if not response.ok:
            raise _lost(job_id, f"with HTTP {response.status_code}")
        return response

    def _read_batches(self, job: _Job) -> Tuple[Tuple[int, int], List[Any], int]:
        """Items succeeded and failed, the per-item results listed, and the pages of batches read."""
        succeeded = failed = pages = 0
        results: List[Any] = []
        trail = LinkTrail(f"list of results of bulk job {job.id}", max_pages=MAX_BATCH_PAGES)
        for page in linked_pages(self.updates, f"/v1/bulk/{job.segment}/batches", trail):
            pages += 1
            data = response_json(self._checked(page, job.id)).get("data")
            for batch in data if isinstance(data, list) else []:
                attributes = batch.get("attributes") if isinstance(batch, Mapping) else None
                if isinstance(attributes, Mapping):
                    succeeded += _count(attributes.get("successCount"))
                    failed += _count(attributes.get("failureCount"))
                    listed = attributes.get("results")
                    results += listed if isinstance(listed, list) else []
        return (succeeded, failed), results, pages


def _referenced(items: List[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    return [{**item, CLIENT_REF: str(n)} for n, item in enumerate(items)]


def _itemized(results: List[Any], items: int, succeeded: int, failed: int) -> Optional[List[ItemOutcome]]:
    """Each item's outcome from the batches' results, or None unless every item is answered once, under a
    reference that was sent, with a known status -- and the outcomes agree with the batches' counts."""
    outcomes: Dict[int, ItemOutcome] = {}
    for result in results:
        ref = result.get(CLIENT_REF) if isinstance(result, Mapping) else None
        place = int(ref) if isinstance(ref, str) and ref.isdigit() else -1
        status = result.get("status") if isinstance(result, Mapping) else None
        if not 0 <= place < items or place in outcomes or status not in WRITTEN_STATUSES + FAILED_STATUSES:
            return None
        if status in WRITTEN_STATUSES:
            object_id = result.get("id")
            outcomes[place] = ItemOutcome(True, object_id if isinstance(object_id, str) else None)
        else:
            error = result.get("error") if isinstance(result.get("error"), Mapping) else {}
            code = error.get("status")
            detail = str(error.get("detail") or error.get("title") or result.get("error") or "no detail given")
            outcomes[place] = ItemOutcome(False, status=code if isinstance(code, int) else None, detail=detail[:300])
    written = sum(1 for outcome in outcomes.values() if outcome.written)
    if len(outcomes) != items or (written, items - written) != (succeeded, failed):
        return None
    return [outcomes[n] for n in range(items)]


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
