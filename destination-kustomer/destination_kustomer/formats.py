"""The string formats Kustomer's published request schemas name, checked before a record is sent.

Kustomer's OpenAPI description names the formats (date-time, uri, url, email-relaxed, domain-name, phone-number)
without defining them; these are the readings the destination holds records to: an RFC 3339 date-time with an
offset, a URI with a scheme, an http(s) URL, ``local@domain``, dot-separated host labels, and digits with the
usual phone punctuation (E.164, as the phone lookup asks, passes).
"""

import re
from datetime import datetime
from urllib.parse import urlsplit

from jsonschema import FormatChecker

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{2,31}$")

KUSTOMER_FORMATS = FormatChecker(formats=())


def is_date_time(value: object) -> bool:
    """An RFC 3339 date-time with a UTC offset (Kustomer's timestamps, e.g. 2024-05-01T10:00:00.000Z)."""
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@KUSTOMER_FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or is_date_time(value)


@KUSTOMER_FORMATS.checks("uri")
def _uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


@KUSTOMER_FORMATS.checks("url")
def _url(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not re.search(r"\s", value)


@KUSTOMER_FORMATS.checks("email-relaxed")
def _email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL.match(value))


@KUSTOMER_FORMATS.checks("domain-name")
def _domain(value: object) -> bool:
    return not isinstance(value, str) or bool(_DOMAIN.match(value))


@KUSTOMER_FORMATS.checks("phone-number")
def _phone(value: object) -> bool:
    return not isinstance(value, str) or bool(_PHONE.match(value))
