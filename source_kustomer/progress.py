"""Per-stream progress lines while a sync runs, and the summary at its end."""

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from kustomer_http.rate_policy import RateStats

PROGRESS_EVERY_SECONDS = 5.0
logger = logging.getLogger("airbyte")


def counted(n: int, noun: str, plural: Optional[str] = None) -> str:
    """A count with its noun in the number it takes: ``1 page``, ``2 pages``, ``1,000 records``."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


@dataclass
class StreamProgress:
    """Counters for one stream; its requests' waits, 429s and retries are counted in ``http_stats`` by its clients."""

    stream: str
    http_stats: RateStats
    records: int = 0
    pages: int = 0
    possible_duplicates: int = 0
    malformed: int = 0
    deletions: int = 0
    forbidden: Optional[str] = None
    read_path: Optional[str] = None  # how a stream with more than one way to read was read in this sync
    started: Optional[float] = None
    finished: Optional[float] = None
    started_at: Optional[float] = None  # wall clock (epoch seconds), to line streams up against each other
    finished_at: Optional[float] = None
    _last_log: float = field(default=0.0)

    def start(self) -> None:
        """Mark the stream's start, once."""
        if self.started is None:
            self.started = self._last_log = time.monotonic()
            self.started_at = time.time()

    def page(self, now: float) -> None:
        """Count a page; every few seconds, log where the stream is."""
        self.start()
        self.pages += 1
        if now - self._last_log >= PROGRESS_EVERY_SECONDS:
            self._last_log = now
            logger.info(f"progress {self.describe()}")

    def finish(self) -> None:
        """Mark the stream's end (once) and say where it ended."""
        if self.finished is None:
            self.finished = time.monotonic()
            self.finished_at = time.time()
            logger.info(f"progress {self.describe()} — done in {self.duration:.1f}s")

    @property
    def rate_waits(self) -> int:
        """Pauses before sending this stream's requests (the budget is shared: other streams' pauses are theirs)."""
        return self.http_stats.waits

    @property
    def rate_wait_seconds(self) -> float:
        """Wall seconds during which at least one of this stream's requests was pausing: pauses side by side count
        once, so this never exceeds the stream's duration."""
        return self.http_stats.wait_seconds

    @property
    def duration(self) -> float:
        """Seconds from start to finish (or to now)."""
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    def describe(self) -> str:
        """One human line: records, pages, rate waits (and the wall time they took), 429s, retries."""
        return (
            f"{self.stream}: {counted(self.records, 'record')}, {counted(self.pages, 'page')}, "
            f"{counted(self.rate_waits, 'rate wait')} ({self.rate_wait_seconds:.1f}s), "
            f"{self.http_stats.throttled_429:,} throttled (429), {counted(self.http_stats.retries, 'retry', 'retries')}"
        )

    def summary_line(self) -> str:
        """The stream's closing line."""
        if self.forbidden:
            return f"summary {self.stream}: skipped, access refused ({self.forbidden})"
        malformed = f", {counted(self.malformed, 'malformed record')} skipped" if self.malformed else ""
        deletions = f", {counted(self.deletions, 'deletion')}" if self.deletions else ""
        path = f", read {self.read_path}" if self.read_path else ""
        duplicates = counted(self.possible_duplicates, "possible duplicate")
        return f"summary {self.describe()}, {duplicates}{deletions}{malformed}{path}, {self.duration:.1f}s"

    def as_dict(self) -> Dict[str, Any]:
        """Machine-readable summary (used by the demo and the benchmark)."""
        return {
            "stream": self.stream,
            "records": self.records,
            "requests": self.pages,
            "duration_s": round(self.duration, 3),
            "started_at": round(self.started_at, 3) if self.started_at is not None else None,
            "finished_at": round(self.finished_at, 3) if self.finished_at is not None else None,
            "rate_waits": self.rate_waits,
            "rate_wait_s": round(self.rate_wait_seconds, 3),
            "http_429": self.http_stats.throttled_429,
            "retries": self.http_stats.retries,
            "possible_duplicates": self.possible_duplicates,
            "malformed_skipped": self.malformed,
            "deletions": self.deletions,
            "skipped": self.forbidden,
            "read_path": self.read_path,
        }
