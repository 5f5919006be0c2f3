"""The ``destination-kustomer`` console script: the Airbyte protocol on stdin/stdout -- ``spec``, ``check``,
``discover`` (the DESTINATION_CATALOG the CDK's Destination has no command for) and ``write``.

A user's mistake (a bad config or catalog file, a stream that maps to no object) ends with one clear message
naming the field and the fix -- a failed CONNECTION_STATUS for ``check``, a config_error TRACE otherwise -- and
never a stack trace. Every line written to stdout -- messages, log lines and the report of an error no one caught
-- passes through the token redaction and is flushed at once, so a STATE printed is a STATE the platform has (a
sync killed later resumes from it).
"""

import argparse
import logging
import sys
from typing import List, Optional

import orjson
from airbyte_cdk.exception_handler import init_uncaught_exception_handler
from airbyte_cdk.logger import init_logger
from airbyte_cdk.models import FailureType, Type
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from airbyte_protocol_dataclasses.models import AirbyteMessage as ProtocolMessage
from kustomer_http import redaction
from kustomer_http.protocol_io import (
    config_error_message,
    configured_catalog,
    json_file,
    json_object_file,
    preflight,
    redact_log_lines,
    report_uncaught,
)
from kustomer_http.protocol_io import emit as emit_message
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


def _check_inputs(parsed: argparse.Namespace) -> None:
    """Every input file of the command, checked the way the destination will use it."""
    config = parse_config(json_object_file(parsed.config, "--config"))  # registers the key before other fields
    if parsed.command == "write":
        resolve_targets(configured_catalog(parsed.catalog), config.stream_mappings)


def _preflight(parsed: argparse.Namespace) -> Optional[int]:
    """Check the input files before anything is sent; returns an exit code when the command is done."""
    if parsed.command == "spec":
        return None
    return preflight(parsed.command, lambda: _check_inputs(parsed))


def _discover(destination: DestinationKustomer, parsed: argparse.Namespace) -> None:
    config = json_file(parsed.config, "--config")
    catalog = destination.discover_catalog(config, logging.getLogger("airbyte"))  # init_logger would undo the redaction
    emit(
        orjson.dumps(
            _PROTOCOL.dump(ProtocolMessage(type=Type.DESTINATION_CATALOG, destination_catalog=catalog))
        ).decode()
    )


def run(args: Optional[List[str]] = None) -> None:
    """Run a protocol command."""
    init_uncaught_exception_handler(init_logger("airbyte"))
    redact_log_lines()
    parsed = parse_args(sys.argv[1:] if args is None else args)
    try:
        code = _preflight(parsed)
        if code is not None:
            sys.exit(code)
        destination = DestinationKustomer()
        if parsed.command == "discover":
            _discover(destination, parsed)
        else:
            for message in destination.run_cmd(parsed):
                emit_message(message)
    except AirbyteTracedException as error:
        if error.failure_type != FailureType.config_error:
            report_uncaught(error)
        emit_message(config_error_message(error.message or str(error)))  # emit redacts the whole line
        sys.exit(1)
    except Exception as error:  # noqa: BLE001 - reported as the CDK's hook would, through the redaction
        report_uncaught(error)
