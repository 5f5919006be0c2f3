"""What discover needs beyond the fixed streams: the org's custom object klasses and custom attribute types.

Kustomer lists klasses by ``status`` -- ``enabled`` unless asked -- so every status is asked for:
``existing_only`` klasses still hold (and serve) their objects, and a ``disabled`` one may too. A klass listed
twice (on two pages or under two statuses) is one klass. Discover's cost is bounded: at most
``definitions.MAX_KLASS_PAGES`` pages of klasses per status and ``MAX_METADATA_REQUESTS`` custom attribute
definitions; a klass past
that bound is still a stream, with ``custom`` left an open object (and a warning saying so).
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Mapping, Optional

from kustomer_http import definitions
from kustomer_http.connection import KustomerClient
from kustomer_http.definitions import KLASS_ROLES, Klass, metadata_properties

MAX_METADATA_REQUESTS = 500  # custom attribute definitions fetched by one discover (or read)
METADATA_IN_FLIGHT = 8  # definitions fetched at once: their requests are independent


def list_klasses(client: KustomerClient) -> List[Klass]:
    """Every custom object klass of every status, each once; a status the key may not list is left out with a
    warning naming the roles it needs."""

    def refused(status: str, reason: str) -> None:
        client.connection.logger.warning(
            f"Cannot list {status} custom object klasses ({reason}); they get no kobjects_* streams. Give the "
            f"API key {KLASS_ROLES} to sync custom objects."
        )

    return definitions.list_klasses(client, refused)


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
