"""What each configured stream writes: the Kustomer object, the operation and the matching key.

A stream the connection maps itself (``destination_object_name``, as Airbyte's data activation does) names its
object, and its primary key is the matching key. Other streams (PyAirbyte's, a plain catalog's) are mapped by
``stream_mappings``, else by name: customer/customers, company/companies, kobject.<klass>/kobjects_<klass>.

Only the fields the stream's configured schema lists (its ``properties``; inside ``custom``, those the schema's
``custom`` lists) are written: a field the user deselected, or the source sent without declaring it, is reported
and never sent. A schema that lists no properties (an open ``{"type": "object"}``) declares every field.

Operations: ``update`` changes the matched object and creates none; ``soft_delete`` marks the matched company
deleted; every other sync mode (append, overwrite, append_dedup) upserts -- updates the matched object or creates
it. Overwrite never deletes anything in Kustomer, and append never creates an object twice: both upsert, so a
record written twice leaves Kustomer as one write would.
"""

import re
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Mapping, Optional

from airbyte_cdk.models import ConfiguredAirbyteCatalog, ConfiguredAirbyteStream, DestinationSyncMode
from kustomer_http.errors import config_error

from destination_kustomer.config import StreamMapping, object_name_rule
from destination_kustomer.objects import EXTERNAL_ID, KOBJECT_PREFIX, KustomerObject, object_named

UPSERT, UPDATE, SOFT_DELETE = "upsert", "update", "soft_delete"
_BY_STREAM_NAME = {"customer": "customer", "customers": "customer", "company": "company", "companies": "company"}
_KOBJECT_STREAM = re.compile(r"^(?:kobject\.|kobjects_)([0-9A-Za-z_-]+)$")


@dataclass(frozen=True)
class StreamTarget:
    """Where one stream's records go."""

    stream: str
    object: KustomerObject
    operation: str  # upsert | update | soft_delete
    matching_key: str
    secrets: FrozenSet[str] = frozenset()  # fields the stream's schema marks airbyte_secret: never quoted
    fields: Optional[FrozenSet[str]] = None  # the fields the stream's schema lists (None: it lists none)
    custom_fields: Optional[FrozenSet[str]] = None  # those its ``custom`` object lists (None: none listed)


def secret_fields(schema: Any) -> FrozenSet[str]:
    """The fields (custom attributes under ``custom`` too) a stream's JSON schema marks ``airbyte_secret``."""
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    if not isinstance(properties, Mapping):
        return frozenset()
    found = {name for name, rule in properties.items() if isinstance(rule, Mapping) and rule.get("airbyte_secret")}
    return frozenset(found | secret_fields(properties.get("custom")))


def listed_fields(schema: Any) -> Optional[FrozenSet[str]]:
    """The fields an object schema lists under ``properties`` (None for a schema that lists none: an open object,
    which declares every field)."""
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    return frozenset(properties) if isinstance(properties, Mapping) else None


def _listed_custom(schema: Any) -> Optional[FrozenSet[str]]:
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    return listed_fields(properties.get("custom")) if isinstance(properties, Mapping) else None


def _operation(stream: ConfiguredAirbyteStream) -> str:
    mode = stream.destination_sync_mode
    if mode == DestinationSyncMode.update:
        return UPDATE
    if mode == DestinationSyncMode.soft_delete:
        return SOFT_DELETE
    return UPSERT


def _object_name(stream: ConfiguredAirbyteStream, mapping: Optional[StreamMapping]) -> str:
    name = stream.stream.name
    if stream.destination_object_name:
        if not re.fullmatch(object_name_rule()[0], stream.destination_object_name):
            raise config_error(
                f"Stream '{name}' is mapped to '{stream.destination_object_name}', which is no Kustomer object this "
                "destination writes; run discover and map it to customer, company or kobject.<klass>."
            )
        return stream.destination_object_name
    if mapping is not None:
        return mapping.object
    kobject = _KOBJECT_STREAM.match(name)
    if kobject:
        return f"{KOBJECT_PREFIX}{kobject.group(1)}"
    if name in _BY_STREAM_NAME:
        return _BY_STREAM_NAME[name]
    raise config_error(
        f"Stream '{name}' maps to no Kustomer object. Add it to 'stream_mappings' (e.g. {{\"stream\": \"{name}\", "
        '"object": "customer", "matching_key": "email"}), or name it customers, companies or kobjects_<klass>.'
    )


def _matching_key(stream: ConfiguredAirbyteStream, target: KustomerObject, mapping: Optional[StreamMapping]) -> str:
    name = stream.stream.name
    primary = [path for path in stream.primary_key or [] if path]
    named = primary[0][0] if len(primary) == 1 and len(primary[0]) == 1 else None
    if stream.destination_object_name and primary:
        if named not in target.matching_keys:
            raise config_error(
                f"Stream '{name}' matches {target.name} by {primary}, but a {target.name} is found by "
                f"{' or '.join(target.matching_keys)} only; choose one of those as the matching key."
            )
        return named
    if mapping is not None and mapping.matching_key:
        return mapping.matching_key
    if named in target.matching_keys:
        return named
    return EXTERNAL_ID


def resolve_targets(
    catalog: ConfiguredAirbyteCatalog, mappings: Mapping[str, StreamMapping]
) -> Dict[str, StreamTarget]:
    """The target of every configured stream; a config_error names the first stream that has none."""
    targets: Dict[str, StreamTarget] = {}
    for stream in catalog.streams:
        mapping = mappings.get(stream.stream.name)
        target = object_named(_object_name(stream, mapping))
        operation = _operation(stream)
        if operation == SOFT_DELETE and target.kind != "company":
            raise config_error(
                f"Stream '{stream.stream.name}' asks to soft-delete {target.name} records; only companies can be "
                "soft-deleted (Kustomer documents 'deleted' on company updates; customers and custom objects are "
                "only ever deleted for good, which this destination does not do)."
            )
        targets[stream.stream.name] = StreamTarget(
            stream.stream.name,
            target,
            operation,
            _matching_key(stream, target, mapping),
            secret_fields(stream.stream.json_schema),
            listed_fields(stream.stream.json_schema),
            _listed_custom(stream.stream.json_schema),
        )
    return targets


def objects_of(targets: Mapping[str, StreamTarget]) -> List[KustomerObject]:
    """The distinct objects the streams write, in a stable order."""
    return sorted({t.object.name: t.object for t in targets.values()}.values(), key=lambda o: o.name)
