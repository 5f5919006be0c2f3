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
"""

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, FrozenSet, Generator, Iterator, List, MutableMapping, Optional, Sequence, Set, Tuple

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.timestamps import instant, kustomer_time

Record = MutableMapping[str, Any]
Criteria = List[MutableMapping[str, Any]]
MAX_GROUP_PASSES = 5
MALFORMED_RETRIES = 2
NO_PROGRESS_LIMIT = 3
# Searches one range read may spend in a sync once it has split its window: an hour of the default share of
# searches (search_requests_per_minute, 90). Every range read in full is checkpointed; past it, one clear error and
# the next sync goes on.
MAX_SPLIT_SEARCHES = 5_400
DEFAULT_SEARCHES_PER_MINUTE = 90
RANGE_DONE: "Record" = {}  # yielded by read_by_ranges after each range read in full (``checkpoint`` then moved)
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


class _SplitSearchesSpent(Exception):
    """A range read has spent ``MAX_SPLIT_SEARCHES`` since it split its window."""


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


@dataclass(frozen=True)
class _KeysetPage:
    """What the keyset moves on by, once a page's records are out (the page itself is not kept)."""

    has_next: bool
    empty: bool  # the page held no records at all
    fresh: bool  # it brought a record not read before
    last_value: Optional[str] = None  # the key of its last verified record; None when it had none
    at_last: Set[str] = field(default_factory=set)  # the ids of its records at that key
    tied: bool = False  # every verified record of it has that key


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
class _Beyond:
    """A set too large for one search to page through; ``total`` as Kustomer gave it (None if it did not)."""

    total: Optional[int]


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


def _same_order(before: List[str], after: List[str]) -> bool:
    """Whether the ids present in both lists appear in the same relative order (a shrinking group keeps order)."""
    common = set(before) & set(after)
    return [rid for rid in before if rid in common] == [rid for rid in after if rid in common]


def query_criteria(query: Query) -> Criteria:
    """The and-ed criteria of every range of a query."""
    return [item for key_range in query for item in key_range.criteria()]


def shortfall(page: SearchPage, page_no: int, page_size: int) -> Optional[str]:
    """Why ``page`` holds fewer records than it says it has (None when it does not): a page that links to a further
    one must be full, and the last one must hold what ``meta.total`` leaves for it. One answer contradicting itself
    is records dropped, whatever Kustomer's order or filters do."""
    held = len(page.records)
    if page.has_next and held < page_size:
        return f"page {page_no} held {held:,} records and linked to a further page, though {page_size:,} were asked for"
    if page.total is not None and not page.has_next:
        owed = min(page_size, page.total - (page_no - 1) * page_size)
        if held < owed:
            return f"page {page_no} held {held:,} records where its meta.total ({page.total:,}) leaves {owed:,} for it"
    return None


def _limits(key_range: KeyRange) -> Tuple[str, int, int]:
    """(record key, lowest and highest admitted microseconds) of a range: a cheap form of ``admits``."""
    low = -(2**63) if key_range.low is None else key_range.low.micros + (0 if key_range.low.inclusive else 1)
    high = 2**63 if key_range.high is None else key_range.high.micros - (0 if key_range.high.inclusive else 1)
    return key_range.key.record_key, low, high


def verified_records(
    records: List[Record], query: Query, ordered_by: Optional[SortKey] = None
) -> Tuple[List[Record], List[Tuple[Record, str]]]:
    """The well-formed records of a page (each id once) and the malformed ones with why, after checking every
    well-formed one lies in ``query`` (and comes in ascending ``ordered_by``); raises ContractBroken otherwise.
    One pass, each key parsed once per record."""
    limits = [_limits(key_range) for key_range in query]
    order_key = ordered_by.record_key if ordered_by is not None else None
    good: List[Record] = []
    bad: List[Tuple[Record, str]] = []
    ids: Set[str] = set()
    previous = -(2**63)
    for record in records:
        rid = record.get("id") if record.__class__ is dict else None
        if rid.__class__ is not str or not rid:
            bad.append((record, "it has no id"))
            continue
        moments = {}
        for name, low, high in limits:
            moment = instant(record.get(name))
            if moment is None:
                break
            moments[name] = moment
            if not low <= moment <= high:
                key_range = next(r for r in query if r.key.record_key == name)
                raise ContractBroken(f"asked for {key_range.describe()}, got a record with {record[name]}")
        else:
            if rid in ids:
                continue  # the same record twice on one page: once is enough
            if order_key is not None:
                moment = moments.get(order_key)
                moment = instant(record.get(order_key)) if moment is None else moment
                if moment is None:
                    bad.append((record, f"its {order_key} is missing or not a timestamp"))
                    continue
                if moment < previous:
                    raise ContractBroken(
                        f"asked for ascending {order_key}, got {good[-1][order_key]} before {record[order_key]}"
                    )
                previous = moment
            ids.add(rid)
            good.append(record)
            continue
        bad.append((record, f"its {name} is missing or not a timestamp"))
    return good, bad


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
class KeysetReader:
    """Reads every record of a window on ``keys[0]``, ascending by it, verifying each page."""

    fetch: Fetch
    keys: Sequence[SortKey]
    page_size: int
    stream: str = "search"
    window_results: int = 10_000
    max_pages: int = 100
    on_malformed: Callable[[Record, str], None] = lambda record, reason: None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("airbyte"))
    stats: KeysetStats = field(default_factory=KeysetStats)
    checkpoint: Optional[str] = None  # read_by_ranges: every record at or before it has been emitted
    _split_searches_end: Optional[int] = field(default=None, init=False, repr=False)  # see MAX_SPLIT_SEARCHES

    @property
    def pages_in_window(self) -> int:
        """Pages one query may ask for: page p is served only while p x pageSize stays inside the window."""
        return max(1, min(self.max_pages, self.window_results // self.page_size))

    @property
    def capacity(self) -> int:
        """Records one query can page through."""
        return self.pages_in_window * self.page_size

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
        except _SplitSearchesSpent:
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

    def _offset_read(self, query: Query, seen: Set[str]) -> Generator[Record, None, Optional["_Beyond"]]:
        """Every record of a set that can only shrink (a past group or range), read by offset in passes until one
        proves complete. Returns None when done, or _Beyond (nothing emitted) when the set is larger than the window.
        """
        previous: Optional[FrozenSet[str]] = None
        members: Set[str] = set()
        total: Optional[int] = None
        for attempt in range(1, MAX_GROUP_PASSES + 1):
            members = set()
            outcome, total = yield from self._group_pass(query, seen, members)
            if outcome == "beyond":
                return _Beyond(total)
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
                if slipped > self.page_size or not _same_order(current.ids, again.ids):
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
            raise _SplitSearchesSpent()
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
