"""Kustomer's bulk requests, followed to their end: up to 100 creates (``POST /v1/{path}/bulk``) or updates
(``PUT /v1/{path}/bulk``, each item naming its ``id``) in one request.

Kustomer's bulk guide says a bulk request is queued (201, status ``queued``) and runs later, and that jobs may stay
queued: the job is polled (``GET /v1/bulk/{id}``) while it is ``queued`` or ``running``, waiting a poll's first wait
and then twice as long each time up to ``LONGEST_WAIT`` first waits, at most ``MAX_POLLS`` times (``follow_bound``:
about 19 minutes at the default rate-limit window). Once ``complete`` its batches (``GET /v1/bulk/{id}/batches``,
following ``links.next``, at most ``MAX_BATCH_PAGES`` pages) say how many items succeeded and failed. A job whose
answer already says ``complete`` (as the OpenAPI examples show) is read at once; any other status ends the job
without saying what it wrote.

A job is never abandoned: one that has not ended after its polls may still run and overwrite whatever is written
after it (Kustomer documents no way to cancel a job), so nothing of it is sent again -- the sync stops with one
error and the job stays in ``JobsInFlight``, which hands it to the next sync (``settle_pending`` follows it first).
A bulk update whose answer names no job that can be followed (no answer at all, or a 2xx without a usable job)
stops the sync the same way: a job no answer named may still run. A bulk create in that case is settled by lookups
(``creates``): a create that lands late cannot overwrite anything.

Each item carries ``_clientRef`` (its place in the request), as the portal's "Bulk operations" guide recommends,
and the batches then list each item's outcome under ``results`` ("Get bulk operation batches"). Those outcomes are
used only when they add up: every item answered once, under a reference that was sent, with a status that says
written or failed, and as many of each as the batches count. Kustomer's published item schemas do not list
``_clientRef``: a request refused (400) with it is sent once more without it, and if that one is accepted the
rest of the sync sends none. Where the outcomes are not given, or do not add up, the caller settles each item
itself, as ``BulkResult.outcome`` says.
"""

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from kustomer_http.connection import KustomerClient, OutcomeUnknown
from kustomer_http.pages import LinkTrail, linked_pages
from kustomer_http.responses import response_json

from destination_kustomer.errors import stop_if_key_refused
from destination_kustomer.following import (
    Job,
    Unfinished,
    checked,
    follow,
    job_of,
    unfinished_error,
    unfollowable_error,
)
from destination_kustomer.jobs_in_flight import JobsInFlight
from destination_kustomer.objects import KustomerObject

logger = logging.getLogger("airbyte")
CLIENT_REF = "_clientRef"
WRITTEN_STATUSES = ("created", "updated", "success")  # an item's outcome in the batches' results
FAILED_STATUSES = ("failed", "failure", "error")
MAX_BATCH_PAGES = 100  # a job holds at most 100 items, so at most 100 batches
WRITTEN = "written"  # the job completed and every item succeeded
ITEMIZED = "itemized"  # the job completed and said what came of each item (``BulkResult.items``)
REFUSED = "refused"  # Kustomer refused the request whole: nothing was written
UNSETTLED = "unsettled"  # the job ended (failures, or a status other than complete): which items it wrote is unknown
UNANSWERED = "unanswered"  # a create without a usable answer: a job may exist, and may still be writing


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


class BulkJobs:
    """Bulk requests of one object, each through a client that never sends one twice (creates and updates alike: a
    request resent after a lost answer could leave a job no answer named); polls and result pages through one that
    retries. Polls wait ``first_poll_seconds`` and then longer; every job is in ``in_flight`` until it ends."""

    def __init__(
        self,
        once: KustomerClient,
        reads: KustomerClient,
        target: KustomerObject,
        first_poll_seconds: float,
        in_flight: JobsInFlight,
    ) -> None:
        self.once = once
        self.reads = reads
        self.target = target
        self.first_poll = first_poll_seconds
        self.in_flight = in_flight
        self.refs = True  # whether items carry _clientRef (off once Kustomer refused a request for it)

    def run(self, verb: str, items: List[Mapping[str, Any]]) -> BulkResult:
        """Send ``items`` as one bulk create (``verb`` "create") or update and follow the job to its end; a job
        still running after the bound, or an update Kustomer may have queued unnamed, stops the sync."""
        method, roles = ("POST", self.target.roles.create) if verb == "create" else ("PUT", self.target.roles.update)
        refs = self.refs
        url = self.once.api_url(f"{self.target.path}/bulk")
        try:
            response = self.once.send(method, url, body=_referenced(items) if refs else items)
            if refs and response.status_code == 400:  # perhaps _clientRef: once more without it
                response, refs = self.once.send(method, url, body=items), False
                if response.ok:
                    self.refs = False
                    logger.info("Kustomer refused _clientRef on bulk items; each job's outcome is settled without.")
        except OutcomeUnknown as unknown:
            if verb == "create" or (unknown.status or 0) >= 400:  # an error answer: Kustomer queued nothing
                return BulkResult(UNANSWERED, answered=unknown.answered)
            raise unfollowable_error(self.target.name, len(items), unknown.reason) from None
        stop_if_key_refused(self.reads, response, f"to {verb} {self.target.name} records in bulk", roles)
        if not response.ok:
            return BulkResult(REFUSED)
        job = job_of(response)
        if job is None:
            if verb == "create":
                return BulkResult(UNANSWERED)
            raise unfollowable_error(self.target.name, len(items), "the answer names no job that can be followed")
        self.in_flight.started(job.id)
        try:
            job, polls = follow(self.reads, job, self.first_poll)
        except Unfinished as unfinished:
            raise unfinished_error(unfinished, self.target.name, len(items), self.first_poll) from None
        self.in_flight.ended(job.id)
        if job.status != "complete":
            return BulkResult(UNSETTLED, job.id, job.status, polls)
        (succeeded, failed), results, pages = self._read_batches(job)
        if failed == 0 and succeeded == len(items):
            return BulkResult(WRITTEN, job.id, job.status, polls + pages)
        outcomes = _itemized(results, len(items), succeeded, failed) if refs else None
        if outcomes is not None:
            return BulkResult(ITEMIZED, job.id, job.status, polls + pages, items=outcomes)
        return BulkResult(UNSETTLED, job.id, job.status, polls + pages)

    def _read_batches(self, job: Job) -> Tuple[Tuple[int, int], List[Any], int]:
        """Items succeeded and failed, the per-item results listed, and the pages of batches read."""
        succeeded = failed = pages = 0
        results: List[Any] = []
        trail = LinkTrail(f"list of results of bulk job {job.id}", max_pages=MAX_BATCH_PAGES)
        for page in linked_pages(self.reads, f"/v1/bulk/{job.segment}/batches", trail):
            pages += 1
            data = response_json(checked(self.reads, page, job.id, ended=True)).get("data")
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


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
