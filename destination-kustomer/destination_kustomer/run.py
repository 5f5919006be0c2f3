"""The ``destination-kustomer`` console script: the Airbyte protocol on stdin/stdout -- ``spec``, ``check``,
``discover`` (the DESTINATION_CATALOG the CDK's Destination has no command for) and ``write``.

A user's mistake (a bad config or catalog file, a stream that maps to no object) ends with one clear message
naming the field and the fix -- a failed CONNECTION_STATUS for ``check``, a config_error TRACE otherwise -- and
never a stack trace. Every line written to stdout passes through the token redaction and is flushed at once, so a
STATE printed is a STATE the platform has (a sync killed later resumes from it).
"""

import argparse
import json
import sys
import time
from typing import Any, List, Optional

import orjson
from airbyte_cdk.exception_handler import init_uncaught_exception_handler
from airbyte_cdk.logger import init_logger
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
from airbyte_protocol_dataclasses.models import AirbyteMessage as ProtocolMessage
from kustomer_http import redaction
from kustomer_http.errors import config_error
from serpyco_rs import Serializer

from destination_kustomer.config import parse_config
from destination_kustomer.destination import DestinationKustomer
from destination_kustomer.targets import resolve_targets

_PROTOCOL = Serializer(ProtocolMessage, omit_none=True)


def parse_args(argv: List[str]) -> argparse.Namespace:
    """spec | check --config | discover --config | write --config --catalog."""
    parser = argparse.ArgumentParser(prog="destination-kustomer", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spec", help="print the connector's specification")
    for name, text in (("check", "check the config can write to Kustomer"), ("discover", "list what can be written")):
        commands.add_parser(name, help=text).add_argument("--config", required=True, help="the JSON config file")
    write = commands.add_parser("write", help="write the records and states read from stdin")
    write.add_argument("--config", required=True, help="the JSON config file")
    write.add_argument("--catalog", required=True, help="the configured catalog JSON file")
    return parser.parse_args(argv)


def emit(line: str) -> None:
    """Print one protocol line, redacted, flushed."""
    print(redaction.redact(line), flush=True)


def _emit_message(message: AirbyteMessage) -> None:
    emit(orjson.dumps(AirbyteMessageSerializer.dump(message)).decode())


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


def _check_inputs(parsed: argparse.Namespace) -> None:
    """Every input file of the command, checked the way the destination will use it."""
    raw = _json_file(parsed.config, "--config")
    if not isinstance(raw, dict):
        raise config_error(f"The --config file {parsed.config} is not a JSON object.")
    config = parse_config(raw)
    redaction.register(config.api_token)
    if parsed.command != "write":
        return
    try:
        catalog = ConfiguredAirbyteCatalogSerializer.load(_json_file(parsed.catalog, "--catalog"))
    except AirbyteTracedException:
        raise
    except Exception as error:  # noqa: BLE001 - any shape the CDK cannot load is the same user mistake
        raise config_error(
            f"The --catalog file is not a configured catalog ({error.__class__.__name__}); run discover and "
            "configure its streams."
        ) from None
    resolve_targets(catalog, config.stream_mappings)


def _preflight(parsed: argparse.Namespace) -> Optional[int]:
    """Check the input files before anything is sent; returns an exit code when the command is done."""
    if parsed.command == "spec":
        return None
    try:
        _check_inputs(parsed)
    except AirbyteTracedException as error:
        text = error.message or "The input files are invalid."
    else:
        return None
    if parsed.command == "check":
        status = AirbyteConnectionStatus(status=Status.FAILED, message=text)
        _emit_message(AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=status))
        return 0
    _emit_message(config_error_message(text))
    return 1


def _discover(destination: DestinationKustomer, parsed: argparse.Namespace) -> None:
    config = _json_file(parsed.config, "--config")
    catalog = destination.discover_catalog(config, init_logger("airbyte"))
    emit(
        orjson.dumps(
            _PROTOCOL.dump(ProtocolMessage(type=Type.DESTINATION_CATALOG, destination_catalog=catalog))
        ).decode()
    )


def run(args: Optional[List[str]] = None) -> None:
    """Run a protocol command."""
    init_uncaught_exception_handler(init_logger("airbyte"))
    parsed = parse_args(sys.argv[1:] if args is None else args)
    code = _preflight(parsed)
    if code is not None:
        sys.exit(code)
    destination = DestinationKustomer()
    try:
        if parsed.command == "discover":
            _discover(destination, parsed)
        else:
            for message in destination.run_cmd(parsed):
                _emit_message(message)
    except AirbyteTracedException as error:
        if error.failure_type != FailureType.config_error:
            raise
        _emit_message(config_error_message(redaction.redact(error.message or str(error))))
        sys.exit(1)
