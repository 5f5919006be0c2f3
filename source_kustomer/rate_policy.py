"""The one place that decides when to send, wait, retry or give up.

* ``KustomerAPIBudget``: two CDK moving-window policies — searches (counted against both) and
  the connector's share of the org-wide budget — plus a pause when a response says a budget
  is spent.
* ``KustomerBackoffStrategy``: how long to wait before a retry (Retry-After, x-ratelimit-reset
  as epoch *or* seconds, exponential otherwise), capped so a bad header cannot stall a sync.
* ``KustomerErrorHandler``: the CDK status handler with Kustomer's mapping, plus retries for
  200 responses whose body is not JSON or is an empty page that claims a next page.
"""

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Dict, Optional, Union

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.call_rate import (
    APIBudget,
    HttpRequestRegexMatcher,
    MovingWindowCallRatePolicy,
    Rate,
)
from airbyte_cdk.sources.streams.http.error_handlers import (
    BackoffStrategy,
    ErrorResolution,
    HttpStatusErrorHandler,
    ResponseAction,
)
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import DEFAULT_ERROR_MAPPING

SEARCH_PATH = r"/v1/customers/search$"
EPOCH_THRESHOLD = 1_000_000_000  # larger reset values are epoch seconds, smaller ones seconds-to-wait
MAX_RETRIES = 8

logger = logging.getLogger("airbyte")


def is_search(request: Any) -> bool:
    """Whether a prepared request is a search (it then counts against the search budget too)."""
    return getattr(request, "method", None) == "POST" and str(getattr(request, "url", "")).split("?")[0].endswith(
        "/v1/customers/search"
    )


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
    """What rate limiting cost a sync: waits before sending and 429s received."""

    waits: int = 0
    wait_seconds: float = 0.0
    throttled_429: int = 0
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_wait(self, seconds: float) -> None:
        """Record one pause before a request."""
        with self.lock:
            self.waits += 1
            self.wait_seconds += seconds


class KustomerAPIBudget(APIBudget):
    """Keeps searches under their budget and every call under the org share; shared by all streams."""

    def __init__(self, search_per_window: int, org_per_window: int, window: timedelta, stats: RateStats) -> None:
        self.window_seconds = window.total_seconds()
        self.stats = stats
        self._search_policy = MovingWindowCallRatePolicy(
            rates=[Rate(limit=search_per_window, interval=window)],
            matchers=[HttpRequestRegexMatcher(method="POST", url_path_pattern=SEARCH_PATH)],
        )
        self._org_policy = MovingWindowCallRatePolicy(
            rates=[Rate(limit=org_per_window, interval=window)], matchers=[HttpRequestRegexMatcher()]
        )
        self._paused_until: Dict[str, float] = {"search": 0.0, "org": 0.0}
        super().__init__(policies=[self._search_policy, self._org_policy])

    def acquire_call(self, request: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Wait until every budget the request counts against has room."""
        started = time.monotonic()
        kinds = ("search", "org") if is_search(request) else ("org",)
        pause = max(self._paused_until[k] for k in kinds) - time.time()
        if pause > 0:
            time.sleep(pause)
        for policy in (self._search_policy, self._org_policy):
            if policy.matches(request):
                self._do_acquire(request=request, policy=policy, block=block, timeout=timeout)
        waited = time.monotonic() - started
        if waited > 0.01:
            self.stats.add_wait(waited)

    def update_from_response(self, request: Any, response: Any) -> None:
        """When a response says its budget is spent, pause that budget until the reset it names."""
        if not isinstance(response, requests.Response) or response.status_code == 429:
            return
        remaining = _number(response.headers.get("x-ratelimit-remaining"))
        if remaining is None or remaining > 0:
            return
        wait = seconds_until_reset(response.headers)
        wait = self.window_seconds if wait is None else min(max(wait, 0.0), self.window_seconds)
        self._paused_until["search" if is_search(request) else "org"] = time.time() + wait


class KustomerBackoffStrategy(BackoffStrategy):
    """Waits for 429s from the server's hints and backs off exponentially on other transient errors."""

    def __init__(self, window_seconds: float, stats: RateStats) -> None:
        self._window = window_seconds
        self._base = window_seconds / 60.0  # one second per real minute; scales with a shrunk window
        self._stats = stats

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


def _retry(message: str) -> ErrorResolution:
    return ErrorResolution(
        response_action=ResponseAction.RETRY, failure_type=FailureType.transient_error, error_message=message
    )


AUTH_MESSAGE = (
    "Kustomer rejected the API token (HTTP 401): it is invalid or has expired. Create a new API key in "
    "Kustomer (Settings > Security > API Keys) with the read roles listed in the docs, and update 'api_token'."
)

KUSTOMER_ERROR_MAPPING = {
    **DEFAULT_ERROR_MAPPING,
    requests.exceptions.ConnectionError: _retry("The connection to Kustomer failed; retrying."),
    requests.exceptions.ChunkedEncodingError: _retry("Kustomer's response was cut short; retrying."),
    requests.exceptions.ReadTimeout: _retry("Kustomer did not answer within the request timeout; retrying."),
    requests.exceptions.ConnectTimeout: _retry("Connecting to Kustomer timed out; retrying."),
    requests.exceptions.Timeout: _retry("The request to Kustomer timed out; retrying."),
    401: ErrorResolution(
        response_action=ResponseAction.FAIL, failure_type=FailureType.config_error, error_message=AUTH_MESSAGE
    ),
    403: ErrorResolution(
        response_action=ResponseAction.IGNORE,
        failure_type=FailureType.config_error,
        error_message="Kustomer refused access (HTTP 403): the API key lacks a read role for this resource.",
    ),
    409: _retry("Kustomer reported a conflict (HTTP 409); retrying."),
}


def response_json(response: requests.Response) -> Any:
    """The parsed body, parsed once per response (the error handler may already have done it)."""
    cached = getattr(response, "_kustomer_json", None)
    if cached is None:
        cached = orjson.loads(response.content)
        response._kustomer_json = cached  # type: ignore[attr-defined]
    return cached


class KustomerErrorHandler(HttpStatusErrorHandler):
    """Kustomer's error mapping, and retries for successful-looking responses that are not usable."""

    def __init__(
        self,
        logger: logging.Logger,
        window_seconds: float,
        stats: RateStats,
        max_retries: int = MAX_RETRIES,
        extra_mapping: Optional[Dict[Any, ErrorResolution]] = None,
    ) -> None:
        super().__init__(
            logger=logger,
            error_mapping={**KUSTOMER_ERROR_MAPPING, **(extra_mapping or {})},
            max_retries=max_retries,
            max_time=timedelta(seconds=window_seconds * 20),
        )
        self._stats = stats

    def interpret_response(
        self, response_or_exception: Optional[Union[requests.Response, Exception]] = None
    ) -> ErrorResolution:
        """Map a response or exception to an action; 2xx bodies are checked before they are trusted."""
        resolution = super().interpret_response(response_or_exception)
        if isinstance(response_or_exception, requests.Response) and response_or_exception.ok:
            resolution = self._check_body(response_or_exception) or resolution
        if resolution.response_action == ResponseAction.RATE_LIMITED:
            self._stats.throttled_429 += 1
        elif resolution.response_action == ResponseAction.RETRY:
            self._stats.retries += 1
        return resolution

    @staticmethod
    def _check_body(response: requests.Response) -> Optional[ErrorResolution]:
        try:
            body = response_json(response)
        except orjson.JSONDecodeError:
            return _retry("Kustomer answered 200 with a body that is not JSON; retrying.")
        if isinstance(body, dict) and body.get("data") == [] and (body.get("links") or {}).get("next"):
            return _retry("Kustomer returned an empty page that links to a next page; retrying.")
        return None
