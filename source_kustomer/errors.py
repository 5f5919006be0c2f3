"""User-facing errors: every one names what to change, none carries a stack trace or the token."""

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


def config_error(message: str) -> AirbyteTracedException:
    """A configuration mistake the user can fix; ``message`` names the field and the fix."""
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)
