"""The base of the verifying search reader: how it asks for a page, and how it reads a set by offset.

* **Every page it relies on is asked for here** (``_get``), counted, and verified (``page_checks.py``): a page
  with malformed records, or fewer than it says it has, is asked for again, at most ``MALFORMED_RETRIES`` times.
* **A set that can only shrink is read by offset** (``_offset_read``): a tie group (every record at one
  ``updatedAt``, in the past) or a time range of records written once. Read page by page, in passes, until one
  pass proves it saw every member (``_group_pass`` says how); at most ``MAX_GROUP_PASSES`` passes. A set larger
  than one search can page through is handed back (``Beyond``), nothing of it emitted.

``keyset.py``'s ``KeysetReader`` builds on it: the keyset on ``updatedAt`` that finds the tie groups, the second
key beyond the window, and the range reads.
"""

import logging
from dataclasses import dataclass, field, replace
from typing import Any, Callable, FrozenSet, Generator, List, Optional, Sequence, Set, Tuple

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_kustomer.page_checks import same_order, shortfall, verified_records
from source_kustomer.search_ranges import ContractBroken, Fetch, Query, Record, SearchPage, SortKey, query_criteria

MAX_GROUP_PASSES = 5
MALFORMED_RETRIES = 2


class SplitSearchesSpent(Exception):
    """A range read has spent its searches (``keyset.MAX_SPLIT_SEARCHES``) since it split its window."""


@dataclass(frozen=True)
class _GroupPage:
    """What a pass over a group keeps of one page, once its records are out."""

    ids: List[str]
    total: Optional[int]
    has_next: bool
    empty: bool
    malformed: int  # records at this page's positions that could not be emitted (skipped and reported)
    beyond: bool = False  # the first page of a set larger than the window: nothing of it was emitted


@dataclass(frozen=True)
class Beyond:
    """A set too large for one search to page through; ``total`` as Kustomer gave it (None if it did not)."""

    total: Optional[int]


@dataclass
class KeysetStats:
    """What the reader did, for the summary, tests and debugging."""

    requests: int = 0
    tie_groups: int = 0
    group_rereads: int = 0
    page_rereads: int = 0
    second_key_groups: int = 0
    skipped_seen: int = 0
    malformed: int = 0
    range_splits: int = 0


@dataclass
class OffsetReader:
    """Asks for verified pages of one stream's search, and reads a set that can only shrink by offset."""

    fetch: Fetch
    keys: Sequence[SortKey]
    page_size: int
    stream: str = "search"
    window_results: int = 10_000
    max_pages: int = 100
    on_malformed: Callable[[Record, str], None] = lambda record, reason: None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("airbyte"))
    stats: KeysetStats = field(default_factory=KeysetStats)
    # Set by a range read once it splits its window: no request past it (keyset.MAX_SPLIT_SEARCHES)
    _split_searches_end: Optional[int] = field(default=None, init=False, repr=False)

    @property
    def pages_in_window(self) -> int:
        """Pages one query may ask for: page p is served only while p x pageSize stays inside the window."""
        return max(1, min(self.max_pages, self.window_results // self.page_size))

    @property
    def capacity(self) -> int:
        """Records one query can page through."""
        return self.pages_in_window * self.page_size

    def _offset_read(self, query: Query, seen: Set[str]) -> Generator[Record, None, Optional["Beyond"]]:
        """Every record of a set that can only shrink (a past group or range), read by offset in passes until one
        proves complete. Returns None when done, or Beyond (nothing emitted) when the set is larger than the window.
        """
        previous: Optional[FrozenSet[str]] = None
        members: Set[str] = set()
        total: Optional[int] = None
        for attempt in range(1, MAX_GROUP_PASSES + 1):
            members = set()
            outcome, total = yield from self._group_pass(query, seen, members)
            if outcome == "beyond":
                return Beyond(total)
            if outcome == "complete" or (outcome == "totalless" and previous == members):
                return None
            previous = frozenset(members)
            self.stats.group_rereads += 1
            self.logger.info(
                f"The records with {query[-1].describe()} changed while they were read (pass {attempt}); "
                "reading them again to catch anything that shifted."
            )
        raise self._stop(
            f"The records with {query[-1].describe()} came back differently on each of {MAX_GROUP_PASSES} reads "
            f"(meta.total {total if total is not None else 'absent'}, {len(members)} distinct ids), so the connector "
            "cannot prove it read them all. The sync stopped without skipping any; the next sync resumes here."
        )

    def _group_pass(self, query: Query, seen: Set[str], members: Set[str]) -> Generator[Record, None, Tuple[str, Any]]:
        """One pass over a pinned group by offset; returns (outcome, the group's total).

        The group only shrinks, and keeps its order: a member leaving moves every later member one place forward,
        so members near a page boundary can slip back onto the page already read. When the total has dropped
        between page j and page j+1, page j is read once more: whoever slipped back across the boundary is on
        it now (as long as fewer than a page left meanwhile, else the pass starts over). By induction, every
        member still in the group was seen when the last page says there is no more. The re-read page must keep
        the order of the members it shares with the first read; a pass without departures must have shown
        exactly ``total`` distinct members (a malformed one, skipped and reported, still counts as shown).
        Outcomes: complete | beyond (larger than the window) | totalless (confirm with a second pass) | again.
        """
        current = yield from self._group_page(query, 1, seen, members, opening=True)
        if current.beyond:
            return "beyond", current.total  # nothing emitted: a larger set is read another way
        quiet, page_no, malformed = True, 1, current.malformed
        while current.has_next and not current.empty:
            if page_no >= self.pages_in_window:
                if current.total is None or current.total >= self.capacity:
                    return "beyond", current.total
                break  # the last page inside the window links past it even when nothing is left there
            following = yield from self._group_page(query, page_no + 1, seen, members)
            if current.total is not None and following.total != current.total:
                quiet = False
                if following.total is None or following.total > current.total:
                    return "again", following.total
                self.stats.page_rereads += 1
                again = yield from self._group_page(query, page_no, seen, members)
                slipped = current.total - (again.total if again.total is not None else -self.page_size)
                if slipped > self.page_size or not same_order(current.ids, again.ids):
                    return "again", again.total
            current, page_no, malformed = following, page_no + 1, malformed + following.malformed
        if current.total is None:
            return "totalless", None
        if current.total > page_no * self.page_size or (quiet and len(members) + malformed != current.total):
            return "again", current.total
        return "complete", current.total

    def _group_page(
        self, query: Query, page_no: int, seen: Set[str], members: Set[str], opening: bool = False
    ) -> Generator[Record, None, "_GroupPage"]:
        """Page ``page_no`` of a set read by offset: yields its members not read before, returns what the pass
        keeps of it. The page is let go when this ends, before the next one is asked for. A pass's ``opening`` page
        saying the set is larger than the window yields nothing."""
        page, records, malformed = self._get(query, self.keys[0], page_no, ordered_by=None)
        kept = _GroupPage([r["id"] for r in records], page.total, page.has_next, not page.records, malformed)
        if opening and page.total is not None and page.total >= self.capacity:
            return replace(kept, beyond=True)
        for record in records:
            members.add(record["id"])
            if record["id"] not in seen:
                seen.add(record["id"])
                yield record
        return kept

    # ---- pages ---------------------------------------------------------------------------------------------
    def _get(
        self, query: Query, sort: SortKey, page_no: int, ordered_by: Optional[SortKey]
    ) -> Tuple[SearchPage, List[Record], int]:
        """A page, its verified records and how many it held that could not be emitted. A page with malformed
        records, or fewer records than it says it has, is asked for again first (a broken response is often
        transient), at most ``MALFORMED_RETRIES`` times; then malformed records are skipped and reported, and a page
        still short of its own count breaks the contract (records dropped: never read past silently)."""
        attempt = 0
        while (answer := self._attempt(query, sort, page_no, ordered_by, attempt == MALFORMED_RETRIES)) is None:
            attempt += 1
        return answer

    def _attempt(
        self, query: Query, sort: SortKey, page_no: int, ordered_by: Optional[SortKey], last: bool
    ) -> Optional[Tuple[SearchPage, List[Record], int]]:
        """One request of ``_get``: None when the page is to be asked for again (it is let go first)."""
        if self._split_searches_end is not None and self.stats.requests >= self._split_searches_end:
            raise SplitSearchesSpent()
        self.stats.requests += 1
        page = self.fetch(query_criteria(query), sort.search_field, page_no)
        if len(page.records) > self.page_size:
            raise ContractBroken(f"a page of {len(page.records):,} records, though {self.page_size:,} were asked for")
        short = shortfall(page, page_no, self.page_size)
        good, bad = verified_records(page.records, query, ordered_by)
        if (bad or short) and not last:
            what = "malformed records" if bad else "fewer records than it said it had"
            self.logger.info(f"A page of {query[-1].describe()} held {what}; asking for it again.")
            return None
        if short:
            raise ContractBroken(f"{short}: records were dropped")
        for record, reason in bad:
            self.stats.malformed += 1
            self.on_malformed(record, reason)
        return page, good, len(bad)

    def _stop(self, message: str) -> AirbyteTracedException:
        text = f"Stream '{self.stream}': {message}"
        return AirbyteTracedException(message=text, internal_message=text, failure_type=FailureType.system_error)
