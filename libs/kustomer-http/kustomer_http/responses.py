"""What a response means: the CDK error handler with Kustomer's mapping, and safe reading of bodies.

Refusals (400, 401, 403, 404) come back to the caller, which knows what was asked and says so; throttling,
5xx, timeouts, cut-off bodies and unusable 200s are retried a bounded number of times; a redirect, a response
past the size limit and a request to another host end the request with one clear error.

A request that must not be sent twice (a create: Kustomer offers no idempotency key) is retried only where the
first attempt is known not to have taken effect -- a 429, a connection never made; after any other failure its
outcome is unknown, and the caller is told so instead (``Unanswered``) to find out what Kustomer did.
"""

import logging
import re
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Dict, Optional, Union

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import (
    ErrorResolution,
    HttpStatusErrorHandler,
    ResponseAction,
)
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import DEFAULT_ERROR_MAPPING
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.rate_policy import RateStats
from kustomer_http.redaction import quotable
from kustomer_http.transport import DeadlineExceeded, OutOfMemory, RefusedDestination, ResponseTooLarge, never_left

MAX_RETRIES = 8
REFUSALS = (400, 401, 403, 404)
DETAIL_CHARS = 300
WITHHELD_DETAIL = "a detail not quoted: it repeated the API key, or held a long opaque value that could be it"
# What one parsed body may cost: a JSON value costs up to ~160 bytes once parsed (a minimal record's), so 64 MiB of
# tiny items would take gigabytes. A page of 500 Kustomer records holds well under 200,000 values; past this many
# the body is refused before it is parsed (peak memory stays under ~300 MB).
MAX_JSON_VALUES = 1_500_000
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'",{[\\')  # all but quotes, escapes and openers
# How orjson words a failed allocation: as a JSONDecodeError (a ValueError), which would read as a body not JSON.
ORJSON_OUT_OF_MEMORY = "Not enough memory"

AUTH_MESSAGE = (
    "Kustomer rejected the API token (HTTP 401): it is invalid or has expired. Create a new API key in "
    "Kustomer (Settings > Security > API Keys) with the roles listed in the connector's docs, and update 'api_token'."
)


def _retry(message: str) -> ErrorResolution:
    return ErrorResolution(
        response_action=ResponseAction.RETRY, failure_type=FailureType.transient_error, error_message=message
    )


def _fail(message: str, failure_type: FailureType = FailureType.system_error) -> ErrorResolution:
    return ErrorResolution(response_action=ResponseAction.FAIL, failure_type=failure_type, error_message=message)


def refused(status: int) -> ErrorResolution:
    """A status handed back to the caller as a response (it knows what was asked and says so)."""
    return ErrorResolution(
        response_action=ResponseAction.IGNORE,
        failure_type=FailureType.config_error,
        error_message=f"Kustomer answered HTTP {status}; the stream decides what that means.",
    )


_UNANSWERED = ErrorResolution(
    response_action=ResponseAction.IGNORE,
    failure_type=FailureType.transient_error,
    error_message="Not sent again: Kustomer may have acted on it; the caller finds out what it did.",
)
_REDIRECT = _fail(
    "Kustomer's API answered with a redirect, which the connector does not follow (the API key must reach the "
    "configured host only). Check 'region', 'organization' or 'api_url'.",
    FailureType.config_error,
)

KUSTOMER_ERROR_MAPPING = {
    **DEFAULT_ERROR_MAPPING,
    requests.exceptions.ConnectionError: _retry("The connection to Kustomer failed; retrying."),
    requests.exceptions.ChunkedEncodingError: _retry("Kustomer's response was cut short; retrying."),
    requests.exceptions.ContentDecodingError: _retry("Kustomer's compressed response could not be decoded; retrying."),
    requests.exceptions.ReadTimeout: _retry("Kustomer did not answer within the request timeout; retrying."),
    requests.exceptions.ConnectTimeout: _retry("Connecting to Kustomer timed out; retrying."),
    requests.exceptions.Timeout: _retry("The request to Kustomer timed out; retrying."),
    DeadlineExceeded: _retry("Kustomer did not finish its response within 'request_timeout_seconds'; retrying."),
    ResponseTooLarge: _fail(
        "Kustomer sent a response larger than the connector accepts (64 MiB after decompression). Lower "
        "'page_size'; if it persists, report it to the connector's maintainers."
    ),
    RefusedDestination: _fail(
        "A request was stopped because its URL pointed away from the configured Kustomer host; the API key was not "
        "sent. Check 'api_url', or reset the connection's state if it was edited by hand."
    ),
    **{status: refused(status) for status in REFUSALS},
    409: _retry("Kustomer reported a conflict (HTTP 409); retrying."),
}


class ResponseTooComplex(AirbyteTracedException, ValueError):
    """A body holding more JSON values than ``MAX_JSON_VALUES``: it was not parsed. Raised where the body is read
    (never from the error handler: the CDK parses the whole body of a response it fails on)."""

    def __init__(self, message: str) -> None:
        super().__init__(message=message, internal_message=message, failure_type=FailureType.system_error)


def _values_at_most(body: bytes) -> int:
    # Every value after the first in a container follows a comma; objects and arrays open with a bracket.
    return body.count(b",") + body.count(b"{") + body.count(b"[") + 1


def _structural_values(body: bytes) -> int:
    """The values of ``body`` counted outside its strings, in memory of the order of its structure only."""
    structure = body.translate(None, _NOT_STRUCTURE)  # what is left: quotes, escapes, commas, opening brackets
    inside = sum(match.end() - match.start() for match in _JSON_STRING.finditer(structure))
    return len(structure) - inside + 1


def check_complexity(body: bytes) -> None:
    """Raise ``ResponseTooComplex`` when ``body`` holds more than ``MAX_JSON_VALUES`` JSON values.

    Every JSON value begins at a byte of its own, so a body no longer than ``MAX_JSON_VALUES`` bytes (any page of
    ordinary records) passes without a look. A longer one is counted: an upper bound taken at C speed first; only
    when it is exceeded is the structure counted again outside strings (whose commas inflate it), so long texts
    never cause a refusal.
    """
    if len(body) <= MAX_JSON_VALUES or _values_at_most(body) <= MAX_JSON_VALUES:
        return
    if _structural_values(body) > MAX_JSON_VALUES:
        raise ResponseTooComplex(
            f"Kustomer sent a body of more than {MAX_JSON_VALUES:,} JSON values ({len(body):,} bytes), far more than "
            "any page holds; it was not read. Please report this to the connector's maintainers."
        )


def response_json(response: requests.Response) -> Any:
    """The parsed body, parsed once per response (the error handler may already have done it); a body too
    complex to parse safely raises ``ResponseTooComplex``, memory running out while it is parsed ``OutOfMemory``."""
    cached = getattr(response, "_kustomer_json", None)
    if cached is None:
        content = response.content
        check_complexity(content)
        cached = _parsed(content)
        response._kustomer_json = cached  # type: ignore[attr-defined]
    return cached


def _parsed(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except MemoryError as error:
        raise OutOfMemory(len(content)) from error
    except orjson.JSONDecodeError as error:
        if str(error).startswith(ORJSON_OUT_OF_MEMORY):
            raise OutOfMemory(len(content)) from error
        raise


def error_detail(response: requests.Response) -> str:
    """Kustomer's own words about a refusal (they name a missing role), shortened; dropped when they could carry
    the API key (``redaction.quotable``)."""
    try:
        errors = response_json(response).get("errors") or []
        first = errors[0] if isinstance(errors, list) and errors else {}
        text = str(first.get("detail") or first.get("message") or first.get("title") or "no detail given")
    except (ValueError, AttributeError, TypeError):
        text = "no detail given"
    if not quotable(text):
        return WITHHELD_DETAIL
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "…"


def unusable_body(response: requests.Response) -> Optional[str]:
    """Why a 2xx body cannot be used as a page (None when it can)."""
    try:
        body = response_json(response)
    except ResponseTooComplex:
        raise
    except orjson.JSONDecodeError:
        return "Kustomer answered 200 with a body that is not JSON; retrying."
    if not isinstance(body, dict):
        return "Kustomer answered 200 with JSON that is not an object; retrying."
    if "data" in body and not isinstance(body["data"], (list, dict)):
        return "Kustomer answered 200 with a 'data' member that is neither a list nor an object; retrying."
    meta = body.get("meta")
    if isinstance(meta, dict) and meta.get("timed_out") is True:
        return "Kustomer's search timed out and returned a partial page (meta.timed_out); retrying."
    if body.get("data") == [] and isinstance(body.get("links"), dict) and body["links"].get("next"):
        return "Kustomer returned an empty page that links to a next page; retrying."
    return None


def object_limited(response: Any) -> bool:
    """Whether a response is a 429 that concerns one object, not the org's budget: its ``x-ratelimit-remaining``
    says the budget still has room (Kustomer limits creates of custom objects per customer and updates per object)."""
    if not isinstance(response, requests.Response) or response.status_code != 429:
        return False
    try:
        return float(response.headers.get("x-ratelimit-remaining", "0")) > 0
    except ValueError:
        return False


@dataclass(frozen=True)
class Unanswered:
    """Why a request sent once may have taken effect: ``reason``, and whether Kustomer ``answered`` (an error or an
    unusable body: it is done with the request) or not (a timeout, a dropped connection: it may still be at it);
    ``status``: the status of Kustomer's answer (a 2xx whose body was unusable took the request on)."""

    reason: str
    answered: bool
    status: Optional[int] = None


class KustomerErrorHandler(HttpStatusErrorHandler):
    """Kustomer's error mapping, and retries for successful-looking responses that are not usable; with ``resend``
    False, no retry after a failure that may have reached Kustomer (``take_unanswered`` says which). With
    ``object_limits``, a 429 that concerns one object (``object_limited``) is handed back to the caller, which waits
    for that object while it writes others."""

    def __init__(
        self,
        logger: logging.Logger,
        window_seconds: float,
        stats: RateStats,
        max_retries: int = MAX_RETRIES,
        extra_mapping: Optional[Dict[Any, ErrorResolution]] = None,
        resend: bool = True,
        object_limits: bool = False,
    ) -> None:
        super().__init__(
            logger=logger,
            error_mapping={**KUSTOMER_ERROR_MAPPING, **(extra_mapping or {})},
            max_retries=max_retries,
            max_time=timedelta(seconds=window_seconds * 20),
        )
        self._stats = stats
        self._resend = resend
        self._object_limits = object_limits
        self._unanswered = threading.local()

    def take_unanswered(self) -> Optional[Unanswered]:
        """The failure after which this thread's last request was not retried (once; None when there was none)."""
        found = getattr(self._unanswered, "last", None)
        self._unanswered.last = None
        return found

    def interpret_response(
        self, response_or_exception: Optional[Union[requests.Response, Exception]] = None
    ) -> ErrorResolution:
        """Map a response or exception to an action; 2xx bodies are checked before they are trusted."""
        if self._object_limits and object_limited(response_or_exception):
            return refused(429)
        resolution = super().interpret_response(response_or_exception)
        if isinstance(response_or_exception, requests.Response) and response_or_exception.ok:
            if 300 <= response_or_exception.status_code < 400:  # requests counts a redirect as "ok"
                resolution = _REDIRECT
            else:
                try:
                    reason = unusable_body(response_or_exception)
                except ResponseTooComplex:
                    return refused(response_or_exception.status_code)  # its reader raises the clear error
                resolution = _retry(reason) if reason else resolution
        if (
            not self._resend
            and resolution.response_action == ResponseAction.RETRY
            and not (isinstance(response_or_exception, BaseException) and never_left(response_or_exception))
        ):
            status = response_or_exception.status_code if isinstance(response_or_exception, requests.Response) else None
            self._unanswered.last = Unanswered(
                resolution.error_message or "the request failed", status is not None, status
            )
            return _UNANSWERED
        if resolution.response_action == ResponseAction.RATE_LIMITED:
            self._stats.throttled_429 += 1
        elif resolution.response_action == ResponseAction.RETRY:
            self._stats.retries += 1
        return resolution
