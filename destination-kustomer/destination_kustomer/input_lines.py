"""The write command's stdin, one line at a time, never trusted.

Each line is read as bytes, at most ``MAX_LINE_BYTES`` of it (the rest of a longer line is skipped unread, so memory
stays bounded whatever comes), and must be UTF-8 JSON nested at most ``MAX_DEPTH`` levels deep that is an Airbyte
message. A line that is not -- a poison line -- never stops the command: it comes out as ``Unreadable`` with its
number, why, and the stream it names where it could be read that far; the writer counts it as a record that was
not written, says so at WARN (never quoting the line), and passes on no later STATE that would vouch for it. Blank
lines are skipped.

A record a destination writes to Kustomer fits a 100 KB request; 8 MiB leaves room for wide source records whose
other fields are not written. Nesting is bounded because Python's own recursion (reports quote values, the request
schema is checked recursively) ends near 1,000 levels, and orjson writes at most 255.
"""

from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator, List, Optional, Tuple, Union

import orjson
from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer, Type

MAX_LINE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64  # levels of objects and lists in one line (a record's data sits three levels down)
SKIP_CHUNK = 1024 * 1024  # bytes read at a time while the rest of an overlong line is skipped


@dataclass(frozen=True)
class Unreadable:
    """A line of stdin the destination cannot take as an Airbyte message."""

    line: int  # its number, from 1
    reason: str
    stream: Optional[str] = None  # the stream a RECORD line names, where it could be read that far


Input = Union[AirbyteMessage, Unreadable]


def read_messages(stream: Any) -> Iterator[Input]:
    """Every line of ``stream`` (binary, or text with a binary ``buffer`` as stdin is) as a message or an
    ``Unreadable``."""
    raw = getattr(stream, "buffer", stream)
    for number, line, whole in _lines(raw):
        if whole and not line.strip():
            continue
        yield _message(number, line) if whole else Unreadable(number, f"longer than {MAX_LINE_BYTES:,} bytes")


def _lines(raw: BinaryIO) -> Iterator[Tuple[int, bytes, bool]]:
    """(number, bytes, whether the line was read whole): a line past ``MAX_LINE_BYTES`` is skipped to its end."""
    number = 0
    while True:
        line = raw.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield number, line, True
            continue
        while True:
            rest = raw.readline(SKIP_CHUNK)
            if not rest or rest.endswith(b"\n"):
                break
        yield number, b"", False


def _message(number: int, line: bytes) -> Input:
    try:
        parsed = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        return Unreadable(number, _decode_reason(str(error)))
    if (line.count(b"{") + line.count(b"[") > MAX_DEPTH) and _deeper_than(parsed, MAX_DEPTH):
        return Unreadable(number, f"nested deeper than {MAX_DEPTH} levels", _stream_named(parsed))
    try:
        return AirbyteMessageSerializer.load(parsed)
    except Exception:  # noqa: BLE001 - any shape the protocol's serializer refuses is the same mistake
        return Unreadable(number, "JSON, but no Airbyte message", _stream_named(parsed))


def _decode_reason(detail: str) -> str:
    if "utf-8" in detail.lower():
        return "not valid UTF-8"
    if "depth" in detail.lower() or "recursion" in detail.lower():
        return f"nested deeper than {MAX_DEPTH} levels"
    return "not JSON"


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects and lists more than ``limit`` levels deep (walked without recursion)."""
    stack: List[Tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _stream_named(parsed: Any) -> Optional[str]:
    """The stream a RECORD names, or None."""
    record = parsed.get("record") if isinstance(parsed, dict) and parsed.get("type") == Type.RECORD.value else None
    name = record.get("stream") if isinstance(record, dict) else None
    return name if isinstance(name, str) and name else None
