"""Kustomer's timestamp format: ISO-8601 UTC with milliseconds, e.g. 2019-12-26T18:35:41.583Z."""

import time
from datetime import datetime, timezone

DAY_MS = 86_400_000


def iso_ms(epoch_ms: int) -> str:
    """Format epoch milliseconds the way Kustomer does."""
    seconds, millis = divmod(epoch_ms, 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


def parse_iso_ms(value: str) -> int:
    """Parse an ISO-8601 timestamp (any offset, optional fraction) into epoch milliseconds."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(round(parsed.timestamp() * 1000))


def now_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return int(time.time() * 1000)
