"""What an org defines beyond Kustomer's standard objects: its custom object klasses (``GET /v1/klasses``) and the
custom attribute definitions of each resource (``GET /v1/metadata/{resource}``).

Kustomer lists klasses by ``status`` -- ``enabled`` unless asked -- so every status is asked for; a klass listed
twice (on two pages or under two statuses) is one klass. At most ``MAX_KLASS_PAGES`` pages are read per status.
"""

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote

import requests
from kustomer_http.connection import KustomerClient
from kustomer_http.pages import LinkTrail, linked_pages
from kustomer_http.responses import response_json

KLASS_STATUSES = ("enabled", "existing_only", "disabled")
KLASS_PAGE_SIZE = 100
MAX_KLASS_PAGES = 100  # per status: 10,000 klasses
KLASS_READ = ("org.permission.klass.read", "org.user.klass.read", "org.admin.klass.read")  # any one lists klasses
KLASS_ROLES = f"{KLASS_READ[0]} (or {' / '.join(KLASS_READ[1:])})"


@dataclass(frozen=True)
class Klass:
    """A custom object klass: its name, id and status."""

    name: str
    id: str
    status: str


def list_klasses(client: KustomerClient, refused: Callable[[str, str], None]) -> List[Klass]:
    """Every klass of every status, each once, sorted by name; a status Kustomer will not list is reported to
    ``refused(status, reason)`` and left out."""
    found: Dict[str, Klass] = {}
    for status in KLASS_STATUSES:
        first = f"/v1/klasses?status={status}&page=1&pageSize={KLASS_PAGE_SIZE}"
        trail = LinkTrail(f"list of {status} klasses", max_pages=MAX_KLASS_PAGES)
        for response in linked_pages(client, first, trail):
            if not response.ok:
                refusal = client.refusal(response)
                refused(status, f"HTTP {response.status_code}" + (f": {refusal.reason}" if refusal else ""))
                break
            data = response_json(response).get("data")
            for item in data if isinstance(data, list) else []:
                klass = _klass(item, status)
                if klass is not None and klass.id not in found:
                    found[klass.id] = klass
    return sorted(found.values(), key=lambda klass: (klass.name, klass.id))


def _klass(item: Any, status: str) -> Optional[Klass]:
    attributes = item.get("attributes") if isinstance(item, Mapping) else None
    if not isinstance(attributes, Mapping) or not isinstance(attributes.get("name"), str) or not attributes["name"]:
        return None
    klass_id = item.get("id")
    shown = attributes.get("status")
    return Klass(attributes["name"], str(klass_id or attributes["name"]), shown if isinstance(shown, str) else status)


def metadata_properties(client: KustomerClient, resource: str) -> Tuple[requests.Response, Optional[Mapping[str, Any]]]:
    """``GET /v1/metadata/{resource}``: the response, and its custom attribute definitions when it has them."""
    response = client.get(client.api_url(f"metadata/{quote(resource, safe='.')}"))
    if not response.ok:
        return response, None
    data = response_json(response).get("data")
    attributes = data.get("attributes") if isinstance(data, Mapping) else None
    properties = attributes.get("properties") if isinstance(attributes, Mapping) else None
    return response, properties if isinstance(properties, Mapping) else None
