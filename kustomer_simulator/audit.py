"""The audit log's entries: ids minted when an entry is published, ``createdAt`` a little earlier, retention by kind.

Kustomer's published example of ``GET /v1/audit-logs`` has ``createdAt`` 22:57:01.074Z, ``publishedAt``
22:57:08.387Z and an id (a Mongo ObjectId) whose 4-byte time is 22:57:08: ids are minted at publish time and the
log pages in id order. So here every entry is published when it is logged, its ``createdAt`` lags that by a
deterministic pseudo-random amount up to the publish lag, and its id is 8 hex digits of the publish second followed
by 16 that grow with log order: ids sort by publish second and, within one second, by log order (not by millisecond).
"""

import bisect
from dataclasses import dataclass
from typing import Iterable, List, Mapping, Optional, Tuple

from kustomer_simulator.collection import mix32
from kustomer_simulator.shapes import relationship
from kustomer_simulator.timefmt import DAY_MS, iso_ms

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
    object_type: str
    record: dict


class AuditLog:
    """Every entry ever written, sorted by id (publish second, then log order). Not thread-safe: the org locks."""

    def __init__(self, org_id: str, seed: int, publish_lag_seconds: float) -> None:
        self.org_id = org_id
        self.seed = seed
        self.lag_ms = int(publish_lag_seconds * 1000)
        self.entries: List[AuditEntry] = []
        self._written = 0

    def write(self, event: Event) -> AuditEntry:
        """Log one entry (published at the event's time, which may lie before entries already logged)."""
        entry = self._mint(event)
        if not self.entries or entry.id > self.entries[-1].id:
            self.entries.append(entry)
        else:
            bisect.insort(self.entries, entry, key=lambda e: e.id)
        return entry

    def write_all(self, events: Iterable[Event]) -> List[AuditEntry]:
        """Log many entries at once (a burst of tens of thousands costs one merge, not one insertion each)."""
        minted = [self._mint(event) for event in events]
        self.entries.extend(minted)
        self.entries.sort(key=lambda e: e.id)
        return minted

    def live(self, now_ms: int) -> List[AuditEntry]:
        """The entries that have not expired at ``now_ms``, oldest id first."""
        return [entry for entry in self.entries if entry.expires_ms > now_ms]

    def _mint(self, event: Event) -> AuditEntry:
        verb, object_type, object_id, published_ms, changes = event
        n = self._written
        self._written += 1
        created_ms = published_ms - mix32(self.seed, 0xA0D17, n) % (self.lag_ms + 1)
        expires_ms = created_ms + retention_days(object_type, verb) * DAY_MS
        entry_id = f"{published_ms // 1000:08x}{n:016x}"
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
        return AuditEntry(entry_id, published_ms, created_ms, expires_ms, object_type, record)
