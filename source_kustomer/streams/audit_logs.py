"""audit_logs: every change Kustomer logged, incremental by createdAt.

The log is read a week at a time (oldest week first; within a week newest first, as Kustomer answers), and the
state moves to the end of each week once that week was read in full, so it never points at an entry id -- entries
expire about a year after they are written, and a state must outlive them. Whether Kustomer's date filters
include their bounds is not documented, so each week is asked from one millisecond before its start; an entry
found in two weeks there is emitted once. The first sync asks for everything before the log's retention in one window.
"""

from datetime import datetime, timedelta
from typing import Any, Iterable, List, Mapping, MutableMapping, Optional, Set

from airbyte_cdk.models import SyncMode
from kustomer_http import timestamps
from kustomer_http.connection import AccessRefused
from kustomer_http.timestamps import instant, kustomer_time, parse_timestamp

from source_kustomer.audit_log import AUDIT_ROLES, OVERLAP_MICROS, AuditRefused, audit_entries
from source_kustomer.streams.base import KustomerStream, flatten
from source_kustomer.streams.search import search_state

CURSOR = "createdAt"
WEEK = timedelta(days=7)
RETENTION = timedelta(days=365)  # the documented entry's expiresAt is a year after its createdAt


def week_windows(since: datetime, until: datetime, now: datetime) -> List[Mapping[str, str]]:
    """The windows a sync reads: everything before the retention at once, then one per week, up to ``until``."""
    windows, start = [], since
    oldest_kept = now - RETENTION - WEEK
    if start < oldest_kept < until:
        windows.append((start, oldest_kept))
        start = oldest_kept
    while start < until:
        end = min(start + WEEK, until)
        windows.append((start, end))
        start = end
    return [{"since": kustomer_time(low), "until": kustomer_time(high)} for low, high in windows]


class AuditLogsStream(KustomerStream):
    """The audit log, week by week; state: every entry created at or before it has been emitted."""

    cursor_field = CURSOR

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._cursor: Optional[str] = None
        self._boundary: Set[str] = set()  # ids of entries at the end of the last window read (shared millisecond)
        super().__init__(*args, **kwargs)

    @property
    def name(self) -> str:
        return "audit_logs"

    def path(self, **kwargs: Any) -> str:
        return "audit-logs"

    @property
    def state(self) -> MutableMapping[str, Any]:
        return {CURSOR: self._cursor} if self._cursor else {}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._cursor, _ = search_state(self.name, value, timestamps.utc_now(), CURSOR)

    def stream_slices(
        self, *, sync_mode: SyncMode, cursor_field: Optional[List[str]] = None, stream_state: Any = None
    ) -> Iterable[Optional[Mapping[str, Any]]]:
        now = timestamps.utc_now()
        incremental = sync_mode == SyncMode.incremental and self._cursor
        since = parse_timestamp(self._cursor, CURSOR) if incremental else self.config.start_date
        if incremental and since < now - RETENTION:
            self.logger.warning(
                f"Stream 'audit_logs' was last synced up to {self._cursor}, more than a year ago: Kustomer deletes "
                "audit-log entries about a year after writing them, so entries from before "
                f"{kustomer_time(now - RETENTION)} may be gone and cannot be synced."
            )
        windows = week_windows(since, now - self.config.search_lag, now)
        return [dict(window, last=n == len(windows) - 1) for n, window in enumerate(windows)] or [{"last": True}]

    def read_slice(self, sync_mode: SyncMode, stream_slice: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        """The entries of one window; the cursor moves to its end once all are out."""
        if stream_slice.get("since"):
            try:
                yield from self._window(stream_slice["since"], stream_slice["until"])
            except AuditRefused as refused:
                raise AccessRefused(403, f"{refused}; the audit log needs {AUDIT_ROLES}") from None

    def _window(self, since: str, until: str) -> Iterable[Mapping[str, Any]]:
        boundary, at_end = self._boundary, set()
        for entry in audit_entries(self.client, since, until, self.progress.page):
            record = flatten(entry)
            if not isinstance(record.get("id"), str) or not record["id"]:
                self.report_malformed(record, "it has no id")
                continue
            moment = instant(record[CURSOR])
            if moment is None or (moment <= instant(since) and record["id"] in boundary):  # type: ignore[operator]
                continue  # read at the end of the previous window
            if moment >= instant(until) - OVERLAP_MICROS:  # type: ignore[operator]
                at_end.add(record["id"])
            self.progress.records += 1
            yield record
        self._boundary = at_end
        self._cursor = until
