"""What discover needs beyond the fixed streams: the org's custom object klasses and custom attribute types."""

from typing import Any, List, Mapping, Optional, Tuple
from urllib.parse import quote

import requests
from kustomer_http.connection import KustomerClient
from kustomer_http.responses import response_json

from source_kustomer.link_trail import LinkTrail, linked_pages

KLASS_PAGE_SIZE = 100


def list_klasses(client: KustomerClient) -> List[Mapping[str, Any]]:
    """Every custom object klass (``GET /v1/klasses``, following links.next); empty when the key may not list them."""
    found: List[Mapping[str, Any]] = []
    first = f"/v1/klasses?page=1&pageSize={KLASS_PAGE_SIZE}"
    for response in linked_pages(client, first, LinkTrail("list of klasses")):
        if not response.ok:
            refusal = client.refusal(response)
            reason = f"HTTP {response.status_code}" + (f": {refusal.reason}" if refusal else "")
            client.connection.logger.warning(
                f"Cannot list custom object klasses ({reason}); no kobjects_* streams. Give the API key "
                "org.permission.klass.read (or org.user.klass.read / org.admin.klass.read) to sync custom objects."
            )
            return []
        data = response_json(response).get("data")
        found.extend(item for item in (data if isinstance(data, list) else []) if isinstance(item, Mapping))
    return found


def metadata_properties(client: KustomerClient, resource: str) -> Tuple[requests.Response, Optional[Mapping[str, Any]]]:
    """``GET /v1/metadata/{resource}``: the response, and its custom attribute definitions when it has them."""
    response = client.get(client.api_url(f"metadata/{quote(resource, safe='.')}"))
    if not response.ok:
        return response, None
    data = response_json(response).get("data")
    attributes = data.get("attributes") if isinstance(data, Mapping) else None
    properties = attributes.get("properties") if isinstance(attributes, Mapping) else None
    return response, properties if isinstance(properties, Mapping) else None


def custom_field_types(client: KustomerClient, resource: str) -> Optional[Mapping[str, Any]]:
    """Custom attribute definitions of ``resource`` (None when Kustomer will not tell)."""
    response, properties = metadata_properties(client, resource)
    if not response.ok:
        client.connection.logger.info(
            f"No custom attribute definitions for {resource} (HTTP {response.status_code}); "
            "'custom' stays an open object."
        )
    return properties
