"""POST /v1/customers/search: the published body, paging, the result window and what search sees.

What search sees: records last updated within the standard-search horizon (two years before now) and not
within the index lag (writes reach the index a little later); archive search sees only the older ones. The
criteria and the sort are read by ``search_criteria``; what search does where the evidence leaves it open is
``search_limits`` (its names are exported here too: ``SearchLimits``, ``SearchError``, ...).

A search whose ordering is not honoured answers in index order: stable, but not by time.
"""

import bisect
from typing import AbstractSet, Any, Dict, List, Mapping, Optional, Set, Tuple

from kustomer_simulator.collection import Collection, mix32
from kustomer_simulator.contract import search_body_violation
from kustomer_simulator.org import DAY_MS, Org
from kustomer_simulator.search_criteria import Query, SearchError, as_list
from kustomer_simulator.search_limits import (
    FIELD_BEHAVIOURS,
    ROUTING_BEHAVIOURS,
    TOTAL_CAP,
    SearchLimits,
    past_window,
    time_field,
    without_updated_at,
)
from kustomer_simulator.timefmt import now_ms, parse_iso_ms
from kustomer_simulator.writes import KEY_SEARCH_FIELDS

__all__ = [
    "CONTEXTS",
    "FIELD_BEHAVIOURS",
    "ROUTING_BEHAVIOURS",
    "SearchError",
    "SearchLimits",
    "past_window",
    "resolve_context",
    "run_search",
    "uses_keys",
    "without_updated_at",
]

CONTEXTS = {
    "customer": "customers",
    "conversation": "conversations",
    "message": "messages",
    "note": "notes",
    "company": "companies",
    "conversation_time": "conversation_times",
    "work_session": "work_sessions",
    "work_item": "work_items",
}

Target = Tuple[Collection, int]


def resolve_context(
    org: Org, context: Any, hidden_klasses: AbstractSet[str] = frozenset()
) -> Tuple[List[Collection], str]:
    """The collections and the field prefix of a queryContext (plain ``kobject`` covers every klass but the hidden)."""
    if context in CONTEXTS:
        name = CONTEXTS[context]
        return ([org.collections[name]] if name in org.collections else []), context
    if context == "kobject":
        klasses = [c for c in org.collections.values() if org.klass_of(c) is not None]
        return [c for c in klasses if org.klass_of(c) not in hidden_klasses], "kobject"
    if isinstance(context, str) and context.startswith("kobject_"):
        name = f"kobjects_{context[len('kobject_') :]}"
        if name in org.collections:
            return [org.collections[name]], "kobject"
    raise SearchError(f"unsupported queryContext {context!r}")


def _updated_bounds(prefix: str, clauses: List[Any]) -> Tuple[Optional[Tuple[int, bool]], Optional[Tuple[int, bool]]]:
    """The tightest updatedAt bounds stated directly in a top-level 'and' (used to narrow the scan)."""
    low: Optional[Tuple[int, bool]] = None
    high: Optional[Tuple[int, bool]] = None
    for clause in clauses:
        ops = clause.get(time_field(prefix)) if isinstance(clause, Mapping) else None
        if not isinstance(ops, Mapping):
            continue
        for op, operand in ops.items():
            ms = parse_iso_ms(operand)
            if op in ("gte", "gt", "equals"):
                candidate = (ms, op != "gt")
                if low is None or (candidate[0], not candidate[1]) > (low[0], not low[1]):
                    low = candidate
            if op in ("lte", "lt", "equals"):
                candidate = (ms, op != "lt")
                if high is None or candidate < high:
                    high = candidate
    return low, high


def _tighter_low(a: Optional[Tuple[int, bool]], b: Tuple[int, bool]) -> Tuple[int, bool]:
    return b if a is None or (b[0], not b[1]) > (a[0], not a[1]) else a


def _tighter_high(a: Optional[Tuple[int, bool]], b: Tuple[int, bool]) -> Tuple[int, bool]:
    return b if a is None or b < a else a


def run_search(
    org: Org,
    body: Any,
    page: int,
    page_size: int,
    limits: SearchLimits,
    archive: bool = False,
    hidden_klasses: AbstractSet[str] = frozenset(),
) -> Tuple[List[Target], Dict[str, Any]]:
    """Evaluate a search; returns the page's (collection, index) pairs and the meta block.

    Raises SearchError for anything Kustomer would reject with 400. ``archive`` searches the records *older*
    than the standard-search horizon instead of the newer ones; a plain ``kobject`` search leaves out the custom
    objects of ``hidden_klasses``.
    """
    violation = search_body_violation(body, archive)
    if violation:
        raise SearchError(f"invalid search body: {violation}")
    collections, prefix = resolve_context(org, body.get("queryContext"), hidden_klasses)
    query = Query(prefix, limits, archive, org)
    timed_by = time_field(prefix)
    and_clauses, or_clauses, not_clauses = (as_list(body.get(k)) for k in ("and", "or", "not"))
    predicates = [query.group(kind, clauses) for kind, clauses in (("and", and_clauses), ("or", or_clauses))]
    if not_clauses:
        predicates.append(query.group("not", not_clauses))
    sort_keys = []
    for spec in as_list(body.get("sort")):
        ((name, direction),) = spec.items() if isinstance(spec, Mapping) and len(spec) == 1 else ((None, None),)
        if direction not in ("asc", "desc"):
            raise SearchError(f"malformed sort {spec!r}")
        getter = query.field(name, sorting=True)
        if getter is not None:
            sort_keys.append((name, getter, direction == "desc"))
    if page < 1 or page_size < 1:
        raise SearchError("page and pageSize must be positive")
    page_size = min(page_size, limits.max_page_size)
    include_deleted = bool(body.get("includeDeleted", False))

    # Criteria on an ignored time field match everything, so they must not narrow the scan either.
    low, high = _updated_bounds(prefix, and_clauses) if query.behaviour(timed_by, False) == "honoured" else (None, None)
    horizon = (now_ms() - limits.horizon_days * DAY_MS, True)
    if archive:
        high = _tighter_high(high, (horizon[0], False))
    else:
        low = _tighter_low(low, horizon)
    unindexed = {coll.name: not_yet_searchable(coll, limits.index_lag_seconds) for coll in collections}
    if any(unindexed.values()):
        predicates.append(lambda c, i: i not in unindexed[c.name])

    scrambled = not sort_keys and query.behaviour(timed_by, True) != "honoured"
    simple_sort = not scrambled and (not sort_keys or (len(sort_keys) == 1 and sort_keys[0][0] == timed_by))
    needs_filter = bool(or_clauses or not_clauses or any(unindexed.values())) or any(
        set(c) != {timed_by} for c in and_clauses if isinstance(c, Mapping)
    )
    start = (page - 1) * page_size
    if len(collections) == 1 and simple_sort and not needs_filter:
        coll = collections[0]
        order, lo, hi = coll.updated_slice(low, high, include_deleted)
        total = hi - lo
        if sort_keys and sort_keys[0][2]:
            chosen = order[max(lo, hi - start - page_size) : hi - start][::-1] if start < total else []
        else:
            chosen = order[lo + start : min(hi, lo + start + page_size)]
        targets = [(coll, key[2]) for key in chosen]
    else:
        matched: List[Target] = []
        narrowed = query.candidates(or_clauses)
        for coll in collections:
            order, lo, hi = coll.updated_slice(low, high, include_deleted)
            keys = order[lo:hi] if narrowed is None else _within(coll, narrowed, order, lo, hi)
            matched.extend((coll, key[2]) for key in keys if all(p(coll, key[2]) for p in predicates))
        if len(collections) > 1:
            matched.sort(key=lambda target: target[0].order_key(target[1]))
        if scrambled:
            matched.sort(key=lambda target: mix32(target[0].code, target[1], 0x5C))
        for _, getter, descending in reversed(sort_keys):
            matched.sort(key=lambda target: getter(*target), reverse=descending)
        total = len(matched)
        targets = matched[start : start + page_size]
    shown = min(total, TOTAL_CAP) if limits.total == "capped" else total
    meta = {
        "page": page,
        "pageSize": page_size,
        "total": shown,
        "totalPages": max(1, -(-shown // page_size)),
        "aggregations": {},
    }
    return targets, meta


def _within(
    coll: Collection, indexes: Set[int], order: List[Tuple[int, int, int]], lo: int, hi: int
) -> List[Tuple[int, int, int]]:
    """The order keys of ``indexes`` that lie in ``order[lo:hi]``, in that order."""
    keys = []
    for i in indexes:
        key = coll.order_key(i)
        at = bisect.bisect_left(order, key, lo, hi)
        if at < hi and order[at] == key:
            keys.append(key)
    return sorted(keys)


def uses_keys(body: Any) -> bool:
    """Whether a search body has a criterion on a customer's key (a lookup by search)."""
    clauses = [c for k in ("and", "or") for c in as_list(body.get(k))] if isinstance(body, Mapping) else []
    return any(isinstance(c, Mapping) and set(c) & set(KEY_SEARCH_FIELDS) for c in clauses)


def not_yet_searchable(coll: Collection, lag_seconds: float) -> Set[int]:
    """Records updated so recently that the index has not caught up: each write becomes searchable at a
    different moment within the lag, so a later write can be found before an earlier one."""
    if lag_seconds <= 0 or not coll.revisions:
        return set()
    now, lag_ms = now_ms(), int(lag_seconds * 1000)
    return {
        i for i, rev in coll.revisions.items() if now < coll.updated_ms[i] + mix32(coll.code, i, rev) % (lag_ms + 1)
    }
