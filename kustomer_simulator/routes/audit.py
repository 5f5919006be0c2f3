"""GET /v1/audit-logs: newest first, paged by entry ids (``before``, ``after``), filtered by object type and dates."""

import bisect
from typing import Callable, Dict, List, Mapping, Optional

from kustomer_simulator.audit import AuditEntry
from kustomer_simulator.routes.base import Reply, Request, bad_request, json_reply
from kustomer_simulator.timefmt import now_ms, parse_iso_ms

AUDIT_PAGE_MAX = 1000
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


def audit_logs(request: Request) -> Reply:
    """One page of the log. ``filter[include]`` OR-s more object types into ``filter[objectType]`` (unless
    ``--audit-include ignored``); ``filter[start]``/``filter[end]`` compare the ``--audit-date-field``, including or
    excluding their own instant (``--audit-bounds``); links carry only count and before/after, as Kustomer's
    published example does, or the filters too (``--audit-next-links filtered``)."""
    query = request.query
    settings = request.settings
    try:
        count = min(max(int(query.get("count", 100)), 1), AUDIT_PAGE_MAX)
    except ValueError:
        raise bad_request("count must be a number") from None
    start, end = _date(query, "filter[start]"), _date(query, "filter[end]")
    included = query.get("filter[include]", "").split(",") if settings.audit_include == "honoured" else []
    types = {t for t in [query.get("filter[objectType]"), *included] if t}
    before, after = query.get("before"), query.get("after")
    dated = DATE_FIELDS[settings.audit_date_field]
    inclusive = settings.audit_bounds == "inclusive"

    def wanted(entry: AuditEntry) -> bool:
        at = dated(entry)
        return (
            (not types or entry.object_type in types)
            and (start is None or at > start or (inclusive and at == start))
            and (end is None or at < end or (inclusive and at == end))
        )

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
