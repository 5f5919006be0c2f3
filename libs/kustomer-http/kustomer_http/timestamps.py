"""Kustomer's timestamps (ISO-8601 UTC with milliseconds, e.g. 2019-12-26T18:35:41.583Z): parsing and writing."""

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Optional

from kustomer_http.errors import config_error

EARLIEST = datetime(1, 1, 1, tzinfo=timezone.utc)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def utc_now() -> datetime:
    """The current time: one place, so tests can pin it (call it as ``timestamps.utc_now()``)."""
    return datetime.now(timezone.utc)


def _parse(text: str) -> Optional[datetime]:
    try:
        parsed = datetime.fromisoformat(text)  # Kustomer's own form, 2019-12-26T18:35:41.583Z, as it comes
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        return None


def parse_timestamp(value: Any, field: str) -> datetime:
    """An ISO-8601 date or date-time as an aware UTC datetime; a config_error naming ``field`` otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise config_error(f"'{field}' must be an ISO-8601 date-time such as 2025-01-31T00:00:00Z; got {value!r}.")
    parsed = _parse(value)
    if parsed is None:
        raise config_error(
            f"'{field}' is not a date: {value!r}. Use an ISO-8601 date-time such as 2025-01-31T00:00:00Z."
        )
    return parsed


@lru_cache(maxsize=8192)
def instant(value: Any) -> Optional[int]:
    """Microseconds since the epoch of a timestamp string from Kustomer, or None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    parsed = _parse(value)
    if parsed is None:
        return None
    delta = parsed - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def moment_of(micros: int) -> datetime:
    """The aware UTC datetime of microseconds since the epoch (the inverse of ``instant``)."""
    return EPOCH + timedelta(microseconds=micros)


def kustomer_time(moment: datetime) -> str:
    """A datetime in Kustomer's format, four-digit year included: 2019-12-26T18:35:41.583Z."""
    utc = moment.astimezone(timezone.utc)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}."
        f"{utc.microsecond // 1000:03d}Z"
    )


def earlier(moment: datetime, by: timedelta) -> datetime:
    """``moment - by``, never before year 1 (a lookback from a very old cursor must not overflow)."""
    return moment - by if moment - EARLIEST > by else EARLIEST
