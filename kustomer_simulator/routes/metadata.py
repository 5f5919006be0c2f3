"""GET /v1/metadata/{resource}: custom attribute definitions."""

from kustomer_simulator.routes.base import Reply, Request, json_reply, not_found


def metadata(request: Request) -> Reply:
    """The definitions of a documented resource (company, conversation, customer, message, kobject.<klass>)."""
    meta = request.org.metadata(request.params["resource"])
    if meta is None:
        raise not_found(request.path)
    return json_reply({"data": meta})
