"""The request bodies of ``POST /v1/customers/search`` and ``/customers/archive/search`` as Kustomer publishes them.

Kustomer's OpenAPI description gives the body a closed set of top-level keys (``additionalProperties: false``);
``and``, ``or`` and ``not`` take one criterion object or a list of at most 20 distinct ones, ``sort`` one object or
at most 5 distinct ones, ``fields`` at most 20 distinct objects, and ``queryContext`` one of a fixed set of
object kinds. The simulator answers 400 to any body this schema rejects, as Kustomer does, and the connector's
unit tests validate every body the connector can build against it.
"""

from typing import Any, Mapping, Optional

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match


def _criteria(max_items: int) -> Mapping[str, Any]:
    return {
        "anyOf": [
            {"type": "object"},
            {"type": "array", "items": {"type": "object"}, "maxItems": max_items, "uniqueItems": True},
        ]
    }


SEARCH_REQUEST_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "searchHash": {"type": "string"},
        "queryContext": {
            "type": "string",
            "pattern": "^(company|customer|message|conversation|conversation_time|note|kobject|kobject_.*"
            "|work_session|work_item)$",
        },
        "includeDeleted": {"type": "boolean"},
        "timeZone": {"type": "string"},
        "and": _criteria(20),
        "or": _criteria(20),
        "not": _criteria(20),
        "sort": _criteria(5),
        "aggs": {"type": "object"},
        "fields": {"type": "array", "items": {"type": "object"}, "maxItems": 20, "uniqueItems": True},
    },
}

# POST /v1/customers/archive/search: fewer keys and fewer object kinds (no notes, conversation times or routing).
ARCHIVE_KEYS = ("includeDeleted", "timeZone", "and", "or", "not", "sort")
ARCHIVE_REQUEST_SCHEMA: Mapping[str, Any] = {
    **SEARCH_REQUEST_SCHEMA,
    "properties": {
        "queryContext": {"type": "string", "pattern": "^(message|conversation|customer|kobject|kobject_.*|company)$"},
        **{key: SEARCH_REQUEST_SCHEMA["properties"][key] for key in ARCHIVE_KEYS},
    },
}

_VALIDATORS = {False: Draft7Validator(SEARCH_REQUEST_SCHEMA), True: Draft7Validator(ARCHIVE_REQUEST_SCHEMA)}


def violation(validator: Draft7Validator, body: Any) -> Optional[str]:
    """Why ``validator``'s schema rejects ``body``, where in the body and what (None if it accepts it)."""
    error = best_match(validator.iter_errors(body))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "the body"
    return f"{where}: {error.message}"


def search_body_violation(body: Any, archive: bool = False) -> Optional[str]:
    """Why Kustomer's published schema (of standard or archive search) rejects ``body`` (None if it accepts it)."""
    return violation(_VALIDATORS[archive], body)
