"""What search does where Kustomer's evidence leaves it open: every setting a switch of the simulator.

Whether ``<object>_created_at`` is honoured, ignored or rejected by standard search is a per-object setting:
Kustomer documents it only for some objects (archive search documents sorting by it for every object it serves,
and honours it). The routing contexts (``work_item``, ``work_session``) are in the published request schema but no
field of theirs is documented: how their ``_updated_at``/``_created_at`` fields are treated is a per-context setting
too (``ROUTING_BEHAVIOURS``), down to records that carry no ``updatedAt`` at all (the Help Center's work-item
attributes list none) while the filter still works on the index's own time.
"""

from dataclasses import dataclass, field
from typing import Any, Mapping

import orjson

FIELD_BEHAVIOURS = ("honoured", "ignored", "rejected")
# Kustomer documents sorting by customer_created_at; the others' sort is undocumented ("Sorting based on other
# standard Object attributes is unavailable"), and company_created_at is no published search field at all.
CREATED_AT_DEFAULTS = {
    "customer": "honoured",
    "conversation": "ignored",
    "message": "ignored",
    "note": "ignored",
    "kobject": "ignored",
    "company": "rejected",
}
TOTAL_CAP = 10_000  # Elasticsearch's default: totals above it are reported as exactly 10,000
# The field that dates each object in search; a conversation time is written once and has no updated-at field.
TIME_FIELDS = {"conversation_time": "conversation_time_created_at"}
# How search treats a routing context's _updated_at/_created_at: honoured (filter and sort); filter-only (the
# filter honoured, the sort silently ignored: index order); sort-rejected (the filter honoured, a sort 400);
# ignored (both silently dropped); rejected (400); no-updated-at (as filter-only, and its records carry no
# updatedAt or modifiedAt, in search and in the routing lists alike).
ROUTING_BEHAVIOURS = ("honoured", "filter-only", "sort-rejected", "ignored", "rejected", "no-updated-at")
# Undocumented fields, and "sorting based on other standard Object attributes is unavailable": by default the
# filter works and the sort is silently ignored -- every page looks right, so only a client that checks the order
# notices it is not there.
ROUTING_SEARCH_DEFAULTS = {"work_item": "filter-only", "work_session": "filter-only"}
# What each routing setting makes of a criterion on the context's time fields, and of a sort by them.
ROUTING_FIELD = {
    "honoured": ("honoured", "honoured"),
    "filter-only": ("honoured", "ignored"),
    "sort-rejected": ("honoured", "rejected"),
    "ignored": ("ignored", "ignored"),
    "rejected": ("rejected", "rejected"),
    "no-updated-at": ("honoured", "ignored"),
}


def time_field(prefix: str) -> str:
    """The search field holding an object's last-change time."""
    return TIME_FIELDS.get(prefix, f"{prefix}_updated_at")


@dataclass
class SearchLimits:
    """How search behaves where the evidence leaves it open; every field is a switch of the simulator."""

    max_page_size: int = 500
    max_pages: int = 100
    window: int = 10_000
    past_window: str = "error"  # error | empty
    created_at: Mapping[str, str] = field(default_factory=lambda: dict(CREATED_AT_DEFAULTS))
    total: str = "exact"  # exact | capped
    horizon_days: int = 730
    index_lag_seconds: float = 0.0
    # Sorting by conversation_time_created_at is undocumented ("sorting based on other standard object attributes
    # is unavailable"): honoured, ignored (results come back in index order, which is not by time) or rejected (400).
    conversation_time_sort: str = "ignored"
    # work_item / work_session -> one of ROUTING_BEHAVIOURS, for their _updated_at and _created_at fields.
    routing_search: Mapping[str, str] = field(default_factory=lambda: dict(ROUTING_SEARCH_DEFAULTS))

    def created_at_behaviour(self, prefix: str) -> str:
        """honoured | ignored | rejected for ``<prefix>_created_at``."""
        return self.created_at.get(prefix, CREATED_AT_DEFAULTS.get(prefix, "ignored"))

    def routing_behaviour(self, context: str) -> str:
        """The setting of routing context ``context`` (one of ROUTING_BEHAVIOURS)."""
        return self.routing_search.get(context, ROUTING_SEARCH_DEFAULTS[context])

    def hides_updated_at(self, context: Any) -> bool:
        """Whether records of ``context`` (a routing context) are served without ``updatedAt``."""
        return context in ROUTING_SEARCH_DEFAULTS and self.routing_behaviour(context) == "no-updated-at"


def without_updated_at(payload: bytes) -> bytes:
    """A page (or one record) of routing records served without ``updatedAt`` and its ``modifiedAt`` echo."""
    document = orjson.loads(payload)
    data = document.get("data")
    for record in data if isinstance(data, list) else [data]:
        if isinstance(record, dict) and isinstance(record.get("attributes"), dict):
            record["attributes"].pop("updatedAt", None)
            record["attributes"].pop("modifiedAt", None)
    return orjson.dumps(document)


def past_window(page: int, page_size: int, limits: SearchLimits) -> bool:
    """Whether a page lies beyond the result window (page cap, or more results than the window holds)."""
    return page > limits.max_pages or page * min(page_size, limits.max_page_size) > limits.window
