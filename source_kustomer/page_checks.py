"""What a search page must show before any record of it is emitted: every record inside the ranges asked for (and
in the order asked for), each id once, and the page holding what it says it holds. A page that fails breaks the
contract (``ContractBroken``): the reader stops before emitting anything unverified.
"""

from typing import List, Optional, Set, Tuple

from kustomer_http.timestamps import instant

from source_kustomer.search_ranges import ContractBroken, KeyRange, Query, Record, SearchPage, SortKey


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


def same_order(before: List[str], after: List[str]) -> bool:
    """Whether the ids present in both lists appear in the same relative order (a shrinking group keeps order)."""
    common = set(before) & set(after)
    return [rid for rid in before if rid in common] == [rid for rid in after if rid in common]
