"""One entry of Kustomer's audit log, and when it happened.

An entry is placed in time by its ``createdAt``, else its ``publishedAt``, else the second its id encodes (entry ids
are Mongo ObjectIds: their first four bytes are a second at or after the entry was published). Its own times must
agree with one another within ``CLOCK_TOLERANCE``; an entry whose times contradict each other cannot be placed, and
the reader (``audit_log.py``) reports and skips it.
"""

import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from kustomer_http.timestamps import instant

ID_SECOND = 1_000_000
CLOCK_TOLERANCE = 1_000_000  # how far an entry's times may disagree with each other before they contradict
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")  # a Mongo ObjectId, as Kustomer's ids are


def second_of_id(entry_id: str) -> Optional[int]:
    """The second (microseconds) an ObjectId-shaped entry id encodes."""
    return int(entry_id[:8], 16) * ID_SECOND if OBJECT_ID.match(entry_id) else None


def object_id_at(micros: int) -> str:
    """The lowest ObjectId of the second ``micros`` falls in: a cursor for ``after``/``before``."""
    return f"{max(0, micros // ID_SECOND):08x}" + "0" * 16


@dataclass(frozen=True)
class AuditEntry:
    """One entry as Kustomer sent it, and when it happened."""

    resource: Mapping[str, Any]
    id: str
    attributes: Mapping[str, Any]
    placed: int  # microseconds: createdAt, else publishedAt, else the id's second
    created: Optional[int]  # microseconds: createdAt, else None
    published: Optional[int]  # microseconds: publishedAt, else None
    id_second: Optional[int]
    dated_by: str  # createdAt | publishedAt | id

    @property
    def object_type(self) -> Any:
        """The entry's objectType."""
        return self.attributes.get("objectType")

    @property
    def verb(self) -> Any:
        """The entry's eventVerb."""
        return self.attributes.get("eventVerb")

    @property
    def object_id(self) -> Any:
        """The entry's objectId."""
        return self.attributes.get("objectId")

    def publish_lag(self) -> Optional[float]:
        """Seconds from createdAt to when the entry was published or stored (its id's second), when known."""
        if self.created is None:
            return None
        later = [moment for moment in (self.published, self.id_second) if moment is not None]
        return (max(later) - self.created) / 1e6 if later else None

    def contradiction(self) -> Optional[str]:
        """What the entry's own times say against each other, or None when they agree."""
        if self.created is not None and self.published is not None and self.created > self.published + CLOCK_TOLERANCE:
            return "createdAt after publishedAt"
        if self.id_second is not None:
            latest = self.id_second + ID_SECOND + CLOCK_TOLERANCE
            for name, moment in (("publishedAt", self.published), ("createdAt", self.created)):
                if moment is not None and moment >= latest:
                    return f"{name} after the second its id was minted"
        return None

    def dated_between(self, start: int, end: int) -> bool:
        """Whether either of the entry's dates lies in ``[start, end]`` (or it has none to check)."""
        dates = [moment for moment in (self.created, self.published) if moment is not None]
        return not dates or any(start <= moment <= end for moment in dates)


def parse_entry(resource: Any) -> Optional[AuditEntry]:
    """An entry of a page, or None when it has no id or no way to be placed in time."""
    if not isinstance(resource, Mapping) or not isinstance(resource.get("attributes"), Mapping):
        return None
    entry_id, attributes = resource.get("id"), resource["attributes"]
    if not isinstance(entry_id, str) or not entry_id:
        return None
    created, published = instant(attributes.get("createdAt")), instant(attributes.get("publishedAt"))
    id_second = second_of_id(entry_id.lower())
    if created is not None:
        placed, dated_by = created, "createdAt"
    elif published is not None:
        placed, dated_by = published, "publishedAt"
    elif id_second is not None:
        placed, dated_by = id_second, "id"
    else:
        return None
    return AuditEntry(resource, entry_id, attributes, placed, created, published, id_second, dated_by)
