"""The simulator: an org served over HTTP, with the settings of everything around the data (keys, budgets, every
switch the evidence leaves open), its fault plan, budgets and stats.

A request is answered by ``http_handler`` (through the route table of ``kustomer_simulator.routes``).
"""

import sys
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Tuple

from kustomer_simulator.faults import FaultPlan
from kustomer_simulator.http_handler import handler_for
from kustomer_simulator.org import Org
from kustomer_simulator.ratelimit import Budgets
from kustomer_simulator.request_stats import RequestStats
from kustomer_simulator.search_limits import SearchLimits
from kustomer_simulator.writes import WriteSettings

# The key the simulator accepts when none is given (simulator.config.json and the README use it). As long as any
# key the connectors accept (40 characters or more), and no secret.
DEFAULT_TOKEN = "sim-token-not-a-secret-7Kq2Vx9Lm4Pz8Rb3Tn6"


@dataclass
class ServerSettings:
    """Behaviour of the simulated API around the data; every field the evidence leaves open is a switch, and its
    default is the strict reading (the one that hurts a careless client most)."""

    tokens: Mapping[str, FrozenSet[str]] = field(default_factory=lambda: {DEFAULT_TOKEN: frozenset()})  # denied
    grants: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)  # tokens defined by the roles they hold
    token_roles: str = "umbrella"  # umbrella | listed: what the token record lists (kustomer_simulator.roles)
    org_per_minute: int = 1000
    search_per_minute: int = 100
    minute_seconds: float = 60.0
    reset_mode: str = "epoch"  # epoch | seconds | absent
    retry_after: bool = True
    list_over_max: str = "clamp"  # clamp | error
    missing_role_status: int = 403  # 403 | 401: Kustomer's docs say both
    audit_bounds: str = "inclusive"  # inclusive | exclusive: whether filter[start]/filter[end] match their own instant
    audit_date_field: str = "publishedAt"  # publishedAt | createdAt: the time filter[start]/filter[end] compare
    audit_next_links: str = "bare"  # bare (count and before/after only, as published) | filtered (filters copied)
    audit_include: str = "toplevel"  # toplevel | honoured | ignored: how filter[include] adds object types
    audit_paging: str = "both"  # both | either | alone: which of before/after a request may carry
    work_session_defaults: str = "true"  # "true" | "false": what an absent user= / active= on work sessions means
    users_default: str = "active"  # active | all: what GET /v1/users lists without deleted=
    disabled_klass_objects: str = "served"  # served | refused (403): a disabled klass's custom objects
    merges_listed_for: str = "source"  # source | both: the merges GET /v1/customers/{id}/merges lists
    merged_lookup: int = 200  # 200 | 404: GET /v1/customers/{id} of a customer merged away
    attachment_ids: str = "absent"  # absent | listed: whether a conversation's attachments carry their id
    search: SearchLimits = field(default_factory=SearchLimits)
    writes: WriteSettings = field(default_factory=WriteSettings)


class _QuietServer(ThreadingHTTPServer):
    """A threading server that does not print tracebacks when a client hangs up (timeouts, resets)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class Simulator:
    """An org plus the server that serves it. Use as a context manager or call start()/stop()."""

    def __init__(self, org: Org, settings: Optional[ServerSettings] = None, host: str = "127.0.0.1", port: int = 0):
        self.org = org
        self.settings = settings or ServerSettings()
        self.budgets = Budgets(
            self.settings.org_per_minute, self.settings.search_per_minute, self.settings.minute_seconds
        )
        self.faults = FaultPlan()
        self.stats = RequestStats()
        self.expired_tokens: set = set()
        self.mutate_during: Optional[Dict[str, Any]] = None
        self.search_log: List[Dict[str, Any]] = []  # every search body and page, for tests that check requests
        self._server = _QuietServer((host, port), handler_for(self))
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        """The base URL: plain HTTP to the address and port the server listens on."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"  # ignore-https-check: the simulator serves plain HTTP on loopback

    def start(self) -> "Simulator":
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="kustomer-simulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def wrap_socket(self, wrap: Any) -> None:
        """Replace the listening socket by ``wrap(socket)`` (TLS for the benchmark's side-by-side run)."""
        self._server.socket = wrap(self._server.socket)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def set_rate_limits(self, org_per_minute: int, search_per_minute: int, minute_seconds: float) -> None:
        """Replace the budgets (counts start afresh)."""
        self.budgets = Budgets(org_per_minute, search_per_minute, minute_seconds)

    def after_request(self) -> None:
        """Apply background mutation ("records updated while a sync runs")."""
        plan = self.mutate_during
        if not plan:
            return
        plan["seen"] = plan.get("seen", 0) + 1
        if plan["seen"] % max(1, int(plan.get("every", 1))) == 0:
            for stream in plan.get("streams", self.org.search_streams):
                self.org.mutate(stream, int(plan.get("count", 1)))

    def knows(self, token: str) -> bool:
        """Whether ``token`` is a key of this org that has not expired."""
        settings = self.settings
        return (token in settings.tokens or token in settings.grants) and token not in self.expired_tokens
