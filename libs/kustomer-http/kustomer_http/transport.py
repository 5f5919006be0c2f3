"""The one HTTP transport of a sync: it refuses any URL off the configured origin and bounds every response.

``guarded_session`` builds the requests session every stream and helper sends through. Its adapter is the
single choke point: just before a request leaves, the URL is checked against the origin (a refused request is
never sent, so the key cannot leave); the whole exchange -- connect, headers and body -- must finish within one
deadline (a watchdog closes the socket of a server that trickles bytes); and the body is read in chunks and
abandoned past a size limit counted after decompression (an endless body or a gzip bomb cannot exhaust memory).
Memory running out while a body is read or parsed is one clear error (``OutOfMemory``), never a retry.
"""

import heapq
import io
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Tuple

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.call_rate import AbstractAPIBudget, LimiterSession
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.origin import Origin
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import NewConnectionError

CHUNK_BYTES = 64 * 1024
POOL_CONNECTIONS = 20


class RefusedDestination(requests.exceptions.RequestException):
    """The request was not sent: its URL is not on the configured Kustomer origin."""


class ResponseTooLarge(requests.exceptions.RequestException):
    """The response body grew past the limit (counted after decompression); it was abandoned."""


class DeadlineExceeded(requests.exceptions.Timeout):
    """The server did not finish its response within the request deadline."""


class OutOfMemory(AirbyteTracedException, MemoryError):
    """The connector ran out of memory reading or parsing a response: said as such, and not retried (another
    attempt would need as much)."""

    def __init__(self, body_bytes: Optional[int] = None) -> None:
        size = f" of {body_bytes:,} bytes" if body_bytes is not None else ""
        message = (
            f"The connector ran out of memory holding a response{size} from Kustomer, and stopped. Give it more "
            "memory; for the source, a lower 'page_size' or 'max_concurrent_streams' makes it hold smaller or fewer "
            "pages at once."
        )
        super().__init__(message=message, internal_message=message, failure_type=FailureType.system_error)


class SendLimitReached(Exception):
    """The command has sent as many requests as it may (``Limits.max_sends``); nothing more is sent."""


@dataclass(frozen=True)
class Limits:
    """What one request may cost -- wall-clock seconds for the whole exchange, body bytes after decompression --
    and, when set, how many requests (every attempt, retries included) the whole command may send."""

    deadline_seconds: float
    max_response_bytes: int
    max_sends: Optional[int] = None


_current = threading.local()


class _Deadlines:
    """One daemon thread that fires every watchdog whose deadline has passed (a thread per request would cost
    more than the request)."""

    def __init__(self) -> None:
        self._due: List[Tuple[float, int, "_Watchdog"]] = []
        self._wake = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self._serial = 0

    def add(self, watchdog: "_Watchdog") -> None:
        with self._wake:
            self._serial += 1
            heapq.heappush(self._due, (watchdog.deadline, self._serial, watchdog))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="request-deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, watchdog = heapq.heappop(self._due)
            watchdog.fire()


_DEADLINES = _Deadlines()


class _Watchdog:
    """Shuts down the socket of the request in flight when its deadline passes (a blocked read then returns)."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.fired = False
        self._lock = threading.Lock()
        self._connection: Optional[HTTPConnection] = None
        self._done = False

    def __enter__(self) -> "_Watchdog":
        self._outer = getattr(_current, "watchdog", None)
        _current.watchdog = self
        _DEADLINES.add(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            self._done = True
        _current.watchdog = self._outer

    def attach(self, connection: HTTPConnection) -> None:
        """The connection now carrying this request (called from the connection itself)."""
        with self._lock:
            self._connection = connection
            if self.fired:
                _shut(connection)

    def fire(self) -> None:
        """The deadline has passed: shut the socket, unless the request is done."""
        with self._lock:
            if self._done:
                return
            self.fired = True
            if self._connection is not None:
                _shut(self._connection)


def _shut(connection: HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's method, also under TLS
        except OSError:
            pass


class _Watched:
    """Mixin for urllib3 connections: registers itself with the watchdog of the request it is about to carry."""

    def connect(self) -> None:
        watchdog = getattr(_current, "watchdog", None)
        if watchdog is not None:
            watchdog.attach(self)  # type: ignore[arg-type]
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kwargs: Any) -> None:
        watchdog = getattr(_current, "watchdog", None)
        if watchdog is not None:
            watchdog.attach(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """Sends only to the origin, within the deadline, reading at most ``max_response_bytes`` of body."""

    def __init__(self, origin: Origin, limits: Limits) -> None:
        self._origin = origin
        self._limits = limits
        self._lock = threading.Lock()
        self.sends = 0
        super().__init__(pool_connections=POOL_CONNECTIONS, pool_maxsize=POOL_CONNECTIONS, max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager

    def send(self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any) -> requests.Response:
        """Check the destination, then send and read the whole body within the limits."""
        if not self._origin.admits(request.url or ""):
            raise RefusedDestination(
                f"A request was not sent because its URL is not on {self._origin.url}; the API key goes nowhere else.",
                request=request,
            )
        with self._lock:
            if self._limits.max_sends is not None and self.sends >= self._limits.max_sends:
                raise SendLimitReached(f"the limit of {self._limits.max_sends} requests is reached")
            self.sends += 1
        with _Watchdog(self._limits.deadline_seconds) as watchdog:
            try:
                response = super().send(request, stream=True, **kwargs)
                body = io.BytesIO()  # its value is taken without a copy: the body is held once, not twice
                for chunk in self._bounded_body(response, watchdog):
                    body.write(chunk)
            except requests.exceptions.RequestException as error:
                if watchdog.fired:
                    raise self._late(request) from error
                raise
            except MemoryError as error:
                raise OutOfMemory() from error
            if watchdog.fired:  # a body without Content-Length just ends when the socket is shut
                raise self._late(request)
        response._content = body.getvalue()  # what requests itself does once a body has been read
        response._content_consumed = True
        return response

    def _bounded_body(self, response: requests.Response, watchdog: _Watchdog) -> Iterator[bytes]:
        size = 0
        for chunk in response.iter_content(CHUNK_BYTES):
            size += len(chunk)
            if size > self._limits.max_response_bytes:
                response.close()
                limit_mb = self._limits.max_response_bytes / 2**20
                raise ResponseTooLarge(
                    f"The response grew past {limit_mb:.0f} MiB (after decompression) and was abandoned.",
                    request=response.request,
                )
            if time.monotonic() > watchdog.deadline:
                response.close()
                raise self._late(response.request)
            yield chunk

    def _late(self, request: Any) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"The server did not finish its response within {self._limits.deadline_seconds:g} seconds.",
            request=request,
        )


def never_left(error: BaseException) -> bool:
    """Whether a failed request is known not to have reached the server: the guard refused it, or no connection was
    made (refused, a name that does not resolve, a connect timeout). Any other failure -- a timeout while waiting
    for the answer, a connection dropped after the request went out -- may come after the server acted on it."""
    if isinstance(error, (RefusedDestination, requests.exceptions.ConnectTimeout)):
        return True
    if isinstance(error, requests.exceptions.ConnectionError):
        cause = error.args[0] if error.args else None
        return isinstance(getattr(cause, "reason", cause), NewConnectionError)  # requests wraps urllib3's MaxRetryError
    return False


def sends_of(session: requests.Session) -> int:
    """How many requests a session from ``guarded_session`` has sent."""
    adapter = session.get_adapter("https://")
    return adapter.sends if isinstance(adapter, GuardedAdapter) else 0


def guarded_session(
    origin: Origin, limits: Limits, budget: AbstractAPIBudget, auth: AuthBase, user_agent: str
) -> requests.Session:
    """The session every request of a sync goes through: the origin guard, the limits, the budget and the key."""
    session = LimiterSession(api_budget=budget)
    adapter = GuardedAdapter(origin, limits)
    session.mount("https://", adapter)
    session.mount("http://", adapter)  # ignore-https-check: the origin guard admits http for loopback only
    # Every request goes to one origin, so what the environment says (proxies, no_proxy, a CA bundle) is read once
    # here instead of on every request; and no .netrc may replace the key.
    settings = session.merge_environment_settings(origin.url, {}, None, None, None)
    session.trust_env = False
    session.proxies, session.verify = settings["proxies"], settings["verify"]
    session.auth = auth
    session.headers.update({"Accept": "application/json", "User-Agent": user_agent})
    return session
