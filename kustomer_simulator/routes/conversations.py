"""A conversation by id, and a conversation's messages."""

from kustomer_simulator.routes.base import Reply, Request, record_reply
from kustomer_simulator.routes.lists import children


def conversation(request: Request) -> Reply:
    """GET /v1/conversations/{id}: the record (one deleted to the trash too); 404 once hard-deleted."""
    org = request.org
    coll = org.collections["conversations"]
    with org.lock:
        return record_reply(request, coll, coll.index_of(request.params["id"]))


def messages(request: Request) -> Reply:
    """GET /v1/conversations/{id}/messages."""
    return children(request, "messages", "conversation", "conversations")
