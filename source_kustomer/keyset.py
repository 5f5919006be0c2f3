"""Exact reading of one Kustomer search window, verifying every page it relies on.

Kustomer's search pages by offset (``page``, ``pageSize``), stops after 10,000 results per query, and
documents sorting only by ``<object>_updated_at`` for every object. The reader never trusts an answer it
depends on; it checks it:

1. **Keyset on updatedAt.** Each request is page 1 of ``low <= updatedAt <= high`` sorted by updatedAt; ``low``
   moves to the last value seen and the ids already emitted at exactly that value are skipped. Offsets never
   shift under it, and the result window is never approached.
2. **Tie groups by offset.** When a whole page shares one updatedAt ``v``, that group is read alone, with
   ``v <= updatedAt <= v`` and the same sort, page by page. ``v`` is in the past, so the group can only shrink;
   a pass counts as complete only when it yielded ``meta.total`` distinct members and the total did not change
   (or, without a usable total, when two passes agree). Otherwise the group is read again, a bounded number
   of times.
3. **A second key only beyond the window.** A group larger than one search can page is read by a keyset on
   createdAt -- and only while the server demonstrably honours it: every page must come back ascending by
   createdAt and inside the requested bounds. If it does not (or Kustomer rejects the field), the stream stops
   with one error naming the timestamp and the group size.
4. **Every page is verified.** Records must carry an id and parseable keys (a page holding malformed ones is
   asked for again; if they persist they are skipped and reported, never emitted); they must lie inside the
   requested bounds and, where a sort was asked for, come
   back in that order; a page must hold what it says it holds (full when it links on; on the last page, what
   ``meta.total`` leaves). A violation stops the stream before any unverified record is emitted, so the saved
   state never moves past what was proven.

Bounds on requests: every keyset request must emit a new record or advance the read position (three
consecutive requests that do neither stop the stream); a tie group costs at most ``MAX_GROUP_PASSES`` passes of
at most the window's pages, each page re-read at most once; there are two keys. A range read (``read_by_ranges``)
spends at most ``MAX_SPLIT_SEARCHES`` once it splits its window.
Records come out ascending by updatedAt, so the updatedAt of
the last record emitted is always a safe checkpoint.

Where the pieces live: this module is the keyset (1, 3) and the range reads; reading a set by offset in passes
(2) and asking for every page (4's retries) is its base, ``offset_read.py``; what a page must show is
``page_checks.py``; keys, bounds, ranges and pages are ``search_ranges.py``.
"""

from dataclasses import dataclass, field, replace
from typing import Generator, Iterator, Optional, Set

from kustomer_http.timestamps import instant

from source_kustomer.offset_read import OffsetReader, SplitSearchesSpent
from source_kustomer.search_ranges import (
    Bound,
    ContractBroken,
    KeyRange,
    Query,
    Record,
    SearchRejected,
    split_range,
)

NO_PROGRESS_LIMIT = 3
# Searches one range read may spend in a sync once it has split its window: an hour of the default share of
# searches (search_requests_per_minute, 90). Every range read in full is checkpointed; past it, one clear error and
# the next sync goes on.
MAX_SPLIT_SEARCHES = 5_400
DEFAULT_SEARCHES_PER_MINUTE = 90
RANGE_DONE: "Record" = {}  # yielded by read_by_ranges after each range read in full (``checkpoint`` then moved)


@dataclass(frozen=True)
class _KeysetPage:
    """What the keyset moves on by, once a page's records are out (the page itself is not kept)."""

    has_next: bool
    empty: bool  # the page held no records at all
    fresh: bool  # it brought a record not read before
    last_value: Optional[str] = None  # the key of its last verified record; None when it had none
    at_last: Set[str] = field(default_factory=set)  # the ids of its records at that key
    tied: bool = False  # every verified record of it has that key


@dataclass
class KeysetReader(OffsetReader):
    """Reads every record of a window on ``keys[0]``, ascending by it, verifying each page."""

    checkpoint: Optional[str] = None  # read_by_ranges: every record at or before it has been emitted

    def read(self, window: KeyRange) -> Iterator[Record]:
        """Every record whose ``keys[0]`` lies in ``window``, each at least once, ascending by it."""
        yield from self._verified_read(self._keyset((), window, set()), window)

    def read_by_ranges(self, window: KeyRange) -> Iterator[Record]:
        """Every record whose ``keys[0]`` lies in ``window``, each once, without relying on any sort order.

        For objects whose records never change after they are written and whose sort Kustomer does not document:
        the window is read by offset as one set, the way a tie group is (complete only when a pass shows
        ``meta.total`` distinct records); a set larger than one search can page is split into equal time ranges,
        read in ascending order. ``checkpoint`` is then the upper bound of the last range read in full: every
        record at or before it was emitted. Bounds: once the window is split, at most ``MAX_SPLIT_SEARCHES``
        searches in all (then one clear error, every range read in full saved); before that, the passes of one
        range. ``RANGE_DONE`` is yielded after each range read in full.
        """
        yield from self._verified_read(self._ranges(window), window)

    def _ranges(self, window: KeyRange) -> Iterator[Record]:
        pending = [window]
        try:
            while pending:
                current = pending.pop()
                beyond = yield from self._offset_read((current,), set())
                if beyond is None:
                    self.checkpoint = current.high.value if current.high is not None else self.checkpoint
                    yield RANGE_DONE
                    continue
                if self._split_searches_end is None:
                    self._split_searches_end = self.stats.requests + MAX_SPLIT_SEARCHES
                parts = split_range(current, beyond.total, self.capacity)
                if not parts:
                    size = f"{beyond.total:,}" if beyond.total is not None else f"more than {self.capacity:,}"
                    raise self._stop(
                        f"{size} records have {current.describe()}: more than the {self.capacity:,} one Kustomer "
                        "search can page through, and the range cannot be split further. Please report this to the "
                        "connector's maintainers."
                    )
                self.stats.range_splits += 1
                pending.extend(reversed(parts))
        except SplitSearchesSpent:
            raise self._stop(
                f"reading {window.describe()} took more than {MAX_SPLIT_SEARCHES:,} searches in this sync once it was "
                f"split into narrower ranges (about {MAX_SPLIT_SEARCHES / DEFAULT_SEARCHES_PER_MINUTE:.0f} minutes of "
                f"the search budget at the default {DEFAULT_SEARCHES_PER_MINUTE} a minute); it stopped after the last "
                "range read in full (saved), and the next sync goes on from there."
            ) from None
        finally:
            self._split_searches_end = None

    def _verified_read(self, records: Iterator[Record], window: KeyRange) -> Iterator[Record]:
        try:
            yield from records
        except ContractBroken as broken:
            raise self._stop(
                f"Kustomer's search did not return what was asked for ({broken}). No record past the last verified "
                "one was emitted and the saved state does not move past it; the next sync resumes from there. If "
                "this repeats, report it to Kustomer support with this message."
            ) from None
        except SearchRejected as rejected:
            raise self._stop(
                f"Kustomer rejected the search for {window.describe()} ({rejected}). Please report this to the "
                "connector's maintainers."
            ) from None

    # ---- keyset --------------------------------------------------------------------------------------------
    def _keyset(self, fixed: Query, moving: KeyRange, skip: Set[str]) -> Iterator[Record]:
        """Page 1 of ``fixed + moving`` again and again, ``moving.low`` advancing to the last value seen."""
        key = moving.key
        at_low: Set[str] = set()  # ids emitted whose key equals moving.low
        stalled = 0
        while True:
            low = moving.low.micros if moving.low is not None else None
            step = yield from self._keyset_page(fixed + (moving,), skip, at_low, low)
            if not step.has_next:
                return
            if step.last_value is None:
                what = "an empty page" if step.empty else "a page of only malformed records"
                raise ContractBroken(f"{what} that links to a further page, at {moving.describe()}")
            last = instant(step.last_value)
            if not step.tied:
                advanced = low is None or last != low  # the page spans values, so last > low
                moving, at_low = replace(moving, low=Bound(step.last_value)), step.at_last
            else:
                self.stats.tie_groups += 1
                yield from self._group(
                    fixed,
                    KeyRange.pinned(key, step.last_value),
                    skip | step.at_last | (at_low if low == last else set()),
                )
                advanced = moving.low is None or moving.low.inclusive or last != low
                moving, at_low = replace(moving, low=Bound(step.last_value, inclusive=False)), set()
            stalled = 0 if step.fresh or advanced else stalled + 1
            if stalled >= NO_PROGRESS_LIMIT:
                raise self._stop(
                    f"Kustomer's search returned nothing new {NO_PROGRESS_LIMIT} times in a row at "
                    f"{moving.describe()}; the sync stopped to protect the org's shared search budget. The next sync "
                    "resumes from the last saved state."
                )

    def _keyset_page(
        self, query: Query, skip: Set[str], at_low: Set[str], low: Optional[int]
    ) -> Generator[Record, None, "_KeysetPage"]:
        """Page 1 of ``query`` (sorted by its last key): yields its records not read before, returns what the keyset
        moves on by. The page is let go when this ends, before the next one is asked for."""
        key = query[-1].key
        page, records, _ = self._get(query, key, 1, ordered_by=key)
        fresh = 0
        for record in records:
            if record["id"] in skip or (record["id"] in at_low and instant(record[key.record_key]) == low):
                self.stats.skipped_seen += 1
            else:
                fresh += 1
                yield record
        if not records:
            return _KeysetPage(page.has_next, not page.records, fresh > 0)
        last_value = records[-1][key.record_key]
        last = instant(last_value)
        at_last = {record["id"] for record in records if instant(record[key.record_key]) == last}
        tied = instant(records[0][key.record_key]) == last
        return _KeysetPage(page.has_next, False, fresh > 0, last_value, at_last, tied)

    # ---- tie groups ----------------------------------------------------------------------------------------
    def _group(self, fixed: Query, pinned: KeyRange, seen: Set[str]) -> Iterator[Record]:
        """Every record whose key equals ``pinned``'s value, read by offset when the group fits the window."""
        beyond = yield from self._offset_read(fixed + (pinned,), seen)
        if beyond is not None:
            yield from self._beyond_window(fixed, pinned, seen, beyond.total)

    def _beyond_window(self, fixed: Query, pinned: KeyRange, seen: Set[str], total: Optional[int]) -> Iterator[Record]:
        """A group too large for one search: a keyset on the next key, only while the server honours it."""
        level = len(fixed) + 1
        size = f"{total:,}" if total is not None else f"more than {self.capacity:,}"
        where = " and ".join(f"{r.key.record_key}={r.low.value}" for r in fixed + (pinned,) if r.low is not None)
        if level >= len(self.keys):
            raise self._stop(
                f"{size} records share {where}: more than the {self.capacity:,} one Kustomer search can page "
                "through, and no further sort key can split them. Please report this to the connector's maintainers."
            )
        next_key = self.keys[level]
        self.stats.second_key_groups += 1
        self.logger.info(
            f"{size} records share {where}, more than one search can page; reading them in order of "
            f"{next_key.record_key} (each page is checked for that order)."
        )
        try:
            yield from self._keyset(fixed + (pinned,), KeyRange(next_key), seen)
        except (ContractBroken, SearchRejected) as reason:
            raise self._stop(
                f"{size} records share {where}, more than the {self.capacity:,} one Kustomer search can page "
                f"through. Reading them needs Kustomer to sort and filter by {next_key.search_field}, which it does "
                f"not do here ({reason}). The sync stopped after {self.stats.requests} search requests without "
                "skipping any record; the next sync resumes at this timestamp and stops here again. Ask Kustomer "
                f"support whether {next_key.search_field} can be sorted on, or report this to the connector's "
                "maintainers."
            ) from None
