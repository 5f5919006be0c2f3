"""What both connectors' console scripts do before (and around) the CDK: read the input files with errors that name
them, and print protocol messages redacted and flushed -- so a user's mistake ends in one clear message (a failed
CONNECTION_STATUS for ``check``, a config_error TRACE otherwise), never a stack trace."""

import json
import time
from typing import Any, Callable, Optional

import orjson
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteErrorTraceMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteTraceMessage,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    FailureType,
    Status,
    TraceType,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http import redaction
from kustomer_http.errors import config_error


def emit(message: AirbyteMessage) -> None:
    """Print one protocol message, redacted, flushed at once."""
    print(redaction.redact(orjson.dumps(AirbyteMessageSerializer.dump(message)).decode()), flush=True)


def config_error_message(text: str) -> AirbyteMessage:
    """A config_error TRACE carrying ``text`` and no stack trace."""
    error = AirbyteErrorTraceMessage(message=text, internal_message=text, failure_type=FailureType.config_error)
    trace = AirbyteTraceMessage(type=TraceType.ERROR, emitted_at=time.time() * 1000, error=error)
    return AirbyteMessage(type=Type.TRACE, trace=trace)


def json_file(path: str, flag: str) -> Any:
    """The JSON content of the file given as ``flag``; a config_error naming it when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as error:
        raise config_error(f"The {flag} file {path} could not be read as JSON ({error.__class__.__name__}).") from None


def json_object_file(path: str, flag: str) -> dict:
    """``json_file`` that must hold a JSON object (a config)."""
    content = json_file(path, flag)
    if not isinstance(content, dict):
        raise config_error(f"The {flag} file {path} is not a JSON object.")
    return content


def configured_catalog(path: str) -> ConfiguredAirbyteCatalog:
    """The --catalog file as a configured catalog; a config_error saying how to make one otherwise."""
    content = json_file(path, "--catalog")
    try:
        return ConfiguredAirbyteCatalogSerializer.load(content)
    except Exception as error:  # noqa: BLE001 - any shape the CDK cannot load is the same user mistake
        raise config_error(
            f"The --catalog file is not a configured catalog ({error.__class__.__name__}); run discover and "
            "configure its streams."
        ) from None


def preflight(command: str, check_inputs: Callable[[], None]) -> Optional[int]:
    """Run ``check_inputs``; on a user mistake print the one message ``command`` answers with and return the exit
    code (0 for ``check``, whose answer is a failed status; 1 otherwise), else None: go on."""
    try:
        check_inputs()
    except AirbyteTracedException as error:
        text = error.message or "The input files are invalid."
    else:
        return None
    if command == "check":
        emit(
            AirbyteMessage(
                type=Type.CONNECTION_STATUS,
                connectionStatus=AirbyteConnectionStatus(status=Status.FAILED, message=text),
            )
        )
        return 0
    emit(config_error_message(text))
    return 1
