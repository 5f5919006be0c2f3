"""The probe's questions about routing: how search treats the work items' and work sessions' ``_updated_at``
(filter, sort, and whether their records carry the ``updatedAt`` a filter is checked against), and which work
sessions are listed without ``user`` and ``active``. ``work_item_created_at`` is reported only (through
``SearchQuestions.sort_and_filter``)."""

from dataclasses import dataclass
from typing import List, Optional

import requests
from kustomer_http.timestamps import instant

from source_kustomer.probe.answers import records, related, resources, text
from source_kustomer.probe.budget import LIST_SAMPLE, REFUSED, Finding, ProbeClient
from source_kustomer.probe.search import TimeField

ROUTING_CONTEXTS = ("work_item", "work_session")
REPORTED_FIELDS = (TimeField("work_item", "work_item", "createdAt", None),)
SEARCH_REQUESTS = 3  # page 1 sorted (again unsorted if the sort is refused), then a narrower filter


def routing_search_question(context: str) -> str:
    """The question the probe asks about ``context``'s search."""
    return f"{context}_updated_at: filter, sort and the records' updatedAt"


@dataclass(frozen=True)
class Session:
    """What the work-session question reads of one session."""

    id: str
    user: Optional[str]
    ended: bool


class RoutingQuestions:
    """Questions asked of the routing search and lists; searches reach back to ``since``."""

    def __init__(self, client: ProbeClient, since: str) -> None:
        self.client = client
        self.since = since

    def search_by_updated_at(self, question: str, context: str) -> List[Finding]:
        """How search treats ``<context>_updated_at``: page 1 asked in descending order (unsorted if the sort is
        refused), then a filter past its middle value. The answer names the ``--routing-search`` setting: honoured,
        filter-only, sort-rejected, ignored, rejected, or no-updated-at (records with no updatedAt to check)."""
        name = f"{context}_updated_at"
        window = {name: {"gte": self.since}}
        first = self.client.search({"and": [window], "sort": [{name: "desc"}], "queryContext": context})
        sort_refused = None
        if first.status_code == 400:
            sort_refused = self.client.said(first)
            first = self.client.search({"and": [window], "queryContext": context})
        if first.status_code in (401, 403):
            return [Finding(question, REFUSED, self.client.said(first))]
        if first.status_code == 400:
            return [_settled(question, context, "rejected", f"{sort_refused}; unsorted: {self.client.said(first)}")]
        if not first.ok:
            return [self.client.unknown(question)]
        found = records(first)
        values = [moment for moment in (instant(record.get("updatedAt")) for record in found) if moment is not None]
        if found and not values:
            evidence = f"{self.client.last}: {len(found)} records, none with an updatedAt"
            return [_settled(question, context, "no-updated-at", evidence)]
        if len(set(values)) < 2:
            return [Finding(question, "inconclusive", f"{self.client.last}: {len(set(values))} distinct updatedAt")]
        pivot_value = sorted(values)[len(values) // 2]
        pivot = next(r["updatedAt"] for r in found if instant(r.get("updatedAt")) == pivot_value)
        second = self.client.search({"and": [window, {name: {"gt": pivot}}], "queryContext": context})
        if not second.ok:
            return [self.client.refused_or_unknown(question, second)]
        later = [instant(record.get("updatedAt")) for record in records(second)]
        filtered = all(moment is not None and moment > pivot_value for moment in later)
        ordered = values == sorted(values, reverse=True)
        answer = _routing_answer(filtered, ordered, sort_refused is not None)
        sort = "refused (400)" if sort_refused else f"{'kept' if ordered else 'not kept'} over {len(values)} records"
        evidence = (
            f"sort desc: {sort}; filter gt {pivot}: {'kept' if filtered else 'not kept'} over {len(later)} records "
            f"({self.client.last})"
        )
        return [_settled(question, context, answer, evidence)]

    def work_session_defaults(self, question: str) -> List[Finding]:
        """What work sessions are listed without ``user``/``active``, compared with ``user=false&active=false``."""
        plain = self.client.get("routing/work-sessions", {"page": 1, "pageSize": LIST_SAMPLE})
        if not plain.ok:
            return [self.client.refused_or_unknown(question, plain)]
        default, asked = _sessions(plain), self.client.last
        every_params = {"user": "false", "active": "false", "page": 1, "pageSize": LIST_SAMPLE}
        every = self.client.get("routing/work-sessions", every_params)
        if not every.ok:
            return [Finding(question, "unknown", self.client.said(every))]
        explicit = _sessions(every)
        evidence = f"{asked}: {_described(default)}; {self.client.last}: {_described(explicit)}"
        answer = _session_default(default, explicit)
        if answer is None:
            return [Finding(question, "inconclusive", evidence)]
        return [Finding(question, answer, evidence, f"--work-session-defaults {answer}")]


def _settled(question: str, context: str, answer: str, evidence: str) -> Finding:
    return Finding(question, answer, evidence, f"--routing-search {context}={answer}")


def _routing_answer(filtered: bool, ordered: bool, sort_refused: bool) -> str:
    if not filtered:
        return "ignored"
    if sort_refused:
        return "sort-rejected"
    return "honoured" if ordered else "filter-only"


def _sessions(response: requests.Response) -> List[Session]:
    sessions = []
    for resource in resources(response):
        attributes = resource["attributes"]
        ended = attributes.get("signedOutAt") is not None or attributes.get("active") is False
        sessions.append(Session(text(resource.get("id"), "a session id"), related(resource, "user"), ended))
    return sessions


def _described(sessions: List[Session]) -> str:
    ended = sum(session.ended for session in sessions)
    return f"{len(sessions)} sessions ({ended} ended, {len({s.user for s in sessions})} users)"


def _session_default(default: List[Session], explicit: List[Session]) -> Optional[str]:
    """``false`` when the default list shows ended sessions of several users; ``true`` when it shows neither and
    fewer sessions than ``user=false&active=false``; None when it cannot tell (or the defaults are mixed)."""
    ended = any(session.ended for session in default)
    many = len({session.user for session in default}) > 1
    if ended and many:
        return "false"
    if not ended and not many and len(default) < len(explicit):
        return "true"
    return None
