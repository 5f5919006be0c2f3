"""POST /v1/customers/search and /v1/customers/archive/search."""

import json
from typing import Any, Optional

from kustomer_simulator.routes.base import ApiError, Reply, Request, page_body, paging
from kustomer_simulator.routes.klasses import klass_refused, refused_klasses
from kustomer_simulator.search import CONTEXTS, run_search, uses_keys
from kustomer_simulator.search_criteria import SearchError
from kustomer_simulator.search_limits import past_window, without_updated_at
from kustomer_simulator.timefmt import now_ms

# The read role behind each queryContext besides the search role (conversation times: the conversation role).
CONTEXT_RESOURCES = {
    **CONTEXTS,
    "conversation_time": "conversations",
    "work_session": "routing",
    "work_item": "routing",
}


def context_resource(context: Any) -> Optional[str]:
    """The resource whose read role searching ``context`` needs (None for a context search rejects anyway)."""
    if not isinstance(context, str):
        return None
    if context in CONTEXT_RESOURCES:
        return CONTEXT_RESOURCES[context]
    return "kobjects" if context == "kobject" or context.startswith("kobject_") else None


def standard(request: Request) -> Reply:
    """Standard search: records updated within the last two years."""
    return _search(request, archive=False)


def archive(request: Request) -> Reply:
    """Archive search: records older than the standard search's horizon."""
    return _search(request, archive=True)


def _search(request: Request, archive: bool) -> Reply:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise SearchError("the body is not JSON") from None
    context = body.get("queryContext") if isinstance(body, dict) else None
    resource = context_resource(context)
    if resource:
        request.require(resource)
    hidden = refused_klasses(request)
    if isinstance(context, str) and context.startswith("kobject_") and context[len("kobject_") :] in hidden:
        raise klass_refused(context[len("kobject_") :])
    page, size = paging(request.query)
    sim = request.sim
    limits = request.settings.search
    sim.search_log.append({"body": body, "page": page, "pageSize": size, "archive": archive})
    if past_window(page, size, limits) and limits.past_window == "error":
        detail = f"page {page} is past the search result window ({limits.window} results, {limits.max_pages} pages)"
        raise ApiError(400, "search_window_exceeded", "Bad Request", detail)
    org = request.org
    with org.lock:
        targets, meta = run_search(org, body, page, size, limits, archive=archive, hidden_klasses=hidden)
        if past_window(page, size, limits):
            targets = []
        data = [coll.render_json(i) for coll, i in targets]
        if uses_keys(body):  # a writer's lookup: an agent may edit what it found before the write comes
            for coll, i in targets:
                org.store.after_lookup(coll, [i], request.settings.writes, now_ms())
    size = meta["pageSize"]
    base = request.path
    # Like Kustomer, the last page inside the window still links to the page past it.
    has_next = page < meta["totalPages"] and not past_window(page, size, limits)
    links = {
        "self": f"{base}?page={page}&pageSize={size}",
        "first": f"{base}?page=1&pageSize={size}",
        "prev": f"{base}?page={page - 1}&pageSize={size}" if page > 1 else None,
        "next": f"{base}?page={page + 1}&pageSize={size}" if has_next else None,
        "last": f"{base}?page={meta['totalPages']}&pageSize={size}",
    }
    payload = page_body(data, links, meta)
    if limits.hides_updated_at(context):  # --routing-search no-updated-at
        payload = without_updated_at(payload)
    return 200, payload, len(data)
