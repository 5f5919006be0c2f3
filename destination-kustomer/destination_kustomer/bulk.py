"""Kustomer's bulk requests, followed to their result: up to 100 creates (``POST /v1/{path}/bulk``) or updates
(``PUT /v1/{path}/bulk``, each item naming its ``id``) in one request.

Kustomer's bulk guide says a bulk request is queued (201, status ``queued``) and runs later: the job is polled
(``GET /v1/bulk/{id}``, backing off, a bounded number of times) until ``complete``, and its batches
(``GET /v1/bulk/{id}/batches``) say how many items succeeded and failed. A job whose answer already says
``complete`` (as the OpenAPI examples show) is read at once. Which item failed is not read from the results --
their shape is not published -- so a job with failures (or a bulk request Kustomer refuses whole) is settled item
by item by the caller.
"""

import time
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Tuple

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.connection import KustomerClient
from kustomer_http.responses import response_json

from destination_kustomer.errors import is_key_refusal, role_error
from destination_kustomer.objects import BULK_READ, KustomerObject

MAX_POLLS = 40
MAX_BATCH_PAGES = 10  # a job of 100 items has a handful of batches


@dataclass(frozen=True)
class BulkResult:
    """What came of a bulk request: whether it ran, and its items' success and failure counts."""

    accepted: bool  # False: Kustomer refused the request whole (nothing written)
    succeeded: int = 0
    failed: int = 0
    follow_ups: int = 0  # requests that followed the job: status polls and batch pages

    def all_written(self, items: int) -> bool:
        """Whether every one of ``items`` is known to be written."""
        return self.accepted and self.failed == 0 and self.succeeded == items


class BulkJobs:
    """Bulk requests of one object, through one client; polls wait ``first_poll_seconds`` and then longer."""

    def __init__(self, client: KustomerClient, target: KustomerObject, first_poll_seconds: float) -> None:
        self.client = client
        self.target = target
        self.first_poll = first_poll_seconds
        self.max_wait = first_poll_seconds * 8

    def run(self, verb: str, items: List[Mapping[str, Any]]) -> BulkResult:
        """Send ``items`` as one bulk create (``verb`` "create") or update and follow the job to its end."""
        method, roles = ("POST", self.target.roles.create) if verb == "create" else ("PUT", self.target.roles.update)
        response = self.client.send(method, self.client.api_url(f"{self.target.path}/bulk"), body=items)
        if is_key_refusal(response):
            raise role_error(self.client, response, f"to {verb} {self.target.name} records in bulk", roles)
        if not response.ok:
            return BulkResult(accepted=False)
        job = _job(response)
        polls = 0
        while job.get("status") != "complete":
            if polls >= MAX_POLLS:
                raise self._unfinished(job, polls)
            time.sleep(min(self.max_wait, self.first_poll * 2 ** min(polls, 10)))
            polls += 1
            job = _job(self._get(self.client.api_url(f"bulk/{job['id']}")))
        succeeded, failed, pages = self._counts(job["id"])
        return BulkResult(True, succeeded, failed, polls + pages)

    def _get(self, url: str) -> requests.Response:
        response = self.client.get(url)
        if is_key_refusal(response):
            raise role_error(self.client, response, "to follow bulk jobs to their result", BULK_READ)
        if not response.ok:
            raise _job_error(f"Kustomer answered HTTP {response.status_code} when asked about a bulk job it started")
        return response

    def _counts(self, job_id: str) -> Tuple[int, int, int]:
        """Items succeeded and failed, and the pages of batches read."""
        succeeded = failed = pages = 0
        url: Optional[str] = self.client.api_url(f"bulk/{job_id}/batches")
        while url is not None and pages < MAX_BATCH_PAGES:
            pages += 1
            body = response_json(self._get(url))
            for batch in body.get("data") or []:
                attributes = batch.get("attributes") if isinstance(batch, Mapping) else None
                if isinstance(attributes, Mapping):
                    succeeded += _count(attributes.get("successCount"))
                    failed += _count(attributes.get("failureCount"))
            links = body.get("links")
            link = links.get("next") if isinstance(links, Mapping) else None
            url = self.client.link_url(link) if link else None
        return succeeded, failed, pages

    def _unfinished(self, job: Mapping[str, Any], polls: int) -> AirbyteTracedException:
        return _job_error(
            f"Kustomer's bulk job {job.get('id')} ({self.target.name}) was still {job.get('status')!r} after {polls} "
            "checks. The sync stopped at its last checkpoint; the next sync looks every record up again, so nothing "
            "is written twice"
        )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _job(response: requests.Response) -> Mapping[str, Any]:
    data = response_json(response).get("data")
    attributes = data.get("attributes") if isinstance(data, Mapping) else None
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str) or not isinstance(attributes, Mapping):
        raise _job_error("Kustomer answered a bulk request without the job it started")
    return {"id": data["id"], "status": attributes.get("status")}


def _job_error(what: str) -> AirbyteTracedException:
    message = f"{what}."
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.transient_error)
