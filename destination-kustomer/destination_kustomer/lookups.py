"""Finding the object a record writes to, by its matching key: ``GET /v1/customers/externalId=…`` (or
``email=…``), ``GET /v1/companies?externalId=…``, ``GET /v1/klasses/{klass}/externalId=…``.

Kustomer documents only the found case (200). A miss is read from either answer it may give -- 404, or 200 without
a record -- and whatever comes back is checked to carry the key asked for: an object with another key is never
updated in its place.
"""

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from kustomer_http.connection import KustomerClient
from kustomer_http.responses import response_json

from destination_kustomer.errors import RecordFailed, refused_reason, stop_if_key_refused
from destination_kustomer.objects import EMAIL, KustomerObject


@dataclass(frozen=True)
class Existing:
    """An object found in Kustomer: its id, attributes and relationships as Kustomer answered them."""

    id: str
    attributes: Mapping[str, Any]
    relationships: Mapping[str, Any]


def _keys_of(attributes: Mapping[str, Any], key: str) -> set:
    if key != EMAIL:
        value = attributes.get(key)
        return {value} if isinstance(value, str) else set()
    emails = attributes.get("emails")
    found = {e.get("email") for e in emails if isinstance(e, Mapping)} if isinstance(emails, list) else set()
    return {e.lower() for e in found if isinstance(e, str)}


def _existing(resource: Any, key: str, value: str) -> Optional[Existing]:
    """The object in ``resource`` when it is one and carries ``key`` = ``value``."""
    if not isinstance(resource, Mapping) or not isinstance(resource.get("id"), str):
        return None
    attributes = resource.get("attributes") if isinstance(resource.get("attributes"), Mapping) else {}
    wanted = value.lower() if key == EMAIL else value
    if wanted not in _keys_of(attributes, key):
        raise RecordFailed(
            f"Kustomer's lookup by {key} returned a {resource.get('type', 'record')} ({resource['id']}) without "
            f"that {key}; the record was not written so that no other object is overwritten"
        )
    relationships = resource.get("relationships") if isinstance(resource.get("relationships"), Mapping) else {}
    return Existing(resource["id"], attributes, relationships)


class Lookups:
    """The lookups of one object, through one client."""

    def __init__(self, client: KustomerClient, target: KustomerObject) -> None:
        self.client = client
        self.target = target

    def find(self, key: str, value: str) -> Optional[Existing]:
        """The existing object whose ``key`` is ``value``, or None; ``RecordFailed`` when Kustomer refuses the
        lookup of this value; the sync stops when it refuses the key."""
        path, params = self.target.lookup_path(key, value)
        response = self.client.get(self.client.api_url(path), params)
        if response.status_code == 404:
            return None
        stop_if_key_refused(self.client, response, f"to look up {self.target.name} records", self.target.roles.read)
        if not response.ok:
            raise RecordFailed(f"looking it up by {key}: {refused_reason(response)}")
        data = response_json(response).get("data")
        if isinstance(data, list):  # companies are found in a list
            matches = [item for item in data if isinstance(item, Mapping) and _matches(item, key, value)]
            return _existing(matches[0], key, value) if matches else None
        return _existing(data, key, value)


def _matches(item: Mapping[str, Any], key: str, value: str) -> bool:
    attributes = item.get("attributes")
    return isinstance(attributes, Mapping) and value in _keys_of(attributes, key)
