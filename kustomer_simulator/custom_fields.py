"""Custom attributes: the ones each resource and klass defines (named with Kustomer's type suffixes), the type a
name announces, and each record's values, drawn from the seed and its revision."""

from typing import Dict, List

from kustomer_simulator.collection import Collection, mix32
from kustomer_simulator.timefmt import DAY_MS, iso_ms

# Custom attribute definitions, named with Kustomer's type suffixes.
CUSTOM_FIELDS: Dict[str, List[str]] = {
    "customer": ["tierStr", "lifetimeValueNum", "vipBool", "lastOrderAt", "bioTxt", "profileUrl"],
    "conversation": ["orderNumberStr", "refundAmountNum", "escalatedBool", "promisedAt"],
    "message": ["sentimentNum", "languageStr"],
    "note": ["categoryStr"],
    "company": ["industryStr", "employeesNum", "websiteUrl"],
}
METADATA_RESOURCES = ("company", "conversation", "customer", "message")
KLASS_FIELDS: Dict[str, List[str]] = {
    "order": ["orderIdStr", "totalNum", "shippedAt", "giftBool"],
    "subscription": ["planStr", "mrrNum", "activeBool", "renewsAt"],
    "return_request": ["reasonTxt", "approvedBool"],
}
DEFAULT_KLASS_FIELDS = ["valueStr"]  # the custom fields of a klass not named above

DOMAINS = ["example.com", "example.org", "example.net", "mail.test"]  # URL values' (and emails', companies')
TIERS = ["bronze", "silver", "gold", "platinum"]
INDUSTRIES = ["retail", "travel", "fintech", "health", "gaming"]


def custom_type(name: str) -> str:
    """The Kustomer attribute type a custom field name's suffix announces."""
    for suffix, kind in (("Num", "number"), ("Bool", "boolean"), ("At", "date"), ("Url", "url"), ("Txt", "text")):
        if name.endswith(suffix):
            return kind
    return "string"


def klass_fields(klass: str) -> List[str]:
    """The custom fields of a klass's objects."""
    return KLASS_FIELDS.get(klass, DEFAULT_KLASS_FIELDS)


def custom_values(fields: List[str], coll: Collection, i: int) -> dict:
    """The ``custom`` attributes of record ``i``: sparse, each value of the type its name's suffix announces."""
    out = {}
    rev = coll.revisions.get(i, 0)
    for n, name in enumerate(fields):
        h = mix32(coll.seed, coll.code, i, n, rev)
        if h % 7 == 0:
            continue  # sparse, as real custom fields are
        if name.endswith("Num"):
            out[name] = round((h % 100_000) / 100, 2)
        elif name.endswith("Bool"):
            out[name] = bool(h & 1)
        elif name.endswith("At"):
            out[name] = iso_ms(coll.created_ms[i] + (h % (30 * DAY_MS)))
        elif name.endswith("Url"):
            out[name] = f"https://{DOMAINS[h % len(DOMAINS)]}/p/{h % 10000}"
        elif name == "tierStr":
            out[name] = TIERS[h % len(TIERS)]
        elif name == "industryStr":
            out[name] = INDUSTRIES[h % len(INDUSTRIES)]
        else:
            out[name] = f"{name[:-3].lower()}-{h % 100000}"
    return out
