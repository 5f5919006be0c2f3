"""The HTTP face of the simulator: authentication, faults, budgets, stats, dispatch through the route table, admin.

Kustomer's routes themselves are declared in ``kustomer_simulator.routes``.
"""

import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import orjson

from kustomer_simulator import hostile
from kustomer_simulator.faults import Fault, FaultPlan, spoil
from kustomer_simulator.masking import masked
from kustomer_simulator.org import Org
from kustomer_simulator.ratelimit import Budgets
from kustomer_simulator.routes import resolve
from kustomer_simulator.routes.base import ApiError, Request, error_body
from kustomer_simulator.search import SearchError, SearchLimits
from kustomer_simulator.timefmt import iso_ms, now_ms, parse_iso_ms
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


class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.by_status: Dict[int, int] = {}
        self.search_requests = 0
        self.records_served = 0
        self.user_agents: Dict[str, int] = {}
        self.requests_by_route: Dict[str, int] = {}

    def count(self, status: int, is_search: bool, records: int, user_agent: str = "", route: str = "") -> None:
        with self.lock:
            self.requests += 1
            self.by_status[status] = self.by_status.get(status, 0) + 1
            self.search_requests += int(is_search)
            self.records_served += records
            self.user_agents[user_agent] = self.user_agents.get(user_agent, 0) + 1
            self.requests_by_route[route] = self.requests_by_route.get(route, 0) + 1

    def snapshot(self) -> Dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "search_requests": self.search_requests,
                "records_served": self.records_served,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "user_agents": dict(self.user_agents),
                "requests_by_route": dict(self.requests_by_route),
            }


class Simulator:
    """An org plus the server that serves it. Use as a context manager or call start()/stop()."""

    def __init__(self, org: Org, settings: Optional[ServerSettings] = None, host: str = "127.0.0.1", port: int = 0):
        self.org = org
        self.settings = settings or ServerSettings()
        self.budgets = Budgets(
            self.settings.org_per_minute, self.settings.search_per_minute, self.settings.minute_seconds
        )
        self.faults = FaultPlan()
        self.stats = _Stats()
        self.expired_tokens: set = set()
        self.mutate_during: Optional[Dict[str, Any]] = None
        self.search_log: List[Dict[str, Any]] = []  # every search body and page, for tests that check requests
        self._server = _QuietServer((host, port), _make_handler(self))
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


def _make_handler(sim: Simulator) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = "kustomer-simulator"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return

        # ---- plumbing ---------------------------------------------------------------
        def _count(self, status: int, is_search: bool = False, records: int = 0) -> None:
            route = f"{self.command} {urlsplit(self.path).path}"
            sim.stats.count(status, is_search, records, self.headers.get("User-Agent") or "", route)

        def _send(
            self,
            status: int,
            body: bytes,
            headers: Optional[Mapping[str, str]] = None,
            is_search: bool = False,
            records: int = 0,
            content_type: str = "application/json",
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self._count(status, is_search, records)

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
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/") or "/"
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            body = self._read_body()
            if path.startswith("/__admin/"):
                self._admin(method, path, query, body)
                return
            route, params, other_method = resolve(method, path)
            is_search = route is not None and route.search
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            if not sim.knows(token):
                self._send(401, error_body(401, "unauthorized", "Unauthorized", "invalid or expired API key"))
                return
            fault = sim.faults.take(path, is_search)
            if fault and self._fault(fault, path, is_search):
                return
            verdict = sim.budgets.spend(is_search)
            rl_headers = verdict.headers(sim.settings.reset_mode, sim.settings.retry_after)
            if not verdict.allowed:
                self._send(
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
            self._send(status, payload, headers, is_search, records)
            sim.after_request()

        # ---- faults acted out instead of an answer --------------------------------------
        def _fault(self, fault: Fault, path: str, is_search: bool) -> bool:
            """Act out a fault; True when the response has been dealt with."""
            if fault.kind == "status":
                self._send(
                    fault.status,
                    error_body(fault.status, "server_error", "Server Error", "injected"),
                    is_search=is_search,
                )
            elif fault.kind == "reset":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self._count(0, is_search)
            elif fault.kind == "slow":
                time.sleep(fault.seconds)
                return False
            elif fault.kind == "truncated":
                body = b'{"data": [{"type": "customer", "id": "5c6f'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) + 500))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True
                self._count(200, is_search)
            elif fault.kind == "invalid_json":
                self._send(
                    200, b"<html><body>502 Bad Gateway</body></html>", is_search=is_search, content_type="text/html"
                )
            elif fault.kind == "rate_limit":
                self._rate_limited(fault, is_search)
            elif fault.kind == "unauthorized":
                sim.expired_tokens.update([*sim.settings.tokens, *sim.settings.grants])
                self._send(
                    401,
                    error_body(401, "unauthorized", "Unauthorized", "invalid or expired API key"),
                    is_search=is_search,
                )
            elif fault.kind in ("trickle", "endless", "gzip_bomb", "oversized_page") and not fault.spoils_page:
                self._hostile(fault, is_search)
            elif fault.kind == "redirect":
                self._send(302, b"", {"Location": fault.link}, is_search=is_search)
            elif fault.kind == "echo_auth":
                detail = f"access denied for {self.headers.get('Authorization')}"
                self._send(403, error_body(403, "forbidden", "Forbidden", detail), is_search=is_search)
            elif fault.kind == "echo_key" and fault.variant == "detail":
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
                detail = "access denied for " + " ".join(hostile.key_echoes(token))
                self._send(403, error_body(403, "forbidden", "Forbidden", detail), is_search=is_search)
            else:
                return False
            return True

        def _rate_limited(self, fault: Fault, is_search: bool) -> None:
            now = time.time()
            reset = {
                "normal": str(int(now) + 1),
                "past": str(int(now) - 3600),
                "future": str(int(now) + 86_400 * 365),
                "garbage": "soon-ish",
            }.get(fault.reset)
            headers = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0"}
            if reset is not None:
                headers["x-ratelimit-reset"] = reset
            if fault.retry_after:
                headers["Retry-After"] = "1"
            self._send(429, error_body(429, "too_many_requests", "Too Many Requests", "injected"), headers, is_search)

        def _hostile(self, fault: Fault, is_search: bool) -> None:
            self.close_connection = True
            self._count(200, is_search)
            if fault.kind == "trickle":
                page = b'{"data": [], "links": {"next": null}, "meta": {"page": 1}}'
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(page)
                hostile.trickle(self.connection, head + page, max(fault.seconds, 0.05))
            elif fault.kind in ("endless", "oversized_page"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if fault.kind == "endless":
                    record = orjson.dumps({"type": "customer", "id": "x" * 24, "attributes": {"name": "y" * 4000}})
                    chunks = hostile.endless_records(record)
                else:
                    minimal = fault.variant == "minimal_records"
                    chunks = hostile.oversized_page(minimal, fault.size_mb, iso_ms(now_ms()))
                hostile.stream_chunked(self.wfile.write, chunks)
            else:
                body = hostile.gzip_bomb(fault.size_mb)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

        # ---- admin ------------------------------------------------------------------
        def _admin(self, method: str, path: str, query: Mapping[str, str], body: bytes) -> None:
            try:
                payload = json.loads(body) if body else {}
                result = _admin_action(sim, method, path, query, payload)
            except (KeyError, ValueError, TypeError) as exc:
                self._send(400, orjson.dumps({"error": str(exc)}))
                return
            if result is None:
                self._send(404, orjson.dumps({"error": f"no admin route {method} {path}"}))
                return
            self._send(200, orjson.dumps(result))

    return Handler


def _admin_action(sim: Simulator, method: str, path: str, query: Mapping[str, str], payload: Any) -> Optional[Any]:
    """Admin endpoints used by tests, the demo and the benchmark (no auth, loopback only)."""
    org = sim.org
    if path == "/__admin/truth" and method == "GET":
        since = parse_iso_ms(query["since"]) if query.get("since") else None
        until = parse_iso_ms(query["until"]) if query.get("until") else None
        pairs = org.truth(query["stream"], since, until, query.get("include_deleted") in ("1", "true"))
        return {"stream": query["stream"], "records": [[i, u] for i, u in pairs]}
    if path == "/__admin/streams" and method == "GET":
        return {"search": org.search_streams, "all": sorted(org.collections)}
    if path == "/__admin/faults":
        if method == "DELETE":
            sim.faults.clear()
            sim.expired_tokens.clear()
            return {"cleared": True}
        if method == "POST":
            faults = payload if isinstance(payload, list) else [payload]
            for spec in faults:
                sim.faults.add(Fault(**spec))
            return {"queued": len(faults)}
        if method == "GET":
            return {"fired": dict(sim.faults.fired)}
    if path == "/__admin/mutate" and method == "POST":
        return {"ids": org.mutate(payload["stream"], int(payload.get("count", 1)))}
    if path == "/__admin/delete" and method == "POST":
        hard = {"soft": False, "hard": True}[payload.get("mode", "soft")]
        return {"ids": org.delete(payload["stream"], int(payload.get("count", 1)), hard)}
    if path == "/__admin/merge" and method == "POST":
        return {"merged": [{"source": s, "target": t} for s, t in org.merge(int(payload.get("count", 1)))]}
    if path == "/__admin/audit" and method == "POST":
        first, last = org.audit_burst(
            int(payload.get("count", 1)),
            payload.get("object_type", "customer"),
            payload.get("verb", "update"),
            int(payload.get("per_second", 1)),
            parse_iso_ms(payload["at"]) if payload.get("at") else None,
            int(payload.get("misdated", 0)),
            payload.get("misdating", "published_early"),
        )
        return {"appended": int(payload.get("count", 1)), "first": first, "last": last}
    if path == "/__admin/mutate-during" and method == "POST":
        sim.mutate_during = payload or None
        return {"mutate_during": sim.mutate_during}
    if path == "/__admin/stats":
        if method == "DELETE":
            sim.stats.reset()
            return {"reset": True}
        return sim.stats.snapshot()
    if path == "/__admin/rate-limits" and method == "POST":
        sim.set_rate_limits(
            int(payload.get("org_per_minute", sim.budgets.org_per_minute)),
            int(payload.get("search_per_minute", sim.budgets.search_per_minute)),
            float(payload.get("minute_seconds", sim.budgets.minute_seconds)),
        )
        return {
            "org_per_minute": sim.budgets.org_per_minute,
            "search_per_minute": sim.budgets.search_per_minute,
            "minute_seconds": sim.budgets.minute_seconds,
        }
    return None
