"""Routing: work sessions (``GET /v1/routing/work-sessions``) and a conversation's work items."""

from kustomer_simulator.org import MACHINE_USER
from kustomer_simulator.routes.base import Reply, Request, serve_list
from kustomer_simulator.search_limits import without_updated_at

SESSION_STATUS_TYPES = ("available", "unavailable", "busy")
TRUE_FALSE = ("true", "false")


def work_sessions(request: Request) -> Reply:
    """Work sessions, filtered as documented: ``user=true`` the current user's (an API key's machine user works no
    sessions), ``false`` everyone's; ``active=true`` running ones, ``false`` all; ``statusType``. Kustomer documents no
    default for ``user`` and ``active``: ``--work-session-defaults`` gives both."""
    default = request.settings.work_session_defaults
    mine = request.choice("user", TRUE_FALSE, default) == "true"
    running = request.choice("active", TRUE_FALSE, default) == "true"
    status = request.choice("statusType", SESSION_STATUS_TYPES)
    org = request.org
    coll = org.collections["work_sessions"]

    def indexes():
        return (
            i
            for i in coll.live_indexes()
            if (not mine or org.session_user(i) == MACHINE_USER)
            and (not running or i in org.active_sessions)
            and (status is None or org.session_status_type(i) == status)
        )

    listed = serve_list(request, coll, indexes, filters=("user", "active", "statusType"))
    return _shaped(request, "work_session", listed)


def work_items(request: Request) -> Reply:
    """GET /v1/routing/conversations/{id}/work-items: the conversation's work items."""
    org = request.org
    items = org.collections["work_items"]

    def indexes():
        conversation = org.collections["conversations"].index_of(request.params["id"])
        owned = org.work_items_of.get(conversation, []) if conversation is not None else []
        return (i for i in owned if items.exists(i))

    return _shaped(request, "work_item", serve_list(request, items, indexes))


def _shaped(request: Request, context: str, reply: Reply) -> Reply:
    """A routing list's answer as ``--routing-search`` shapes the context's records (no updatedAt, or as stored)."""
    status, payload, records = reply
    if status == 200 and request.settings.search.hides_updated_at(context):
        return status, without_updated_at(payload), records
    return reply
