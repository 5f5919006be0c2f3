"""From a record to what it writes: the matching key, the standard and custom attributes by their Kustomer names,
checked against Kustomer's published request schema before anything is sent.

A field that is neither a standard attribute the destination writes nor a custom attribute the org defines, or that
the stream's configured schema does not list (``targets``), is not written; the stream reports each such field
once. Airbyte's own fields (``_airbyte_…``, ``_ab_…``) are ignored, and a null means "nothing to write" (it never
clears an attribute in Kustomer). A record the schema refuses is reported with the field, the rule and its value --
shortened, never that of a field the stream's schema marks ``airbyte_secret`` -- and, where the value is valid in
another case, which value that is: the destination never changes a value itself.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match
from kustomer_http.formats import KUSTOMER_FORMATS

from destination_kustomer.attributes import standard_attributes
from destination_kustomer.custom_attributes import CustomAttributes
from destination_kustomer.errors import RecordFailed
from destination_kustomer.targets import StreamTarget

AIRBYTE_PREFIXES = ("_airbyte_", "_ab_")
CUSTOM = "custom"
MAX_CUSTOM = 100
PREVIEW_CHARS = 40


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
    """Maps and checks the records of one stream."""

    target: StreamTarget
    custom: CustomAttributes

    def __post_init__(self) -> None:
        schema = record_schema(self.target, self.custom)
        self._standard = set(schema["properties"]) - {CUSTOM} - set(self.custom.writable)
        self._validator = Draft7Validator(schema, format_checker=KUSTOMER_FORMATS)

    def key_of(self, data: Mapping[str, Any]) -> str:
        """The record's matching key (for reports), or a placeholder when it has none."""
        key = self.target.matching_key
        value = data.get(key)
        return f"{key}={shorten(value)}" if isinstance(value, str) and value else f"no {key}"

    def map(self, data: Mapping[str, Any], skipped: List[str], unlisted: List[str]) -> MappedRecord:
        """The record as it writes; raises ``RecordFailed`` naming the field and the first rule it breaks. The
        fields it carries that are not written are added to ``skipped`` -- or, when the stream's configured schema
        does not list them, to ``unlisted``."""
        written: Dict[str, Any] = {}
        custom: Dict[str, Any] = {}
        fields, custom_fields = self.target.fields, self.target.custom_fields
        nested = data.get(CUSTOM) if fields is None or CUSTOM in fields else None
        if CUSTOM in data and nested is None and data[CUSTOM] is not None:
            unlisted.append(CUSTOM)
        if nested is not None and not isinstance(nested, Mapping):
            raise RecordFailed(f"{CUSTOM}: must be an object of custom attributes; got {type(nested).__name__}")
        for name, value in nested.items() if isinstance(nested, Mapping) else ():
            if value is None:
                continue
            if custom_fields is not None and name not in custom_fields:
                unlisted.append(f"{CUSTOM}.{name}")
            elif name in self.custom.writable:
                custom[name] = value
            else:
                skipped.append(f"{CUSTOM}.{name}")
        for name, value in data.items():
            if value is None or name == CUSTOM or name.startswith(AIRBYTE_PREFIXES):
                continue
            if fields is not None and name not in fields:
                unlisted.append(name)
            elif name in self.custom.writable:
                custom[name] = value
            elif name in self._standard:
                written[name] = value
            else:
                skipped.append(name)
        problem = best_match(self._validator.iter_errors({**written, CUSTOM: custom}))
        if problem is not None:
            raise RecordFailed(self._refusal(problem))
        key = written.get(self.target.matching_key)
        if not isinstance(key, str) or not key:
            raise RecordFailed(
                f"{self.target.matching_key}: missing; it is the field that finds the {self.target.object.name} "
                "to write"
            )
        return MappedRecord(key, written, custom)

    def _refusal(self, problem: ValidationError) -> str:
        """Why a record breaks the published request schema: the field, the rule, the value (shortened, and never
        that of a field the stream marks secret) and, where one exists, the valid value it could be mapped to."""
        path = [str(part) for part in problem.absolute_path]
        if path[:1] == [CUSTOM] and len(path) > 1:
            path = path[1:]
        field = ".".join(path) or "the record"
        secret = bool(path) and path[0] in self.target.secrets
        shown = "a secret value" if secret else preview(problem.instance)
        if problem.validator == "enum":
            allowed = list(problem.validator_value)
            hint = "" if secret else _case_hint(problem.instance, allowed)
            rule = f"must be one of {', '.join(map(str, allowed))}; got {shown}{hint}"
        else:
            rule = problem.message.replace(repr(problem.instance), shown)
        return f"{field}: {rule} (Kustomer's published request schema)"


def shorten(text: str, limit: int = PREVIEW_CHARS) -> str:
    """A text as reports show it: at most ``limit`` characters (a value: ``PREVIEW_CHARS``)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def preview(value: Any) -> str:
    """A value as reports show it (quoted as Python writes it), at most ``PREVIEW_CHARS`` characters."""
    return shorten(repr(value))


def _case_hint(value: Any, allowed: List[Any]) -> str:
    """Where ``value`` is a valid value in another case: say which (the destination never changes values itself)."""
    if not isinstance(value, str):
        return ""
    same = [option for option in allowed if isinstance(option, str) and option.lower() == value.lower()]
    return f" -- {same[0]!r} (the same in another case) is valid: map the field to it" if same else ""


def unwritable_note(custom: CustomAttributes) -> Optional[str]:
    """Why some defined custom attributes are never written (their names end in no type suffix)."""
    if not custom.unwritable:
        return None
    return f"custom attributes without a type suffix are not written: {', '.join(custom.unwritable)}"
