"""custom_attribute_metadata: one record per custom attribute of each resource Kustomer describes.

``GET /v1/metadata/{resource}`` for customer, company, conversation, message and every ``kobject.<klass>``;
each definition (type, displayName, enumeration, target, multi, …) becomes a record whose id is
``<resource>.<attribute>``. Read in full every sync: a few requests, and definitions have no updated-since filter.
"""

import time
from typing import Any, Iterable, List, Mapping, MutableMapping, Optional

from airbyte_cdk.models import SyncMode
from kustomer_http.connection import KustomerConnection

from source_kustomer.discovery import metadata_properties
from source_kustomer.streams.base import KustomerStream

STANDARD_RESOURCES = ("customer", "company", "conversation", "message")


class CustomAttributeMetadataStream(KustomerStream):
    """Every custom attribute definition, resource by resource (one slice each)."""

    def __init__(self, connection: KustomerConnection, klasses: List[str]) -> None:
        self.resources = list(STANDARD_RESOURCES) + [f"kobject.{klass}" for klass in klasses]
        super().__init__(connection)

    @property
    def name(self) -> str:
        return "custom_attribute_metadata"

    def path(self, **kwargs: Any) -> str:
        return "metadata"

    def stream_slices(self, **kwargs: Any) -> Iterable[Optional[Mapping[str, Any]]]:
        last = len(self.resources) - 1
        return [{"resource": resource, "last": n == last} for n, resource in enumerate(self.resources)]

    def read_slice(self, sync_mode: SyncMode, stream_slice: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        """The definitions of one resource."""
        resource = stream_slice["resource"]
        response, properties = metadata_properties(self.client, resource)
        self.progress.page(time.monotonic())
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
