"""The CDK's retry log lines, said as what happened.

airbyte-cdk's HTTP client logs every retry it schedules as "Rate limit exceeded", whatever the cause (a refused
connection, a timeout, a 5xx), and logs its give-up with a full traceback before the connector reports the cause
in one clear message. ``install`` puts a filter on the loggers those lines come from that rewords them after the
cause and drops the traceback; nothing else is touched.
"""

import logging
import re
from typing import Iterable

CDK_LOGGERS = ("airbyte",)  # airbyte_cdk's rate_limiting module and, through the connection, its HTTP client
_RETRY = re.compile(
    r"^UserDefinedBackoffException: Rate limit exceeded(?: \(HTTP (\d{3})\))?\. Retrying in (\S+) seconds\.$"
)
_GIVE_UP = re.compile(r"^Max retry limit reached after ([\d.]+)s\.")
_EXHAUSTED = "Retries exhausted with backoff exception."


class RetryWording(logging.Filter):
    """Rewords the CDK's retry lines; every other record passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) and not record.args else None
        if message is None:
            return True
        retry = _RETRY.match(message)
        if retry:
            status, seconds = retry.groups()
            if status == "429":
                record.msg = f"Kustomer's rate limit answered HTTP 429; retrying in {seconds} s."
            elif status:
                record.msg = f"Kustomer answered HTTP {status}; retrying in {seconds} s."
            else:
                record.msg = f"No answer from Kustomer (the connection failed or timed out); retrying in {seconds} s."
            return True
        give_up = _GIVE_UP.match(message)
        if give_up:
            record.msg = f"Gave up on a request after {give_up.group(1)} s of retries; the cause follows."
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            return True
        if message == _EXHAUSTED:
            return False  # the traceback of the give-up above; the connector reports the cause itself
        return True


_FILTER = RetryWording()


def install(names: Iterable[str] = CDK_LOGGERS) -> None:
    """Put the filter on each named logger (once)."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
