"""How Kustomer types a custom attribute: by the suffix of its name.

Kustomer's OpenAPI description publishes six suffixes with the value each takes -- ``Num`` a number, ``At`` a
date-time, ``Str`` and ``Txt`` text of up to 1,024 characters, ``Bool`` a boolean, ``Url`` a URI -- every one of
them also null. ``Tree`` (the chosen option of a multi-level drop-down, held as its path in text) is seen in orgs
but not published: a reader types it as text, a writer sends it only where the org's own metadata defines it.
"""

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

TEXT_LIMIT = 1024


@dataclass(frozen=True)
class Suffix:
    """One type suffix: the JSON type of its values, their format and length limit, and whether it is published."""

    name: str
    json_type: str
    format: Optional[str] = None
    max_length: Optional[int] = None
    published: bool = True

    def read_schema(self) -> Dict[str, Any]:
        """What a value read from Kustomer may be: the type or null (a date-time keeps its format)."""
        schema: Dict[str, Any] = {"type": ["null", self.json_type]}
        if self.format == "date-time":
            schema["format"] = self.format
        return schema

    def write_rule(self) -> Dict[str, Any]:
        """The rule Kustomer's published request schemas set on a value written (null aside: writers send none)."""
        rule: Dict[str, Any] = {"type": self.json_type}
        if self.format:
            rule["format"] = self.format
        if self.max_length:
            rule["maxLength"] = self.max_length
        return rule


SUFFIXES: Tuple[Suffix, ...] = (
    Suffix("Num", "number"),
    Suffix("At", "string", format="date-time"),
    Suffix("Str", "string", max_length=TEXT_LIMIT),
    Suffix("Txt", "string", max_length=TEXT_LIMIT),
    Suffix("Bool", "boolean"),
    Suffix("Url", "string", format="uri"),
    Suffix("Tree", "string", max_length=TEXT_LIMIT, published=False),
)


def suffix_of(name: str) -> Optional[Suffix]:
    """The type suffix ``name`` ends in (a name that is only a suffix has none), or None."""
    for suffix in SUFFIXES:
        if name.endswith(suffix.name) and len(name) > len(suffix.name):
            return suffix
    return None
