"""The JSON:API pieces every Kustomer record shares: the resource object, its ``links.self`` path, relationships."""

from typing import Optional

# The path segment of a type's records where it is not simply the type plus "s".
PLURALS = {"company": "companies", "klass": "klasses"}


def self_path(type_: str, record_id: Optional[str]) -> str:
    """The ``links.self`` of a record, e.g. ``/v1/companies/<id>`` (``/v1/users/null`` for no user)."""
    return f"/v1/{PLURALS.get(type_, type_ + 's')}/{'null' if record_id is None else record_id}"


def relationship(type_: str, record_id: Optional[str]) -> dict:
    """A to-one relationship as Kustomer's examples show it: ``links.self`` and ``data``."""
    return {"links": {"self": self_path(type_, record_id)}, "data": {"type": type_, "id": record_id}}


def resource(type_: str, record_id: str, attributes: dict, relationships: dict, link: str) -> dict:
    """A record as Kustomer serves it: ``type``, ``id``, ``attributes``, ``relationships`` and ``links.self``."""
    return {
        "type": type_,
        "id": record_id,
        "attributes": attributes,
        "relationships": relationships,
        "links": {"self": link},
    }
