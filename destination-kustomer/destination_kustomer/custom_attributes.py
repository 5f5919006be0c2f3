"""An org's custom attributes (``GET /v1/metadata/{resource}``), typed the way Kustomer types them: by the suffix of
their name (``kustomer_http.custom_attributes``: ``Str`` and ``Txt`` text of up to 1,024 characters, ``Num``
numbers, ``At`` date-times, ``Bool``, ``Url``). ``Tree``, a suffix Kustomer does not publish, is written only
where the org's metadata defines the attribute with a type. An attribute whose name ends in none of these (such as
a relation ``…Id``, which must be configured in Kustomer first) is not written, and the stream says so."""

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from kustomer_http.custom_attributes import suffix_of

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def rule_of(name: str, definition: Any = None) -> Optional[Mapping[str, Any]]:
    """The JSON schema a custom attribute's value must follow, from its name's suffix (None: not writable);
    ``definition`` is the attribute's metadata, which an unpublished suffix needs to declare a type."""
    suffix = suffix_of(name) if _NAME.match(name) else None
    if suffix is None:
        return None
    declared = isinstance(definition, Mapping) and isinstance(definition.get("type"), str) and definition["type"]
    if not suffix.published and not declared:
        return None
    return suffix.write_rule()


@dataclass(frozen=True)
class CustomAttributes:
    """The custom attributes of one resource the destination can write, and those it cannot."""

    writable: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    unwritable: List[str] = field(default_factory=list)

    @classmethod
    def of(cls, properties: Optional[Mapping[str, Any]]) -> "CustomAttributes":
        """From the ``properties`` of a metadata answer (None: Kustomer would not say, so there are none)."""
        writable: Dict[str, Mapping[str, Any]] = {}
        unwritable: List[str] = []
        for name, definition in sorted((properties or {}).items()):
            rule = rule_of(name, definition)
            if rule is None:
                unwritable.append(name)
            else:
                writable[name] = {
                    **rule,
                    "description": f"Custom attribute {name}. An update sets it; the object's other custom attributes "
                    "are kept.",
                }
        return cls(writable, unwritable)
