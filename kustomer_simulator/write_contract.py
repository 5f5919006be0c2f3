"""The request bodies of Kustomer's write routes (customers, companies, custom objects, and their bulk forms) as its
OpenAPI description publishes them.

Each create and single update body is an object with a closed set of keys (``additionalProperties: false``); the
bulk bodies are arrays of at most 100 such items, update items requiring ``id`` (the bulk updates of customers and
custom objects do not close their keys). Lists of emails, phones, socials, URLs, locations and domains hold at most
10 distinct items of a fixed shape, tags at most 20 names, ``custom`` at most 100 attributes whose names end in a
type suffix (``Str``/``Txt`` text of up to 1,024 characters, ``Num``, ``At`` date-time, ``Bool``, ``Url``, ``Tree``).
A company needs a ``name`` of 3-256 characters, a custom object a ``title``. The simulator answers 400 to a body
this schema rejects, as Kustomer does.
"""

import re
from datetime import datetime
from typing import Any, Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import best_match

BULK_MAX_ITEMS = 100
CLIENT_REF = "_clientRef"  # the bulk guide's per-item reference; the OpenAPI item schemas do not list it
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{2,31}$")
# Custom attribute names and the JSON types their suffix announces.
CUSTOM_SUFFIXES: Mapping[str, Mapping[str, Any]] = {
    "Str": {"type": ["string", "null"], "maxLength": 1024},
    "Txt": {"type": ["string", "null"], "maxLength": 1024},
    "Num": {"type": ["number", "null"]},
    "At": {"type": ["string", "null"], "format": "date-time"},
    "Bool": {"type": ["boolean", "null"]},
    "Url": {"type": ["string", "null"], "format": "uri"},
    "Tree": {"type": ["string", "null"], "maxLength": 1024},
}

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # the type rule, not the format, refuses other values
    if not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", value))


@FORMATS.checks("url")
def _is_url(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not re.search(r"\s", value)


@FORMATS.checks("email-relaxed")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL.match(value))


@FORMATS.checks("domain-name")
def _is_domain(value: object) -> bool:
    return not isinstance(value, str) or bool(_DOMAIN.match(value))


@FORMATS.checks("phone-number")
def _is_phone(value: object) -> bool:
    return not isinstance(value, str) or bool(_PHONE.match(value))


def _text(max_length: int, min_length: int = 0, nullable: bool = True) -> Dict[str, Any]:
    schema: Dict[str, Any] = {"type": ["string", "null"] if nullable else "string", "maxLength": max_length}
    if min_length:
        schema["minLength"] = min_length
    return schema


def _formatted(fmt: str, nullable: bool = True) -> Dict[str, Any]:
    return {"type": ["string", "null"] if nullable else "string", "format": fmt}


def _list(item_properties: Mapping[str, Any], required: Tuple[str, ...] = (), max_items: int = 10) -> Dict[str, Any]:
    item: Dict[str, Any] = {"type": "object", "properties": dict(item_properties), "additionalProperties": False}
    if required:
        item["required"] = list(required)
    return {"type": "array", "maxItems": max_items, "uniqueItems": True, "items": item}


def _enum(*values: Any, nullable: bool = False) -> Dict[str, Any]:
    return {"type": ["string", "null"] if nullable else "string", "enum": [*values, *([None] if nullable else [])]}


DATE_TIME = _formatted("date-time")
TAGS = {
    "type": "array",
    "maxItems": 20,
    "uniqueItems": True,
    "items": {
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "pattern": "^[0-9a-zA-ZÀ-ÿ_/<>\\-.][0-9a-zA-ZÀ-ÿ _/<>\\-.]{0,63}$",
    },
}
CUSTOM = {
    "type": "object",
    "maxProperties": 100,
    "patternProperties": {f"^[A-Za-z][A-Za-z0-9_]*{suffix}$": rule for suffix, rule in CUSTOM_SUFFIXES.items()},
    "additionalProperties": False,
}
EMAILS = _list(
    {
        "type": _enum("home", "work", "other"),
        "email": {"type": "string", "format": "email-relaxed"},
        "verified": {"type": "boolean"},
    },
    ("email",),
)
PHONES = _list(
    {
        "type": _enum("mobile", "home", "work", "fax", "other"),
        "phone": {"type": "string", "format": "phone-number"},
        "verified": {"type": "boolean"},
    },
    ("phone",),
)
WHATSAPPS = _list(
    {"type": _enum("mobile"), "phone": {"type": "string", "format": "phone-number"}, "verified": {"type": "boolean"}},
    ("phone",),
)
SOCIALS = _list(
    {
        "type": _enum("twitter", "facebook", "instagram", "linkedin", "pinterest"),
        "userid": {"type": "string", "maxLength": 256},
        "username": {"type": "string", "minLength": 1, "maxLength": 256},
        "url": {"type": "string", "format": "uri"},
        "verified": {"type": "boolean"},
    },
    ("type", "username"),
)
URLS = _list({"type": _enum("website", "blog", "other"), "url": {"type": "string", "format": "url"}}, ("url",))
LOCATIONS = _list(
    {
        "type": _enum("home", "work", "other", nullable=True),
        "name": {"type": ["string", "null"]},
        "address": _text(256),
        "address2": _text(256),
        "address3": _text(256),
        "latitude": {"type": ["number", "null"]},
        "longitude": {"type": ["number", "null"]},
        "countryCode": _text(2, 2),
        "countryName": _text(64),
        "regionCode": _text(2),
        "regionName": _text(128),
        "cityName": _text(128),
        "zipCode": _text(30),
        "areaCode": _text(30),
    }
)
EXTERNAL_IDS = _list(
    {"externalId": {"type": "string", "minLength": 1, "maxLength": 255}, "verified": {"type": "boolean"}},
    ("externalId",),
)

CUSTOMER_ATTRIBUTES: Dict[str, Any] = {
    "name": _text(256),
    "company": {"type": ["string", "null"]},
    "externalId": _text(256, 1),
    "username": _text(256),
    "signedUpAt": DATE_TIME,
    "lastActivityAt": DATE_TIME,
    "lastCustomerActivityAt": DATE_TIME,
    "lastSeenAt": DATE_TIME,
    "avatarUrl": _formatted("uri"),
    "externalIds": EXTERNAL_IDS,
    "sharedExternalIds": EXTERNAL_IDS,
    "emails": EMAILS,
    "sharedEmails": EMAILS,
    "phones": PHONES,
    "sharedPhones": PHONES,
    "whatsapps": WHATSAPPS,
    "facebookIds": _list(
        {key: {"type": "string", "maxLength": 255} for key in ("pageId", "userId", "name")}, ("pageId", "userId")
    ),
    "instagramIds": _list(
        {key: {"type": "string", "maxLength": 255} for key in ("pageId", "threadId", "username", "instagramId")},
        ("pageId", "threadId", "username"),
    ),
    "socials": SOCIALS,
    "sharedSocials": SOCIALS,
    "urls": URLS,
    "locations": LOCATIONS,
    "locale": _text(16),
    "timeZone": _text(64),
    "tags": TAGS,
    "sentiment": {
        "type": "object",
        "required": ["polarity", "confidence"],
        "additionalProperties": False,
        "properties": {
            "polarity": {"type": "number", "enum": [-1, 0, 1]},
            "confidence": {"type": "number", "minimum": -1, "maximum": 1},
        },
    },
    "custom": CUSTOM,
    "birthdayAt": DATE_TIME,
    "gender": _enum("m", "f", nullable=True),
    "createdAt": _formatted("date-time", nullable=False),
    "importedAt": _formatted("date-time", nullable=False),
    "rev": {"type": "number"},
    "defaultLang": _text(100),
}
CUSTOMER_BULK_UPDATE_ABSENT = ("whatsapps", "instagramIds")  # listed for bulk creates, not for bulk updates

COMPANY_ATTRIBUTES: Dict[str, Any] = {
    "name": {"type": "string", "minLength": 3, "maxLength": 256},
    "externalId": {"type": ["string", "null"], "maxLength": 256},
    "avatarUrl": _formatted("uri"),
    "emails": EMAILS,
    "phones": PHONES,
    "whatsapps": WHATSAPPS,
    "socials": SOCIALS,
    "urls": URLS,
    "domains": _list({"domain": {"type": "string", "format": "domain-name"}}, ("domain",)),
    "locations": LOCATIONS,
    "employeeCount": {"type": "number"},
    "tags": TAGS,
    "createdAt": _formatted("date-time", nullable=False),
    "importedAt": _formatted("date-time", nullable=False),
    "rev": {"type": "number"},
    "custom": CUSTOM,
    "defaultLang": _text(100),
}

KOBJECT_ATTRIBUTES: Dict[str, Any] = {
    "customer": {"type": "string"},
    "company": {"type": "string"},
    "externalId": {"type": "string", "minLength": 1, "maxLength": 256},
    "title": {"type": "string", "minLength": 1, "maxLength": 256},
    "description": {"type": "string", "maxLength": 10240},
    "images": {"type": "array", "maxItems": 20, "uniqueItems": True, "items": {"type": "string", "format": "url"}},
    "icon": {"type": "string", "maxLength": 64},
    "data": {"type": "object"},
    "custom": CUSTOM,
    "tags": TAGS,
    "createdAt": _formatted("date-time", nullable=False),
    "importedAt": _formatted("date-time", nullable=False),
    "rev": {"type": "number"},
}
KOBJECT_CREATE_ONLY = ("customer", "company")  # an update names neither
KOBJECT_UPDATE_ONLY = ("rev",)

KINDS = ("customer", "company", "kobject")
OPERATIONS = ("create", "update", "bulk_create", "bulk_update")


def _body(properties: Mapping[str, Any], required: Tuple[str, ...] = (), closed: bool = True) -> Dict[str, Any]:
    schema: Dict[str, Any] = {"type": "object", "properties": dict(properties)}
    if closed:
        schema["additionalProperties"] = False
    if required:
        schema["required"] = list(required)
    return schema


def _without(properties: Mapping[str, Any], names: Tuple[str, ...]) -> Dict[str, Any]:
    return {key: value for key, value in properties.items() if key not in names}


def item_schema(kind: str, operation: str) -> Dict[str, Any]:
    """The schema of one create or update body (for the bulk operations: of one item of the array)."""
    bulk_update = operation == "bulk_update"
    with_id = {"id": {"type": "string"}}
    if kind == "customer":
        if bulk_update:
            return _body({**with_id, **_without(CUSTOMER_ATTRIBUTES, CUSTOMER_BULK_UPDATE_ABSENT)}, ("id",), False)
        return _body(CUSTOMER_ATTRIBUTES)
    if kind == "company":
        if operation in ("create", "bulk_create"):
            return _body(COMPANY_ATTRIBUTES, ("name",))
        updatable = {
            **_without(COMPANY_ATTRIBUTES, ("createdAt", "importedAt")),
            "deleted": {"type": ["boolean", "null"]},
        }
        if bulk_update:
            return _body({**with_id, **_without(updatable, ("whatsapps", "rev"))}, ("id",))
        return _body(updatable)
    if operation in ("create", "bulk_create"):
        return _body(_without(KOBJECT_ATTRIBUTES, KOBJECT_UPDATE_ONLY), ("title",))
    updatable = _without(KOBJECT_ATTRIBUTES, KOBJECT_CREATE_ONLY)
    if bulk_update:
        return _body({**with_id, **updatable}, ("id",), False)
    return _body(updatable)


def request_schema(kind: str, operation: str, client_ref: bool = False) -> Dict[str, Any]:
    """The whole body of ``operation`` on ``kind``; ``client_ref``: bulk items may carry ``_clientRef``."""
    item = item_schema(kind, operation)
    if not operation.startswith("bulk_"):
        return item
    if client_ref:
        item["properties"][CLIENT_REF] = {"type": "string", "maxLength": 256}
    return {"type": "array", "minItems": 1, "maxItems": BULK_MAX_ITEMS, "items": item}


_VALIDATORS: Dict[Tuple[str, str, bool], Draft7Validator] = {
    (kind, operation, ref): Draft7Validator(request_schema(kind, operation, ref), format_checker=FORMATS)
    for kind in KINDS
    for operation in OPERATIONS
    for ref in (False, True)
}


def body_violation(kind: str, operation: str, body: Any, client_ref: bool = False) -> Optional[str]:
    """Why Kustomer's published schema rejects ``body`` for ``operation`` on ``kind`` (None if it accepts it)."""
    error = best_match(_VALIDATORS[(kind, operation, client_ref)].iter_errors(body))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "the body"
    return f"{where}: {error.message}"
