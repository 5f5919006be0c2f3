"""Reading the probe's answers whatever their shape: a body that is not what Kustomer's are raises ``Unexpected``,
whose message says what was wrong with it (the probe reports it as a finding and goes on)."""

from typing import Any, List, Mapping, Optional
from urllib.parse import quote

import requests
from kustomer_http.responses import response_json

WHY_CHARS = 160  # the longest reason a finding quotes
_KINDS = ((bool, "a boolean"), (Mapping, "an object"), (list, "a list"), (str, "a string"), ((int, float), "a number"))


class Unexpected(Exception):
    """An answer of a shape the probe cannot read; the message says what was wrong with it."""


def why(error: Exception) -> str:
    """What was wrong with an answer, in at most ``WHY_CHARS`` characters."""
    text = str(error) if isinstance(error, Unexpected) else f"{error.__class__.__name__}: {error}"
    return text if len(text) <= WHY_CHARS else text[:WHY_CHARS] + "…"


def kind(value: Any) -> str:
    """A JSON value's kind, as the findings name it."""
    if value is None:
        return "null or missing"
    return next((name for type_, name in _KINDS if isinstance(value, type_)), type(value).__name__)


def an_object(value: Any, what: str) -> Mapping[str, Any]:
    """``value``, which must be a JSON object."""
    if not isinstance(value, Mapping):
        raise Unexpected(f"{what} is {kind(value)}, not an object")
    return value


def text(value: Any, what: str) -> str:
    """``value``, which must be a non-empty string."""
    if not isinstance(value, str) or not value:
        raise Unexpected(f"{what} is {kind(value)}, not a string")
    return value


def document(response: requests.Response) -> Mapping[str, Any]:
    """The body as a JSON object."""
    try:
        body = response_json(response)
    except ValueError:
        raise Unexpected("the body is not JSON") from None
    return an_object(body, "the body")


def resources(response: requests.Response) -> List[Mapping[str, Any]]:
    """The records of a page: ``data`` must be a list of objects, each with an ``attributes`` object."""
    data = document(response).get("data")
    if not isinstance(data, list):
        raise Unexpected(f"data is {kind(data)}, not a list")
    for item in data:
        an_object(an_object(item, "a record").get("attributes"), "a record's attributes")
    return data


def records(response: requests.Response) -> List[Mapping[str, Any]]:
    """The ``attributes`` of each record of a page."""
    return [resource["attributes"] for resource in resources(response)]


def page_size(response: requests.Response) -> Any:
    """The page's ``meta.pageSize`` as served (None when there is no ``meta`` object)."""
    meta = document(response).get("meta")
    return meta.get("pageSize") if isinstance(meta, Mapping) else None


def segment(value: str) -> str:
    """A server value as one path segment ('/', '?', '&', '=' and the rest encoded)."""
    return quote(value, safe="")


def related(resource: Mapping[str, Any], name: str) -> Optional[str]:
    """The id of a to-one relationship (``relationships.<name>.data.id``), when it is there."""
    relationships = resource.get("relationships")
    link = relationships.get(name) if isinstance(relationships, Mapping) else None
    data = link.get("data") if isinstance(link, Mapping) else None
    found = data.get("id") if isinstance(data, Mapping) else None
    return found if isinstance(found, str) else None
