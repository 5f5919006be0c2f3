"""Creating the records a batch found missing, never one twice.

Kustomer offers no idempotency key, so a create is sent again only where the first is known not to have taken
effect (a 429, a connection never made: the creates client retries those). After any other failure -- a timeout,
a dropped connection, a 5xx, an answer without the job it started -- the records are looked up again: after a
wait (as long as the request timeout when Kustomer never answered, since it may still be writing; a job poll's
first wait when it answered) and once more after twice that. Only those still missing are created again, once;
a record whose second create is lost too is reported failed (the next sync looks it up again). A write that
lands later than that can still be duplicated where Kustomer allows a second object with the same key.

A 409 to a create means an object with that key exists now: it is looked up and updated instead. A bulk job that
ends without writing every item (failures, or a status other than queued, running and complete) is settled item
by item: each looked up, and created alone if missing. A job still unfinished after its polls is looked up too;
if any of its records is missing the sync stops, since the job may yet write it.
"""

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Sequence, Tuple

from kustomer_http.connection import OutcomeUnknown

from destination_kustomer.bodies import update_body
from destination_kustomer.bulk import REFUSED, UNANSWERED, UNFINISHED, WRITTEN, BulkJobs, unfinished_error
from destination_kustomer.errors import RecordFailed
from destination_kustomer.lookups import Existing
from destination_kustomer.mapping import MappedRecord
from destination_kustomer.progress import StreamReport
from destination_kustomer.single import Conflict, SingleWrites
from destination_kustomer.targets import StreamTarget

Create = Tuple[MappedRecord, Dict[str, Any]]  # a record and its create body
LookUp = Callable[[Sequence[MappedRecord]], List[Any]]  # Existing, None (missing) or RecordFailed per record
Runs = Callable[[List[Create]], List[List[Create]]]  # creates cut into the runs of one request each
LOOKS_AFTER_A_LOST_ANSWER = 2
CREATE_ATTEMPTS = 2
LOST_TWICE = (
    "Kustomer did not say what came of {attempts} creates of it, and it is not found; it was not created again (the "
    "next sync looks it up again)"
)


@dataclass(frozen=True)
class Waits:
    """Seconds before a record whose create got no answer is looked up again: after no answer at all (the request
    timeout), or after an answer that was an error (a job poll's first wait)."""

    unanswered: float
    answered: float


@dataclass
class Creates:
    """The creates of one stream: in bulk runs or alone, each record created once at most."""

    target: StreamTarget
    look_up: LookUp
    runs: Runs
    singles: SingleWrites
    bulk: BulkJobs
    report: StreamReport
    waits: Waits

    def write(self, creates: List[Create], attempt: int = 1) -> None:
        """Create every record of ``creates`` (all looked up and found missing)."""
        for run in self.runs(creates):
            if len(run) == 1:
                self._alone(*run[0], attempt)
                continue
            result = self.bulk.run("create", [body for _, body in run])
            self.report.add(bulk_requests=1, bulk_follow_ups=result.follow_ups)
            if result.outcome == WRITTEN:
                self.report.add(created=len(run))
            elif result.outcome == REFUSED:  # nothing was written: each alone, for its own answer
                for record, body in run:
                    self._alone(record, body, attempt)
            elif result.outcome == UNANSWERED:
                self._after_a_lost_answer(run, result.answered, attempt)
            elif result.outcome == UNFINISHED:
                missing = self._still_missing(run)
                if missing:
                    raise unfinished_error(result, self.target.object, len(run) - len(missing), len(run))
            else:  # the job ended without saying which items it wrote
                for record, body in self._still_missing(run):
                    self._alone(record, body, attempt)

    def _alone(self, record: MappedRecord, body: Dict[str, Any], attempt: int) -> None:
        self.report.add(single_writes=1)
        try:
            self.singles.create(body)
        except Conflict as conflict:
            self._update_instead(record, conflict.reason)
        except RecordFailed as failed:
            self.report.fail(self.name(record), failed.reason)
        except OutcomeUnknown as unknown:
            self._after_a_lost_answer([(record, body)], unknown.answered, attempt)
        else:
            self.report.add(created=1)

    def _after_a_lost_answer(self, run: List[Create], answered: bool, attempt: int) -> None:
        """Look ``run`` up after waiting (twice at most); create again, once, what is still missing."""
        wait = self.waits.answered if answered else self.waits.unanswered
        missing = run
        for look in range(LOOKS_AFTER_A_LOST_ANSWER):
            time.sleep(wait * 2**look)
            missing = self._still_missing(missing)
            if not missing:
                return
        if attempt < CREATE_ATTEMPTS:
            self.write(missing, attempt + 1)
            return
        for record, _ in missing:
            self.report.fail(self.name(record), LOST_TWICE.format(attempts=attempt))

    def _still_missing(self, run: List[Create]) -> List[Create]:
        """Look ``run`` up: each record found counts as created, a failed lookup as failed; the rest are returned."""
        missing: List[Create] = []
        for (record, body), found in zip(run, self.look_up([record for record, _ in run]), strict=True):
            if isinstance(found, Existing):
                self.report.add(created=1)
            elif isinstance(found, RecordFailed):
                self.report.fail(self.name(record), found.reason)
            else:
                missing.append((record, body))
        return missing

    def _update_instead(self, record: MappedRecord, conflict: str) -> None:
        """After a 409: the object now found by the record's key is updated; none found, the refusal stands."""
        (found,) = self.look_up([record])
        if isinstance(found, RecordFailed):
            self.report.fail(self.name(record), found.reason)
            return
        if not isinstance(found, Existing):
            self.report.fail(self.name(record), conflict)
            return
        self.report.add(single_writes=1)
        try:
            self.singles.update(found.id, update_body(record, self.target.object, found))
        except RecordFailed as failed:
            self.report.fail(self.name(record), failed.reason)
        else:
            self.report.add(updated=1)

    def name(self, record: MappedRecord) -> str:
        """How a record is named in reports: its matching key and value."""
        return f"{self.target.matching_key}={record.key}"
