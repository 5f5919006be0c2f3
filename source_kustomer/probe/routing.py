"""The probe's questions about routing: are the work items' and work sessions' time fields sortable and filterable
in search (asked by ``SearchQuestions.sort_and_filter``), and which work sessions are listed without ``user`` and
``active``."""

from dataclasses import dataclass
from typing import List, Optional

import requests

from source_kustomer.probe.answers import related, resources, text
from source_kustomer.probe.budget import LIST_SAMPLE, Finding, ProbeClient
from source_kustomer.probe.search import TimeField

ROUTING_FIELDS = (
    TimeField("work_item", "work_item", "updatedAt", "--routing-search"),
    TimeField("work_session", "work_session", "updatedAt", "--routing-search"),
    TimeField("work_item", "work_item", "createdAt", None),
)


@dataclass(frozen=True)
class Session:
    """What the work-session question reads of one session."""

    id: str
    user: Optional[str]
    ended: bool


class RoutingQuestions:
    """Questions asked of the routing lists."""

    def __init__(self, client: ProbeClient) -> None:
        self.client = client

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
