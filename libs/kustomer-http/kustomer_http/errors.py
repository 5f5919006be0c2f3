"""User-facing errors: every one names what to change, none carries a stack trace or the token."""

from typing import Any, Iterable, Iterator

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


def config_error(message: str) -> AirbyteTracedException:
    """A configuration mistake the user can fix; ``message`` names the field and the fix."""
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)


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
