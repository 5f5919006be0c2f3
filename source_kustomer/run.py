"""The ``source-kustomer`` console script: the Airbyte protocol on stdin/stdout, plus ``probe``.

A user's mistake (bad config, state or catalog file) ends with one clear message naming the field and the fix
-- a failed CONNECTION_STATUS for ``check``, a config_error TRACE otherwise -- and never a stack trace. Every
line written to stdout passes through the token redaction (``kustomer_http.redaction.redact``): protocol messages,
log lines, those written before the CDK starts and the report of an error no one caught.
"""

import gc
import sys
from typing import Any, List, Optional

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.protocol_io import (
    RedactedLines,
    config_error_message,
    configured_catalog,
    emit,
    json_file,
    json_object_file,
    preflight,
    redact_log_lines,
    report_uncaught,
)

from source_kustomer.config import parse_config
from source_kustomer.source import SourceKustomer

REDACTION_BATCH_CHARS = 1 << 16  # lines redacted together (a record line is about 1 KiB)
YOUNG_COLLECTION_THRESHOLD = 50_000  # allocations between young collections (CPython default: 700)
# How the CDK's closing "some streams failed" error begins (airbyte_cdk.exception_handler).
FAILED_STREAMS_PREFIX = "During the sync, the following streams did not sync successfully"


def _check_inputs(parsed: Any) -> None:
    """Every input file of the command, checked the way the connector will use it."""
    config = parse_config(json_object_file(parsed.config, "--config"))  # registers the key before other fields
    if parsed.command != "read":
        return
    configured_catalog(parsed.catalog)
    if getattr(parsed, "state", None):
        from source_kustomer.state import check_state_file  # with the streams: only a read loads them

        check_state_file(json_file(parsed.state, "--state"), config.origin)


def _preflight(argv: List[str]) -> Optional[int]:
    """Check the input files before the CDK does, so errors name the field; returns an exit code when done."""
    parsed = AirbyteEntrypoint.parse_args(argv)  # static: no second entrypoint (and memory monitor)
    if parsed.command not in ("check", "discover", "read") or not getattr(parsed, "config", None):
        return None
    return preflight(parsed.command, lambda: _check_inputs(parsed))


def launch(source: SourceKustomer, argv: List[str]) -> None:
    """``airbyte_cdk.entrypoint.launch`` (the CDK's entrypoint runs the command), with every line -- messages and
    logs -- redacted, and each STATE written out at once."""
    entrypoint = AirbyteEntrypoint(source)
    # Why not the CDK's launch itself: it prints records, states, the catalog and the connection status as they
    # are, and its log lines pass only its own secret filter, which knows literal forms of the key, not every
    # form redaction.py masks; and its print buffer writes a line out only when a later one comes 0.1 s after the
    # last write, so a STATE followed by a long request would wait there, lost if the sync were killed; and large
    # records printed within those 0.1 s would pile up there by megabytes (RedactedLines flushes every MiB).
    redact_log_lines()
    with PRINT_BUFFER:
        # the print buffer (outside tests), as the CDK's launch prints; records redacted a batch at a time
        output = RedactedLines(sys.stdout, batch_chars=REDACTION_BATCH_CHARS)
        try:
            for message in entrypoint.run(entrypoint.parse_args(argv)):
                output.write(f"{message}\n")
                if message.startswith('{"type":"STATE"'):
                    output.flush()
        finally:
            output.flush()


def run(args: Optional[List[str]] = None) -> None:
    """Run a protocol command (or ``probe``)."""
    argv = sys.argv[1:] if args is None else args
    if argv[:1] == ["probe"]:
        gc.enable()  # off while start.main imported this module
        from source_kustomer.probe import main as probe

        sys.exit(probe(argv[1:]))
    # Everything imported so far lives for the whole run, and a page's records (up to 10,000 of them queued)
    # are never cyclic garbage: the cyclic GC re-scanning them as each page allocates its thousands of dicts
    # made parsing a page take three times as long. Freeze the first, collect young objects 70x less often.
    # Started by start.main, the imports ran with the collector off and left next to no garbage: no full
    # collection (60 ms of CPU) before the freeze then.
    if gc.isenabled():
        gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD)
    gc.enable()
    try:
        code = _preflight(argv)
        if code is not None:
            sys.exit(code)
        launch(SourceKustomer(), argv)
    except AirbyteTracedException as error:
        if error.failure_type != FailureType.config_error:
            report_uncaught(error)
        if (error.message or "").startswith(FAILED_STREAMS_PREFIX):
            sys.exit(1)  # the failing stream's own trace already said what happened and what to do
        emit(config_error_message(error.message or str(error)))
        sys.exit(1)
    except Exception as error:  # noqa: BLE001 - reported as the CDK's hook would, through the redaction
        report_uncaught(error)
