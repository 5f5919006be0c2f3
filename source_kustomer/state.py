"""Saved state this connector can resume from, checked before any stream starts.

A state file must be Airbyte's per-stream format: a list of ``{"type": "STREAM", "stream": {...}}`` messages.
Each stream's state is checked by the rule of its kind (a list's next link stays on the origin; a search
stream's cursor is a timestamp that is not in the future). Anything else is one config_error naming the stream
and the fix -- never a stack trace, and never a sync that silently starts over or skips records.
"""

import logging
from datetime import datetime, timezone
from typing import Any, Iterable, List, Mapping

from airbyte_cdk.models import AirbyteStateMessage, AirbyteStateType
from kustomer_http.errors import config_error
from kustomer_http.origin import Origin

from source_kustomer.streams import CONVERSATION_CHILD_STREAMS, INCLUDED_STREAMS, LIST_STREAMS, SEARCH_STREAMS
from source_kustomer.streams.audit_logs import AuditLogsStream
from source_kustomer.streams.conversation_children import POSITION
from source_kustomer.streams.lists import list_state_link
from source_kustomer.streams.routing import PARENT_CURSOR, list_state_of_sessions
from source_kustomer.streams.search import CURSOR, search_state

_LIST_NAMES = {spec.name for spec in LIST_STREAMS}
# The key of each cursor-based stream's position (kobjects_* streams, like the other search streams: updatedAt).
_STATE_KEYS = {
    **{spec.name: spec.cursor for spec in SEARCH_STREAMS},
    "audit_logs": AuditLogsStream.cursor_field,
    **{spec.name: POSITION for spec in CONVERSATION_CHILD_STREAMS},
}
# Read in full every sync; the CDK's own markers only.
_NO_STATE = {"custom_attribute_metadata", *(spec.name for spec in INCLUDED_STREAMS)}
RESET = "Reset the connection's state (or run without --state)."


def check_stream_state(name: str, stream_state: Any, origin: Origin, now: datetime) -> None:
    """Raise a config_error naming ``name`` if its saved state cannot be resumed from."""
    if name in _LIST_NAMES:
        list_state_link(name, origin, stream_state)
    elif name == "work_items":
        for key in (CURSOR, PARENT_CURSOR):
            if isinstance(stream_state, Mapping) and key in stream_state:
                search_state(name, {key: stream_state[key]}, now, key)
        if stream_state and not (isinstance(stream_state, Mapping) and {CURSOR, PARENT_CURSOR} & set(stream_state)):
            search_state(name, stream_state, now, CURSOR)  # names what is wrong with it
    elif name == "work_sessions" and list_state_of_sessions(stream_state):
        return  # written when work sessions were a list: the stream starts over from start_date
    elif name in _NO_STATE:
        if stream_state and not (
            isinstance(stream_state, Mapping) and all(k.startswith("__ab_") for k in stream_state)
        ):
            raise config_error(
                f"Stream '{name}' keeps no state, but the saved state has some. Reset the state of '{name}'."
            )
    else:
        search_state(name, stream_state, now, _STATE_KEYS.get(name, CURSOR))


def check_state_file(document: Any, origin: Origin) -> None:
    """Check a parsed --state file: per-stream messages only, each stream's state resumable."""
    if document is None or document == []:
        return
    if not isinstance(document, list):
        raise config_error(
            "The --state file is not a list of per-stream state messages (it looks like Airbyte's legacy state "
            f"format, or not state at all). {RESET}"
        )
    now = datetime.now(timezone.utc)
    for position, message in enumerate(document, start=1):
        if not isinstance(message, Mapping) or message.get("type") != "STREAM":
            kind = message.get("type") if isinstance(message, Mapping) else type(message).__name__
            raise config_error(
                f"Entry {position} of the --state file is of type {kind!r}, not per-stream state: it was not "
                f"written by this connector. {RESET}"
            )
        stream = message.get("stream")
        descriptor = stream.get("stream_descriptor") if isinstance(stream, Mapping) else None
        name = descriptor.get("name") if isinstance(descriptor, Mapping) else None
        if not isinstance(name, str) or not name:
            raise config_error(f"Entry {position} of the --state file names no stream. {RESET}")
        check_stream_state(name, stream.get("stream_state"), origin, now)


def validate_state(
    selected: Iterable[str], state: List[AirbyteStateMessage], origin: Origin, logger: logging.Logger
) -> None:
    """The same checks on state the CDK has already parsed (in-process callers do not pass through run.py)."""
    chosen = set(selected)
    now = datetime.now(timezone.utc)
    for message in state:
        if message.type != AirbyteStateType.STREAM or message.stream is None:
            kind = message.type.name if message.type else "unknown"
            raise config_error(f"The saved state is of type {kind}, not per-stream state. {RESET}")
        name = message.stream.stream_descriptor.name
        if name not in chosen:
            logger.info(f"Ignoring saved state of stream '{name}', which is not selected in this sync.")
            continue
        blob = message.stream.stream_state
        check_stream_state(name, dict(blob.__dict__) if blob is not None else {}, origin, now)
