"""The proof a routing search must give before a sync relies on it (``search_path``): two searches of page 1 of the
window (three when the sort is refused) decide whether work items or sessions are read in order of
``<object>_updated_at`` (SORTED), in time ranges on it (RANGES), or from their lists (FALLBACK). Why, and what each
path does: ``routing.py``'s docstring.
"""

from dataclasses import dataclass
from typing import List, Optional

from kustomer_http import timestamps
from kustomer_http.timestamps import instant, kustomer_time

from source_kustomer.page_checks import verified_records
from source_kustomer.search_ranges import Bound, ContractBroken, KeyRange, SearchRejected, SortKey
from source_kustomer.streams.search import CURSOR, KustomerSearchStream

# Distinct updatedAt values, ascending on a page that links on, that prove the sort: an unsorted page of n records
# holding k distinct values comes back ascending by chance with probability at most about 1/n^(k-1).
SORT_PROOF_VALUES = 5
SORTED, RANGES, FALLBACK = "sorted", "ranges", "fallback"


@dataclass(frozen=True)
class SearchPath:
    """How this sync reads a routing stream (SORTED, RANGES or FALLBACK), and why not the cheaper way before it."""

    how: str
    reason: str = ""


@dataclass(frozen=True)
class _Sample:
    """What the proof keeps of page 1 of a window: whether it held records, the ``updatedAt`` of each record inside
    the window (in the page's order, as microseconds and as given), its total and whether it linked on. The page
    itself is let go before the next search is sent."""

    held: bool
    moments: List[int]
    values: List[str]
    total: Optional[int]
    has_next: bool


def _sample(stream: KustomerSearchStream, key_range: KeyRange, ordered: bool) -> _Sample:
    page = stream.fetch_page(key_range.criteria(), key_range.key.search_field if ordered else None, 1)
    good, _ = verified_records(page.records, (key_range,))
    values = [record[CURSOR] for record in good]
    moments = [instant(value) or 0 for value in values]
    return _Sample(bool(page.records), moments, values, page.total, page.has_next)


def search_path(stream: KustomerSearchStream) -> SearchPath:
    """How this sync can read ``stream``: in order of ``<object>_updated_at``, in time ranges on it, or not by
    search (see the module's docstring)."""
    low, high = stream.window(stream.sync_mode, timestamps.utc_now())
    key = SortKey(stream.spec.time_field, CURSOR)
    window = KeyRange(key, Bound(kustomer_time(low)), Bound(kustomer_time(high)))
    name = key.search_field
    sort_refused: Optional[str] = None
    try:
        try:
            first = _sample(stream, window, ordered=True)
        except SearchRejected as rejected:  # the sort alone may be what is refused
            sort_refused = str(rejected)
            first = _sample(stream, window, ordered=False)
        if first.held and not first.values:
            return SearchPath(FALLBACK, f"its records carry no {CURSOR} to check a filter on {name} against")
        if first.values:
            lowest = first.values[first.moments.index(min(first.moments))]
            narrowed = KeyRange(key, Bound(lowest, inclusive=False), window.high)
            after = _sample(stream, narrowed, ordered=False)
            if after.total is not None and first.total is not None and after.total >= first.total:
                return SearchPath(
                    FALLBACK, f"a filter on {name} did not narrow its results ({after.total} of {first.total})"
                )
    except SearchRejected as rejected:
        return SearchPath(FALLBACK, f"it rejected a search by {name} ({rejected})")
    except ContractBroken as broken:
        return SearchPath(FALLBACK, f"it did not filter by {name} ({broken})")
    if sort_refused is not None:
        return SearchPath(RANGES, f"it rejected a sort by {name} ({sort_refused})")
    if first.moments != sorted(first.moments):
        return SearchPath(RANGES, f"page 1 asked in order of {name} came back out of order")
    if not first.has_next or len(set(first.moments)) < SORT_PROOF_VALUES:
        return SearchPath(RANGES, f"too few records to prove an order by {name}")
    return SearchPath(SORTED)
