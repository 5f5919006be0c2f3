"""Exact reading of a Kustomer search, whatever the data does while it is read.

Kustomer's search pages by offset (`page`, `pageSize`) and stops after ~10,000 results per
query. Offsets shift when a record in front of the read position is updated, so paging one
query from page 1 to N can skip records. This reader never pages a moving result set:

* Every request is page 1 of "updatedAt >= the last value seen", skipping the ids already
  emitted at exactly that value. Nothing in front of the read position can be skipped, and
  the result window is never approached.
* When a whole page shares one updatedAt (a tie cluster at least a page long), the cluster is
  read the same way by its next key (createdAt): still page 1 of a keyset query each time, so
  members updated away while it is read shift nothing.
* Only records sharing *every* key are paged by offset (the cluster's timestamps are in the
  past, so it can only shrink); such a group is re-read if its size changed during a pass.

Records come out in ascending order of the first key, so its value on the last record emitted
is always a safe checkpoint: resuming from it with ``gte`` loses nothing.
"""

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

Record = Mapping[str, Any]
Criteria = List[Mapping[str, Any]]
MAX_GROUP_PASSES = 10


@dataclass
class SearchPage:
    """One page of search results."""

    records: List[Record]
    total: Optional[int]
    has_next: bool


# fetch(criteria, sort_field, page) -> SearchPage; criteria are and-ed.
Fetch = Callable[[Criteria, str, int], SearchPage]


@dataclass
class KeysetStats:
    """What the reader did (requests, tie groups, re-reads), for tests and debugging."""

    requests: int = 0
    tie_clusters: int = 0
    group_rereads: int = 0
    skipped_seen: int = 0


@dataclass
class SortKey:
    """A search field and the record attribute holding its value."""

    search_field: str
    record_key: str


@dataclass
class KeysetReader:
    """Reads every record matching ``base criteria`` in ascending order of ``keys[0]``."""

    fetch: Fetch
    keys: Sequence[SortKey]
    page_size: int
    window_results: int = 10_000
    max_pages: int = 100
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("airbyte"))
    stats: KeysetStats = field(default_factory=KeysetStats)

    def read(self, criteria: Criteria) -> Iterator[Record]:
        """All matching records, each at least once, ascending by the first key."""
        yield from self._scan(criteria, 0, set())

    def _get(self, criteria: Criteria, level: int, page: int) -> SearchPage:
        self.stats.requests += 1
        return self.fetch(criteria, self.keys[level].search_field, page)

    def _scan(self, criteria: Criteria, level: int, skip: Set[str]) -> Iterator[Record]:
        """Keyset scan on ``keys[level]``; ``skip`` holds ids already emitted."""
        key = self.keys[level]
        boundary: Optional[Tuple[str, bool]] = None  # (value, inclusive)
        seen_at_boundary: Set[str] = set()
        while True:
            extra = [] if boundary is None else [{key.search_field: {"gte" if boundary[1] else "gt": boundary[0]}}]
            page = self._get(criteria + extra, level, 1)
            records = page.records
            if not records:
                return
            for record in records:
                rid = record["id"]
                at_boundary = boundary is not None and record[key.record_key] == boundary[0]
                if rid in skip or (at_boundary and rid in seen_at_boundary):
                    self.stats.skipped_seen += 1
                    continue
                yield record
            if not page.has_next:
                return
            last = records[-1][key.record_key]
            at_last = {r["id"] for r in records if r[key.record_key] == last}
            if records[0][key.record_key] != last:
                if boundary is None or boundary[0] != last:
                    seen_at_boundary = set()
                seen_at_boundary |= at_last
                boundary = (last, True)
                continue
            # A whole page shares one value: read that group alone, then continue past it.
            self.stats.tie_clusters += 1
            seen = skip | at_last | (seen_at_boundary if boundary is not None and boundary[0] == last else set())
            group = criteria + [{key.search_field: {"gte": last}}, {key.search_field: {"lte": last}}]
            if level + 1 < len(self.keys):
                self.logger.info(
                    f"At least {len(records)} records share {key.record_key}={last}; "
                    f"reading them in order of {self.keys[level + 1].record_key}."
                )
                yield from self._scan(group, level + 1, seen)
            else:
                yield from self._drain(group, level, seen)
            boundary, seen_at_boundary = (last, False), set()

    def _drain(self, group: Criteria, level: int, seen: Set[str]) -> Iterator[Record]:
        """Every record of a group that shares every key, by offset, re-read while its size changes."""
        pages_in_window = max(1, min(self.max_pages, self.window_results // self.page_size))
        for attempt in range(MAX_GROUP_PASSES):
            first_total: Optional[int] = None
            page_no = 1
            while True:
                page = self._get(group, level, page_no)
                if first_total is None:
                    first_total = page.total
                    if page.total is not None and page.total > pages_in_window * self.page_size:
                        shared = " and ".join(k.record_key for k in self.keys)
                        raise AirbyteTracedException(
                            message=f"{page.total} records share the same {shared}, more than Kustomer's search can "
                            f"page through ({self.window_results}); please report this to the connector's maintainers.",
                            failure_type=FailureType.system_error,
                        )
                for record in page.records:
                    if record["id"] not in seen:
                        seen.add(record["id"])
                        yield record
                if not page.has_next or not page.records or page_no >= pages_in_window:
                    break
                page_no += 1
            if page.total is not None and page.total == first_total:
                return
            self.stats.group_rereads += 1
            self.logger.info(
                f"A group of records sharing every sort key changed while it was read (pass {attempt + 1}); "
                "reading it again to catch anything that shifted."
            )
        raise AirbyteTracedException(
            message="A group of records sharing one timestamp kept changing while it was read; run the sync again "
            "(it resumes from this point without losing records).",
            failure_type=FailureType.transient_error,
        )
