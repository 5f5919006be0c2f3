"""The standard attributes the destination writes, with the rules Kustomer's published request schemas (the OpenAPI
create and update bodies of customers, companies and custom objects) set on them.

Only attributes every create and update body of an object accepts are written (a customer's ``whatsapps`` and
``instagramIds``, absent from its bulk update, are not), and none Kustomer sets itself (``createdAt``,
``importedAt``, ``rev``). A customer also takes ``email``: one address, written into ``emails`` when the customer
is created (or has none) and the key a customer matched by email is found with. Each attribute's description says
what writing it does to an existing object (discover shows it): an update sets what the record maps and keeps the
rest, but a list replaces the object's list.
"""

from typing import Any, Dict, Mapping, Tuple

from destination_kustomer.objects import EMAIL  # a customer's single address (the email matching key)

REQUIRED_ON_CREATE: Mapping[str, Tuple[str, ...]] = {"company": ("name",), "kobject": ("title",)}
CREATE_ONLY: Mapping[str, Tuple[str, ...]] = {"kobject": ("customer", "company")}  # an update cannot change them


def _text(max_length: int, min_length: int = 0) -> Dict[str, Any]:
    rule: Dict[str, Any] = {"type": "string", "maxLength": max_length}
    if min_length:
        rule["minLength"] = min_length
    return rule


def _formatted(fmt: str) -> Dict[str, Any]:
    return {"type": "string", "format": fmt}


def _enum(*values: str) -> Dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _list(item: Mapping[str, Any], required: Tuple[str, ...], max_items: int = 10) -> Dict[str, Any]:
    shape: Dict[str, Any] = {"type": "object", "properties": dict(item), "additionalProperties": False}
    if required:
        shape["required"] = list(required)
    return {"type": "array", "maxItems": max_items, "uniqueItems": True, "items": shape}


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
    {"type": _enum("home", "work", "other"), "email": _formatted("email-relaxed"), "verified": {"type": "boolean"}},
    ("email",),
)
PHONES = _list(
    {
        "type": _enum("mobile", "home", "work", "fax", "other"),
        "phone": _formatted("phone-number"),
        "verified": {"type": "boolean"},
    },
    ("phone",),
)
SOCIALS = _list(
    {
        "type": _enum("twitter", "facebook", "instagram", "linkedin", "pinterest"),
        "userid": _text(256),
        "username": _text(256, 1),
        "url": _formatted("uri"),
        "verified": {"type": "boolean"},
    },
    ("type", "username"),
)
URLS = _list({"type": _enum("website", "blog", "other"), "url": _formatted("url")}, ("url",))
LOCATIONS = _list(
    {
        "type": _enum("home", "work", "other"),
        "name": {"type": "string"},
        "address": _text(256),
        "address2": _text(256),
        "address3": _text(256),
        "latitude": {"type": "number"},
        "longitude": {"type": "number"},
        "countryCode": _text(2, 2),
        "countryName": _text(64),
        "regionCode": _text(2),
        "regionName": _text(128),
        "cityName": _text(128),
        "zipCode": _text(30),
        "areaCode": _text(30),
    },
    (),
)

REPLACES = "An update replaces the object's whole list with this one (what the record leaves out is removed)."
SETS = "An update sets it; attributes the record does not map are kept."


def described(attributes: Mapping[str, Mapping[str, Any]], special: Mapping[str, str]) -> Dict[str, Any]:
    """Each attribute's rule with a description of what writing it does (``special`` for those with their own)."""
    return {
        name: {**rule, "description": special.get(name) or (REPLACES if rule.get("type") == "array" else SETS)}
        for name, rule in attributes.items()
    }


CUSTOMER: Mapping[str, Any] = {
    "name": _text(256),
    "externalId": _text(256, 1),
    EMAIL: _formatted("email-relaxed"),
    "username": _text(256),
    "company": {"type": "string"},
    "signedUpAt": DATE_TIME,
    "lastActivityAt": DATE_TIME,
    "lastCustomerActivityAt": DATE_TIME,
    "lastSeenAt": DATE_TIME,
    "birthdayAt": DATE_TIME,
    "avatarUrl": _formatted("uri"),
    "emails": EMAILS,
    "phones": PHONES,
    "socials": SOCIALS,
    "urls": URLS,
    "locations": LOCATIONS,
    "locale": _text(16),
    "timeZone": _text(64),
    "tags": TAGS,
    "gender": _enum("m", "f"),
    "defaultLang": _text(100),
}
COMPANY: Mapping[str, Any] = {
    "name": _text(256, 3),
    "externalId": _text(256),
    "avatarUrl": _formatted("uri"),
    "emails": EMAILS,
    "phones": PHONES,
    "socials": SOCIALS,
    "urls": URLS,
    "domains": _list({"domain": _formatted("domain-name")}, ("domain",)),
    "locations": LOCATIONS,
    "employeeCount": {"type": "number"},
    "tags": TAGS,
    "defaultLang": _text(100),
}
KOBJECT: Mapping[str, Any] = {
    "title": _text(256, 1),
    "externalId": _text(256, 1),
    "description": _text(10240),
    "images": {"type": "array", "maxItems": 20, "uniqueItems": True, "items": _formatted("url")},
    "icon": _text(64),
    "data": {"type": "object"},
    "tags": TAGS,
    "customer": {"type": "string"},
    "company": {"type": "string"},
}
KEY = "The matching key (or a value to set when another key matches). An update sets it."
STANDARD: Mapping[str, Mapping[str, Any]] = {
    "customer": described(
        CUSTOMER,
        {
            "externalId": KEY,
            EMAIL: (
                "One address. On a create it is the customer's address (with those of emails); an update adds it only "
                "to a customer with no address yet -- one holding others keeps them, and the record is reported "
                "partly written (adding it would mean sending back the addresses read). Map emails to set the list."
            ),
            "emails": "An update replaces the customer's addresses with this list (with the record's email added).",
            "company": (
                "The id of the customer's company. Kustomer unlinks a customer updated without a company, so an update "
                "that does not map it sends the company the customer has (read with its rev, never overwriting a "
                "change made meanwhile)."
            ),
        },
    ),
    "company": described(COMPANY, {"externalId": KEY}),
    "kobject": described(
        KOBJECT,
        {
            "externalId": KEY,
            "customer": "The id of the object's customer: set when the object is created; an update leaves it.",
            "company": "The id of the object's company: set when the object is created; an update leaves it.",
            "data": "An update replaces the object's whole data object with this one.",
        },
    ),
}


def standard_attributes(kind: str) -> Mapping[str, Any]:
    """The standard attributes of ``kind`` (customer, company, kobject) and their rules."""
    return STANDARD[kind]
