"""What discover needs beyond the fixed streams: the org's custom object klasses and custom attribute types.

Kustomer lists klasses by ``status`` -- ``enabled`` unless asked -- so every status is asked for:
``existing_only`` klasses still hold (and serve) their objects, and a ``disabled`` one may too. A klass listed
twice (on two pages or under two statuses) is one klass. Discover's cost is bounded: at most
``MAX_KLASS_PAGES`` pages of klasses and ``MAX_METADATA_REQUESTS`` custom attribute definitions; a klass past
that bound is still a stream, with ``custom`` left an open object (and a warning saying so).
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote

import requests
from kustomer_http.connection import KustomerClient
from kustomer_http.responses import response_json

from source_kustomer.link_trail import LinkTrail, linked_pages
from source_kustomer.streams import KLASS_STATUSES

KLASS_PAGE_SIZE = 100
MAX_KLASS_PAGES = 100  # per status: 10,000 klasses
MAX_METADATA_REQUESTS = 500  # custom attribute definitions fetched by one discover (or read)
METADATA_IN_FLIGHT = 8  # definitions fetched at once: their requests are independent
KLASS_ROLES = "org.permission.klass.read (or org.user.klass.read / org.admin.klass.read)"


@dataclass(frozen=True)
class Klass:
    """A custom object klass: its name, id and status."""

    name: str
    id: str
    status: str


def list_klasses(client: KustomerClient) -> List[Klass]:
    """Every custom object klass of every status (``GET /v1/klasses?status=…``, following links.next), each once;
    empty when the key may not list them."""
    found: Dict[str, Klass] = {}
    for status in KLASS_STATUSES:
        first = f"/v1/klasses?status={status}&page=1&pageSize={KLASS_PAGE_SIZE}"
        trail = LinkTrail(f"list of {status} klasses", max_pages=MAX_KLASS_PAGES)
        for response in linked_pages(client, first, trail):
            if not response.ok:
                refusal = client.refusal(response)
                reason = f"HTTP {response.status_code}" + (f": {refusal.reason}" if refusal else "")
                client.connection.logger.warning(
                    f"Cannot list {status} custom object klasses ({reason}); they get no kobjects_* streams. Give the "
                    f"API key {KLASS_ROLES} to sync custom objects."
                )
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


class CustomFieldTypes:
    """Custom attribute definitions per resource, fetched at most ``MAX_METADATA_REQUESTS`` times per command,
    several at once (``prefetch``), each once."""

    def __init__(self, client: KustomerClient) -> None:
        self.client = client
        self._known: Dict[str, Optional[Mapping[str, Any]]] = {}
        self._lock = threading.Lock()
        self._skipped = 0

    def prefetch(self, resources: List[str]) -> None:
        """Fetch the definitions of ``resources`` with up to ``METADATA_IN_FLIGHT`` requests in flight."""
        with ThreadPoolExecutor(METADATA_IN_FLIGHT, thread_name_prefix="metadata") as pool:
            list(pool.map(self.of, resources))
        if self._skipped:
            self.client.connection.logger.warning(
                f"{self._skipped} resources beyond the first {MAX_METADATA_REQUESTS} keep an untyped 'custom' object: "
                "discover reads at most that many custom attribute definitions."
            )

    def of(self, resource: str) -> Optional[Mapping[str, Any]]:
        """The definitions of ``resource`` (None when Kustomer will not tell, or past the bound)."""
        with self._lock:
            if resource in self._known:
                return self._known[resource]
            if len(self._known) >= MAX_METADATA_REQUESTS:
                self._skipped += 1
                return None
            self._known[resource] = None  # taken: no second request for it
        response, properties = metadata_properties(self.client, resource)
        if not response.ok:
            self.client.connection.logger.info(
                f"No custom attribute definitions for {resource} (HTTP {response.status_code}); "
                "'custom' stays an open object."
            )
        with self._lock:
            self._known[resource] = properties
        return properties
