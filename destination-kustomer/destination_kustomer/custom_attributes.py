"""An org's custom attributes (``GET /v1/metadata/{resource}``), typed the way Kustomer types them: by the suffix of
their name -- ``Str`` and ``Txt`` text of up to 1,024 characters, ``Num`` numbers, ``At`` date-times, ``Bool``,
``Url``, ``Tree`` (a path in a tree of values, as text). An attribute whose name ends in none of these (such as a
relation ``…Id``, which must be configured in Kustomer first) is not written, and the stream says so."""

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

TEXT_LIMIT = 1024
SUFFIX_RULES: Mapping[str, Mapping[str, Any]] = {
    "Tree": {"type": "string", "maxLength": TEXT_LIMIT},
    "Bool": {"type": "boolean"},
    "Str": {"type": "string", "maxLength": TEXT_LIMIT},
    "Txt": {"type": "string", "maxLength": TEXT_LIMIT},
    "Num": {"type": "number"},
    "Url": {"type": "string", "format": "uri"},
    "At": {"type": "string", "format": "date-time"},
}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def rule_of(name: str) -> Optional[Mapping[str, Any]]:
    """The JSON schema a custom attribute's value must follow, from its name's suffix (None: not writable)."""
    if not _NAME.match(name):
        return None
    for suffix, rule in SUFFIX_RULES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return rule
    return None


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
        for name in sorted(properties or {}):
            rule = rule_of(name)
            if rule is None:
                unwritable.append(name)
            else:
                writable[name] = {**rule, "description": f"Custom attribute {name}."}
        return cls(writable, unwritable)
