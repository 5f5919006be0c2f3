"""Faults acted out on the wire instead of an answer: error statuses, resets, truncated or invalid bodies, 429s,
expired keys, hostile bodies (trickled, endless, oversized, gzip bombs), redirects and errors echoing the key.

What each fault is and when it fires is ``kustomer_simulator.faults``; faults that spoil a served page are applied
there too (``spoil``).
"""

import socket
import time
from typing import TYPE_CHECKING

import orjson

from kustomer_simulator import hostile
from kustomer_simulator.faults import Fault
from kustomer_simulator.routes.base import error_body
from kustomer_simulator.timefmt import iso_ms, now_ms

if TYPE_CHECKING:
    from kustomer_simulator.http_handler import SimulatorHandler


def act_out(handler: "SimulatorHandler", fault: Fault, is_search: bool) -> bool:
    """Act out a fault; True when the response has been dealt with (False: answer the request, maybe spoiled)."""
    if fault.kind == "status":
        handler.send_reply(
            fault.status,
            error_body(fault.status, "server_error", "Server Error", "injected"),
            is_search=is_search,
        )
    elif fault.kind == "reset":
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        handler.count_reply(0, is_search)
    elif fault.kind == "slow":
        time.sleep(fault.seconds)
        return False
    elif fault.kind == "truncated":
        body = b'{"data": [{"type": "customer", "id": "5c6f'
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body) + 500))
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = True
        handler.count_reply(200, is_search)
    elif fault.kind == "invalid_json":
        handler.send_reply(
            200, b"<html><body>502 Bad Gateway</body></html>", is_search=is_search, content_type="text/html"
        )
    elif fault.kind == "rate_limit":
        _rate_limited(handler, fault, is_search)
    elif fault.kind == "unauthorized":
        handler.sim.expired_tokens.update([*handler.sim.settings.tokens, *handler.sim.settings.grants])
        handler.send_reply(
            401,
            error_body(401, "unauthorized", "Unauthorized", "invalid or expired API key"),
            is_search=is_search,
        )
    elif fault.kind in ("trickle", "endless", "gzip_bomb", "oversized_page") and not fault.spoils_page:
        _hostile(handler, fault, is_search)
    elif fault.kind == "redirect":
        handler.send_reply(302, b"", {"Location": fault.link}, is_search=is_search)
    elif fault.kind == "echo_auth":
        detail = f"access denied for {handler.headers.get('Authorization')}"
        handler.send_reply(403, error_body(403, "forbidden", "Forbidden", detail), is_search=is_search)
    elif fault.kind == "echo_key" and fault.variant == "detail":
        detail = "access denied for " + " ".join(hostile.key_echoes(handler.token()))
        handler.send_reply(403, error_body(403, "forbidden", "Forbidden", detail), is_search=is_search)
    else:
        return False
    return True


def _rate_limited(handler: "SimulatorHandler", fault: Fault, is_search: bool) -> None:
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
    handler.send_reply(429, error_body(429, "too_many_requests", "Too Many Requests", "injected"), headers, is_search)


def _hostile(handler: "SimulatorHandler", fault: Fault, is_search: bool) -> None:
    handler.close_connection = True
    handler.count_reply(200, is_search)
    if fault.kind == "trickle":
        page = b'{"data": [], "links": {"next": null}, "meta": {"page": 1}}'
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(page)
        hostile.trickle(handler.connection, head + page, max(fault.seconds, 0.05))
    elif fault.kind in ("endless", "oversized_page"):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        if fault.kind == "endless":
            record = orjson.dumps({"type": "customer", "id": "x" * 24, "attributes": {"name": "y" * 4000}})
            chunks = hostile.endless_records(record)
        else:
            minimal = fault.variant == "minimal_records"
            chunks = hostile.oversized_page(minimal, fault.size_mb, iso_ms(now_ms()))
        hostile.stream_chunked(handler.wfile.write, chunks)
    else:
        body = hostile.gzip_bomb(fault.size_mb)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except OSError:
            pass
