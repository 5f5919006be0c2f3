"""The HTTP face of the simulator: Kustomer's routes, roles, budgets, faults and admin endpoints."""

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
from kustomer_simulator.faults import Fault, FaultPlan
from kustomer_simulator.org import Org
from kustomer_simulator.ratelimit import Budgets
from kustomer_simulator.search import CONTEXTS, SearchError, SearchLimits, past_window, run_search
from kustomer_simulator.timefmt import iso_ms, now_ms, parse_iso_ms

SEARCH_PATHS = {"/v1/customers/search": False, "/v1/customers/archive/search": True}

# Plain lists: GET /v1/{path} -> collection, and the largest pageSize each accepts.
LISTS: Dict[str, Tuple[str, int]] = {
    "/v1/users": ("users", 500),
    "/v1/teams": ("teams", 500),
    "/v1/tags": ("tags", 100),
    "/v1/shortcuts": ("shortcuts", 100),
    "/v1/brands": ("brands", 100),
    "/v1/routing/queues": ("queues", 100),
    "/v1/klasses": ("klasses", 100),
    "/v1/companies": ("companies", 100),
    "/v1/customers": ("customers", 100),
    "/v1/conversations": ("conversations", 100),
    "/v1/satisfaction": ("satisfaction", 100),
    "/v1/slas": ("slas", 100),
    "/v1/schedules": ("business_schedules", 100),
    "/v1/routing/work-sessions": ("work_sessions", 100),
}

# The read role each resource needs (Kustomer accepts a legacy and a permission-set name; one stands for both).
ROLES = {
    "search": "org.user.search.read",
    "users": "org.user.read",
    "teams": "org.permission.team.read",
    "tags": "org.permission.tag.read",
    "shortcuts": "org.permission.shortcut.read",
    "brands": "org.permission.brand.read",
    "queues": "org.permission.queue.read",
    "klasses": "org.admin.klass.read",
    "companies": "org.permission.company.read",
    "customers": "org.permission.customer.read",
    "conversations": "org.permission.conversation.read",
    "messages": "org.permission.message.read",
    "notes": "org.permission.note.read",
    "satisfaction": "org.permission.satisfaction.read",
    "slas": "org.permission.sla.read",
    "business_schedules": "org.permission.schedule.read",
    "metadata": "org.admin.metadata.read",
    "kobjects": "org.user.kobject.read",
    "routing": "org.user.routing.read",
    "work_sessions": "org.user.routing.read",
    "work_items": "org.user.routing.read",
    "audit_logs": "org.permission.audit_logs.read",
}
AUDIT_PAGE_MAX = 1000
# The read role behind each search queryContext (conversation times are read with the conversation role).
CONTEXT_RESOURCES = {
    **CONTEXTS,
    "conversation_time": "conversations",
    "work_session": "routing",
    "work_item": "routing",
}


def _search_resource(context: Any) -> Optional[str]:
    if not isinstance(context, str):
        return None
    if context in CONTEXT_RESOURCES:
        return CONTEXT_RESOURCES[context]
    return "kobjects" if context == "kobject" or context.startswith("kobject_") else None


@dataclass
class ServerSettings:
    """Behaviour of the simulated API around the data; every field the evidence leaves open is a switch."""

    tokens: Mapping[str, FrozenSet[str]] = field(default_factory=lambda: {"sim-token": frozenset()})
    org_per_minute: int = 1000
    search_per_minute: int = 100
    minute_seconds: float = 60.0
    reset_mode: str = "epoch"  # epoch | seconds | absent
    retry_after: bool = True
    list_over_max: str = "clamp"  # clamp | error
    missing_role_status: int = 403  # 403 | 401: Kustomer's docs say both
    audit_bounds: str = "inclusive"  # inclusive | exclusive: whether filter[start]/filter[end] match their own instant
    search: SearchLimits = field(default_factory=SearchLimits)


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
        """Base URL, e.g. http://127.0.0.1:8099."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

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

    def all_roles(self) -> List[str]:
        """Every role the simulator checks."""
        return sorted(set(ROLES.values()))


def _error_body(status: int, code: str, title: str, detail: str) -> bytes:
    return orjson.dumps({"errors": [{"status": status, "code": code, "title": title, "detail": detail}]})


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
            is_search = method == "POST" and path in SEARCH_PATHS
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            if token not in sim.settings.tokens or token in sim.expired_tokens:
                self._send(401, _error_body(401, "unauthorized", "Unauthorized", "invalid or expired API key"))
                return
            fault = sim.faults.take(path, is_search)
            if fault and self._fault(fault, path, is_search):
                return
            verdict = sim.budgets.spend(is_search)
            rl_headers = verdict.headers(sim.settings.reset_mode, sim.settings.retry_after)
            if not verdict.allowed:
                self._send(
                    429,
                    _error_body(429, "too_many_requests", "Too Many Requests", "rate limit exceeded"),
                    rl_headers,
                    is_search,
                )
                return
            try:
                status, payload, records = self._route(method, path, query, body, token)
            except SearchError as exc:
                status, payload, records = 400, _error_body(400, "bad_request", "Bad Request", str(exc)), 0
            if fault and status == 200:
                payload = _spoiled(fault, payload, self.path)
            self._send(status, payload, rl_headers, is_search, records)
            sim.after_request()

        # ---- faults acted out instead of an answer --------------------------------------
        def _fault(self, fault: Fault, path: str, is_search: bool) -> bool:
            """Act out a fault; True when the response has been dealt with."""
            if fault.kind == "status":
                self._send(
                    fault.status,
                    _error_body(fault.status, "server_error", "Server Error", "injected"),
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
                sim.expired_tokens.update(sim.settings.tokens)
                self._send(
                    401,
                    _error_body(401, "unauthorized", "Unauthorized", "invalid or expired API key"),
                    is_search=is_search,
                )
            elif fault.kind in ("trickle", "endless", "gzip_bomb"):
                self._hostile(fault, is_search)
            elif fault.kind == "redirect":
                self._send(302, b"", {"Location": fault.link}, is_search=is_search)
            elif fault.kind == "echo_auth":
                detail = f"access denied for {self.headers.get('Authorization')}"
                self._send(403, _error_body(403, "forbidden", "Forbidden", detail), is_search=is_search)
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
            self._send(429, _error_body(429, "too_many_requests", "Too Many Requests", "injected"), headers, is_search)

        def _hostile(self, fault: Fault, is_search: bool) -> None:
            self.close_connection = True
            self._count(200, is_search)
            if fault.kind == "trickle":
                page = b'{"data": [], "links": {"next": null}, "meta": {"page": 1}}'
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(page)
                hostile.trickle(self.connection, head + page, max(fault.seconds, 0.05))
            elif fault.kind == "endless":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                record = orjson.dumps({"type": "customer", "id": "x" * 24, "attributes": {"name": "y" * 4000}})
                hostile.stream_chunked(self.wfile.write, hostile.endless_records(record))
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

        # ---- routes -----------------------------------------------------------------
        def _denied(self, resource: str, token: str) -> Optional[Tuple[int, bytes, int]]:
            role = ROLES[resource]
            if role in sim.settings.tokens[token]:
                status = sim.settings.missing_role_status
                title = "Forbidden" if status == 403 else "Unauthorized"
                detail = f"this API key lacks the role {role}"
                return status, _error_body(status, title.lower(), title, detail), 0
            return None

        def _route(
            self, method: str, path: str, query: Mapping[str, str], body: bytes, token: str
        ) -> Tuple[int, bytes, int]:
            org = sim.org
            if method == "POST" and path in SEARCH_PATHS:
                return self._search(query, body, token, archive=SEARCH_PATHS[path])
            if method != "GET":
                return 405, _error_body(405, "method_not_allowed", "Method Not Allowed", path), 0
            if path == "/v1/auth/tokens/current":
                return 200, orjson.dumps({"data": self._token_record(token)}), 0
            if path == "/v1/audit-logs":
                return self._audit_logs(query, token)
            if path == "/v1/users/current":
                with org.lock:
                    doc = {"data": org.collections["users"].render(0)}
                return 200, orjson.dumps(doc), 1
            if path.startswith("/v1/metadata/"):
                refusal = self._denied("metadata", token)
                if refusal:
                    return refusal
                meta = org.metadata(path.rsplit("/", 1)[1])
                if meta is None:
                    return 404, _error_body(404, "not_found", "Not Found", path), 0
                return 200, orjson.dumps({"data": meta}), 0
            if path in LISTS:
                name, max_size = LISTS[path]
                return self._list(path, name, max_size, query, token, lambda: org.collections[name].live_indexes())
            single = self._single(path, token)
            if single:
                return single
            child = self._child_list(path)
            if child:
                name, indexes = child
                return self._list(path, name, 100, query, token, indexes)
            return 404, _error_body(404, "not_found", "Not Found", path), 0

        def _audit_logs(self, query: Mapping[str, str], token: str) -> Tuple[int, bytes, int]:
            """GET /v1/audit-logs: newest first, paged by ids (`before`, `after`), filtered by type and dates."""
            refusal = self._denied("audit_logs", token)
            if refusal:
                return refusal
            try:
                count = min(max(int(query.get("count", 100)), 1), AUDIT_PAGE_MAX)
                start = parse_iso_ms(query["filter[start]"]) if query.get("filter[start]") else None
                end = parse_iso_ms(query["filter[end]"]) if query.get("filter[end]") else None
            except (TypeError, ValueError):
                raise SearchError("count must be a number and filter[start]/filter[end] dates") from None
            types = {t for t in [query.get("filter[objectType]"), *query.get("filter[include]", "").split(",")] if t}
            before, after = query.get("before"), query.get("after")

            inclusive = sim.settings.audit_bounds == "inclusive"

            def wanted(entry: Mapping[str, Any]) -> bool:
                attributes = entry["attributes"]
                created = parse_iso_ms(attributes["createdAt"])
                return (
                    (not types or attributes["objectType"] in types)
                    and (start is None or created > start or (inclusive and created == start))
                    and (end is None or created < end or (inclusive and created == end))
                    and (before is None or entry["id"] < before)
                    and (after is None or entry["id"] > after)
                )

            matching = [entry for entry in reversed(sim.org.audit_log()) if wanted(entry)]
            shown = matching[:count]
            filters = "".join(f"&{k}={v}" for k, v in sorted(query.items()) if k.startswith("filter["))
            links = {
                "self": f"/v1/audit-logs?count={count}{filters}" + (f"&before={before}" if before else ""),
                "first": f"/v1/audit-logs?count={count}{filters}",
                "prev": f"/v1/audit-logs?count={count}{filters}&after={shown[0]['id']}" if shown else None,
                "next": f"/v1/audit-logs?count={count}{filters}&before={shown[-1]['id']}"
                if len(matching) > count
                else None,
            }
            body = {"meta": {"count": len(shown), "total": len(matching)}, "links": links, "data": shown}
            return 200, orjson.dumps(body), len(shown)

        def _token_record(self, token: str) -> Dict[str, Any]:
            denied = sim.settings.tokens[token]
            return {
                "type": "auth_token",
                "id": f"{abs(hash(token)) % 16**24:024x}",
                "attributes": {
                    "name": "simulated API key",
                    "roles": [role for role in sim.all_roles() if role not in denied],
                    "lastTokenChars": token[-4:],
                    "lastAccessedAt": iso_ms(now_ms()),
                },
            }

        def _single(self, path: str, token: str) -> Optional[Tuple[int, bytes, int]]:
            """GET /v1/customers/{id}: one customer, or 404 once it was hard-deleted or merged away."""
            bits = path.strip("/").split("/")
            if len(bits) != 3 or bits[:2] != ["v1", "customers"]:
                return None
            refusal = self._denied("customers", token)
            if refusal:
                return refusal
            with sim.org.lock:
                coll = sim.org.collections["customers"]
                i = coll.index_of(bits[2])
                if i is None:
                    return 404, _error_body(404, "not_found", "Not Found", path), 0
                return 200, orjson.dumps({"data": coll.render(i)}), 1

        def _child_list(self, path: str) -> Optional[Tuple[str, Any]]:
            org = sim.org
            bits = path.strip("/").split("/")
            if len(bits) == 3 and bits[:2] == ["v1", "klasses"] and f"kobjects_{bits[2]}" in org.collections:
                name = f"kobjects_{bits[2]}"  # GET /v1/klasses/{name}: that klass's custom objects
                return name, lambda: org.collections[name].live_indexes()
            if len(bits) == 5 and bits[:3] == ["v1", "routing", "conversations"] and bits[4] == "work-items":
                conversation = org.collections["conversations"].index_of(bits[3])
                items = org.collections["work_items"]
                owned = org.work_items_of.get(conversation, []) if conversation is not None else []
                return "work_items", lambda: (i for i in owned if items.exists(i))
            if len(bits) != 4 or bits[0] != "v1":
                return None
            _, parent, parent_id, child = bits
            relation = {("conversations", "messages"): "conversation", ("customers", "notes"): "customer"}.get(
                (parent, child)
            )
            if not relation:
                return None
            coll = org.collections[child]
            owner_exists = org.collections[parent].index_of(parent_id) is not None

            def indexes() -> Any:
                if not owner_exists:
                    return iter(())
                return (
                    i
                    for i in coll.live_indexes()
                    if coll.render(i)["relationships"][relation]["data"]["id"] == parent_id
                )

            return child, indexes

        def _list(
            self, path: str, name: str, max_size: int, query: Mapping[str, str], token: str, indexes: Any
        ) -> Tuple[int, bytes, int]:
            resource = "kobjects" if name.startswith("kobjects_") else name
            refusal = self._denied(resource, token)
            if refusal:
                return refusal
            page, size = _paging(query, default_size=100)
            if size > max_size:
                if sim.settings.list_over_max == "error":
                    return 400, _error_body(400, "bad_request", "Bad Request", f"pageSize must be <= {max_size}"), 0
                size = max_size
            org = sim.org
            with org.lock:
                coll = org.collections[name]
                start = (page - 1) * size
                chosen = []
                more = False
                for n, i in enumerate(indexes()):
                    if n >= start + size:
                        more = True
                        break
                    if n >= start:
                        chosen.append(i)
                data = [coll.render_json(i) for i in chosen]
            links = {
                "self": f"{path}?page={page}&pageSize={size}",
                "first": f"{path}?page=1&pageSize={size}",
                "prev": f"{path}?page={page - 1}&pageSize={size}" if page > 1 else None,
                "next": f"{path}?page={page + 1}&pageSize={size}" if more else None,
            }
            return 200, _page_body(data, links, {"page": page, "pageSize": size}), len(data)

        def _search(self, query: Mapping[str, str], body: bytes, token: str, archive: bool) -> Tuple[int, bytes, int]:
            refusal = self._denied("search", token)
            if refusal:
                return refusal
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                raise SearchError("the body is not JSON") from None
            context = request.get("queryContext") if isinstance(request, dict) else None
            resource = _search_resource(context)
            refusal = self._denied(resource, token) if resource else None
            if refusal:
                return refusal
            page, size = _paging(query, default_size=100)
            limits = sim.settings.search
            sim.search_log.append({"body": request, "page": page, "pageSize": size, "archive": archive})
            if past_window(page, size, limits) and limits.past_window == "error":
                detail = (
                    f"page {page} is past the search result window ({limits.window} results, {limits.max_pages} pages)"
                )
                return 400, _error_body(400, "search_window_exceeded", "Bad Request", detail), 0
            org = sim.org
            with org.lock:
                targets, meta = run_search(org, request, page, size, limits, archive=archive)
                if past_window(page, size, limits):
                    targets = []
                data = [coll.render_json(i) for coll, i in targets]
            size = meta["pageSize"]
            base = "/v1/customers/archive/search" if archive else "/v1/customers/search"
            # Like Kustomer, the last page inside the window still links to the page past it.
            has_next = page < meta["totalPages"] and not past_window(page, size, limits)
            links = {
                "self": f"{base}?page={page}&pageSize={size}",
                "first": f"{base}?page=1&pageSize={size}",
                "prev": f"{base}?page={page - 1}&pageSize={size}" if page > 1 else None,
                "next": f"{base}?page={page + 1}&pageSize={size}" if has_next else None,
                "last": f"{base}?page={meta['totalPages']}&pageSize={size}",
            }
            return 200, _page_body(data, links, meta), len(data)

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


def _spoiled(fault: Fault, payload: bytes, request_path: str) -> bytes:
    """A page changed the way ``fault`` says (faults that answer with a damaged page rather than instead of one)."""
    if fault.kind not in (
        "empty_next",
        "timed_out",
        "unsorted",
        "malformed",
        "far_future",
        "foreign_next",
        "self_next",
    ):
        return payload
    doc = orjson.loads(payload)
    data = doc.get("data") if isinstance(doc.get("data"), list) else []
    links = doc.setdefault("links", {})
    if fault.kind == "empty_next":
        doc["data"] = []
        if not links.get("next"):
            links["next"] = _next_page_link(request_path)
    elif fault.kind == "timed_out":
        doc["data"] = data[: len(data) // 2]
        doc.setdefault("meta", {})["timed_out"] = True
    elif fault.kind == "unsorted":
        doc["data"] = data[::-1]
    elif fault.kind == "malformed" and data:
        record = data[0]
        if fault.variant == "no_id":
            record.pop("id", None)
        elif fault.variant == "bad_updated_at":
            record.setdefault("attributes", {})["updatedAt"] = "last tuesday"
        elif fault.variant == "no_attributes":
            record.pop("attributes", None)
        else:
            data[0] = 42
    elif fault.kind == "far_future" and data:
        data[-1].setdefault("attributes", {})["updatedAt"] = "2999-01-01T00:00:00.000Z"
    elif fault.kind == "foreign_next":
        links["next"] = fault.link
    elif fault.kind == "self_next":
        links["next"] = request_path
    return orjson.dumps(doc)


def _next_page_link(request_path: str) -> str:
    parts = urlsplit(request_path)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    page = int(query.get("page", 1))
    return f"{parts.path}?page={page + 1}&pageSize={query.get('pageSize', 100)}"


def _page_body(records: list, links: Mapping[str, Any], meta: Mapping[str, Any]) -> bytes:
    """A JSON:API page assembled from already serialized records."""
    return (
        b'{"data":['
        + b",".join(records)
        + b'],"links":'
        + orjson.dumps(links)
        + b',"meta":'
        + orjson.dumps(meta)
        + b"}"
    )


def _paging(query: Mapping[str, str], default_size: int) -> Tuple[int, int]:
    try:
        page = int(query.get("page", 1))
        size = int(query.get("pageSize", default_size))
    except ValueError:
        raise SearchError("page and pageSize must be integers") from None
    if page < 1 or size < 1:
        raise SearchError("page and pageSize must be positive")
    return page, size


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
