"""Every request a Kustomer connector makes, through one guarded session per command.

``KustomerConnection`` is what a command (check, discover, read, write, probe) shares: the validated settings,
the origin, the rate budget and the guarded session. Each stream (and each helper) asks it for a
``KustomerClient`` of its own -- the CDK's public ``HttpClient`` with Kustomer's error handling and backoff,
so retries and counters are per stream while the budget, the origin guard and the limits are shared.
"""

import logging
import threading
from datetime import timedelta
from typing import Any, Callable, List, Mapping, Optional, Sequence

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.http_client import HttpClient
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http import retry_logs
from kustomer_http.errors import config_error
from kustomer_http.origin import Origin, UnsafeUrl
from kustomer_http.rate_policy import KustomerAPIBudget, KustomerBackoffStrategy, RateStats, waits_counted_in
from kustomer_http.responses import (
    AUTH_MESSAGE,
    MAX_RETRIES,
    KustomerErrorHandler,
    Unanswered,
    error_detail,
    refused,
)
from kustomer_http.settings import ConnectionSettings
from kustomer_http.transport import Limits, guarded_session, sends_of

MAX_RESPONSE_BYTES = 64 * 2**20
SEARCH_PATH = "customers/search"
ARCHIVE_SEARCH_PATH = "customers/archive/search"
TOKEN_PATH = "auth/tokens/current"  # the key's own record: any valid key may read it


def listed_roles(body: Any) -> Optional[List[str]]:
    """The roles a ``GET /v1/auth/tokens/current`` answer lists for the key (``data.attributes.roles``), or None
    when it lists none."""
    data = body.get("data") if isinstance(body, Mapping) else None
    attributes = data.get("attributes") if isinstance(data, Mapping) else None
    roles = attributes.get("roles") if isinstance(attributes, Mapping) else None
    return [role for role in roles if isinstance(role, str)] if isinstance(roles, list) else None


class OutcomeUnknown(Exception):
    """A request sent only once failed after it may have reached Kustomer: whether it took effect is unknown.
    ``answered``: Kustomer answered (with an error: it is done with the request), or not (it may still be at it);
    ``status``: its answer's status, when it answered."""

    def __init__(self, unanswered: Unanswered) -> None:
        super().__init__(unanswered.reason)
        self.reason = unanswered.reason
        self.answered = unanswered.answered
        self.status = unanswered.status


class AccessRefused(Exception):
    """Kustomer refused this key access to a resource (a missing role); ``reason`` quotes Kustomer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


STOPPED = "stopped because another part of the command failed"  # how a SyncStopped's internal message starts


class SyncStopped(AirbyteTracedException):
    """Another part of the same command failed; this one stops before sending anything more."""


def is_stop(internal_message: Optional[str]) -> bool:
    """Whether an error's internal message is that of a ``SyncStopped`` (a consequence, not a cause)."""
    return bool(internal_message) and internal_message.startswith(STOPPED)  # type: ignore[union-attr]


def open_connection(
    raw: Mapping[str, Any],
    parse: Callable[[Mapping[str, Any]], ConnectionSettings],
    user_agent: str,
    logger: Optional[logging.Logger] = None,
) -> "KustomerConnection":
    """Validate a raw config with the connector's ``parse`` (a config_error names the bad field; reading the key
    registered it for masking, before any other field was checked), and open the command's session."""
    return KustomerConnection(parse(raw), user_agent, logger)


class KustomerConnection:
    """The settings, origin, budget and guarded session one command shares.

    ``stop`` ends the command for everyone sharing it: once one stream fails, the others send nothing more
    (their next request raises ``SyncStopped`` naming the first failure), so a broken key or an outage costs
    one clear error and no burnt budget.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        user_agent: str,
        logger: Optional[logging.Logger] = None,
        max_sends: Optional[int] = None,
    ) -> None:
        self.config = settings
        self.logger = logger or logging.getLogger("airbyte")
        retry_logs.install((*retry_logs.CDK_LOGGERS, self.logger.name))
        self.origin: Origin = settings.origin
        self.budget = KustomerAPIBudget(
            search_per_window=settings.search_requests_per_minute,
            utilization_percent=settings.api_utilization_percent,
            window=timedelta(seconds=settings.rate_limit_window_seconds),
        )
        limits = Limits(
            deadline_seconds=settings.request_timeout_seconds,
            max_response_bytes=MAX_RESPONSE_BYTES,
            max_sends=max_sends,
        )
        self.session = guarded_session(
            self.origin, limits, self.budget, TokenAuthenticator(token=settings.api_token), user_agent
        )
        self._stopped: Optional[str] = None
        self._stop_lock = threading.Lock()

    @property
    def sends(self) -> int:
        """Requests sent so far (every attempt counts, retries included)."""
        return sends_of(self.session)

    def client(
        self,
        name: str,
        stats: Optional[RateStats] = None,
        max_retries: int = MAX_RETRIES,
        refusals: Sequence[int] = (),
        resend: bool = True,
        object_limits: bool = False,
    ) -> "KustomerClient":
        """A client of its own for one stream or helper; ``refusals`` are statuses (beyond 400/401/403/404) it
        gets back as responses instead of retrying, e.g. a writer's 409 and 422. With ``resend`` False (creates) a
        request is sent again only after a 429 or a connection never made; after any other failure ``send`` raises
        ``OutcomeUnknown``. With ``object_limits``, a 429 concerning one object comes back as a response."""
        return KustomerClient(self, name, stats or RateStats(), max_retries, refusals, resend, object_limits)

    def stop(self, reason: str) -> bool:
        """Stop every client of this connection; True for the first call (its reason is kept): the cause."""
        with self._stop_lock:
            first = self._stopped is None
            if first:
                self._stopped = reason
            return first

    def consequence(self, name: str, error: Exception) -> SyncStopped:
        """What ``name`` failing with ``error`` after the command was stopped is: a consequence of the first
        failure (reported as such, not as a second cause)."""
        detail = getattr(error, "message", None) or str(error) or error.__class__.__name__
        message = f"'{name}' also failed, after {self._stopped}: {detail}"
        return SyncStopped(
            message=message, internal_message=f"{STOPPED}: {message}", failure_type=FailureType.transient_error
        )

    def check_running(self, name: str) -> None:
        """Raise ``SyncStopped`` if the command was stopped."""
        if self._stopped is not None:
            message = f"'{name}' stopped without finishing because {self._stopped}; the next sync resumes it."
            raise SyncStopped(
                message=message, internal_message=f"{STOPPED}: {message}", failure_type=FailureType.transient_error
            )

    def close(self) -> None:
        """Release the connections of the session."""
        self.session.close()


class KustomerClient:
    """Requests with retries and backoff; refusals (400/401/403/404/409/422) come back as responses for the caller."""

    def __init__(
        self,
        connection: KustomerConnection,
        name: str,
        stats: RateStats,
        max_retries: int,
        refusals: Sequence[int] = (),
        resend: bool = True,
        object_limits: bool = False,
    ) -> None:
        self.connection = connection
        self.name = name
        self.stats = stats
        window = connection.config.rate_limit_window_seconds
        mapping = {status: refused(status) for status in refusals}
        self._errors = KustomerErrorHandler(
            connection.logger, window, stats, max_retries, mapping, resend, object_limits
        )
        self.http = HttpClient(
            name=name,
            logger=connection.logger,
            error_handler=self._errors,
            session=connection.session,
            backoff_strategy=KustomerBackoffStrategy(window),
            request_timeout=connection.config.request_timeout_seconds,
        )

    def api_url(self, path: str) -> str:
        """The absolute URL of an API path such as ``users`` or ``customers/search``."""
        return f"{self.connection.origin.url}/v1/{path}"

    def link_url(self, link: Any) -> str:
        """The absolute URL of a link Kustomer sent (``/v1/...``); one that leaves the origin stops the stream."""
        try:
            return self.connection.origin.resolve(link)
        except UnsafeUrl as reason:
            message = (
                f"Kustomer sent a link that {reason}; the connector follows links on {self.connection.origin.url} "
                "only, so it stopped here without sending the API key anywhere else."
            )
            raise AirbyteTracedException(
                message=message, internal_message=message, failure_type=FailureType.system_error
            ) from None

    def send(
        self,
        method: str,
        url: str,
        params: Optional[Mapping[str, Any]] = None,
        body: Optional[Any] = None,
    ) -> requests.Response:
        """One request to an absolute URL (from ``api_url`` or ``link_url``), retried as Kustomer's errors say;
        ``OutcomeUnknown`` when a client that does not resend met a failure that may have reached Kustomer."""
        self.connection.check_running(self.name)
        self._errors.take_unanswered()
        with waits_counted_in(self.stats):
            _, response = self.http.send_request(
                http_method=method,
                url=url,
                request_kwargs={"allow_redirects": False},
                params=dict(params or {}),
                json=body,
                dedupe_query_params=True,
            )
        unanswered = self._errors.take_unanswered()
        if unanswered is not None:
            raise OutcomeUnknown(unanswered)
        return response

    def get(self, url: str, params: Optional[Mapping[str, Any]] = None) -> requests.Response:
        """GET an absolute URL."""
        return self.send("GET", url, params)

    def search(self, body: Mapping[str, Any], page: int, page_size: int, archive: bool = False) -> requests.Response:
        """POST one page of a search (standard, or archive for records older than two years)."""
        url = self.api_url(ARCHIVE_SEARCH_PATH if archive else SEARCH_PATH)
        return self.send("POST", url, {"page": page, "pageSize": page_size}, body)

    def refusal(self, response: requests.Response) -> Optional[AccessRefused]:
        """The access refusal a 401/403 means, or None; a 401 for an invalid key stops the sync instead.

        Kustomer's docs disagree on whether a key lacking a role gets 401 or 403. A 401 is therefore checked
        against ``GET /v1/auth/tokens/current``, which any valid key may call: valid key -> a missing role.
        """
        if response.status_code == 403:
            return AccessRefused(403, error_detail(response))
        if response.status_code != 401:
            return None
        if not self.key_is_valid():
            raise config_error(AUTH_MESSAGE)
        return AccessRefused(401, error_detail(response))

    def key_is_valid(self) -> bool:
        """Whether Kustomer accepts the API key at all (its roles aside)."""
        return self.get(self.api_url(TOKEN_PATH)).status_code != 401
