"""``discover``: what this destination writes, as a DESTINATION_CATALOG (Airbyte's data activation).

One object per operation: ``customer`` (matched by externalId or email), ``company`` and ``kobject.<klass>`` for
each klass of every status (matched by externalId), each offered as ``append_dedup`` (upsert: update the match,
else create) and ``update`` (update the match only), and companies also as ``soft_delete`` (Kustomer documents
``deleted`` on company updates; customers and custom objects can only be deleted for good). Each schema lists the
standard attributes Kustomer's published request schemas accept and the org's custom attributes.
"""

from typing import Any, Dict, List

from airbyte_cdk.models import DestinationSyncMode
from airbyte_protocol_dataclasses.models import DestinationCatalog, DestinationOperation
from kustomer_http.connection import KustomerConnection

from destination_kustomer.access import held_roles
from destination_kustomer.custom_attributes import CustomAttributes
from destination_kustomer.mapping import record_schema
from destination_kustomer.objects import COMPANY, CUSTOMER, EXTERNAL_ID, KustomerObject, kobject
from destination_kustomer.org_context import custom_attributes, klasses
from destination_kustomer.targets import SOFT_DELETE, UPSERT, StreamTarget

UPSERT_MODES = (DestinationSyncMode.append_dedup, DestinationSyncMode.update)


def _schema(target: KustomerObject, custom: CustomAttributes) -> Dict[str, Any]:
    schema = record_schema(StreamTarget(target.name, target, UPSERT, target.matching_keys[0]), custom)
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return schema


def operations(targets: List[KustomerObject], custom: Dict[str, CustomAttributes]) -> List[DestinationOperation]:
    """The operations on ``targets``, with their schemas and matching keys."""
    found: List[DestinationOperation] = []
    for target in targets:
        schema = _schema(target, custom[target.name])
        keys = [[key] for key in target.matching_keys]
        for mode in UPSERT_MODES:
            found.append(DestinationOperation(target.name, mode, schema, keys))
        if target.kind == "company":
            deletes = {"type": "object", "properties": {EXTERNAL_ID: schema["properties"][EXTERNAL_ID]}}
            found.append(DestinationOperation(target.name, DestinationSyncMode(SOFT_DELETE), deletes, [[EXTERNAL_ID]]))
    return found


def discover(connection: KustomerConnection) -> DestinationCatalog:
    """Every writable object of the org (klasses and custom attribute definitions read from Kustomer)."""
    client = connection.client("discover")
    held_roles(client)  # an invalid key stops here, with the message that says so
    targets = [CUSTOMER, COMPANY] + [kobject(klass.name) for klass in klasses(client)]
    return DestinationCatalog(operations(targets, custom_attributes(client, targets)))
