"""One HTTP request to the simulator: authentication, faults, budgets, dispatch through the route table, masking.

Kustomer's routes themselves are declared in ``kustomer_simulator.routes``; faults are acted out by
``fault_replies``; ``/__admin/`` requests go to ``admin``.
"""

from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Mapping, Optional
from urllib.parse import parse_qs, urlsplit

from kustomer_simulator.admin import admin_reply
from kustomer_simulator.fault_replies import act_out
from kustomer_simulator.faults import spoil
from kustomer_simulator.masking import masked
from kustomer_simulator.routes import resolve
from kustomer_simulator.routes.base import ApiError, Request, error_body
from kustomer_simulator.search_criteria import SearchError

if TYPE_CHECKING:
    from kustomer_simulator.server import Simulator


class SimulatorHandler(BaseHTTPRequestHandler):
    """Answers requests for ``sim`` (set on the subclass ``handler_for`` makes)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "kustomer-simulator"
    sim: "Simulator"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def token(self) -> str:
        """The API key the request carries (empty when none)."""
        return (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()

    def count_reply(self, status: int, is_search: bool = False, records: int = 0) -> None:
        """Count the request in the stats, answered with ``status``."""
        route = f"{self.command} {urlsplit(self.path).path}"
        self.sim.stats.count(status, is_search, records, self.headers.get("User-Agent") or "", route)

    def send_reply(
        self,
        status: int,
        body: bytes,
        headers: Optional[Mapping[str, str]] = None,
        is_search: bool = False,
        records: int = 0,
        content_type: str = "application/json",
    ) -> None:
        """Send a whole answer and count it."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.count_reply(status, is_search, records)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        sim = self.sim
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body = self._read_body()
        if path.startswith("/__admin/"):
            self.send_reply(*admin_reply(sim, method, path, query, body))
            return
        route, params, other_method = resolve(method, path)
        is_search = route is not None and route.search
        token = self.token()
        if not sim.knows(token):
            self.send_reply(401, error_body(401, "unauthorized", "Unauthorized", "invalid or expired API key"))
            return
        fault = sim.faults.take(path, is_search)
        if fault and act_out(self, fault, is_search):
            return
        verdict = sim.budgets.spend(is_search)
        rl_headers = verdict.headers(sim.settings.reset_mode, sim.settings.retry_after)
        if not verdict.allowed:
            self.send_reply(
                429,
                error_body(429, "too_many_requests", "Too Many Requests", "rate limit exceeded"),
                rl_headers,
                is_search,
            )
            return
        headers = dict(rl_headers)
        try:
            if route is None:
                if other_method:
                    raise ApiError(405, "method_not_allowed", "Method Not Allowed", path)
                raise ApiError(404, "not_found", "Not Found", path)
            request = Request(sim, method, path, query, body, token, params)
            if route.resource:
                request.require(route.resource)
            status, payload, records = route.handler(request)
        except ApiError as exc:
            status, payload, records = exc.reply()
            headers.update(exc.headers)
        except SearchError as exc:
            status, payload, records = 400, error_body(400, "bad_request", "Bad Request", str(exc)), 0
        if status < 300 and sim.settings.writes.sensitive_values == "masked":
            payload = masked(payload)
        if fault and status == 200:
            payload = spoil(fault, payload, self.path, token)
        self.send_reply(status, payload, headers, is_search, records)
        sim.after_request()


def handler_for(sim: "Simulator") -> type:
    """The handler class of a server serving ``sim``."""
    return type("Handler", (SimulatorHandler,), {"sim": sim})
