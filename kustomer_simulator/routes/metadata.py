"""GET /v1/metadata/{resource}: custom attribute definitions."""

from kustomer_simulator.routes.base import Reply, Request, found_or_404, json_reply


def metadata(request: Request) -> Reply:
    """The definitions of a documented resource (company, conversation, customer, message, kobject.<klass>)."""
    return json_reply({"data": found_or_404(request, request.org.metadata(request.params["resource"]))})
