"""The string formats Kustomer's published request schemas name, as this project reads them.

The OpenAPI description names the formats (date-time, uri, url, email-relaxed, domain-name, phone-number,
whatsapp-number) without defining them; the readings: an RFC 3339 date-time with an offset, a URI with a scheme,
an http(s) URL, ``local@domain``, dot-separated host labels, and digits with the usual phone punctuation (E.164,
as the phone lookup asks, passes; a WhatsApp number is a phone number). One checker serves every writer of this
repository and the simulator's contract, so they cannot read a format two ways.
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

KUSTOMER_FORMATS = FormatChecker(formats=())  # only the formats below: jsonschema's own readings never apply


def is_date_time(value: str) -> bool:
    """An RFC 3339 date-time with a UTC offset (Kustomer's timestamps, e.g. 2024-05-01T10:00:00.000Z)."""
    if not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not re.search(r"\s", value)


_READINGS = {
    "date-time": is_date_time,
    "uri": lambda value: bool(_URI.match(value)),
    "url": _is_url,
    "email-relaxed": lambda value: bool(_EMAIL.match(value)),
    "domain-name": lambda value: bool(_DOMAIN.match(value)),
    "phone-number": lambda value: bool(_PHONE.match(value)),
    "whatsapp-number": lambda value: bool(_PHONE.match(value)),
}
for _name, _reading in _READINGS.items():
    # A value of another type is the type rule's to refuse, not the format's.
    KUSTOMER_FORMATS.checks(_name)(lambda value, reading=_reading: not isinstance(value, str) or reading(value))
