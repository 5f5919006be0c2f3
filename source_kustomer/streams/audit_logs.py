"""audit_logs: every change Kustomer logged, incremental by createdAt.

The log is read a week at a time, oldest week first (each week newest first, as Kustomer answers; see
audit_log.py for how a week is asked for and verified). A week keeps the entries placed in ``(start, end]``, so
consecutive weeks share no entry, and the state moves to the end of each week once it was read in full: it never
points at an entry id (entries expire, a state must outlive them). The last week ends the publish lag allowed
for (``audit_publish_lag_seconds``; or the search lag, if longer) before now, so every entry created before it
has been published when it is read. Kustomer keeps some kinds of entries 90 days and the rest 12 months; a
state older than that is warned about, naming what may be gone. The first sync asks for everything older than
the log's retention in one window.
"""

from datetime import datetime, timedelta
from typing import Any, Iterable, List, Mapping, MutableMapping, Optional

from airbyte_cdk.models import SyncMode
from kustomer_http import timestamps
from kustomer_http.connection import AccessRefused, KustomerConnection
from kustomer_http.pages import list_error
from kustomer_http.timestamps import instant, kustomer_time, parse_timestamp

from source_kustomer.audit_log import (
    AUDIT_ROLES,
    LONG_RETENTION,
    SHORT_LIVED,
    SHORT_RETENTION,
    AuditPageBudget,
    AuditReader,
    AuditRefused,
    AuditRejected,
)
from source_kustomer.streams.base import KustomerStream, flatten
from source_kustomer.streams.search import search_state

CURSOR = "createdAt"
WEEK = timedelta(days=7)
MAX_AUDIT_PAGES = 10_000  # per sync: 10 million entries


def week_windows(since: datetime, until: datetime, now: datetime) -> List[Mapping[str, str]]:
    """The windows a sync reads: everything before the retention at once, then one per week, up to ``until``."""
    windows, start = [], since
    oldest_kept = now - LONG_RETENTION - WEEK
    if start < oldest_kept < until:
        windows.append((start, oldest_kept))
        start = oldest_kept
    while start < until:
        end = min(start + WEEK, until)
        windows.append((start, end))
        start = end
    return [{"since": kustomer_time(low), "until": kustomer_time(high)} for low, high in windows]


def retention_warning(what: str, since: datetime, now: datetime) -> Optional[str]:
    """What may have expired from the log since ``since`` (None when nothing can have)."""
    if since < now - LONG_RETENTION:
        return (
            f"{what} continues from {kustomer_time(since)}, more than a year ago: Kustomer keeps audit-log entries "
            f"at most 12 months, so entries from before {kustomer_time(now - LONG_RETENTION)} may be gone."
        )
    if since < now - SHORT_RETENTION:
        return (
            f"{what} continues from {kustomer_time(since)}, more than 90 days ago: Kustomer keeps {SHORT_LIVED} "
            f"90 days, so those from before {kustomer_time(now - SHORT_RETENTION)} may be gone."
        )
    return None


class AuditLogsStream(KustomerStream):
    """The audit log, week by week; state: every entry placed at or before it has been emitted."""

    cursor_field = CURSOR

    def __init__(self, connection: KustomerConnection) -> None:
        self._cursor: Optional[str] = None
        self._first_low: Optional[str] = None  # a full read includes entries placed exactly at its start
        super().__init__(connection)
        self._reader = AuditReader(
            self.client, self.progress.page, AuditPageBudget(MAX_AUDIT_PAGES), self.config.audit_publish_lag
        )

    @property
    def name(self) -> str:
        return "audit_logs"

    @property
    def state(self) -> MutableMapping[str, Any]:
        return {CURSOR: self._cursor} if self._cursor else {}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._cursor, _ = search_state(self.name, value, timestamps.utc_now(), CURSOR)

    def parts(self) -> List[Mapping[str, Any]]:
        """The weeks this sync reads."""
        now = timestamps.utc_now()
        incremental = self.sync_mode == SyncMode.incremental and self._cursor
        since = parse_timestamp(self._cursor, CURSOR) if incremental else self.config.start_date
        self._first_low = None if incremental else kustomer_time(since)
        warning = retention_warning("Stream 'audit_logs'", since, now) if incremental else None
        if warning:
            self.logger.warning(warning)
        until = now - max(self.config.search_lag, self.config.audit_publish_lag)
        windows = week_windows(since, until, now)
        return [dict(window, last=n == len(windows) - 1) for n, window in enumerate(windows)] or [{"last": True}]

    def read_part(self, part: Mapping[str, Any]) -> Iterable[Any]:
        """The entries of one window; the cursor moves to its end once all are out."""
        if part.get("since"):
            try:
                yield from self._window(part["since"], part["until"])
            except AuditRefused as refused:
                raise AccessRefused(refused.status, f"{refused}; the audit log needs {AUDIT_ROLES}") from None
            except AuditRejected as rejected:
                raise list_error(f"Kustomer rejected a request for the audit log ({rejected})") from None
        if part.get("last"):
            self._warn_about_entries()

    def _window(self, since: str, until: str) -> Iterable[Mapping[str, Any]]:
        low = instant(since) - (1 if since == self._first_low else 0)  # type: ignore[operator]
        for entry in self._reader.window(low, instant(until)):  # type: ignore[arg-type]
            self.progress.records += 1
            yield flatten(entry.resource)
        self._cursor = until
        yield self.checkpoint()

    def _warn_about_entries(self) -> None:
        reader = self._reader
        if reader.fallback_reason:
            self.logger.info(
                f"Stream 'audit_logs': Kustomer refused 'after' with 'before' ({reader.fallback_reason}); the log was "
                "paged as its published links are, with 'before' alone."
            )
        for warning in reader.report.warnings("Stream 'audit_logs'", self.config.audit_publish_lag):
            self.logger.warning(warning)
