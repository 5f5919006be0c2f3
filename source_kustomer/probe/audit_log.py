"""The probe's questions about the audit log (``GET /v1/audit-logs``): how late are entries published after their
``createdAt``; are ids minted when an entry is published or later, out of publish order; which of ``before`` and
``after`` a request may carry; do ``links.next`` keep the filters; is ``filter[include]`` honoured, and under the
date filter or outside it; which date do ``filter[start]``/``filter[end]`` compare, and do they include their
bounds; which verbs and event names the org logs about customers, and which of them name a merge."""

import math
from collections import Counter
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from kustomer_http.timestamps import instant, kustomer_time, moment_of

from source_kustomer.audit_entry import ID_SECOND, AuditEntry, parse_entry
from source_kustomer.merges import merge_signal
from source_kustomer.probe.answers import document, resources, text
from source_kustomer.probe.budget import REFUSED, Finding, ProbeClient

AUDIT_SAMPLE = 100  # entries of the newest page read
MILLISECOND = 1000  # microseconds
LONG_AGO = ("2000-01-01T00:00:00.000Z", "2000-01-02T00:00:00.000Z")  # a date range no entry of a live org is in
SHOWN = 8  # verbs and event names quoted in a finding


class AuditLogQuestions:
    """Questions asked of the audit log, from its newest page on; every entry read is kept in ``entries``."""

    def __init__(self, client: ProbeClient) -> None:
        self.client = client
        self.newest: Optional[List[AuditEntry]] = None  # the newest page of the audit log, once read
        self.entries: Dict[str, AuditEntry] = {}  # every audit entry read, by id
        self.refused: Optional[str] = None
        self.date_field: Optional[str] = None

    def page(self, params: Mapping[str, Any]) -> Optional[List[AuditEntry]]:
        """The entries of one audit-log page (None when it was not served); every entry read is kept."""
        response = self.client.get("audit-logs", params)
        if response.status_code in (401, 403):
            self.refused = self.client.said(response)
        if not response.ok:
            return None
        entries = [entry for entry in map(parse_entry, resources(response)) if entry is not None]
        self.entries.update((entry.id, entry) for entry in entries)
        return entries

    def _missing(self, question: str) -> Optional[Finding]:
        if self.newest:
            return None
        if self.refused:
            return Finding(question, REFUSED, self.refused)
        why = "the newest page was not read" if self.newest is None else "the newest page held no dated entry"
        return Finding(question, f"not asked: {why}", "GET /v1/audit-logs")

    def publish_lag(self, question: str) -> List[Finding]:
        """The newest page: how much later than ``createdAt`` its entries were published."""
        self.newest = self.page({"count": AUDIT_SAMPLE})
        if self.newest is None:
            return [Finding(question, REFUSED, self.refused) if self.refused else self.client.unknown(question)]
        lags = [lag for lag in (entry.publish_lag() for entry in self.newest) if lag is not None]
        if not lags:
            evidence = f"{self.client.last}: {len(self.newest)} entries, none with both createdAt and publishedAt"
            return [Finding(question, "unknown", evidence)]
        largest = max(lags)
        evidence = f"{self.client.last}: the largest of {len(lags)} entries' lags"
        switch = f"--audit-publish-lag-seconds {max(0, math.ceil(largest))}"
        return [Finding(question, f"up to {largest:.3f} s", evidence, switch)]

    def _types(self) -> List[str]:
        """The object types of the newest page, most frequent first."""
        counts = Counter(e.object_type for e in self.newest or [] if isinstance(e.object_type, str) and e.object_type)
        return [kind for kind, _ in counts.most_common()]

    def next_links(self, question: str) -> List[Finding]:
        """Does a filtered request's ``links.next`` carry its filters?"""
        missing = self._missing(question)
        if missing is not None:
            return [missing]
        kinds = self._types()
        if not kinds:
            return [Finding(question, "not asked: no entry names its objectType", "GET /v1/audit-logs")]
        response = self.client.get("audit-logs", {"count": 1, "filter[objectType]": kinds[0]})
        if not response.ok:
            return [Finding(question, "unknown", self.client.said(response))]
        links = document(response).get("links")
        link = links.get("next") if isinstance(links, Mapping) else None
        if link is None:
            return [Finding(question, "inconclusive", f"{self.client.last}: no links.next")]
        carried = sorted(k for k in parse_qs(urlsplit(text(link, "links.next")).query) if k.startswith("filter["))
        answer = "filtered" if carried else "bare"
        return [Finding(question, answer, f"{self.client.last}: links.next {link}", f"--audit-next-links {answer}")]

    def include(self, question: str) -> List[Finding]:
        """Is ``filter[include]`` OR-ed with ``filter[objectType]``, and under the date filter? Asked with two types
        of the newest page: without dates, then for a day long ago (only an include outside the date filter
        answers that with entries)."""
        missing = self._missing(question)
        if missing is not None:
            return [missing]
        kinds = self._types()
        if len(kinds) < 2:
            return [Finding(question, "not asked: the newest entries are of one objectType", f"types {kinds}")]
        main, extra = kinds[0], kinds[1]
        combined = {"count": AUDIT_SAMPLE, "filter[objectType]": main, "filter[include]": extra}
        entries = self.page(combined)
        if entries is None:
            return [self.client.unknown(question)]
        got = Counter(entry.object_type for entry in entries)
        shown = ", ".join(f"{kind} {n}" for kind, n in got.items()) or "none"
        if set(got) - {main, extra}:
            return [Finding(question, "inconclusive: filter[objectType] not honoured", f"{self.client.last}: {shown}")]
        evidence = f"{self.client.last}: {shown} (the newest page holds {extra} entries)"
        if extra not in got:
            return [Finding(question, "ignored", evidence, "--audit-include ignored")]
        long_ago = self.page({**combined, "filter[start]": LONG_AGO[0], "filter[end]": LONG_AGO[1]})
        if long_ago is None:
            return [self.client.unknown(question)]
        outside = sum(entry.object_type == extra for entry in long_ago)
        answer = "toplevel" if outside else "honoured"
        evidence += f"; {self.client.last}: {outside} {extra} entries for {LONG_AGO[0][:10]}"
        return [Finding(question, answer, evidence, f"--audit-include {answer}")]

    def id_order(self, question: str) -> List[Finding]:
        """Are ids minted when an entry is published (their second is its publishedAt's), or later, when it is
        stored (a later second, and the id order then differs from the publish order)? From the newest page."""
        missing = self._missing(question)
        if missing is not None:
            return [missing]
        timed = [e for e in self.newest or [] if e.id_second is not None and e.published is not None]
        if not timed:
            return [Finding(question, "inconclusive", "no entry with an ObjectId and a publishedAt")]
        later = [e for e in timed if e.id_second >= (e.published // ID_SECOND + 1) * ID_SECOND]  # type: ignore[operator]
        inverted = sum(
            1
            for newer, older in zip(timed, timed[1:], strict=False)
            if older.published - newer.published >= ID_SECOND  # type: ignore[operator]
        )
        evidence = (
            f"{len(later)} of {len(timed)} newest entries have an id minted in a second after their publishedAt; "
            f"{inverted} were published a second or more after the entry before them by id"
        )
        answer = "insertion" if later or inverted else "publish"
        return [Finding(question, answer, evidence, f"--audit-ids {answer}")]

    def paging(self, question: str) -> List[Finding]:
        """Which of ``before`` and ``after`` a request may carry: ``before`` alone (as the published links), and
        both (as the reference's text says each requires the other)."""
        missing = self._missing(question)
        if missing is not None:
            return [missing]
        newest = self.newest or []
        if len(newest) < 2:
            return [Finding(question, "not asked: fewer than two entries read", "GET /v1/audit-logs")]
        top, bottom = newest[0].id, newest[-1].id
        alone = self.client.get("audit-logs", {"count": 1, "before": top})
        evidence = f"{self.client.last}"
        both = self.client.get("audit-logs", {"count": 1, "after": bottom, "before": top})
        evidence += f"; {self.client.last}"
        if not both.ok and not alone.ok:
            return [Finding(question, "inconclusive: both refused", evidence)]
        answer = "either" if both.ok and alone.ok else "both" if both.ok else "alone"
        return [Finding(question, answer, evidence, f"--audit-paging {answer}")]

    def customer_events(self, question: str) -> List[Finding]:
        """The verbs and event names the org logs about customers, and which entries name a merge (in their verb,
        event name or a changed field): the connector looks those up (``source_kustomer.merges``)."""
        entries = self.page({"count": AUDIT_SAMPLE, "filter[objectType]": "customer"})
        if entries is None:
            return [Finding(question, REFUSED, self.refused) if self.refused else self.client.unknown(question)]
        events = Counter((str(e.verb), str(e.attributes.get("eventName"))) for e in entries)
        shown = ", ".join(f"{verb}/{name} {n}" for (verb, name), n in events.most_common(SHOWN)) or "none"
        merges = [e for e in entries if merge_signal(e)]
        evidence = f"{self.client.last}: {len(entries)} entries ({shown}); {len(merges)} name a merge"
        if not merges:
            return [Finding(question, "no entry names a merge", evidence)]
        verbs = Counter(str(e.verb) for e in merges)
        verb = verbs.most_common(1)[0][0]
        switch = f"--merge-audit-verb {verb}" if verb in ("update", "merge") else None
        return [Finding(question, f"merges logged with eventVerb {verb}", evidence, switch)]

    def _entry_where(self, wanted: Callable[[AuditEntry], bool]) -> Optional[Tuple[AuditEntry, Dict[str, str]]]:
        """The newest entry ``wanted`` accepts, and the ``before`` that makes it the first one a request can see."""
        newer: Optional[AuditEntry] = None
        for entry in self.newest or []:
            if wanted(entry):
                return entry, ({"before": newer.id} if newer is not None else {})
            newer = entry
        return None

    def date_field_compared(self, question: str) -> List[Finding]:
        """Which time ``filter[start]``/``filter[end]`` compare: asked for a window holding an entry's
        ``createdAt`` but not its ``publishedAt`` (both strictly inside or outside, so the bounds do not matter)."""
        missing = self._missing(question)
        if missing is not None:
            return [missing]
        found = self._entry_where(lambda entry: (_lag(entry) or 0) >= 2 * MILLISECOND)
        if found is None:
            evidence = f"none of {len(self.newest or [])} entries was published 2 ms or more after its createdAt"
            return [Finding(question, "inconclusive", evidence)]
        entry, before = found
        start = kustomer_time(moment_of(entry.placed - MILLISECOND))  # placed: its createdAt, as it has one
        end = kustomer_time(moment_of(entry.placed + (_lag(entry) or 0) - MILLISECOND))
        listed = self.page({"count": 10, "filter[start]": start, "filter[end]": end, **before})
        if listed is None:
            return [self.client.unknown(question)]
        self.date_field = "createdAt" if entry.id in {e.id for e in listed} else "publishedAt"
        evidence = (
            f"entry {entry.id} (createdAt {entry.attributes['createdAt']}, publishedAt "
            f"{entry.attributes['publishedAt']}) {'returned' if self.date_field == 'createdAt' else 'not returned'} "
            f"for {start}..{end} ({self.client.last})"
        )
        return [Finding(question, self.date_field, evidence, f"--audit-date-field {self.date_field}")]

    def bounds(self, question: str) -> List[Finding]:
        """Do ``filter[start]``/``filter[end]`` match an entry dated exactly at them? Asked at the instant of the
        date field found (without it, at an entry whose two dates are equal)."""
        missing = self._missing(question)
        if missing is not None:
            return [missing]
        field = self.date_field or "createdAt"
        known = self.date_field is not None
        found = self._entry_where(lambda entry: _lag(entry) is not None and (known or _lag(entry) == 0))
        if found is None:
            return [Finding(question, "inconclusive", "the date field is unknown and no entry has equal dates")]
        entry, before = found
        moment = entry.attributes[field]
        listed = self.page({"count": 10, "filter[start]": moment, "filter[end]": moment, **before})
        if listed is None:
            return [self.client.unknown(question)]
        answer = "inclusive" if entry.id in {e.id for e in listed} else "exclusive"
        evidence = f"entry {entry.id} at {field} {moment}, asked for {moment}..{moment} ({self.client.last})"
        return [Finding(question, answer, evidence, f"--audit-bounds {answer}")]


def _lag(entry: AuditEntry) -> Optional[int]:
    """Microseconds from an entry's createdAt to its publishedAt, when it has both."""
    created = instant(entry.attributes.get("createdAt"))
    return entry.published - created if created is not None and entry.published is not None else None
