"""The bulk jobs that may still write, kept from one sync to the next.

A Kustomer bulk job that has not ended may run later and overwrite whatever was written after it, and Kustomer
documents no way to cancel one (neither its OpenAPI nor its bulk guide). So a sync never writes past a job it could
not follow to its end: it stops with one error before any later STATE, and the next sync must know the job. Where
to keep it:

- Airbyte gives a destination no state of its own: STATE messages are the source's, handed back to the source.
  Holding them back makes the records come again, but says nothing of the job, which could then overwrite their
  second writing.
- Looking the records up again cannot tell a job still queued from one that failed.
- Kustomer has no place for it but the org's records, which the destination writes only as the user mapped.
- The destination's own config can: an Airbyte CONTROL message (``CONNECTOR_CONFIG``) carries the config with
  ``pending_bulk_jobs`` set, and the platform stores it for the destination's next run (its replication worker
  hands a destination's control message to the config updater, as it does a source's). The key in that config is
  Airbyte's secret mask, which the platform's config update replaces with the key it holds, so the key is never
  printed.

So the job is written into ``pending_bulk_jobs`` when a sync stops while it may run, and the next sync first
follows every job listed there to its end (``settle_pending``), empties the list with another CONTROL message and
only then writes: the records after the last STATE come again and are looked up, so what the job did is settled
like any write. A runner that drops CONTROL messages (a plain command line) gets the ids in a WARN line instead.
"""

import logging
import threading
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

from airbyte_cdk.models import AirbyteMessage, Type
from airbyte_protocol_dataclasses.models import (
    AirbyteControlConnectorConfigMessage,
    AirbyteControlMessage,
    OrchestratorType,
)
from kustomer_http.connection import KustomerClient

from destination_kustomer.following import GONE, PENDING_FIELD, Unfinished, follow, named_job, pending_error

PLATFORM_SECRET_MASK = "**********"  # what Airbyte writes for a secret it keeps (its config update restores it)
SECRET_FIELDS = ("api_token",)
logger = logging.getLogger("airbyte")


class JobsInFlight:
    """The jobs that may still write: those earlier syncs left (``carried``) and those this sync started and has
    not seen end. Thread-safe (a stream's creates and updates run at once)."""

    def __init__(self, carried: Sequence[str]) -> None:
        self._open: Set[str] = set(carried)
        self._stored: Tuple[str, ...] = tuple(sorted(self._open))  # what the platform's config lists now
        self._lock = threading.Lock()

    def started(self, job_id: str) -> None:
        """A job of this sync was queued."""
        with self._lock:
            self._open.add(job_id)

    def ended(self, job_id: str) -> None:
        """A job was seen to end."""
        with self._lock:
            self._open.discard(job_id)

    def open(self) -> List[str]:
        """The jobs that may still write."""
        with self._lock:
            return sorted(self._open)

    def control(self, config: Mapping[str, Any]) -> Optional[AirbyteMessage]:
        """The CONTROL message storing the open jobs in the destination's config, or None when the config already
        lists exactly those."""
        jobs = tuple(self.open())
        if jobs == self._stored:
            return None
        self._stored = jobs
        stored: Dict[str, Any] = {**config, PENDING_FIELD: list(jobs)}
        stored.update({name: PLATFORM_SECRET_MASK for name in SECRET_FIELDS if name in stored})
        control = AirbyteControlMessage(
            type=OrchestratorType.CONNECTOR_CONFIG,
            emitted_at=time.time() * 1000,
            connectorConfig=AirbyteControlConnectorConfigMessage(config=stored),
        )
        return AirbyteMessage(type=Type.CONTROL, control=control)


def settle_pending(
    client: KustomerClient, jobs: JobsInFlight, config: Mapping[str, Any], first_poll: float
) -> Iterator[AirbyteMessage]:
    """Follow every job earlier syncs left to its end, then say the config lists none (a CONTROL message); when one
    still runs after the bound, the sync stops before writing anything (the config keeps those still running)."""
    unfinished: Dict[str, Any] = {}
    for job_id in jobs.open():
        job = named_job(job_id)
        if job is None:  # no URL can carry it: no job Kustomer named (the config was edited)
            jobs.ended(job_id)
            continue
        try:
            job, _ = follow(client, job, first_poll, earlier=True)
        except Unfinished as still:
            unfinished[job_id] = still.job.status
            continue
        jobs.ended(job_id)
        if job.status == GONE:
            logger.warning(f"Kustomer no longer knows bulk job {job_id} of an earlier sync (404): it is long over.")
        else:
            logger.info(f"Bulk job {job_id} of an earlier sync has ended ({job.status!r}); its records are looked up.")
    control = jobs.control(config)
    if control is not None:
        yield control
    if unfinished:
        raise pending_error(unfinished, first_poll)
