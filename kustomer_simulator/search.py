"""POST /v1/customers/search: the published body, criteria, sorting, paging, the result window and what search sees.

What search sees: records last updated within the standard-search horizon (two years before now) and not
within the index lag (writes reach the index a little later); archive search sees only the older ones. Fields
modelled: ``<object>_updated_at`` and ``<object>_created_at`` (a conversation time has only
``conversation_time_created_at``), and a customer's keys ``customer_externalId`` / ``customer_email`` with
``equals`` (found as the lookups by key find them: a writer's lookup by search); any other field is answered 400
("not modelled"), so a test never passes on a criterion the simulator silently ignored. Whether
``<object>_created_at`` is honoured, ignored or rejected by standard search is a per-object setting: Kustomer
documents it only for some objects (see SearchLimits); archive search documents sorting by it for every object it
serves, and honours it. The routing contexts (``work_item``, ``work_session``) are in the published request schema
but no field of theirs is documented: how their ``_updated_at``/``_created_at`` fields are treated is a
per-context setting too (``ROUTING_BEHAVIOURS``), down to records that carry no ``updatedAt`` at all (the Help
Center's work-item attributes list none) while the filter still works on the index's own time.

A search whose ordering is not honoured answers in index order: stable, but not by time.
"""

import bisect
from dataclasses import dataclass, field
from typing import AbstractSet, Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

import orjson

from kustomer_simulator.collection import Collection, mix32
from kustomer_simulator.contract import search_body_violation
from kustomer_simulator.org import DAY_MS, Org
from kustomer_simulator.timefmt import now_ms, parse_iso_ms
from kustomer_simulator.writes import KEY_SEARCH_FIELDS

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
OPERATORS = ("gte", "gt", "lte", "lt", "equals")
FIELD_BEHAVIOURS = ("honoured", "ignored", "rejected")
# Kustomer documents sorting by customer_created_at; the others' sort is undocumented ("Sorting based on other
# standard Object attributes is unavailable"), and company_created_at is no published search field at all.
CREATED_AT_DEFAULTS = {
    "customer": "honoured",
    "conversation": "ignored",
    "message": "ignored",
    "note": "ignored",
    "kobject": "ignored",
    "company": "rejected",
}
TOTAL_CAP = 10_000  # Elasticsearch's default: totals above it are reported as exactly 10,000
# The field that dates each object in search; a conversation time is written once and has no updated-at field.
TIME_FIELDS = {"conversation_time": "conversation_time_created_at"}
# How search treats a routing context's _updated_at/_created_at: honoured (filter and sort); filter-only (the
# filter honoured, the sort silently ignored: index order); sort-rejected (the filter honoured, a sort 400);
# ignored (both silently dropped); rejected (400); no-updated-at (as filter-only, and its records carry no
# updatedAt or modifiedAt, in search and in the routing lists alike).
ROUTING_BEHAVIOURS = ("honoured", "filter-only", "sort-rejected", "ignored", "rejected", "no-updated-at")
# Undocumented fields, and "sorting based on other standard Object attributes is unavailable": by default the
# filter works and the sort is silently ignored -- every page looks right, so only a client that checks the order
# notices it is not there.
ROUTING_SEARCH_DEFAULTS = {"work_item": "filter-only", "work_session": "filter-only"}
# What each routing setting makes of a criterion on the context's time fields, and of a sort by them.
_ROUTING_FIELD = {
    "honoured": ("honoured", "honoured"),
    "filter-only": ("honoured", "ignored"),
    "sort-rejected": ("honoured", "rejected"),
    "ignored": ("ignored", "ignored"),
    "rejected": ("rejected", "rejected"),
    "no-updated-at": ("honoured", "ignored"),
}


def time_field(prefix: str) -> str:
    """The search field holding an object's last-change time."""
    return TIME_FIELDS.get(prefix, f"{prefix}_updated_at")


class SearchError(Exception):
    """A request Kustomer would answer with 400."""


@dataclass
class SearchLimits:
    """How search behaves where the evidence leaves it open; every field is a switch of the simulator."""

    max_page_size: int = 500
    max_pages: int = 100
    window: int = 10_000
    past_window: str = "error"  # error | empty
    created_at: Mapping[str, str] = field(default_factory=lambda: dict(CREATED_AT_DEFAULTS))
    total: str = "exact"  # exact | capped
    horizon_days: int = 730
    index_lag_seconds: float = 0.0
    # Sorting by conversation_time_created_at is undocumented ("sorting based on other standard object attributes
    # is unavailable"): honoured, ignored (results come back in index order, which is not by time) or rejected (400).
    conversation_time_sort: str = "ignored"
    # work_item / work_session -> one of ROUTING_BEHAVIOURS, for their _updated_at and _created_at fields.
    routing_search: Mapping[str, str] = field(default_factory=lambda: dict(ROUTING_SEARCH_DEFAULTS))

    def created_at_behaviour(self, prefix: str) -> str:
        """honoured | ignored | rejected for ``<prefix>_created_at``."""
        return self.created_at.get(prefix, CREATED_AT_DEFAULTS.get(prefix, "ignored"))

    def routing_behaviour(self, context: str) -> str:
        """The setting of routing context ``context`` (one of ROUTING_BEHAVIOURS)."""
        return self.routing_search.get(context, ROUTING_SEARCH_DEFAULTS[context])

    def hides_updated_at(self, context: Any) -> bool:
        """Whether records of ``context`` (a routing context) are served without ``updatedAt``."""
        return context in ROUTING_SEARCH_DEFAULTS and self.routing_behaviour(context) == "no-updated-at"


def without_updated_at(payload: bytes) -> bytes:
    """A page (or one record) of routing records served without ``updatedAt`` and its ``modifiedAt`` echo."""
    document = orjson.loads(payload)
    data = document.get("data")
    for record in data if isinstance(data, list) else [data]:
        if isinstance(record, dict) and isinstance(record.get("attributes"), dict):
            record["attributes"].pop("updatedAt", None)
            record["attributes"].pop("modifiedAt", None)
    return orjson.dumps(document)


Target = Tuple[Collection, int]
Predicate = Callable[[Collection, int], bool]


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


def _as_list(value: Any) -> List[Any]:
    """``and``/``or``/``not``/``sort`` may be one object or a list; an object holds one item per key."""
    if isinstance(value, Mapping):
        return [{key: item} for key, item in value.items()]
    return list(value or [])


@dataclass
class _Query:
    prefix: str
    limits: SearchLimits
    archive: bool = False
    org: Optional[Org] = None

    def key_holders(self, name: str, value: Any) -> Optional[Set[int]]:
        """For a criterion on a customer's key (``customer_externalId`` / ``customer_email``, with ``equals``): the
        customers holding it, found as the lookups by key find them; None for any other criterion."""
        if self.prefix != "customer" or name not in KEY_SEARCH_FIELDS or self.org is None:
            return None
        operand = value.get("equals") if isinstance(value, Mapping) and len(value) == 1 else None
        if not isinstance(operand, str) or not operand:
            raise SearchError(f"the simulator models {name} with one 'equals' and a text only")
        return set(self.org.store.holders(self.org.collections["customers"], KEY_SEARCH_FIELDS[name], operand))

    def candidates(self, or_clauses: List[Any]) -> Optional[Set[int]]:
        """The only records an ``or`` made wholly of key criteria can match (None: any record may)."""
        found: Set[int] = set()
        for clause in or_clauses:
            if not isinstance(clause, Mapping) or len(clause) != 1:
                return None
            ((name, value),) = clause.items()
            holders = self.key_holders(name, value)
            if holders is None:
                return None
            found |= holders
        return found if or_clauses else None

    def behaviour(self, name: str, sorting: bool) -> str:
        """honoured | ignored | rejected: how this search treats a criterion on (or a sort by) field ``name``."""
        created = f"{self.prefix}_created_at"
        if self.prefix in ROUTING_SEARCH_DEFAULTS and name in (time_field(self.prefix), created):
            criterion, sort = _ROUTING_FIELD[self.limits.routing_behaviour(self.prefix)]
            return sort if sorting else criterion
        if name == time_field(self.prefix):
            return self.limits.conversation_time_sort if sorting and self.prefix in TIME_FIELDS else "honoured"
        if name == created and self.prefix not in TIME_FIELDS:
            return "honoured" if self.archive else self.limits.created_at_behaviour(self.prefix)
        raise SearchError(f"the simulator does not model the search field {name!r}")

    def field(self, name: str, sorting: bool = False) -> Optional[Callable[[Collection, int], int]]:
        """The value getter of a search field; None when the field is ignored here."""
        behaviour = self.behaviour(name, sorting)
        if behaviour == "rejected":
            if sorting:
                raise SearchError(f"sorting by {name} is unavailable for {self.prefix}")
            raise SearchError(f"{name} is not a searchable attribute for {self.prefix}")
        if behaviour == "ignored":
            return None
        if name == time_field(self.prefix):
            return lambda c, i: c.updated_ms[i]
        return lambda c, i: c.created_ms[i]

    def clause(self, clause: Any) -> Predicate:
        if not isinstance(clause, Mapping) or len(clause) != 1:
            raise SearchError(f"malformed criterion {clause!r}")
        ((key, value),) = clause.items()
        if key in ("and", "or", "not"):
            return self.group(key, value)
        holders = self.key_holders(key, value)
        if holders is not None:
            return lambda c, i: i in holders
        getter = self.field(key)
        if not isinstance(value, Mapping) or not value:
            raise SearchError(f"criterion {key!r} needs an operator")
        checks = []
        for op, operand in value.items():
            if op not in OPERATORS:
                raise SearchError(f"unsupported operator {op!r}")
            try:
                checks.append((op, parse_iso_ms(operand)))
            except (TypeError, ValueError, AttributeError):
                raise SearchError(f"{key}.{op} is not a date: {operand!r}") from None
        if getter is None:
            return lambda c, i: True
        return lambda c, i: all(_compare(op, getter(c, i), ms) for op, ms in checks)

    def group(self, kind: str, clauses: Any) -> Predicate:
        predicates = [self.clause(c) for c in _as_list(clauses)]
        if kind == "and":
            return lambda c, i: all(p(c, i) for p in predicates)
        if kind == "or":
            return lambda c, i: any(p(c, i) for p in predicates) if predicates else True
        return lambda c, i: not any(p(c, i) for p in predicates)


def _compare(op: str, left: int, right: int) -> bool:
    return {
        "gte": left >= right,
        "gt": left > right,
        "lte": left <= right,
        "lt": left < right,
        "equals": left == right,
    }[op]


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
    query = _Query(prefix, limits, archive, org)
    timed_by = time_field(prefix)
    and_clauses, or_clauses, not_clauses = (_as_list(body.get(k)) for k in ("and", "or", "not"))
    predicates = [query.group(kind, clauses) for kind, clauses in (("and", and_clauses), ("or", or_clauses))]
    if not_clauses:
        predicates.append(query.group("not", not_clauses))
    sort_keys = []
    for spec in _as_list(body.get("sort")):
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
    clauses = [c for k in ("and", "or") for c in _as_list(body.get(k))] if isinstance(body, Mapping) else []
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


def past_window(page: int, page_size: int, limits: SearchLimits) -> bool:
    """Whether a page lies beyond the result window (page cap, or more results than the window holds)."""
    return page > limits.max_pages or page * min(page_size, limits.max_page_size) > limits.window
