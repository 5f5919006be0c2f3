"""GET /v1/audit-logs: newest first, paged by entry ids (``before``, ``after``), filtered by object type and dates."""

import bisect
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from kustomer_simulator.audit import AuditEntry
from kustomer_simulator.routes.base import Reply, Request, bad_request, json_reply
from kustomer_simulator.timefmt import now_ms, parse_iso_ms

AUDIT_PAGE_MAX = 1000
# How filter[include] combines with the other filters (--audit-include): OR-ed into filter[objectType] under the date
# filter (documented: "adds additional OR query logic"), ignored, or OR-ed at the top level, where the included
# types skip the date filter (the reading that hurts a client most, so the default).
INCLUDE_MODES = ("toplevel", "honoured", "ignored")
# Which cursors a request may carry (--audit-paging): each of before/after requires the other (the reference's text
# for both parameters, so the default), either alone or both, or one alone but never both (the published links).
PAGING_MODES = ("both", "either", "alone")
# The entry time filter[start] / filter[end] compare (undocumented; --audit-date-field).
DATE_FIELDS: Dict[str, Callable[[AuditEntry], int]] = {
    "publishedAt": lambda entry: entry.published_ms,
    "createdAt": lambda entry: entry.created_ms,
}


def _date(query: Mapping[str, str], name: str) -> Optional[int]:
    value = query.get(name)
    try:
        return parse_iso_ms(value) if value else None
    except ValueError:
        raise bad_request(f"{name} must be a date") from None


def _cursors(query: Mapping[str, str], paging: str) -> Tuple[Optional[str], Optional[str]]:
    """``before`` and ``after``, refused in the combinations ``--audit-paging`` does not accept."""
    before, after = query.get("before"), query.get("after")
    if paging == "both" and bool(before) != bool(after):
        given, missing = ("before", "after") if before else ("after", "before")
        raise bad_request(f"{given} requires {missing}")
    if paging == "alone" and before and after:
        raise bad_request("before and after cannot be combined")
    return before, after


def audit_logs(request: Request) -> Reply:
    """One page of the log, newest id first, between the ``after`` and ``before`` ids (``--audit-paging`` says which
    combinations are accepted). ``filter[include]`` adds more object types as ``--audit-include`` says;
    ``filter[start]``/``filter[end]`` compare the ``--audit-date-field``, including or excluding their own instant
    (``--audit-bounds``); links carry only count and before/after, as Kustomer's published example does, or the
    filters too (``--audit-next-links filtered``)."""
    query = request.query
    settings = request.settings
    try:
        count = min(max(int(query.get("count", 100)), 1), AUDIT_PAGE_MAX)
    except ValueError:
        raise bad_request("count must be a number") from None
    start, end = _date(query, "filter[start]"), _date(query, "filter[end]")
    before, after = _cursors(query, settings.audit_paging)
    main = query.get("filter[objectType]")
    included = {t for t in query.get("filter[include]", "").split(",") if t}
    if settings.audit_include == "ignored":
        included = set()
    dated = DATE_FIELDS[settings.audit_date_field]
    inclusive = settings.audit_bounds == "inclusive"

    def in_dates(entry: AuditEntry) -> bool:
        at = dated(entry)
        return (start is None or at > start or (inclusive and at == start)) and (
            end is None or at < end or (inclusive and at == end)
        )

    def wanted(entry: AuditEntry) -> bool:
        if settings.audit_include == "toplevel" and entry.object_type in included:
            return True  # (objectType AND dates) OR include: the included types skip the date filter
        typed = not main and not included or entry.object_type == main or entry.object_type in included
        return typed and in_dates(entry)

    with request.org.lock:
        live = request.org.audit.live(now_ms())
    # The log is sorted by id, so before/after cut it by bisection.
    lo = bisect.bisect_right(live, after, key=lambda e: e.id) if after else 0
    hi = bisect.bisect_left(live, before, key=lambda e: e.id) if before else len(live)
    matching: List[AuditEntry] = [entry for entry in reversed(live[lo:hi]) if wanted(entry)]
    shown = matching[:count]

    kept = ""
    if settings.audit_next_links == "filtered":
        kept = "".join(f"&{k}={v}" for k, v in sorted(query.items()) if k.startswith("filter["))
    base = f"/v1/audit-logs?count={count}{kept}"
    cursor = (f"&before={before}" if before else "") + (f"&after={after}" if after else "")
    links = {
        "self": base + cursor,
        "first": base,
        "prev": f"{base}&after={shown[0].id}" if shown else None,
        "next": f"{base}&before={shown[-1].id}" if len(matching) > count else None,
    }
    body = {"meta": {"count": len(shown), "total": len(matching)}, "links": links, "data": [e.record for e in shown]}
    return json_reply(body, len(shown))
