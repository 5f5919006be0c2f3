"""From a record to what it writes: the matching key, the standard and custom attributes by their Kustomer names,
checked against Kustomer's published request schema before anything is sent.

A field that is neither a standard attribute the destination writes nor a custom attribute the org defines is
not written; the stream reports each such field once. Airbyte's own fields (``_airbyte_…``, ``_ab_…``) are
ignored, and a null means "nothing to write" (it never clears an attribute in Kustomer).
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Set

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match
from kustomer_http.formats import KUSTOMER_FORMATS

from destination_kustomer.attributes import standard_attributes
from destination_kustomer.custom_attributes import CustomAttributes
from destination_kustomer.errors import RecordFailed
from destination_kustomer.targets import StreamTarget

AIRBYTE_PREFIXES = ("_airbyte_", "_ab_")
CUSTOM = "custom"
MAX_CUSTOM = 100


@dataclass(frozen=True)
class MappedRecord:
    """A record ready to write: its matching key's value and the attributes it sets."""

    key: str
    attributes: Mapping[str, Any]  # standard attributes (a customer's ``email`` included)
    custom: Mapping[str, Any]


def record_schema(target: StreamTarget, custom: CustomAttributes) -> Dict[str, Any]:
    """The JSON schema of what a stream writing ``target`` may carry: the object's standard attributes, its
    custom attributes at the top level, and ``custom`` holding them too (what discover announces)."""
    properties = {**standard_attributes(target.object.kind), **custom.writable}
    properties[CUSTOM] = {
        "type": "object",
        "maxProperties": MAX_CUSTOM,
        "properties": dict(custom.writable),
        "additionalProperties": False,
    }
    return {"type": "object", "properties": properties, "additionalProperties": False}


@dataclass
class RecordMapper:
    """Maps and checks the records of one stream; remembers the fields it could not write."""

    target: StreamTarget
    custom: CustomAttributes
    unmapped: Set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        schema = record_schema(self.target, self.custom)
        self._standard = set(schema["properties"]) - {CUSTOM} - set(self.custom.writable)
        self._validator = Draft7Validator(schema, format_checker=KUSTOMER_FORMATS)

    def key_of(self, data: Mapping[str, Any]) -> str:
        """The record's matching key (for reports), or a placeholder when it has none."""
        key = self.target.matching_key
        value = data.get(key)
        return f"{key}={value}" if isinstance(value, str) and value else f"no {key}"

    def map(self, data: Mapping[str, Any]) -> MappedRecord:
        """The record as it writes; raises ``RecordFailed`` naming the first rule it breaks. New unmapped fields
        are added to ``unmapped``."""
        written: Dict[str, Any] = {}
        custom: Dict[str, Any] = {}
        nested = data.get(CUSTOM)
        if nested is not None and not isinstance(nested, Mapping):
            raise RecordFailed(f"'{CUSTOM}' must be an object of custom attributes; got {type(nested).__name__}")
        for name, value in nested.items() if isinstance(nested, Mapping) else ():
            if value is None:
                continue
            if name in self.custom.writable:
                custom[name] = value
            else:
                self.unmapped.add(f"{CUSTOM}.{name}")
        for name, value in data.items():
            if value is None or name == CUSTOM or name.startswith(AIRBYTE_PREFIXES):
                continue
            if name in self.custom.writable:
                custom[name] = value
            elif name in self._standard:
                written[name] = value
            else:
                self.unmapped.add(name)
        problem = best_match(self._validator.iter_errors({**written, CUSTOM: custom}))
        if problem is not None:
            where = "/".join(str(part) for part in problem.absolute_path) or "the record"
            raise RecordFailed(f"{where}: {problem.message} (Kustomer's published request schema)")
        key = written.get(self.target.matching_key)
        if not isinstance(key, str) or not key:
            raise RecordFailed(
                f"it has no {self.target.matching_key}, the field that finds the {self.target.object.name} to write"
            )
        return MappedRecord(key, written, custom)

    def new_unmapped(self, reported: Set[str]) -> List[str]:
        """Unmapped fields not yet in ``reported`` (sorted)."""
        return sorted(self.unmapped - reported)


def unwritable_note(custom: CustomAttributes) -> Optional[str]:
    """Why some defined custom attributes are never written (their names end in no type suffix)."""
    if not custom.unwritable:
        return None
    return f"custom attributes without a type suffix are not written: {', '.join(custom.unwritable)}"
