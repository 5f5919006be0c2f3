"""Kustomer's audit log (``GET /v1/audit-logs``), read between two dates and verified page by page.

The log answers newest first, ``count`` entries a page (at most 1,000), and links each page to the next with
``before=<id of the last entry>``. Entries expire about a year after they are written, so nothing that lasts
between syncs may point at an entry id: readers ask by dates (``filter[start]``, ``filter[end]``) and follow the
``before`` links only within one read. Every entry must lie between the dates asked for and come no later than
the entry before it; a page that breaks this stops the read (its caller then does not move its position).
"""

import time
from datetime import timedelta
from typing import Any, Callable, Iterator, Mapping, Optional

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.connection import KustomerClient
from kustomer_http.responses import error_detail, response_json
from kustomer_http.timestamps import instant, kustomer_time, parse_timestamp

from source_kustomer.link_trail import LinkTrail, linked_pages

AUDIT_PAGE_SIZE = 1000
OVERLAP_MICROS = 1000  # windows are asked for from one millisecond before their start: bounds may be exclusive
AUDIT_ROLES = "org.permission.audit_logs.read (or org.user.audit_logs.read)"


class AuditRefused(Exception):
    """The key may not read the audit log; ``reason`` quotes Kustomer."""


def audit_entries(
    client: KustomerClient,
    since: str,
    until: str,
    on_page: Callable[[float], None],
    object_type: Optional[str] = None,
) -> Iterator[Mapping[str, Any]]:
    """Every entry created from ``since`` to ``until``, newest first, optionally of one object type.

    Whether Kustomer's date filters include their own instant is not documented, so the log is asked from one
    millisecond before ``since`` (callers skip what they already emitted there) and entries exactly at ``until``
    may or may not come back (callers' next window starts there). Yields the JSON:API resources as Kustomer sent
    them (entries that are not objects with attributes are skipped). ``on_page`` is told of every page read.
    Raises AuditRefused when the key may not read the log.
    """
    since = kustomer_time(parse_timestamp(since, "since") - timedelta(microseconds=OVERLAP_MICROS))
    query = f"count={AUDIT_PAGE_SIZE}"
    if object_type:
        query += f"&filter[objectType]={object_type}"
    query += f"&filter[start]={since}&filter[end]={until}"
    low, high = instant(since), instant(until)
    newest: Optional[int] = None
    for response in linked_pages(client, f"/v1/audit-logs?{query}", LinkTrail("audit log")):
        on_page(time.monotonic())
        refusal = client.refusal(response)
        if refusal is not None or response.status_code in (400, 404):
            raise AuditRefused(refusal.reason if refusal else f"HTTP {response.status_code}: {error_detail(response)}")
        for entry in response_json(response).get("data") or []:
            attributes = entry.get("attributes") if isinstance(entry, Mapping) else None
            if not isinstance(attributes, Mapping):
                continue
            moment = instant(attributes.get("createdAt"))
            if moment is None or not low <= moment <= high or (newest is not None and moment > newest):  # type: ignore[operator]
                raise _disordered(object_type or "all", since, until, attributes.get("createdAt"))
            newest = moment
            yield entry


def _disordered(object_type: str, since: str, until: str, seen: Any) -> AirbyteTracedException:
    message = (
        f"Kustomer's audit log answered with an entry dated {seen!r} while asked for {object_type} events from "
        f"{since} to {until}, newest first. What was read from it in this sync is not saved as read; the next sync "
        "asks again."
    )
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
