"""``source-kustomer probe --config config.json``: what a real Kustomer org does where the docs are silent.

The command line: reads the connector's config, asks the questions (``questions.Probe``) within ``MAX_REQUESTS``
requests, prints the findings as a table and writes them as JSON with the simulator arguments they map to. Every
line printed or written goes through the connector's redaction; a log line never carries a traceback.
"""

import argparse
import json
import logging
import sys
from dataclasses import asdict
from typing import List, Optional

from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http import redaction
from kustomer_http.connection import KustomerConnection

from source_kustomer.config import parse_config
from source_kustomer.probe.budget import MAX_REQUESTS, ProbeStopped
from source_kustomer.probe.questions import Probe
from source_kustomer.probe.report import render, simulator_args
from source_kustomer.version import USER_AGENT


class _RedactedLines(logging.Handler):
    """Log records as one redacted line each on stderr; no tracebacks (the findings say what failed)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(redaction.redact(f"probe: {record.levelname.lower()}: {record.getMessage()}"), file=sys.stderr)


def _quiet_logs() -> None:
    logger = logging.getLogger("airbyte")
    logger.handlers = [_RedactedLines()]
    logger.propagate = False
    logger.setLevel(logging.WARNING)


def main(argv: Optional[List[str]] = None) -> int:
    """``source-kustomer probe``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="source-kustomer probe", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the connector's config.json")
    parser.add_argument("--out", default="kustomer-probe.json", help="where to write the findings as JSON")
    args = parser.parse_args(argv)
    _quiet_logs()
    try:
        with open(args.config, encoding="utf-8") as handle:
            config = parse_config(json.load(handle))
    except (OSError, ValueError) as error:
        print(f"probe: cannot read {args.config} ({error.__class__.__name__})", file=sys.stderr)
        return 1
    except AirbyteTracedException as error:
        print(redaction.redact(f"probe stopped: {error.message}"), file=sys.stderr)
        return 1
    redaction.register(config.api_token)
    connection = KustomerConnection(config, USER_AGENT, max_sends=MAX_REQUESTS)
    try:
        findings = Probe(connection).run()
    except ProbeStopped as error:
        print(redaction.redact(f"probe stopped: {error}"), file=sys.stderr)
        return 1
    finally:
        connection.close()
    report = {
        "requests": connection.sends,
        "max_requests": MAX_REQUESTS,
        "host": connection.origin.url,
        "findings": [asdict(f) for f in findings],
        "simulator_args": simulator_args(findings),
    }
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(redaction.redact(json.dumps(report, indent=2)) + "\n")
    print(redaction.redact(render(findings, connection.sends)))
    print(f"written: {args.out}")
    return 0
