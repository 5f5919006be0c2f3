"""The ``source-kustomer`` console script: the Airbyte protocol on stdin/stdout.

A user's mistake (bad config, bad state) ends with one clear message naming the field and the fix —
a failed CONNECTION_STATUS for ``check``, a config_error TRACE otherwise — and never a stack trace.
"""

import gc
import json
import sys
import time
from typing import List, Optional

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint, launch
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteErrorTraceMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteTraceMessage,
    FailureType,
    Status,
    TraceType,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_kustomer.config import parse_config
from source_kustomer.source import SourceKustomer

# How the CDK's closing "some streams failed" error begins (airbyte_cdk.exception_handler).
FAILED_STREAMS_PREFIX = "During the sync, the following streams did not sync successfully"


def _emit(message: AirbyteMessage) -> None:
    print(orjson.dumps(AirbyteMessageSerializer.dump(message)).decode(), flush=True)


def config_error_message(text: str) -> AirbyteMessage:
    """A config_error TRACE carrying ``text`` and no stack trace."""
    error = AirbyteErrorTraceMessage(message=text, internal_message=text, failure_type=FailureType.config_error)
    trace = AirbyteTraceMessage(type=TraceType.ERROR, emitted_at=time.time() * 1000, error=error)
    return AirbyteMessage(type=Type.TRACE, trace=trace)


def _preflight(argv: List[str]) -> Optional[int]:
    """Check the config file before the CDK does, so errors name the field; returns an exit code when done."""
    parsed = AirbyteEntrypoint.parse_args(argv)  # static: no second entrypoint (and memory monitor)
    if parsed.command not in ("check", "discover", "read") or not getattr(parsed, "config", None):
        return None
    try:
        with open(parsed.config, encoding="utf-8") as handle:
            raw = json.load(handle)
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        parse_config(raw)
    except (OSError, ValueError) as error:
        text = f"The --config file {parsed.config} could not be read as a JSON object ({error.__class__.__name__})."
    except AirbyteTracedException as error:
        text = error.message or "The configuration is invalid."
    else:
        return None
    if parsed.command == "check":
        status = AirbyteConnectionStatus(status=Status.FAILED, message=text)
        _emit(AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=status))
        return 0
    _emit(config_error_message(text))
    return 1


def run(args: Optional[List[str]] = None) -> None:
    """Run a protocol command."""
    # Everything imported so far lives for the whole run: keep the cyclic GC from re-scanning it while
    # each page's thousands of short-lived dicts trigger collections (it was most of a page's parse time).
    gc.collect()
    gc.freeze()
    argv = sys.argv[1:] if args is None else args
    code = _preflight(argv)
    if code is not None:
        sys.exit(code)
    try:
        launch(SourceKustomer(), argv)
    except AirbyteTracedException as error:
        if error.failure_type != FailureType.config_error:
            raise
        if (error.message or "").startswith(FAILED_STREAMS_PREFIX):
            sys.exit(1)  # the failing stream's own trace already said what happened and what to do
        _emit(config_error_message(error.message or str(error)))
        sys.exit(1)
