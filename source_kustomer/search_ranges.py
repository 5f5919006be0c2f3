"""What a verified search asks for and what it gets back: sort keys, bounds and key ranges (each both the criteria
sent to Kustomer and the test every record of the answer must pass), a query as the ranges it and-s, a range cut
into narrower ones, the page as the reader sees it, and the two ways an answer fails.

The reader that uses them is ``keyset.py``; the checks a page must pass are ``page_checks.py``.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable, List, MutableMapping, Optional, Tuple

from kustomer_http.timestamps import instant, kustomer_time

Record = MutableMapping[str, Any]
Criteria = List[MutableMapping[str, Any]]
MAX_RANGE_PIECES = 64


@dataclass(frozen=True)
class SearchPage:
    """One page of search results, as the reader needs it."""

    records: List[Record]
    total: Optional[int]  # meta.total when it is a non-negative integer
    has_next: bool


# fetch(criteria, sort_field, page) -> SearchPage; criteria are and-ed; raises SearchRejected on HTTP 400.
Fetch = Callable[[Criteria, str, int], SearchPage]


class SearchRejected(Exception):
    """Kustomer answered 400 to a search; the message quotes Kustomer."""


class ContractBroken(Exception):
    """A page that contradicts what was asked (order or bounds) or itself (fewer records than it says it has)."""


@dataclass(frozen=True)
class SortKey:
    """A search field and the record attribute holding its value."""

    search_field: str
    record_key: str


@dataclass(frozen=True)
class Bound:
    """One side of a range: a timestamp as sent to Kustomer, and whether it is included."""

    value: str
    inclusive: bool = True

    @property
    def micros(self) -> int:
        """The bound as microseconds since the epoch (bounds are always valid timestamps)."""
        moment = instant(self.value)
        assert moment is not None, f"not a timestamp: {self.value!r}"
        return moment


@dataclass(frozen=True)
class KeyRange:
    """Bounds on one sort key: what a query asks for, and what every record of its answer must satisfy."""

    key: SortKey
    low: Optional[Bound] = None
    high: Optional[Bound] = None

    @classmethod
    def pinned(cls, key: SortKey, value: str) -> "KeyRange":
        """Exactly one value of ``key``."""
        return cls(key, Bound(value), Bound(value))

    def criteria(self) -> Criteria:
        """The search criteria for this range: at most one lower and one upper item, never the same twice."""
        items: Criteria = []
        if self.low is not None:
            items.append({self.key.search_field: {"gte" if self.low.inclusive else "gt": self.low.value}})
        if self.high is not None:
            items.append({self.key.search_field: {"lte" if self.high.inclusive else "lt": self.high.value}})
        return items

    def admits(self, moment: int) -> bool:
        """Whether a record whose key is ``moment`` (microseconds) belongs to this range."""
        if self.low is not None and (
            moment < self.low.micros or (moment == self.low.micros and not self.low.inclusive)
        ):
            return False
        return not (
            self.high is not None
            and (moment > self.high.micros or (moment == self.high.micros and not self.high.inclusive))
        )

    def describe(self) -> str:
        """The range in words, for error messages."""
        parts = [self.key.record_key]
        if self.low is not None:
            parts.insert(0, f"{self.low.value} {'<=' if self.low.inclusive else '<'}")
        if self.high is not None:
            parts.append(f"{'<=' if self.high.inclusive else '<'} {self.high.value}")
        return " ".join(parts)


Query = Tuple[KeyRange, ...]


def query_criteria(query: Query) -> Criteria:
    """The and-ed criteria of every range of a query."""
    return [item for key_range in query for item in key_range.criteria()]


def split_range(key_range: KeyRange, total: Optional[int], capacity: int) -> List[KeyRange]:
    """``key_range`` cut into equal time ranges, enough for ``total`` records to fit half a window each (two
    when the total is unknown); empty when the range is a single millisecond and cannot be cut."""
    assert key_range.low is not None and key_range.high is not None
    low = key_range.low.micros // 1000 + (0 if key_range.low.inclusive else 1)
    high = key_range.high.micros // 1000 - (0 if key_range.high.inclusive else 1)
    if high <= low:
        return []
    wanted = 2 if total is None else -(-2 * total // capacity)
    pieces = max(2, min(MAX_RANGE_PIECES, wanted, high - low + 1))
    cuts = sorted({low + (high - low) * n // pieces for n in range(1, pieces)})
    parts, lower = [], key_range.low
    for cut in cuts:
        value = kustomer_time(datetime.fromtimestamp(cut / 1000, tz=timezone.utc))
        parts.append(replace(key_range, low=lower, high=Bound(value)))
        lower = Bound(value, inclusive=False)
    parts.append(replace(key_range, low=lower))
    return parts
