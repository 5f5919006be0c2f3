"""The probe's shared piece: its requests, counted against ``MAX_REQUESTS`` (every attempt, retries too), and the
guard each question is asked under.

Before a question the guard checks that it fits in what is left, assuming every one of its requests is retried as
often as the client may; a question that does not fit is reported as not asked. A spent budget, a refusal or an
answer of an unexpected shape becomes a finding and the probe goes on. Every value put into a URL is encoded.
"""

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional
from urllib.parse import urlencode

import requests
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.connection import KustomerClient, KustomerConnection
from kustomer_http.responses import error_detail
from kustomer_http.transport import SendLimitReached

from source_kustomer.probe.answers import Unexpected, why

MAX_REQUESTS = 60  # every attempt counts; at most 25 of them are searches (75 with every retry), under 100/min
RETRIES = 2  # how often the probe's client retries one request
SAMPLE = 20  # records per search page asked
LIST_SAMPLE = 100  # records per list page asked
QUERY_SAFE = "[]:"  # readable in the evidence (on the wire urllib3 encodes brackets); '&', '=', ',' etc. encoded
NOT_ASKED = "not asked: the probe's request budget is spent"
REFUSED = "not readable by this key"


class ProbeStopped(Exception):
    """The probe cannot go on (the key is invalid); the message says why."""


@dataclass
class Finding:
    """One answered question, with what it was answered from and the simulator switch it maps to."""

    question: str
    answer: str
    evidence: str
    switch: Optional[str] = None


@dataclass(frozen=True)
class Question:
    """One question: its name, the requests it sends at most (each retried up to ``RETRIES`` times), and how to
    ask it (given its name, for its findings)."""

    name: str
    requests: int
    ask: Callable[[str], List[Finding]]


class ProbeClient:
    """The probe's read-only requests, counted by the connection's transport, and the guard around a question."""

    def __init__(self, connection: KustomerConnection) -> None:
        self.connection = connection
        self.client: KustomerClient = connection.client("probe", max_retries=RETRIES)
        self.spent = False
        self.last = "no request"  # the request in flight or last answered, for the evidence of a failure
        self.headers: Dict[str, Mapping[str, str]] = {}  # the first response's headers: "other" and "search"

    @property
    def remaining(self) -> int:
        """Requests the probe may still send."""
        return MAX_REQUESTS - self.connection.sends

    def affords(self, requests_: int) -> bool:
        """Whether ``requests_`` requests fit in what is left, each retried as often as the client may (once the
        transport refused a request, none do; a question sending nothing always fits)."""
        return requests_ == 0 or (not self.spent and requests_ * (1 + RETRIES) <= self.remaining)

    def ask(self, question: Question) -> List[Finding]:
        """One question, guarded: the budget spent, no answer or an answer of an unexpected shape is a finding."""
        if not self.affords(question.requests):
            need = question.requests * (1 + RETRIES)
            left = f"{max(self.remaining, 0)} of {MAX_REQUESTS} left" if not self.spent else "the transport refused"
            return [Finding(question.name, NOT_ASKED, f"needs up to {need} requests with retries; {left}")]
        try:
            return question.ask(question.name)
        except SendLimitReached:
            self.spent = True
            evidence = f"stopped at {self.last}: the transport refused request {self.connection.sends + 1}"
            return [Finding(question.name, NOT_ASKED, evidence)]
        except AirbyteTracedException as error:
            return [Finding(question.name, "no answer", f"{self.last}: {error.message}")]
        except (Unexpected, LookupError, TypeError, ValueError, AttributeError) as error:
            return [Finding(question.name, f"unexpected answer: {why(error)}", self.last)]

    def get(self, path: str, params: Optional[Mapping[str, Any]] = None) -> requests.Response:
        """GET ``/v1/<path>`` with ``params`` encoded (``path`` segments from the server must be ``segment``-ed)."""
        query = urlencode(params or {}, safe=QUERY_SAFE)
        target = f"{path}?{query}" if query else path
        response = self._sent(f"GET /v1/{target}", lambda: self.client.get(self.client.api_url(target)))
        self.headers.setdefault("other", response.headers)
        return response

    def search(self, body: Mapping[str, Any], page: int = 1, page_size: int = SAMPLE) -> requests.Response:
        """One page of a standard search."""
        asked = f"POST /v1/customers/search?page={page}&pageSize={page_size} ({body.get('queryContext')})"
        response = self._sent(asked, lambda: self.client.search(body, page, page_size))
        if response.ok:
            self.headers.setdefault("search", response.headers)
        return response

    def _sent(self, asked: str, send: Callable[[], requests.Response]) -> requests.Response:
        self.last = asked
        response = send()
        self.last = f"{asked}: HTTP {response.status_code}"
        return response

    def unknown(self, question: str) -> Finding:
        """The answer "unknown", with the last request as its evidence."""
        return Finding(question, "unknown", self.last)

    def said(self, response: requests.Response) -> str:
        """The last request and Kustomer's own words about a refusal."""
        return f"{self.last}: {error_detail(response)}"

    def refused_or_unknown(self, question: str, response: requests.Response) -> Finding:
        """A response that is not a page: the key lacks the role (401/403), or something else went wrong."""
        return Finding(question, REFUSED if response.status_code in (401, 403) else "unknown", self.said(response))
