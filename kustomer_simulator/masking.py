"""Sensitive attributes, masked in answers: Kustomer's reference says values of sensitive attributes may come back
masked to keys without the read-sensitive permission. The org marks ``SENSITIVE_ATTRIBUTES`` sensitive; under
``--sensitive-values masked`` every answer shows ``MASK`` in their place. What is stored is untouched -- and a
masked value written back is stored as written, as it would be in Kustomer.
"""

from typing import Any

import orjson

SENSITIVE_ATTRIBUTES = ("ssnStr",)  # custom attributes the simulated org marks sensitive
MASK = "*****"
_MARKERS = tuple(f'"{name}"'.encode() for name in SENSITIVE_ATTRIBUTES)


def masked(payload: bytes) -> bytes:
    """``payload`` with every sensitive custom attribute's value masked (untouched when it names none)."""
    if not any(marker in payload for marker in _MARKERS):
        return payload
    document = orjson.loads(payload)
    _mask(document)
    return orjson.dumps(document)


def _mask(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _mask(item)
    elif isinstance(node, dict):
        custom = node.get("custom")
        if isinstance(custom, dict):
            for name in SENSITIVE_ATTRIBUTES:
                if custom.get(name) is not None:
                    custom[name] = MASK
        for value in node.values():
            _mask(value)
