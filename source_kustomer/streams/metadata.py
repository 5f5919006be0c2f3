"""custom_attribute_metadata: one record per custom attribute of each resource Kustomer describes.

``GET /v1/metadata/{resource}`` for customer, company, conversation, message and every ``kobject.<klass>``;
each definition (type, displayName, enumeration, target, multi, …) becomes a record whose id is
``<resource>.<attribute>``. Read in full every sync: the requests are independent, so up to
``METADATA_IN_FLIGHT`` are in flight at once, and definitions have no updated-since filter.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, List, Mapping, MutableMapping, Optional, Tuple

import requests
from kustomer_http.connection import KustomerConnection
from kustomer_http.definitions import metadata_properties

from source_kustomer.discovery import METADATA_IN_FLIGHT
from source_kustomer.streams.base import StatelessStream

STANDARD_RESOURCES = ("customer", "company", "conversation", "message")


class CustomAttributeMetadataStream(StatelessStream):
    """Every custom attribute definition, resource by resource, fetched several at a time."""

    def __init__(self, connection: KustomerConnection, klasses: List[str]) -> None:
        self.resources = list(STANDARD_RESOURCES) + [f"kobject.{klass}" for klass in klasses]
        super().__init__(connection)

    @property
    def name(self) -> str:
        return "custom_attribute_metadata"

    def read_part(self, part: Mapping[str, Any]) -> Iterable[Any]:
        """The definitions of every resource, in order."""
        clients = [self.connection.client(f"{self.name}-{n}", self.rate_stats) for n in range(METADATA_IN_FLIGHT)]
        with ThreadPoolExecutor(METADATA_IN_FLIGHT, thread_name_prefix="metadata") as pool:
            fetched = pool.map(
                lambda job: self._definitions(clients[job[0] % METADATA_IN_FLIGHT], job[1]), enumerate(self.resources)
            )
            for resource, (response, properties) in zip(self.resources, fetched, strict=True):
                yield from self._records(resource, response, properties)

    def _definitions(self, client: Any, resource: str) -> Tuple[requests.Response, Optional[Mapping[str, Any]]]:
        response, properties = metadata_properties(client, resource)
        self.progress.page(time.monotonic())
        return response, properties

    def _records(
        self, resource: str, response: requests.Response, properties: Optional[Mapping[str, Any]]
    ) -> Iterable[MutableMapping[str, Any]]:
        refusal = self.client.refusal(response)
        if refusal is not None:
            raise refusal
        if properties is None:
            self.logger.info(f"Kustomer describes no custom attributes for {resource} (HTTP {response.status_code}).")
            return
        for attribute, definition in properties.items():
            record: MutableMapping[str, Any] = dict(definition) if isinstance(definition, Mapping) else {}
            record.update(id=f"{resource}.{attribute}", resource=resource, name=attribute)
            self.progress.records += 1
            yield record
