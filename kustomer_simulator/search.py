"""POST /v1/customers/search: criteria, sorting, paging and the result window."""

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from kustomer_simulator.collection import Collection
from kustomer_simulator.org import Org
from kustomer_simulator.timefmt import parse_iso_ms

CONTEXTS = {
    "customer": "customers",
    "conversation": "conversations",
    "message": "messages",
    "note": "notes",
    "company": "companies",
}
OPERATORS = ("gte", "gt", "lte", "lt", "equals")


class SearchError(Exception):
    """A request Kustomer would answer with 400."""


@dataclass
class SearchLimits:
    """Search paging limits; what happens past them is *unconfirmed* upstream, hence settings."""

    max_page_size: int = 500
    max_pages: int = 100
    window: int = 10_000
    past_window: str = "error"  # error | empty


def resolve_context(org: Org, context: Any) -> Tuple[Collection, str]:
    """The collection and field prefix for a queryContext."""
    if isinstance(context, str):
        if context in CONTEXTS:
            return org.collections[CONTEXTS[context]], context
        if context.startswith("kobject_") and f"kobjects_{context[8:]}" in org.collections:
            return org.collections[f"kobjects_{context[8:]}"], "kobject"
    raise SearchError(f"unsupported queryContext {context!r}")


Predicate = Callable[[Collection, int], bool]


def _field_getter(prefix: str, field: str) -> Callable[[Collection, int], int]:
    if field == f"{prefix}_updated_at":
        return lambda c, i: c.updated_ms[i]
    if field == f"{prefix}_created_at":
        return lambda c, i: c.created_ms[i]
    raise SearchError(f"unsupported search field {field!r}")


def _compare(op: str, left: int, right: int) -> bool:
    return {
        "gte": left >= right,
        "gt": left > right,
        "lte": left <= right,
        "lt": left < right,
        "equals": left == right,
    }[op]


def _clause_predicate(prefix: str, clause: Any) -> Predicate:
    if not isinstance(clause, dict) or len(clause) != 1:
        raise SearchError(f"malformed criterion {clause!r}")
    ((key, value),) = clause.items()
    if key in ("and", "or"):
        return _group_predicate(prefix, key, value)
    getter = _field_getter(prefix, key)
    if not isinstance(value, dict) or not value:
        raise SearchError(f"criterion {key!r} needs an operator")
    checks = []
    for op, operand in value.items():
        if op not in OPERATORS:
            raise SearchError(f"unsupported operator {op!r}")
        try:
            ms = parse_iso_ms(operand)
        except (TypeError, ValueError) as exc:
            raise SearchError(f"{key}.{op} is not a date: {operand!r}") from exc
        checks.append((op, ms))
    return lambda c, i: all(_compare(op, getter(c, i), ms) for op, ms in checks)


def _group_predicate(prefix: str, kind: str, clauses: Any) -> Predicate:
    if not isinstance(clauses, list) or len(clauses) > 20:
        raise SearchError(f"'{kind}' takes a list of at most 20 criteria")
    predicates = [_clause_predicate(prefix, c) for c in clauses]
    if kind == "and":
        return lambda c, i: all(p(c, i) for p in predicates)
    return lambda c, i: any(p(c, i) for p in predicates)


def _updated_bounds(prefix: str, clauses: List[Any]) -> Tuple[Optional[Tuple[int, bool]], Optional[Tuple[int, bool]]]:
    """The tightest updatedAt bounds stated directly in a top-level 'and' (used to narrow the scan)."""
    low: Optional[Tuple[int, bool]] = None
    high: Optional[Tuple[int, bool]] = None
    for clause in clauses:
        ops = clause.get(f"{prefix}_updated_at") if isinstance(clause, dict) else None
        if not isinstance(ops, dict):
            continue
        for op, operand in ops.items():
            try:
                ms = parse_iso_ms(operand)
            except (TypeError, ValueError):
                continue
            if op in ("gte", "gt", "equals"):
                cand = (ms, op != "gt")
                if low is None or (cand[0], not cand[1]) > (low[0], not low[1]):
                    low = cand
            if op in ("lte", "lt", "equals"):
                cand = (ms, op != "lt")
                if high is None or (cand[0], cand[1]) < (high[0], high[1]):
                    high = cand
    return low, high


def run_search(
    org: Org, body: Any, page: int, page_size: int, limits: SearchLimits
) -> Tuple[List[int], Dict[str, Any], Collection]:
    """Evaluate a search; returns the page's record indexes, the meta block and the collection.

    Raises SearchError for anything Kustomer would reject with 400.
    """
    if not isinstance(body, dict):
        raise SearchError("the body must be a JSON object")
    coll, prefix = resolve_context(org, body.get("queryContext"))
    and_clauses = body.get("and", [])
    or_clauses = body.get("or", [])
    predicates = []
    if and_clauses:
        predicates.append(_group_predicate(prefix, "and", and_clauses))
    if or_clauses:
        predicates.append(_group_predicate(prefix, "or", or_clauses))
    sort = body.get("sort", [])
    if not isinstance(sort, list) or len(sort) > 5:
        raise SearchError("'sort' takes a list of at most 5 fields")
    sort_keys = []
    for spec in sort:
        if not isinstance(spec, dict) or len(spec) != 1:
            raise SearchError(f"malformed sort {spec!r}")
        ((field, direction),) = spec.items()
        if direction not in ("asc", "desc"):
            raise SearchError(f"sort direction must be asc or desc, got {direction!r}")
        sort_keys.append((field, _field_getter(prefix, field), direction == "desc"))
    if page < 1 or page_size < 1:
        raise SearchError("page and pageSize must be positive")
    page_size = min(page_size, limits.max_page_size)
    include_deleted = bool(body.get("includeDeleted", False))

    low, high = _updated_bounds(prefix, and_clauses if isinstance(and_clauses, list) else [])
    order, lo, hi = coll.updated_slice(low, high, include_deleted)
    simple_sort = not sort_keys or (len(sort_keys) == 1 and sort_keys[0][0] == f"{prefix}_updated_at")
    descending = bool(sort_keys) and sort_keys[0][2]
    needs_filter = bool(or_clauses) or any(
        set(c) != {f"{prefix}_updated_at"} for c in and_clauses if isinstance(c, dict)
    )
    if simple_sort and not needs_filter:
        total = hi - lo
        start = (page - 1) * page_size
        if descending:
            window = order[max(lo, hi - start - page_size) : hi - start] if start < total else []
            indexes = [k[2] for k in reversed(window)]
        else:
            indexes = [k[2] for k in order[lo + start : min(hi, lo + start + page_size)]]
    else:
        matched = [k[2] for k in order[lo:hi] if all(p(coll, k[2]) for p in predicates)]
        for _, getter, desc in reversed(sort_keys):
            matched.sort(key=lambda i: getter(coll, i), reverse=desc)
        total = len(matched)
        start = (page - 1) * page_size
        indexes = matched[start : start + page_size]
    total_pages = max(1, -(-total // page_size))
    meta = {"page": page, "pageSize": page_size, "total": total, "totalPages": total_pages}
    return indexes, meta, coll


def past_window(page: int, page_size: int, limits: SearchLimits) -> bool:
    """Whether a page lies beyond the result window (page cap or result count)."""
    return page > limits.max_pages or (page - 1) * min(page_size, limits.max_page_size) >= limits.window
