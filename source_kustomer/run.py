"""The ``source-kustomer`` console script: the Airbyte protocol on stdin/stdout, plus ``probe``.

A user's mistake (bad config, state or catalog file) ends with one clear message naming the field and the fix
-- a failed CONNECTION_STATUS for ``check``, a config_error TRACE otherwise -- and never a stack trace. Every
line written to stdout passes through the token redaction, including those written before the CDK starts.
"""

import gc
import json
import sys
import time
from typing import Any, List, Optional

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteErrorTraceMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteTraceMessage,
    ConfiguredAirbyteCatalogSerializer,
    FailureType,
    Status,
    TraceType,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http import redaction
from kustomer_http.errors import config_error

from source_kustomer.config import KustomerConfig, parse_config
from source_kustomer.source import SourceKustomer
from source_kustomer.state import check_state_file

# How the CDK's closing "some streams failed" error begins (airbyte_cdk.exception_handler).
FAILED_STREAMS_PREFIX = "During the sync, the following streams did not sync successfully"


def _emit(message: AirbyteMessage) -> None:
    print(redaction.redact(orjson.dumps(AirbyteMessageSerializer.dump(message)).decode()), flush=True)


def config_error_message(text: str) -> AirbyteMessage:
    """A config_error TRACE carrying ``text`` and no stack trace."""
    error = AirbyteErrorTraceMessage(message=text, internal_message=text, failure_type=FailureType.config_error)
    trace = AirbyteTraceMessage(type=TraceType.ERROR, emitted_at=time.time() * 1000, error=error)
    return AirbyteMessage(type=Type.TRACE, trace=trace)


def _json_file(path: str, flag: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as error:
        raise config_error(f"The {flag} file {path} could not be read as JSON ({error.__class__.__name__}).") from None


def _read_config(path: str) -> KustomerConfig:
    raw = _json_file(path, "--config")
    if not isinstance(raw, dict):
        raise config_error(f"The --config file {path} is not a JSON object.")
    config = parse_config(raw)
    redaction.register(config.api_token)
    return config


def _check_inputs(parsed: Any) -> None:
    """Every input file of the command, checked the way the connector will use it."""
    config = _read_config(parsed.config)
    if parsed.command != "read":
        return
    catalog = _json_file(parsed.catalog, "--catalog")
    try:
        ConfiguredAirbyteCatalogSerializer.load(catalog)
    except Exception as error:  # noqa: BLE001 - any shape the CDK cannot load is the same user mistake
        raise config_error(
            f"The --catalog file is not a configured catalog ({error.__class__.__name__}); run discover and "
            "configure its streams."
        ) from None
    if getattr(parsed, "state", None):
        check_state_file(_json_file(parsed.state, "--state"), config.origin)


def _preflight(argv: List[str]) -> Optional[int]:
    """Check the input files before the CDK does, so errors name the field; returns an exit code when done."""
    parsed = AirbyteEntrypoint.parse_args(argv)  # static: no second entrypoint (and memory monitor)
    if parsed.command not in ("check", "discover", "read") or not getattr(parsed, "config", None):
        return None
    try:
        _check_inputs(parsed)
    except AirbyteTracedException as error:
        text = error.message or "The input files are invalid."
    else:
        return None
    if parsed.command == "check":
        status = AirbyteConnectionStatus(status=Status.FAILED, message=text)
        _emit(AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=status))
        return 0
    _emit(config_error_message(text))
    return 1


def launch(source: SourceKustomer, argv: List[str]) -> None:
    """The CDK's launch loop, with every message redacted before it is printed, and state never held back.

    The CDK's print buffer writes out only when the next message arrives; a state message followed by a long
    request would wait with it, and be lost if the sync were killed meanwhile. States are written at once.
    """
    entrypoint = AirbyteEntrypoint(source)
    parsed = entrypoint.parse_args(argv)
    with PRINT_BUFFER:
        for message in entrypoint.run(parsed):
            print(f"{redaction.redact(message)}\n", end="")
            if '"type":"STATE"' in message[:24]:
                PRINT_BUFFER.flush()


def run(args: Optional[List[str]] = None) -> None:
    """Run a protocol command (or ``probe``)."""
    argv = sys.argv[1:] if args is None else args
    if argv[:1] == ["probe"]:
        from source_kustomer.probe import main as probe

        sys.exit(probe(argv[1:]))
    # Everything imported so far lives for the whole run: keep the cyclic GC from re-scanning it while
    # each page's thousands of short-lived dicts trigger collections (it was most of a page's parse time).
    gc.collect()
    gc.freeze()
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
