"""Exact reading of a Kustomer search, whatever the data does while it is read.

Kustomer's search pages by offset (`page`, `pageSize`) and stops after ~10,000 results per
query. Offsets shift when a record in front of the read position is updated, so paging one
query from page 1 to N can skip records. This reader never pages a moving result set:

* Every request is page 1 of "updatedAt >= the last value seen", skipping the ids already
  emitted at exactly that value. Nothing in front of the read position can be skipped, and
  the result window is never approached.
* When a whole page shares one updatedAt (a tie cluster at least a page long), that cluster
  alone is paged (it cannot grow: its timestamp is in the past) and re-paged if its size
  changed during the pass (a member was updated and left, shifting the offsets).
* A cluster larger than the result window is read by the next key (createdAt) the same way.

Records come out in ascending cursor order, so the cursor of the last record emitted is always
a safe checkpoint: resuming from it with ``gte`` loses nothing.
"""

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

Record = Mapping[str, Any]
Criteria = List[Mapping[str, Any]]
MAX_CLUSTER_PASSES = 10


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
    """What the reader did, for the progress log and the tests."""

    requests: int = 0
    tie_clusters: int = 0
    cluster_rescans: int = 0
    window_splits: int = 0
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
                if rid in skip or (
                    boundary is not None and record[key.record_key] == boundary[0] and rid in seen_at_boundary
                ):
                    self.stats.skipped_seen += 1
                    continue
                yield record
            if not page.has_next:
                return
            last = records[-1][key.record_key]
            at_last = {r["id"] for r in records if r[key.record_key] == last}
            if records[0][key.record_key] == last:
                seen = at_last | (seen_at_boundary if boundary is not None and boundary[0] == last else set())
                yield from self._drain_cluster(criteria, level, last, seen | skip)
                boundary, seen_at_boundary = (last, False), set()
            else:
                if boundary is None or boundary[0] != last:
                    seen_at_boundary = set()
                seen_at_boundary |= at_last
                boundary = (last, True)

    def _drain_cluster(self, criteria: Criteria, level: int, value: str, seen: Set[str]) -> Iterator[Record]:
        """Every record whose key equals ``value`` and is not in ``seen`` (which it extends)."""
        key = self.keys[level]
        self.stats.tie_clusters += 1
        cluster = criteria + [{key.search_field: {"gte": value}}, {key.search_field: {"lte": value}}]
        pages_in_window = max(1, min(self.max_pages, self.window_results // self.page_size))
        for attempt in range(MAX_CLUSTER_PASSES):
            first_total: Optional[int] = None
            page_no = 1
            while True:
                page = self._get(cluster, level, page_no)
                if first_total is None:
                    first_total = page.total
                    if page.total is not None and page.total > pages_in_window * self.page_size:
                        yield from self._split(cluster, level, value, seen, page.total)
                        return
                for record in page.records:
                    if record["id"] not in seen:
                        seen.add(record["id"])
                        yield record
                if not page.has_next or not page.records:
                    break
                if page_no >= pages_in_window:
                    yield from self._split(cluster, level, value, seen, page.total)
                    return
                page_no += 1
            if page.total is not None and page.total == first_total:
                return
            self.stats.cluster_rescans += 1
            self.logger.info(
                f"{len(seen)} records share {key.record_key}={value}; the group changed while it was read "
                f"(pass {attempt + 1}), reading it again to catch anything that shifted."
            )
        raise AirbyteTracedException(
            message=f"Records sharing {key.record_key}={value} kept changing while they were read; "
            "run the sync again (it resumes from this point without losing records).",
            failure_type=FailureType.transient_error,
        )

    def _split(
        self, cluster: Criteria, level: int, value: str, seen: Set[str], total: Optional[int]
    ) -> Iterator[Record]:
        if level + 1 >= len(self.keys):
            raise AirbyteTracedException(
                message=f"{total} records share {self.keys[level].record_key}={value}, more than Kustomer's search "
                f"can page through ({self.window_results}); contact support with this value.",
                failure_type=FailureType.system_error,
            )
        self.stats.window_splits += 1
        self.logger.info(
            f"{total} records share {self.keys[level].record_key}={value}, more than one search can return; "
            f"reading them in order of {self.keys[level + 1].record_key}."
        )
        yield from self._scan(cluster, level + 1, seen)
