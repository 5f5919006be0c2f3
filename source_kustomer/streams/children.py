"""What every child stream shares: records read one request per parent record (an SLA's versions, a schedule's
holidays, a conversation's events), each sync within a stated number of requests.

``RequestBudget`` counts a child stream's requests in one sync (its parents' own list or search pages aside, which
their readers bound); ``BudgetedClient`` spends one of them on every GET. When the budget is spent the stream saves
its position and stops with one ``BoundReached`` error naming the bound; the next sync continues from that position.
"""

import threading
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

import requests
from airbyte_cdk.models import FailureType
from kustomer_http.connection import AccessRefused, KustomerClient

from source_kustomer.streams.base import BoundReached

MAX_CHILD_REQUESTS = 100_000  # requests one child stream may send in one sync (~2 h of an 800-a-minute share)


class BudgetSpent(Exception):
    """The stream's requests for this sync are spent; nothing more is sent."""


class RequestBudget:
    """At most ``limit`` requests, shared by the threads of one stream (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self) -> None:
        """Spend one request; ``BudgetSpent`` when none is left."""
        with self._lock:
            if self.used >= self.limit:
                raise BudgetSpent()
            self.used += 1

    @property
    def spent(self) -> bool:
        """Whether every request is used."""
        with self._lock:
            return self.used >= self.limit

    def reached(self, stream: str, what: str, position: Optional[str]) -> BoundReached:
        """The one error of a stream that spent its budget: what it read, where the next sync continues."""
        if position:
            continues = f"Its position is saved: the next sync continues from {position}."
        else:
            continues = "It had saved no position yet: the next sync starts it from the beginning."
        message = (
            f"Stream '{stream}' sent the {self.limit:,} requests one sync may spend on it ({what}) and stopped. "
            + continues
        )
        return BoundReached(message=message, internal_message=message, failure_type=FailureType.transient_error)


class BudgetedClient:
    """A client whose every GET spends one request of a ``RequestBudget`` first (links resolve as the client's)."""

    def __init__(self, client: KustomerClient, budget: RequestBudget) -> None:
        self.client = client
        self.budget = budget

    def get(self, url: str, params: Optional[Mapping[str, Any]] = None) -> requests.Response:
        """GET an absolute URL, if the budget allows."""
        self.budget.take()
        return self.client.get(url, params)

    def refusal(self, response: requests.Response) -> Optional[AccessRefused]:
        """The access refusal a response means (see ``KustomerClient.refusal``)."""
        return self.client.refusal(response)

    def link_url(self, link: Any) -> str:
        """The absolute URL of a link (see ``KustomerClient.link_url``)."""
        return self.client.link_url(link)


def identified(record: Any) -> Optional[str]:
    """A record's id: its ``id``, else the last segment of its ``links.self`` (Kustomer's published list of a
    conversation's attachments carries the id there only); None when it has neither."""
    if not isinstance(record, Mapping):
        return None
    if isinstance(record.get("id"), str) and record["id"]:
        return record["id"]
    links = record.get("links")
    own = links.get("self") if isinstance(links, Mapping) else None
    if isinstance(own, str):
        last = urlsplit(own).path.rstrip("/").rsplit("/", 1)[-1]
        return last or None
    return None
