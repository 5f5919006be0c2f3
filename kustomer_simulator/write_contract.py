"""The request bodies of Kustomer's write routes (customers, companies, custom objects, and their bulk forms) as its
OpenAPI description publishes them.

Each create and single update body is an object with a closed set of keys (``additionalProperties: false``); the
bulk bodies are arrays of at most 100 such items, update items requiring ``id`` (the bulk updates of customers and
custom objects do not close their keys). Lists of emails, phones, socials, URLs, locations and domains hold at most
10 distinct items of a fixed shape, tags at most 20 names, ``custom`` at most 100 attributes whose names end in a
published type suffix (``kustomer_http.custom_attributes``: ``Str``/``Txt`` text of up to 1,024 characters,
``Num``, ``At`` date-time, ``Bool``, ``Url``) -- and ``Tree`` only under ``--custom-tree accepted``, since no
published schema names it. A company needs a ``name`` of 3-256 characters (its ``externalId`` is a string on
create, null allowed on updates only), a custom object a ``title``. The simulator answers 400 to a body this schema
rejects, as Kustomer does. The formats (date-time, uri, ...) are read as ``kustomer_http.formats`` reads them.
"""

from functools import lru_cache
from typing import Any, Dict, FrozenSet, Mapping, Optional, Tuple

from jsonschema import Draft7Validator
from kustomer_http.custom_attributes import SUFFIXES
from kustomer_http.formats import KUSTOMER_FORMATS

from kustomer_simulator.contract import violation

BULK_MAX_ITEMS = 100
CLIENT_REF = "_clientRef"  # the bulk guide's per-item reference; the OpenAPI item schemas do not list it


def custom_suffix_rules(tree: bool) -> Dict[str, Dict[str, Any]]:
    """The rule of a custom attribute's value by its name's suffix (each also null); ``Tree`` only when ``tree``."""
    rules: Dict[str, Dict[str, Any]] = {}
    for suffix in SUFFIXES:
        if suffix.published or tree:
            rule = suffix.write_rule()
            rules[suffix.name] = {**rule, "type": [rule["type"], "null"]}
    return rules


def custom_schema(tree: bool) -> Dict[str, Any]:
    """``custom``: at most 100 attributes, each named with a type suffix and holding a value of its type."""
    return {
        "type": "object",
        "maxProperties": 100,
        "patternProperties": {
            f"^[A-Za-z][A-Za-z0-9_]*{name}$": rule for name, rule in custom_suffix_rules(tree).items()
        },
        "additionalProperties": False,
    }


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
        "pattern": "^[0-9a-zA-ZÀ-ÿ_/<>\\-.]{1}[0-9a-zA-ZÀ-ÿ _/<>\\-.]{0,63}$",
    },
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
    {
        "type": _enum("mobile"),
        "phone": {"type": "string", "format": "whatsapp-number"},
        "verified": {"type": "boolean"},
    },
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
    "externalId": {"type": "string", "maxLength": 256},  # a string on create; updates also take null
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


def item_schema(kind: str, operation: str, tree: bool = False) -> Dict[str, Any]:
    """The schema of one create or update body (for the bulk operations: of one item of the array); ``tree``:
    ``custom`` takes ``Tree`` attributes too."""
    schema = _item_schema(kind, operation)
    schema["properties"]["custom"] = custom_schema(tree)
    return schema


@lru_cache(maxsize=None)
def item_keys(kind: str, operation: str) -> FrozenSet[str]:
    """The keys one create or update body (one bulk item) may name."""
    return frozenset(_item_schema(kind, operation)["properties"]) | {"custom"}


def _item_schema(kind: str, operation: str) -> Dict[str, Any]:
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
            "externalId": {"type": ["string", "null"], "maxLength": 256},
            "deleted": {"type": ["boolean", "null"]},
        }
        if bulk_update:
            return _body({**with_id, **_without(updatable, ("whatsapps", "rev"))}, ("id",))
        return _body(updatable)
    if operation in ("create", "bulk_create"):
        return _body(_without(KOBJECT_ATTRIBUTES, KOBJECT_UPDATE_ONLY), ("title",))
    updatable = _without(KOBJECT_ATTRIBUTES, KOBJECT_CREATE_ONLY)
    if bulk_update:  # the published bulk update item sets no minimum length on the title
        return _body({**with_id, **updatable, "title": {"type": "string", "maxLength": 256}}, ("id",), False)
    return _body(updatable)


def request_schema(kind: str, operation: str, client_ref: bool = False, tree: bool = False) -> Dict[str, Any]:
    """The whole body of ``operation`` on ``kind``; ``client_ref``: bulk items may carry ``_clientRef``; ``tree``:
    ``custom`` takes ``Tree`` attributes."""
    item = item_schema(kind, operation, tree)
    if not operation.startswith("bulk_"):
        return item
    if client_ref:
        item["properties"][CLIENT_REF] = {"type": "string", "maxLength": 256}
    return {"type": "array", "maxItems": BULK_MAX_ITEMS, "items": item}


@lru_cache(maxsize=None)
def _validator(kind: str, operation: str, client_ref: bool, tree: bool) -> Draft7Validator:
    return Draft7Validator(request_schema(kind, operation, client_ref, tree), format_checker=KUSTOMER_FORMATS)


def body_violation(kind: str, operation: str, body: Any, client_ref: bool = False, tree: bool = False) -> Optional[str]:
    """Why Kustomer's published schema rejects ``body`` for ``operation`` on ``kind`` (None if it accepts it)."""
    return violation(_validator(kind, operation, client_ref, tree), body)
