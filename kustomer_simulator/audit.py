"""The audit log's entries: ids (Mongo ObjectIds) minted when an entry is stored, ``createdAt`` a little earlier than
``publishedAt``, retention by kind.

Kustomer's published example of ``GET /v1/audit-logs`` has ``createdAt`` 22:57:01.074Z, ``publishedAt``
22:57:08.387Z and an id whose 4-byte time is 22:57:08, and the log pages in id order. One example cannot say
whether ids are minted at publish time or when the entry is stored, later and not in publish order, so that is a
switch (``ids``):

* ``publish``: an entry is stored when it is published; its id is 8 hex digits of the publish second followed by 16
  that grow with log order (ids sort by publish second, within one second by log order, not by millisecond);
* ``insertion`` (the default, the strict reading): an entry is stored a deterministic pseudo-random moment after it
  is published, and its id carries that second and grows with insertion order, so an entry with a lower id can have
  been published seconds *after* the one before it in the log's order.

Either way ``createdAt`` precedes ``publishedAt`` by a deterministic pseudo-random amount, and an entry is stored at
most the publish lag after its ``createdAt``; an entry is served only once it is stored. A *misdated* entry (a data
fault: ``MISDATINGS``) carries dates that contradict each other and its id.
"""

import bisect
from dataclasses import dataclass
from typing import Iterable, List, Mapping, Optional, Tuple

from kustomer_simulator.collection import mix32
from kustomer_simulator.shapes import relationship
from kustomer_simulator.timefmt import DAY_MS, iso_ms

ID_MODES = ("insertion", "publish")  # the first is the default
# Data faults: an entry whose publishedAt lies 30 days before its createdAt (and id), or whose createdAt lies a day
# after its publishedAt (and id). The dates are stored so: the log filters on them too.
MISDATINGS = {"published_early": ("publishedAt", -30 * DAY_MS), "created_late": ("createdAt", DAY_MS)}
SHORT_TERM_DAYS = 90
LONG_TERM_DAYS = 365
# Help Center "Audit log storage limits" (Oct 2024), keyed by (objectType, eventVerb); "*" is every verb. A kind the
# page does not name (deletes, creates of customers and conversations, anything else) is kept the short term: the
# conservative reading, and the one that hurts a client assuming a year.
RETENTION_DAYS: Mapping[Tuple[str, str], int] = {
    ("conversation", "update"): SHORT_TERM_DAYS,
    ("customer", "update"): SHORT_TERM_DAYS,
    ("message", "update"): SHORT_TERM_DAYS,
    ("work_item", "*"): SHORT_TERM_DAYS,
    ("work_session", "*"): SHORT_TERM_DAYS,
    ("user", "*"): SHORT_TERM_DAYS,
    ("shopify_rest", "*"): SHORT_TERM_DAYS,
    ("bill_subscription", "*"): LONG_TERM_DAYS,
    ("business_rule", "*"): LONG_TERM_DAYS,
    ("company", "update"): LONG_TERM_DAYS,
    ("customer", "merge"): LONG_TERM_DAYS,
    ("message", "create"): LONG_TERM_DAYS,
    ("search", "*"): LONG_TERM_DAYS,
    ("shortcut", "*"): LONG_TERM_DAYS,
}

# What one entry to write says: (eventVerb, objectType, objectId, published epoch ms, changes).
Event = Tuple[str, str, str, int, Optional[dict]]
ID_SALT, INSERT_SALT = 0xA0D17, 0x1D5E7


def retention_days(object_type: str, verb: str) -> int:
    """How long Kustomer keeps an entry of this kind."""
    return RETENTION_DAYS.get((object_type, verb), RETENTION_DAYS.get((object_type, "*"), SHORT_TERM_DAYS))


@dataclass(frozen=True)
class AuditEntry:
    """One entry, with the times the log is filtered and expired by kept as epoch milliseconds."""

    id: str
    published_ms: int
    created_ms: int
    expires_ms: int
    stored_ms: int  # when it is stored and served from
    object_type: str
    record: dict


class AuditLog:
    """Every entry ever written, sorted by id (publish second, then log order). Not thread-safe: the org locks."""

    def __init__(self, org_id: str, seed: int, publish_lag_seconds: float, ids: str = ID_MODES[0]) -> None:
        if ids not in ID_MODES:
            raise ValueError(f"audit ids {ids!r} is not one of {', '.join(ID_MODES)}")
        self.org_id = org_id
        self.seed = seed
        self.lag_ms = int(publish_lag_seconds * 1000)
        self.ids = ids
        self.entries: List[AuditEntry] = []
        self._written = 0

    def write(self, event: Event, misdating: Optional[str] = None) -> AuditEntry:
        """Log one entry (published at the event's time, which may lie before entries already logged)."""
        entry = self._mint(event, misdating)
        if not self.entries or entry.id > self.entries[-1].id:
            self.entries.append(entry)
        else:
            bisect.insort(self.entries, entry, key=lambda e: e.id)
        return entry

    def write_all(self, events: Iterable[Event], misdated: int = 0, misdating: str = "") -> List[AuditEntry]:
        """Log many entries at once (a burst of tens of thousands costs one merge, not one insertion each); the
        first ``misdated`` of them misdated as ``misdating`` says."""
        minted = [self._mint(event, misdating if n < misdated else None) for n, event in enumerate(events)]
        self.entries.extend(minted)
        self.entries.sort(key=lambda e: e.id)
        return minted

    def live(self, now_ms: int) -> List[AuditEntry]:
        """The entries stored and not expired at ``now_ms``, oldest id first."""
        return [entry for entry in self.entries if entry.stored_ms <= now_ms < entry.expires_ms]

    def _mint(self, event: Event, misdating: Optional[str] = None) -> AuditEntry:
        verb, object_type, object_id, published_ms, changes = event
        n = self._written
        self._written += 1
        lag = mix32(self.seed, ID_SALT, n) % (self.lag_ms + 1)
        created_ms = published_ms - lag
        stored_ms = published_ms
        if self.ids == "insertion":  # stored later, within the publish lag of its createdAt
            stored_ms += mix32(self.seed, INSERT_SALT, n) % (self.lag_ms - lag + 1)
        entry_id = f"{stored_ms // 1000:08x}{n:016x}"
        if misdating:
            moved, shift = MISDATINGS[misdating]
            published_ms += shift if moved == "publishedAt" else 0
            created_ms += shift if moved == "createdAt" else 0
        expires_ms = created_ms + retention_days(object_type, verb) * DAY_MS
        record = {
            "type": "audit_log",
            "id": entry_id,
            "attributes": {
                "eventName": f"kustomer.{object_type}.{verb}",
                "eventVerb": verb,
                "org": self.org_id,
                "userId": None,
                "userType": "system",
                "objectId": object_id,
                "objectType": object_type,
                "client": "kustomer-simulator",
                "ip": None,
                "changes": changes or {},
                "createdAt": iso_ms(created_ms),
                "publishedAt": iso_ms(published_ms),
                "expiresAt": iso_ms(expires_ms),
            },
            "relationships": {"user": relationship("user", None)},
        }
        return AuditEntry(entry_id, published_ms, created_ms, expires_ms, stored_ms, object_type, record)
