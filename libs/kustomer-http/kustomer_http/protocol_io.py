"""What both connectors' console scripts do before (and around) the CDK: read the input files with errors that name
them, and print protocol messages redacted and flushed -- so a user's mistake ends in one clear message (a failed
CONNECTION_STATUS for ``check``, a config_error TRACE otherwise), never a stack trace. The CDK's log lines and the
report of an error no one caught pass the redaction too (the CDK's own secret filter knows only literal forms of
the key)."""

import json
import logging
import sys
import time
from typing import Any, Callable, List, NoReturn, Optional

import orjson
from airbyte_cdk.exception_handler import assemble_uncaught_exception
from airbyte_cdk.logger import PRINT_BUFFER
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

# What the CDK's print buffer may hold before it is written out (it otherwise waits until 0.1 s have passed since
# its last write: a main thread printing large records that fast would fill it with megabytes).
MAX_UNFLUSHED_CHARS = 1 << 20
BATCH_SECONDS = 0.1  # how long RedactedLines holds lines at most before a write sends them on


def emit(message: AirbyteMessage) -> None:
    """Print one protocol message, redacted, flushed at once."""
    print(redaction.redact(orjson.dumps(AirbyteMessageSerializer.dump(message)).decode()), flush=True)


class RedactedLines:
    """A text stream that writes through the token redaction (logging and the CDK write a line in one piece), and
    flushes once ``MAX_UNFLUSHED_CHARS`` were written since it last did.

    With ``batch_chars``, whole lines are held until that many characters or 0.1 s have gathered (the CDK's print
    buffer holds them just as long) and redacted together: one search per form of the key for many records instead
    of one per record, a quarter of the cost of a record's redaction. ``flush`` writes out what is held.
    """

    def __init__(self, stream: Any, batch_chars: int = 0) -> None:
        self.stream = stream
        self.unflushed = 0
        self.batch_chars = batch_chars
        self.held: List[str] = []
        self.held_chars = 0
        self.held_since = 0.0

    def write(self, text: str) -> None:
        """Write ``text`` (whole lines) with every form of the key masked."""
        if not self.batch_chars:
            self._write_out(redaction.redact(text), len(text))
            return
        if not self.held:
            self.held_since = time.monotonic()
        self.held.append(text)
        self.held_chars += len(text)
        if self.held_chars >= self.batch_chars or time.monotonic() - self.held_since >= BATCH_SECONDS:
            self._write_held()

    def flush(self) -> None:
        """Write out the lines held, then flush the stream written to."""
        self._write_held()
        self.unflushed = 0
        self.stream.flush()

    def _write_held(self) -> None:
        if self.held:
            text, chars = "".join(self.held), self.held_chars
            self.held, self.held_chars = [], 0
            self._write_out(redaction.redact_lines(text), chars)

    def _write_out(self, text: str, chars: int) -> None:
        self.stream.write(text)
        self.unflushed += chars
        if self.unflushed >= MAX_UNFLUSHED_CHARS:
            self.unflushed = 0
            self.stream.flush()


def redact_log_lines() -> None:
    """Make the CDK's log handler (set up by its ``init_logger``: it writes to the CDK's print buffer) write every
    line through the redaction."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is PRINT_BUFFER:
            handler.setStream(RedactedLines(PRINT_BUFFER))


def report_uncaught(error: Exception) -> NoReturn:
    """What the CDK's hook prints for an error no one caught -- a FATAL log line with its stack trace, then its
    ERROR trace -- each through the redaction (after the CDK's ``launch`` has returned, only the CDK's own filter
    would mask them); exit 1."""
    redact_log_lines()  # if the command had not set it up yet
    logging.getLogger("airbyte").fatal(error, exc_info=error)
    emit(assemble_uncaught_exception(type(error), error).as_airbyte_message())
    sys.exit(1)


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
