"""Bulk jobs, as Kustomer's bulk guide describes them: a request of up to 100 items answers 201 ``queued``; the job
runs later (``GET /v1/bulk/{id}``: queued, running, complete) and its results are read per batch
(``GET /v1/bulk/{id}/batches``: successCount, failureCount, objectIds, errors, and ``results`` -- each item's
outcome, for the items that carried ``_clientRef`` (accepted under ``--client-ref accepted``); one batch a page
under ``--bulk-results paged``, each page linking to the next).

A job's writes land together when it runs: nothing it creates can be looked up before. Under ``--bulk-mode sync``
a job runs before its request is answered, as the OpenAPI examples show. Under ``--bulk-job-end failed`` a job
writes the first half of its items and ends ``failed``; under ``stuck`` it writes that half and stays ``running``.
Under ``--bulk-late-seconds S`` the first job of each collection and operation (create, update) stays ``queued``
S seconds longer before it runs -- a client that gives up on it and writes its objects again is overwritten when it
finally runs.
"""

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Set, Tuple

from kustomer_simulator.collection import Collection, mix32
from kustomer_simulator.shapes import relationship
from kustomer_simulator.timefmt import iso_ms, now_ms
from kustomer_simulator.write_contract import CLIENT_REF
from kustomer_simulator.writes import BULK_JOB_END_STATUS, WriteRefused, WriteSettings

if TYPE_CHECKING:
    from kustomer_simulator.org import Org

BATCH_ITEMS = 25  # items per batch of a job's results (Kustomer does not say how it splits a job)
FAILED = "failed"  # an item's outcome besides created and updated (the batches guide's per-item statuses)


@dataclass
class BulkJob:
    """One bulk request: what to write, and per item what came of it once the job completed."""

    id: str
    collection: str
    operation: str  # create | update
    items: List[Mapping[str, Any]]
    created_ms: int
    seconds: float
    end: Optional[str] = "complete"  # the status it ends in (None: it never ends)
    late: float = 0.0  # seconds it stays queued before its own time starts (--bulk-late-seconds)
    results: List[Dict[str, Any]] = field(default_factory=list)
    completed_ms: Optional[int] = None

    def status(self, now: int) -> str:
        """queued while it is late and for the first third of the job's time, running after that, its end once its
        writes landed."""
        if self.completed_ms is not None and self.end is not None:
            return self.end
        return "queued" if now < self.created_ms + (self.late + self.seconds / 3) * 1000 else "running"

    def render(self, org_id: str, now: int) -> dict:
        """The bulk record (``GET /v1/bulk/{id}``)."""
        status = self.status(now)
        total = -(-len(self.items) // BATCH_ITEMS)
        verb = "bulk-create" if self.operation == "create" else "bulk-update"
        return {
            "type": "bulk",
            "id": self.id,
            "attributes": {
                "status": status,
                "context": f"api.sobjects.{self.collection.split('_')[0]}.{verb}",
                "batches": {"complete": total if status in ("complete", "failed") else 0, "total": total},
                "ids": [r["id"] for r in self.results if r.get("id")],
                "completed": status == "complete",
                "createdAt": iso_ms(self.created_ms),
                "updatedAt": iso_ms(self.completed_ms or self.created_ms),
            },
            "relationships": {"org": relationship("org", org_id)},
            "links": {"self": f"/v1/bulk/{self.id}"},
        }

    def batches(self, now: int) -> List[dict]:
        """The batches of a job that ended (none before): counts, the ids written and the errors of each batch,
        and -- for the items that carried ``_clientRef`` -- each one's outcome under ``results``."""
        if self.status(now) not in ("complete", "failed"):
            return []
        out = []
        for n in range(0, len(self.results), BATCH_ITEMS):
            outcomes = self.results[n : n + BATCH_ITEMS]
            failures = [o for o in outcomes if o["status"] == FAILED]
            attributes: Dict[str, Any] = {
                "successCount": len(outcomes) - len(failures),
                "failureCount": len(failures),
                "objectIds": [o["id"] for o in outcomes if o["status"] != FAILED],
                "errors": [o["error"] for o in failures],
            }
            referenced = [o for o in outcomes if CLIENT_REF in o]
            if referenced:
                attributes["results"] = referenced
            out.append({"type": "bulk_batch", "id": f"{self.id}-{n // BATCH_ITEMS}", "attributes": attributes})
        return out


class BulkBook:
    """Every bulk job of the org, by id."""

    def __init__(self, seed: int) -> None:
        self._salt = mix32(seed, 0xB0)
        self.jobs: Dict[str, BulkJob] = {}
        self._late: Set[Tuple[str, str]] = set()  # (collection, operation) whose first job was held back

    def get(self, job_id: str) -> Optional[BulkJob]:
        """The job with this id, or None."""
        return self.jobs.get(job_id)

    def submit(
        self,
        org: "Org",
        coll: Collection,
        operation: str,
        items: List[Mapping[str, Any]],
        settings: WriteSettings,
        minute_seconds: float = 60,
    ) -> BulkJob:
        """Queue a job (the caller holds the org's lock); it runs now under ``sync``, after ``bulk_seconds`` else --
        the first of its collection and operation ``bulk_late_seconds`` later still."""
        at = now_ms()
        first = (coll.name, operation) not in self._late
        late = settings.bulk_late_seconds if first and settings.bulk_mode == "async" else 0.0
        if late:
            self._late.add((coll.name, operation))
        job = BulkJob(
            id=f"{at // 1000:08x}{self._salt:08x}{len(self.jobs):08x}",
            collection=coll.name,
            operation=operation,
            items=items,
            created_ms=at,
            seconds=settings.bulk_seconds if settings.bulk_mode == "async" else 0.0,
            end=BULK_JOB_END_STATUS[settings.bulk_job_end],
            late=late,
        )
        self.jobs[job.id] = job
        if settings.bulk_mode == "sync":
            self._run(org, job, settings, minute_seconds)
        else:
            timer = threading.Timer(job.late + job.seconds, self._run_locked, (org, job, settings, minute_seconds))
            timer.daemon = True
            timer.start()
        return job

    def _run_locked(self, org: "Org", job: BulkJob, settings: WriteSettings, minute_seconds: float) -> None:
        with org.lock:
            self._run(org, job, settings, minute_seconds)

    def _run(self, org: "Org", job: BulkJob, settings: WriteSettings, minute_seconds: float) -> None:
        coll = org.collections[job.collection]
        at = now_ms()
        for item in job.items if job.end == "complete" else job.items[: len(job.items) // 2]:
            outcome: Dict[str, Any] = {CLIENT_REF: item[CLIENT_REF]} if CLIENT_REF in item else {}
            try:
                if job.operation == "create":
                    i, _ = org.store.create(coll, item, settings, at, minute_seconds)
                    outcome.update(status="created", id=coll.record_id(i))
                else:
                    record = org.store.update_by_id(coll, str(item["id"]), item, settings, at)
                    outcome.update(status="updated", id=record["id"])
            except WriteRefused as refused:
                outcome.update(status=FAILED, error={"status": refused.status, "detail": refused.detail})
            job.results.append(outcome)
        job.completed_ms = at
