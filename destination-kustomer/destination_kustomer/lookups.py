"""Finding the object a record writes to by its matching key, exactly: ``GET /v1/customers/externalId=…`` (or
``email=…``), ``GET /v1/klasses/{klass}/externalId=…``, and ``GET /v1/companies?externalId=…``; and reading one
object again by its id (``read``: after a stale ``rev``, and to check the first update of a sync).

Kustomer documents only the found case (200). A miss is read from either answer it may give -- 404, or 200 without
a record -- and whatever comes back is checked to carry the key asked for: an object with another key is never
updated in its place. The company list matches by prefix in the published example (``foobar`` answers ``foobar``
and ``foobar2``) and pages: every page is read (at most ``MAX_COMPANY_PAGES``) and only the company whose
externalId is the value exactly, in the same case, is kept; two such companies are ambiguous and the record is
refused rather than written to either.
"""

from dataclasses import dataclass
from typing import Any, List, Mapping, Optional
from urllib.parse import urlencode

from kustomer_http.connection import KustomerClient
from kustomer_http.origin import UnsafeUrl, path_segment
from kustomer_http.pages import LinkTrail, linked_pages
from kustomer_http.responses import response_json

from destination_kustomer.errors import RecordFailed, refused_reason, stop_if_key_refused
from destination_kustomer.objects import EMAIL, KustomerObject

MAX_COMPANY_PAGES = 50


@dataclass(frozen=True)
class Existing:
    """An object found in Kustomer: its id, attributes and relationships as Kustomer answered them, and its
    ``rev`` when the answer carries one."""

    id: str
    attributes: Mapping[str, Any]
    relationships: Mapping[str, Any]

    @property
    def rev(self) -> Optional[int]:
        """The revision Kustomer answered (customers and custom objects), or None."""
        rev = self.attributes.get("rev")
        return rev if isinstance(rev, int) and not isinstance(rev, bool) else None


def keys_of(attributes: Mapping[str, Any], key: str) -> set:
    """The values of ``key`` an object holds (emails in lower case: they match in any case)."""
    if key != EMAIL:
        value = attributes.get(key)
        return {value} if isinstance(value, str) else set()
    emails = attributes.get("emails")
    found = {e.get("email") for e in emails if isinstance(e, Mapping)} if isinstance(emails, list) else set()
    return {e.lower() for e in found if isinstance(e, str)}


def folded(key: str, value: str) -> str:
    """A key's value as objects are matched by it (an email in lower case)."""
    return value.lower() if key == EMAIL else value


def existing(resource: Any) -> Optional[Existing]:
    """The object a JSON:API resource describes (None when it is none: no id)."""
    if not isinstance(resource, Mapping) or not isinstance(resource.get("id"), str):
        return None
    attributes = resource.get("attributes") if isinstance(resource.get("attributes"), Mapping) else {}
    relationships = resource.get("relationships") if isinstance(resource.get("relationships"), Mapping) else {}
    return Existing(resource["id"], attributes, relationships)


def _carrying(resource: Any, key: str, value: str) -> Optional[Existing]:
    """The object in ``resource`` when it is one and carries ``key`` = ``value``."""
    found = existing(resource)
    if found is None:
        return None
    if folded(key, value) not in keys_of(found.attributes, key):
        raise RecordFailed(
            f"Kustomer's lookup by {key} returned a {resource.get('type', 'record')} ({found.id}) without "
            f"that {key}; the record was not written so that no other object is overwritten"
        )
    return found


class Lookups:
    """The exact lookups of one object, through one client."""

    def __init__(self, client: KustomerClient, target: KustomerObject) -> None:
        self.client = client
        self.target = target

    def find(self, key: str, value: str) -> Optional[Existing]:
        """The existing object whose ``key`` is ``value``, or None; ``RecordFailed`` when Kustomer refuses the
        lookup of this value; the sync stops when it refuses the key."""
        if self.target.kind == "company":
            return self._company(value)
        path, params = self.target.lookup_path(key, value)
        response = self.client.get(self.client.api_url(path), params)
        if response.status_code == 404:
            return None
        self._refused(response, f"looking it up by {key}")
        return _carrying(response_json(response).get("data"), key, value)

    def _company(self, value: str) -> Optional[Existing]:
        path, params = self.target.lookup_path("externalId", value)
        first = f"/v1/{path}?{urlencode(params)}"
        exact: List[Existing] = []
        trail = LinkTrail(f"list of companies whose externalId starts with {value!r}", max_pages=MAX_COMPANY_PAGES)
        for page in linked_pages(self.client, first, trail):
            self._refused(page, "looking it up by externalId")
            data = response_json(page).get("data")
            for item in data if isinstance(data, list) else []:
                found = existing(item)
                if found is not None and found.attributes.get("externalId") == value:
                    exact.append(found)
        if len({found.id for found in exact}) > 1:
            ids = ", ".join(sorted({found.id for found in exact}))
            raise RecordFailed(
                f"Kustomer holds more than one company with externalId {value!r} ({ids}); the record was not "
                "written to either"
            )
        return exact[0] if exact else None

    def read(self, object_id: str) -> Existing:
        """The object ``object_id`` as it is now; ``RecordFailed`` when it cannot be read."""
        try:
            segment = path_segment(object_id)
        except UnsafeUrl as unsafe:
            raise RecordFailed(f"Kustomer's lookup answered an id that {unsafe}; the record was not written") from None
        response = self.client.get(self.client.api_url(self.target.record_path(segment)))
        self._refused(response, f"reading {self.target.name} {object_id} again")
        found = existing(response_json(response).get("data"))
        if found is None or found.id != object_id:
            raise RecordFailed(f"reading {self.target.name} {object_id} again answered no such object")
        return found

    def _refused(self, response: Any, doing: str) -> None:
        stop_if_key_refused(self.client, response, f"to look up {self.target.name} records", self.target.roles.read)
        if not response.ok:
            raise RecordFailed(f"{doing}: {refused_reason(response)}")
