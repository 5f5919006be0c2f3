"""The one place that decides when to send and how long to wait.

* ``KustomerAPIBudget``: two CDK moving-window budgets -- searches (a search counts against both) and the
  connector's share of the org-wide budget, sized from the first ``x-ratelimit-limit`` Kustomer sends --
  plus a pause when a response says a budget is spent.
* ``KustomerBackoffStrategy``: how long to wait before a retry (Retry-After, x-ratelimit-reset as epoch *or*
  seconds, exponential otherwise), capped so a bad header cannot stall a sync.
"""

import logging
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Dict, Iterator, List, Optional, Union

import requests
from airbyte_cdk.sources.streams.call_rate import (
    AbstractAPIBudget,
    AbstractCallRatePolicy,
    APIBudget,
    CallRateLimitHit,
    HttpRequestRegexMatcher,
    MovingWindowCallRatePolicy,
    Rate,
)
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy

# Standard and archive search share Kustomer's 100-per-minute search budget: the one test of "is a search", used
# both to pick the budgets a request counts against and by the search budget's own policy.
SEARCHES = HttpRequestRegexMatcher(method="POST", url_path_pattern=r"/v1/customers(/archive)?/search$")
EPOCH_THRESHOLD = 1_000_000_000  # larger reset values are epoch seconds, smaller ones seconds-to-wait
ASSUMED_ORG_LIMIT = 300  # the smallest plan's per-minute budget, used when Kustomer does not say

logger = logging.getLogger("airbyte")


def _number(value: Optional[str]) -> Optional[float]:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def seconds_until_reset(headers: Any, now: Optional[float] = None) -> Optional[float]:
    """Seconds until the budget resets, from x-ratelimit-reset (epoch or seconds-to-wait); None if unknown."""
    value = _number(headers.get("x-ratelimit-reset"))
    if value is None:
        return None
    now = time.time() if now is None else now
    return value - now if value >= EPOCH_THRESHOLD else value


def retry_after_seconds(headers: Any, now: Optional[float] = None) -> Optional[float]:
    """Retry-After as seconds (it may be a number of seconds or an HTTP date); None if absent or garbage."""
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - (time.time() if now is None else now)


@dataclass
class RateStats:
    """What rate limiting cost one client's requests (a stream's, or a destination's): pauses before sending, 429s
    received and retries.

    ``waits`` counts the requests that paused. ``wait_seconds`` is the wall time during which at least one of them
    was pausing -- the union of their pauses, not their sum: requests of one client may pause side by side, and
    that time is counted once, so it never exceeds the time the client was sending."""

    waits: int = 0
    throttled_429: int = 0
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _paused_seconds: float = field(default=0.0, init=False, repr=False)  # the pauses that have ended, as a union
    _pausing: int = field(default=0, init=False, repr=False)  # requests pausing now
    _pausing_since: float = field(default=0.0, init=False, repr=False)  # since when at least one is

    @contextmanager
    def pausing(self) -> Iterator[None]:
        """While the block runs, one of the client's requests is pausing before it is sent."""
        with self.lock:
            self.waits += 1
            if self._pausing == 0:
                self._pausing_since = time.monotonic()
            self._pausing += 1
        try:
            yield
        finally:
            with self.lock:
                self._pausing -= 1
                if self._pausing == 0:
                    self._paused_seconds += time.monotonic() - self._pausing_since

    @property
    def wait_seconds(self) -> float:
        """Seconds during which at least one request was pausing (a pause under way counted up to now)."""
        with self.lock:
            ongoing = time.monotonic() - self._pausing_since if self._pausing else 0.0
            return self._paused_seconds + ongoing


_on_behalf_of = threading.local()  # the stats of the client whose request this thread is sending


@contextmanager
def waits_counted_in(stats: RateStats) -> Iterator[None]:
    """While the block runs, this thread's pauses before sending are counted in ``stats``: the budget is shared by
    streams read at the same time, so only this attribution says which stream waited."""
    outer = getattr(_on_behalf_of, "stats", None)
    _on_behalf_of.stats = stats
    try:
        yield
    finally:
        _on_behalf_of.stats = outer


def _without_room(budgets: List[APIBudget], request: Any) -> List[APIBudget]:
    """Take the call from each budget in turn while it has room; the budgets left (the first without room and
    those after it) are the ones the request must wait for."""
    for taken, budget in enumerate(budgets):
        try:
            budget.acquire_call(request, block=False)
        except CallRateLimitHit:
            return budgets[taken:]
    return []


def _window_budget(limit: int, window: timedelta, matcher: HttpRequestRegexMatcher) -> APIBudget:
    return APIBudget(
        policies=[MovingWindowCallRatePolicy(rates=[Rate(limit=limit, interval=window)], matchers=[matcher])]
    )


class KustomerAPIBudget(AbstractAPIBudget):
    """Keeps searches under their budget and every call under the org share; shared by all streams of a sync."""

    def __init__(self, search_per_window: int, utilization_percent: int, window: timedelta) -> None:
        self.window_seconds = window.total_seconds()
        self._window = window
        self._utilization_percent = utilization_percent
        self._search = _window_budget(search_per_window, window, SEARCHES)
        self._org: Optional[APIBudget] = None  # sized from the first response that states the org's limit
        self.org_limit: Optional[int] = None
        self._paused_until: Dict[str, float] = {"search": 0.0, "org": 0.0}
        self._unsized: List[Any] = []  # requests sent before the org budget was sized: counted once it is

    def size_org_budget(self, org_limit: int) -> None:
        """Spend at most the configured share of the org's per-minute budget, the requests already sent included."""
        self.org_limit = org_limit
        share = max(1, org_limit * self._utilization_percent // 100)
        self._org = _window_budget(share, self._window, HttpRequestRegexMatcher())
        for request in self._unsized[:share]:
            self._org.acquire_call(request, block=False)
        self._unsized = []

    def get_matching_policy(self, request: Any) -> Optional[AbstractCallRatePolicy]:
        """The tightest policy that applies to ``request``."""
        budget = self._search if SEARCHES(request) else self._org
        return budget.get_matching_policy(request) if budget else None

    def acquire_call(self, request: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Wait until every budget the request counts against has room; a request that has to wait is counted
        in the stats of the client sending it (``waits_counted_in``)."""
        searching = SEARCHES(request)
        budgets = [budget for budget in (self._search if searching else None, self._org) if budget is not None]
        if self._org is None:
            self._unsized.append(request)
        pause = max(self._paused_until[k] for k in (("search", "org") if searching else ("org",))) - time.time()
        full = budgets if pause > 0 else _without_room(budgets, request)
        if pause <= 0 and not full:
            return
        own = getattr(_on_behalf_of, "stats", None)
        with own.pausing() if own is not None else nullcontext():
            if pause > 0:
                time.sleep(pause)
            for budget in full:
                budget.acquire_call(request, block=block, timeout=timeout)

    def update_from_response(self, request: Any, response: Any) -> None:
        """Learn the org's limit once; when a response says its budget is spent, pause it until the reset."""
        if not isinstance(response, requests.Response):
            return
        searching = SEARCHES(request)
        if self._org is None and not searching:
            limit = _number(response.headers.get("x-ratelimit-limit"))
            if limit is None or limit < 1:
                logger.info(
                    f"Kustomer did not state the org's rate limit; assuming {ASSUMED_ORG_LIMIT} requests/minute."
                )
            self.size_org_budget(int(limit) if limit and limit >= 1 else ASSUMED_ORG_LIMIT)
        if response.status_code == 429:
            return
        remaining = _number(response.headers.get("x-ratelimit-remaining"))
        if remaining is None or remaining > 0:
            return
        wait = seconds_until_reset(response.headers)
        wait = self.window_seconds if wait is None else min(max(wait, 0.0), self.window_seconds)
        self._paused_until["search" if searching else "org"] = time.time() + wait


class KustomerBackoffStrategy(BackoffStrategy):
    """Waits for 429s from the server's hints and backs off exponentially on other transient errors."""

    def __init__(self, window_seconds: float) -> None:
        self._window = window_seconds
        self._base = window_seconds / 60.0  # one second per real minute; scales with a shrunk window

    def backoff_time(
        self,
        response_or_exception: Optional[Union[requests.Response, requests.RequestException]],
        attempt_count: int,
    ) -> Optional[float]:
        """Seconds to wait before the next attempt (the CDK adds one second of its own)."""
        exponential = min(self._window, self._base * 2 ** max(0, attempt_count - 1))
        if not isinstance(response_or_exception, requests.Response) or response_or_exception.status_code != 429:
            return exponential
        headers = response_or_exception.headers
        hinted = retry_after_seconds(headers)
        if hinted is None:
            hinted = seconds_until_reset(headers)
        if hinted is None:
            return exponential
        if hinted > self._window:
            logger.info(
                f"Kustomer asked to wait {hinted:.0f}s; waiting at most one rate-limit window ({self._window:.0f}s)."
            )
        return min(max(hinted, self._base / 10), self._window)
