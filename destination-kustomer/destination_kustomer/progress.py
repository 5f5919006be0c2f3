"""What each stream's writes came to: counts of records created, updated, failed…, the requests they took, the
fields that could not be written, and the first failures with their reasons. Logged as the sync goes, and as a
summary (one human line per stream and a ``SYNC_SUMMARY`` JSON line) at its end.

Every logged text is bounded, whatever the input: a record's name in a report at most ``MAX_KEY_CHARS``, a reason
(Kustomer's words included) at most ``MAX_REASON_CHARS``, a field name ``MAX_NAME_CHARS``; the first
``MAX_UNMAPPED_NAMES`` names of fields not written are kept per stream, the rest only counted."""

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Set

from kustomer_http.rate_policy import RateStats
from kustomer_http.redaction import redact

from destination_kustomer.mapping import shorten

PROGRESS_EVERY_SECONDS = 5.0
MAX_REPORTED_FAILURES = 50  # per stream: failures logged one by one (the rest are counted)
SUMMARY_SAMPLES = 5
MAX_KEY_CHARS = 100
MAX_REASON_CHARS = 500
MAX_NAME_CHARS = 64
MAX_UNMAPPED_NAMES = 100  # per stream: names of fields not written kept and reported (the rest are counted)
logger = logging.getLogger("airbyte")


@dataclass
class StreamReport:
    """Counters of one stream (thread-safe: lookups run concurrently)."""

    stream: str
    target: str  # e.g. "customer by email (upsert)"
    http: RateStats
    records: int = 0
    created: int = 0
    updated: int = 0
    soft_deleted: int = 0
    not_found: int = 0
    failed: int = 0
    would_create: int = 0
    would_update: int = 0
    partly_written: int = 0  # written, but for a field reported (a customer's email not added)
    lookups: int = 0  # by GET, reads again included
    search_lookups: int = 0
    searched_keys: int = 0
    search_misses: int = 0  # searched keys search did not find (or answered twice): looked up by GET
    search_distrusted: int = 0  # searches whose answer was not used (their keys looked up by GET)
    stale_retries: int = 0  # updates applied again after a stale rev
    object_limited: int = 0  # writes that waited on a per-object limit
    bulk_requests: int = 0
    bulk_follow_ups: int = 0
    single_writes: int = 0
    unmapped: Set[str] = field(default_factory=set)
    unmapped_unnamed: int = 0  # fields not written past MAX_UNMAPPED_NAMES names, counted once per record
    failures: List[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _last_log: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        """Add to counters, e.g. ``add(created=3, bulk_requests=1)``."""
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def fail(self, key: str, reason: str) -> None:
        """Count a record that was not written and say which and why (the first ``MAX_REPORTED_FAILURES``)."""
        line = redact(
            f"record of stream '{self.stream}' ({shorten(key, MAX_KEY_CHARS)}) was not written: "
            f"{shorten(reason, MAX_REASON_CHARS)}"
        )
        with self._lock:
            self.failed += 1
            if len(self.failures) < MAX_REPORTED_FAILURES:
                self.failures.append(line)
                logger.warning(line)
            elif len(self.failures) == MAX_REPORTED_FAILURES:
                self.failures.append("…")
                logger.warning(f"stream '{self.stream}': more records failed; the summary counts them all")

    def partly(self, key: str, note: str) -> None:
        """Count a record written but for one field, and say which and why (the first ``MAX_REPORTED_FAILURES``)."""
        line = redact(
            f"record of stream '{self.stream}' ({shorten(key, MAX_KEY_CHARS)}) was written, but "
            f"{shorten(note, MAX_REASON_CHARS)}"
        )
        with self._lock:
            self.partly_written += 1
            if self.partly_written <= MAX_REPORTED_FAILURES:
                logger.warning(line)

    def unmapped_fields(self, names: List[str], why: str) -> None:
        """Say once, for the fields of ``names`` not said before, that the stream does not write them and ``why``
        (the first ``MAX_UNMAPPED_NAMES`` names; fields past them are counted)."""
        with self._lock:
            fresh = sorted({shorten(name, MAX_NAME_CHARS) for name in names} - self.unmapped)
            room = max(0, MAX_UNMAPPED_NAMES - len(self.unmapped))
            self.unmapped_unnamed += len(fresh[room:])
            fresh = fresh[:room]
            self.unmapped.update(fresh)
        if fresh:
            logger.warning(redact(f"stream '{self.stream}': field(s) {', '.join(fresh)} {why}; they are not written"))

    def tick(self) -> None:
        """Every few seconds, say where the stream is."""
        now = time.monotonic()
        if now - self._last_log >= PROGRESS_EVERY_SECONDS:
            self._last_log = now
            logger.info(f"progress {self.describe()}")

    @property
    def requests(self) -> int:
        """Requests the stream's records took (retries not counted)."""
        return self.lookups + self.search_lookups + self.bulk_requests + self.bulk_follow_ups + self.single_writes

    @property
    def written(self) -> int:
        """Records that reached Kustomer (created, updated or soft-deleted)."""
        return self.created + self.updated + self.soft_deleted

    def describe(self) -> str:
        """One human line."""
        written = (
            f"{self.would_create:,} would be created, {self.would_update:,} updated (dry run)"
            if self.would_create or self.would_update
            else f"{self.created:,} created, {self.updated:,} updated"
        )
        deleted = f", {self.soft_deleted:,} soft-deleted" if self.soft_deleted else ""
        missing = f", {self.not_found:,} not found" if self.not_found else ""
        partly = f" ({self.partly_written:,} partly)" if self.partly_written else ""
        return (
            f"{self.stream} → {self.target}: {self.records:,} records, {written}{partly}{deleted}{missing}, "
            f"{self.failed:,} refused; {self.requests:,} requests ({self.search_lookups:,} searches, "
            f"{self.bulk_requests:,} bulk), {self.http.throttled_429} throttled (429), {self.http.retries} retries"
        )

    def as_dict(self) -> Dict[str, Any]:
        """The machine-readable summary."""
        return {
            "stream": self.stream,
            "target": self.target,
            "records": self.records,
            "created": self.created,
            "updated": self.updated,
            "soft_deleted": self.soft_deleted,
            "not_found": self.not_found,
            "failed": self.failed,
            "partly_written": self.partly_written,
            "would_create": self.would_create,
            "would_update": self.would_update,
            "requests": self.requests,
            "lookups": self.lookups,
            "search_lookups": self.search_lookups,
            "searched_keys": self.searched_keys,
            "search_misses": self.search_misses,
            "search_distrusted": self.search_distrusted,
            "stale_retries": self.stale_retries,
            "object_limited": self.object_limited,
            "bulk_requests": self.bulk_requests,
            "bulk_follow_ups": self.bulk_follow_ups,
            "single_writes": self.single_writes,
            "http_429": self.http.throttled_429,
            "retries": self.http.retries,
            "unmapped_fields": sorted(self.unmapped),
            "unmapped_unnamed": self.unmapped_unnamed,
            "failures": self.failures[:SUMMARY_SAMPLES],
            "duration_s": round(time.monotonic() - self.started, 3),
        }


def log_summary(reports: Mapping[str, StreamReport]) -> None:
    """One line per stream, then ``SYNC_SUMMARY <json>``."""
    for report in reports.values():
        logger.info(f"summary {report.describe()}")
    logger.info("SYNC_SUMMARY " + json.dumps([report.as_dict() for report in reports.values()]))
