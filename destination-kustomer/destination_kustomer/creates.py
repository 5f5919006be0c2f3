"""Creating the records a batch found missing, never one twice.

Kustomer offers no idempotency key, so a create is sent again only where the first is known not to have taken
effect (a 429, a connection never made: the creates client retries those). After any other failure -- a timeout,
a dropped connection, a 5xx, an answer without the job it started -- the records are looked up again: after a
wait (as long as the request timeout when Kustomer never answered, since it may still be writing; a job poll's
first wait when it answered) and once more after twice that. Only those still missing are created again, once;
a record whose second create is lost too is reported failed (the next sync looks it up again). A write that
lands later than that can still be duplicated where Kustomer allows a second object with the same key.

A 409 to a create means an object with that key exists now: it is looked up and updated instead. A 429 that
concerns the object alone (a customer's custom objects created past Kustomer's limit) waits for that object
(``deferred``) while the others are created. A bulk job that says what came of each item (``_clientRef``) is taken
at its word, item by item; one that ends without writing every item and does not say which (failures, or a status
other than queued, running and complete) is settled item by item: each looked up, and created alone if missing.
A job still unfinished after its polls stops the sync (``bulk``): nothing it carries is sent again while it may
run. Every key created is remembered (``Finder.created``): search may not see it yet.
"""

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

from kustomer_http.connection import OutcomeUnknown

from destination_kustomer.bulk import ITEMIZED, REFUSED, UNANSWERED, WRITTEN, BulkJobs
from destination_kustomer.deferred import Deferred
from destination_kustomer.errors import RecordFailed
from destination_kustomer.finding import Finder
from destination_kustomer.lookups import Existing
from destination_kustomer.mapping import MappedRecord
from destination_kustomer.progress import StreamReport
from destination_kustomer.single import Conflict, ObjectLimited, SingleWrites
from destination_kustomer.targets import StreamTarget

Create = Tuple[MappedRecord, Dict[str, Any]]  # a record and its create body
Runs = Callable[[List[Create]], List[List[Create]]]  # creates cut into the runs of one request each
UpdateOne = Callable[[MappedRecord, Existing], bool]  # updates a record's object alone
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
    finder: Finder
    runs: Runs
    singles: SingleWrites
    bulk: "BulkJobs | None"  # None: every create alone
    report: StreamReport
    waits: Waits
    deferred: Deferred
    update_one: UpdateOne
    name: Callable[[MappedRecord], str]

    def write(self, creates: List[Create], attempt: int = 1) -> None:
        """Create every record of ``creates`` (all looked up and found missing)."""
        for run in self.runs(creates):
            if len(run) == 1 or self.bulk is None:
                for record, body in run:
                    self._alone(record, body, attempt)
                continue
            result = self.bulk.run("create", [body for _, body in run])
            self.report.add(bulk_requests=1, bulk_follow_ups=result.follow_ups)
            if result.outcome == WRITTEN:
                self._created([record for record, _ in run])
            elif result.outcome == ITEMIZED and result.items is not None:
                for (record, body), item in zip(run, result.items, strict=True):
                    if item.written:
                        self._created([record])
                    elif item.status == 409:
                        self._update_instead(record, f"Kustomer answered HTTP 409 to this item: {item.detail}")
                    elif item.status == 429:
                        self._alone(record, body, attempt)
                    else:
                        self.report.fail(
                            self.name(record), f"Kustomer answered HTTP {item.status or '?'}: {item.detail}"
                        )
            elif result.outcome == REFUSED:  # nothing was written: each alone, for its own answer
                for record, body in run:
                    self._alone(record, body, attempt)
            elif result.outcome == UNANSWERED:
                self._after_a_lost_answer(run, result.answered, attempt)
            else:  # the job ended without saying which items it wrote
                for record, body in self._still_missing(run):
                    self._alone(record, body, attempt)

    def _alone(self, record: MappedRecord, body: Dict[str, Any], attempt: int, waits: int = 0) -> None:
        self.report.add(single_writes=1)
        try:
            self.singles.create(body)
        except Conflict as conflict:
            self._update_instead(record, conflict.reason)
        except ObjectLimited as limited:
            self.report.add(object_limited=1)
            if not self.deferred.wait(limited.wait, waits, lambda n: self._alone(record, body, attempt, n)):
                self.report.fail(self.name(record), f"{limited.reason} (its object stayed limited)")
        except RecordFailed as failed:
            self.report.fail(self.name(record), failed.reason)
        except OutcomeUnknown as unknown:
            self._after_a_lost_answer([(record, body)], unknown.answered, attempt)
        else:
            self._created([record])

    def _created(self, records: List[MappedRecord]) -> None:
        self.report.add(created=len(records))
        for record in records:
            self.finder.created(record)

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
        for (record, body), found in zip(run, self.finder.find([record for record, _ in run], exact=True), strict=True):
            if isinstance(found, Existing):
                self._created([record])
            elif isinstance(found, RecordFailed):
                self.report.fail(self.name(record), found.reason)
            else:
                missing.append((record, body))
        return missing

    def _update_instead(self, record: MappedRecord, conflict: str) -> None:
        """After a 409: the object now found by the record's key is updated; none found, the refusal stands."""
        (found,) = self.finder.find([record], exact=True)
        if isinstance(found, RecordFailed):
            self.report.fail(self.name(record), found.reason)
        elif not isinstance(found, Existing):
            self.report.fail(self.name(record), conflict)
        else:
            self.update_one(record, found)
