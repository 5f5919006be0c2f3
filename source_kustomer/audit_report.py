"""What a read of the audit log noticed about it, for one warning per sync instead of one per entry."""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Dict, List

MAX_CONTRADICTORY = 10_000  # entries skipped for contradicting themselves, remembered to count each once


@dataclass
class AuditReport:
    """What was noticed while reading, for one warning per sync instead of one per entry."""

    undated: int = 0  # entries without createdAt and publishedAt, placed by their id
    unplaceable: int = 0  # entries with no id or no date at all: skipped
    late: int = 0  # entries published or stored later after their createdAt than the lag allowed for
    latest_lag: float = 0.0
    contradictory_ids: Dict[str, str] = field(default_factory=dict)  # skipped entries (at most MAX_CONTRADICTORY)
    inverted: int = 0  # entries published a second or more after the entry before them in id order
    unordered_pages: int = 0  # pages whose ids were not newest first
    repeated: int = 0  # entries served again (at or above the id the read continued below): dropped

    @property
    def contradictory(self) -> int:
        """Entries skipped because their own times contradict each other (each counted once, however often read)."""
        return len(self.contradictory_ids)

    def contradicted(self, entry_id: str, why: str) -> None:
        """Note an entry skipped because its times contradict each other."""
        if len(self.contradictory_ids) < MAX_CONTRADICTORY:
            self.contradictory_ids.setdefault(entry_id, why)

    def warnings(self, what: str, allowed_lag: timedelta) -> List[str]:
        """One line for each thing noticed, naming ``what`` was read."""
        lines = []
        if self.contradictory:
            lines.append(
                f"{what}: {self.contradictory} entries were skipped because their own times contradict each other "
                f"(e.g. {'; '.join(f'{i} ({why})' for i, why in list(self.contradictory_ids.items())[:5])}); the "
                "entries around them were read. Please report them "
                "to Kustomer support."
            )
        if self.unplaceable:
            lines.append(f"{what}: {self.unplaceable} entries had no id or no date at all and were skipped.")
        if self.undated:
            lines.append(
                f"{what}: {self.undated} entries had neither createdAt nor publishedAt; each was placed by the time "
                "its id encodes."
            )
        if self.late:
            lines.append(
                f"{what}: {self.late} entries were published more than {allowed_lag.total_seconds():.0f} s after they "
                f"were created (up to {self.latest_lag:.0f} s). An entry that late, created at the very end of a "
                "sync's last week, can be missed: raise 'audit_publish_lag_seconds'."
            )
        if self.inverted or self.unordered_pages or self.repeated:
            lines.append(
                f"{what}: the log's order was not as documented ({self.inverted} entries published a second or more "
                f"after the entry before them by id, {self.unordered_pages} pages not newest id first, "
                f"{self.repeated} entries served twice); every entry was read once all the same."
            )
        return lines
