"""User-facing errors: every one names what to change, none carries a stack trace or the token."""

from typing import Any, Iterable, Iterator, Optional

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

CHAIN_LINKS = 8  # how far back an error's causes are read


def config_error(message: str) -> AirbyteTracedException:
    """A configuration mistake the user can fix; ``message`` names the field and the fix."""
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)


class ServerTrouble(AirbyteTracedException):
    """Kustomer answered, but not with what was asked (a server error, an answer without what it should hold);
    the message says so and what to do. A transient error: the next attempt may succeed."""


def server_trouble(message: str) -> ServerTrouble:
    """The transient error for trouble Kustomer answered with; ``message`` says what happened and what to do."""
    return ServerTrouble(message=message, internal_message=message, failure_type=FailureType.transient_error)


def check_failure(error: AirbyteTracedException, origin_url: str) -> str:
    """What a failed check says about the error that ended it: a config error's own words (they name the field and
    the fix), or trouble Kustomer answered with; anything else means Kustomer could not be reached."""
    if error.failure_type == FailureType.config_error or isinstance(error, ServerTrouble):
        return error.message or str(error)
    status = _last_status(error)
    if status is not None:
        return f"Kustomer kept answering HTTP {status} at {origin_url}; try again later."
    return (
        f"Could not reach Kustomer at {origin_url}. Check 'region', 'organization' or 'api_url', and that this "
        "machine can reach that host."
    )


def _last_status(error: BaseException) -> Optional[int]:
    """The HTTP status of the last answer behind a request's retries-exhausted error, if there was an answer."""
    cause = error.__cause__ or error.__context__
    for _ in range(CHAIN_LINKS):
        if cause is None:
            break
        response = getattr(cause, "response", None)
        if isinstance(response, requests.Response):
            return response.status_code
        cause = cause.__cause__ or cause.__context__
    return None


def with_clear_errors(stream: str, records: Iterable[Any]) -> Iterator[Any]:
    """Pass records through; turn the CDK's 'retries exhausted' failures into a message saying what to do."""
    try:
        yield from records
    except AirbyteTracedException as error:
        text = error.message or ""
        if error.failure_type == FailureType.config_error or not (
            "Exhausted available request attempts" in text or "rate limit" in text.lower()
        ):
            raise
        raise AirbyteTracedException(
            message=(
                f"Kustomer kept failing requests for stream '{stream}' after every retry. The sync stopped; "
                "its next attempt resumes from the last saved state. If this persists, check Kustomer's status "
                "page, and lower 'search_requests_per_minute' or 'api_utilization_percent' if other integrations "
                "share the org's rate limit."
            ),
            internal_message=error.internal_message,
            failure_type=FailureType.transient_error,
            exception=error,
        ) from error
