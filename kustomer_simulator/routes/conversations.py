"""A conversation by id, and what is listed under it: its messages, its change history (events) and the attachments
of its messages."""

from typing import Iterable

import orjson

from kustomer_simulator.routes.base import LIST_PAGE_MAX, Reply, Request, list_page, list_paging, record_reply
from kustomer_simulator.routes.lists import children

ATTACHMENT_IDS = ("absent", "listed")  # --attachment-ids: whether a listed attachment carries its id


def conversation(request: Request) -> Reply:
    """GET /v1/conversations/{id}: the record (one deleted to the trash too); 404 once hard-deleted."""
    org = request.org
    coll = org.collections["conversations"]
    with org.lock:
        return record_reply(request, coll, coll.index_of(request.params["id"]))


def messages(request: Request) -> Reply:
    """GET /v1/conversations/{id}/messages."""
    return children(request, "messages", "conversation", "conversations")


def _listed(request: Request, stream: str, newest_first: bool, without_id: bool) -> Reply:
    """One page of the ``stream`` records listed under the conversation the path names (404 once it is gone)."""
    page, size = list_paging(request, LIST_PAGE_MAX)
    org = request.org
    conversations, coll = org.collections["conversations"], org.collections[stream]
    with org.lock:
        i = conversations.index_of(request.params["id"])
        if i is None:
            return record_reply(request, conversations, None)
        owned: Iterable[int] = org.tables.children_of(stream, i)
        ordered = sorted(owned, key=lambda k: coll.created_ms[k], reverse=newest_first)
        chosen = ordered[(page - 1) * size : page * size]
        if without_id:
            data = [orjson.dumps({k: v for k, v in coll.render(n).items() if k != "id"}) for n in chosen]
        else:
            data = [coll.render_json(n) for n in chosen]
    return list_page(request, page, size, data, more=len(ordered) > page * size)


def events(request: Request) -> Reply:
    """GET /v1/conversations/{id}/events: the conversation's change history, newest first (as the published
    example lists it), paged."""
    return _listed(request, "conversation_events", newest_first=True, without_id=False)


def attachments(request: Request) -> Reply:
    """GET /v1/conversations/{id}/attachments: the attachments of its messages, paged; without an ``id`` attribute
    (as the published example lists them, their id only in ``links.self``) or with one, as ``--attachment-ids``
    says."""
    without_id = request.settings.attachment_ids == "absent"
    return _listed(request, "message_attachments", newest_first=False, without_id=without_id)
