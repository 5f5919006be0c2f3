"""Stream schemas: a typed core per stream (schemas/*.json) plus ``custom`` typed from Kustomer's metadata."""

import copy
from functools import lru_cache
from typing import Any, Dict, Mapping, Optional

from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from kustomer_http.custom_attributes import SUFFIXES

OPEN_OBJECT = {"type": ["null", "object"], "additionalProperties": True}

# Kustomer names custom attributes with a type suffix (…Str, …Num, …At, …); the suffix is authoritative.
SUFFIX_TYPES = tuple((suffix.name, suffix.read_schema()) for suffix in SUFFIXES)  # kustomer_http's table, as read
METADATA_TYPES = {
    "number": {"type": ["null", "number"]},
    "boolean": {"type": ["null", "boolean"]},
    "date": {"type": ["null", "string"], "format": "date-time"},
}


@lru_cache(maxsize=None)
def _core(name: str) -> Mapping[str, Any]:
    return ResourceSchemaLoader("source_kustomer").get_schema(name)


def custom_field_schema(name: str, declared_type: Optional[str] = None) -> Dict[str, Any]:
    """The JSON schema of one custom attribute, from its name's suffix, else its declared type, else any."""
    for suffix, schema in SUFFIX_TYPES:
        if name.endswith(suffix):
            return dict(schema)
    if declared_type in METADATA_TYPES:
        return dict(METADATA_TYPES[declared_type])
    return {}


def custom_object_schema(definitions: Mapping[str, Any]) -> Dict[str, Any]:
    """``custom`` as an object typed per field, still open to fields added after discovery."""
    properties = {
        name: custom_field_schema(name, (spec or {}).get("type") if isinstance(spec, Mapping) else None)
        for name, spec in definitions.items()
    }
    return {**OPEN_OBJECT, "properties": properties}


DELETED_AT_SCHEMA = {"type": ["null", "string"], "format": "date-time"}


def stream_schema(name: str, custom: Optional[Mapping[str, Any]] = None, deletions: bool = False) -> Dict[str, Any]:
    """The core schema of ``name``, ``custom`` typed when definitions are known, ``_ab_cdc_deleted_at`` when the
    stream delivers delete markers."""
    schema = copy.deepcopy(dict(_core(name)))
    if "custom" in schema["properties"] and custom is not None:
        schema["properties"]["custom"] = custom_object_schema(custom)
    if deletions:
        schema["properties"]["_ab_cdc_deleted_at"] = dict(DELETED_AT_SCHEMA)
    return schema
