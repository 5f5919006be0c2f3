"""Following a bulk job to its end (``GET /v1/bulk/{id}``), within a stated bound, and the errors that stop a sync
whose job could not be followed.

A job is polled while it is ``queued`` or ``running`` (or names no status): the first wait is a poll's first wait
(a 60th of the rate-limit window: 1 s by default), each next one twice as long up to ``LONGEST_WAIT`` first waits
(15 s), at most ``MAX_POLLS`` polls -- ``follow_bound`` seconds in all (1,155 s, about 19 minutes, by default).
"""

import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional, Tuple

import requests
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.connection import KustomerClient
from kustomer_http.errors import server_trouble
from kustomer_http.origin import UnsafeUrl, path_segment
from kustomer_http.responses import response_json

from destination_kustomer.errors import stop_if_key_refused
from destination_kustomer.objects import BULK_READ

MAX_POLLS = 80
LONGEST_WAIT = 15  # the longest wait between two polls, in first waits
IN_PROGRESS = ("queued", "running")
GONE = "gone"  # a job from an earlier sync Kustomer no longer knows (404): long over
PENDING_FIELD = "pending_bulk_jobs"


@dataclass(frozen=True)
class Job:
    """A bulk job as Kustomer last described it."""

    id: str
    segment: str  # the id as a path segment
    status: Any

    @property
    def ended(self) -> bool:
        """Whether the job is over: a status that is neither queued nor running."""
        return isinstance(self.status, str) and self.status not in IN_PROGRESS


class Unfinished(Exception):
    """A job still queued or running after ``MAX_POLLS`` polls."""

    def __init__(self, job: Job, polls: int) -> None:
        super().__init__(f"bulk job {job.id} is still {job.status!r}")
        self.job = job
        self.polls = polls


def job_of(response: requests.Response) -> Optional[Job]:
    """The job an answer describes, or None when it names none (or an id no URL can carry)."""
    body = response_json(response)
    data = body.get("data") if isinstance(body, Mapping) else None
    attributes = data.get("attributes") if isinstance(data, Mapping) else None
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str) or not isinstance(attributes, Mapping):
        return None
    return named_job(data["id"], attributes.get("status"))


def named_job(job_id: str, status: Any = None) -> Optional[Job]:
    """A job known by its id (None when no URL can carry it)."""
    try:
        return Job(job_id, path_segment(job_id), status)
    except UnsafeUrl:
        return None


def waits(first_poll: float) -> Iterator[float]:
    """The seconds before each poll: doubling from ``first_poll`` up to ``LONGEST_WAIT`` of them."""
    for n in range(MAX_POLLS):
        yield first_poll * min(LONGEST_WAIT, 2**n)


def follow_bound(first_poll: float) -> float:
    """The longest a job is followed, in seconds."""
    return sum(waits(first_poll))


def follow(client: KustomerClient, job: Job, first_poll: float, earlier: bool = False) -> Tuple[Job, int]:
    """Poll ``job`` until it ends: the job as last described and the polls made; ``Unfinished`` when it has not
    ended within the bound. A job of an ``earlier`` sync that Kustomer no longer knows (404) ends as ``GONE``."""
    polls = 0
    for wait in waits(first_poll):
        if job.ended:
            return job, polls
        time.sleep(wait)
        polls += 1
        response = client.get(client.api_url(f"bulk/{job.segment}"))
        if earlier and response.status_code == 404:
            return Job(job.id, job.segment, GONE), polls
        polled = job_of(checked(client, response, job.id))
        if polled is None:
            raise lost(job.id, "without the job")
        job = polled
    if job.ended:
        return job, polls
    raise Unfinished(job, polls)


def checked(client: KustomerClient, response: requests.Response, job_id: str, ended: bool = False) -> requests.Response:
    """A poll's or (once the job ``ended``) a results page's answer; the sync stops when Kustomer refuses it."""
    stop_if_key_refused(client, response, "to follow bulk jobs to their result", BULK_READ)
    if not response.ok:
        raise lost(job_id, f"with HTTP {response.status_code}", ended)
    return response


def duration(seconds: float) -> str:
    """A wait as people say it."""
    return f"{seconds / 60:.0f} minutes" if seconds >= 120 else f"{seconds:.0f} seconds"


_NEXT_SYNC = (
    f"The job was recorded in the destination's settings ('{PENDING_FIELD}'): the next sync waits for it to end "
    "before it writes anything, then looks the records after the last checkpoint up again and writes what is still "
    "needed. (Outside the Airbyte platform, which stores that setting itself, add the jobs the last WARN line lists "
    "-- {ids} among them -- to '" + PENDING_FIELD + "'.)"
)


def unfinished_error(unfinished: Unfinished, what: str, items: int, first_poll: float) -> AirbyteTracedException:
    """The error that stops a sync whose job (of ``items`` ``what`` records) had not ended within the bound."""
    job = unfinished.job
    return server_trouble(
        f"Kustomer's bulk job {job.id} ({items} {what} records) was still {job.status!r} after {unfinished.polls} "
        f"checks over {duration(follow_bound(first_poll))}. It may still run, and would overwrite whatever is "
        "written after it, so nothing more was sent and the sync stopped at its last checkpoint. "
        + _NEXT_SYNC.format(ids=job.id)
    )


def pending_error(unfinished: Mapping[str, Any], first_poll: float) -> AirbyteTracedException:
    """The error that stops a sync whose earlier syncs' jobs (id: last status) still had not ended."""
    listed = ", ".join(f"{job_id} ({status!r})" for job_id, status in unfinished.items())
    return server_trouble(
        f"Kustomer's bulk job(s) {listed}, which an earlier sync could not follow to their end, had still not ended "
        f"after {MAX_POLLS} checks over {duration(follow_bound(first_poll))}. Nothing was written, so that they "
        "cannot overwrite it; the next sync waits for them again. If Kustomer confirmed that a job will never run, "
        f"remove its id from '{PENDING_FIELD}' in the destination's settings."
    )


def unfollowable_error(what: str, items: int, reason: str) -> AirbyteTracedException:
    """The error that stops a sync whose bulk update Kustomer may have queued without naming the job."""
    return server_trouble(
        f"A bulk update of {items} {what} records got no answer naming its job ({reason}). Kustomer may have queued "
        "it and may still run it, overwriting whatever is written after it, so nothing more was sent and the sync "
        "stopped at its last checkpoint; the next sync looks the records up again and writes them."
    )


def lost(job_id: str, how: str, ended: bool = False) -> AirbyteTracedException:
    """The error that stops a sync when Kustomer answers a question about a job (one that has ``ended``, or may
    still run) without it."""
    after = (
        "the next sync looks the records after it up again and writes what is still needed."
        if ended
        else _NEXT_SYNC.format(ids=job_id)
    )
    return server_trouble(
        f"Kustomer answered a question about its bulk job {job_id} {how}. The sync stopped at its last checkpoint; "
        + after
    )
