import logging

import pytest
from kustomer_http.retry_logs import RetryWording


def _record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("airbyte", level, __file__, 1, message, None, None)


@pytest.mark.parametrize(
    "cdk_line, said",
    [
        (
            "UserDefinedBackoffException: Rate limit exceeded. Retrying in 3.0 seconds.",
            "No answer from Kustomer (the connection failed or timed out); retrying in 3.0 s.",
        ),
        (
            "UserDefinedBackoffException: Rate limit exceeded (HTTP 503). Retrying in 2.0 seconds.",
            "Kustomer answered HTTP 503; retrying in 2.0 s.",
        ),
        (
            "UserDefinedBackoffException: Rate limit exceeded (HTTP 429). Retrying in 61 seconds.",
            "Kustomer's rate limit answered HTTP 429; retrying in 61 s.",
        ),
        ("Some other line", "Some other line"),
    ],
)
def test_retry_lines_name_their_cause(cdk_line, said):
    record = _record(cdk_line)
    assert RetryWording().filter(record) and record.getMessage() == said


def test_the_give_up_is_a_warning_without_a_traceback():
    give_up = _record("Max retry limit reached after 5.0s. Request: <PreparedRequest [GET]>, Response: None", 40)
    assert RetryWording().filter(give_up)
    assert (give_up.levelname, give_up.getMessage()) == (
        "WARNING",
        "Gave up on a request after 5.0 s of retries; the cause follows.",
    )
    assert not RetryWording().filter(_record("Retries exhausted with backoff exception.", logging.ERROR))
