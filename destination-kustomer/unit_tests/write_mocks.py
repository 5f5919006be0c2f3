"""Builders for the destination's HttpMocker tests: configs, catalogs, input messages, Kustomer-shaped answers, and a
run of the real ``write`` that records when each message came out."""

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    StreamDescriptor,
    Type,
)
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from destination_kustomer.destination import DestinationKustomer

BASE = "https://api.kustomerapp.com/v1"
TOKEN = "kst-destination-unit-Wq7-not-a-secret-7Kq2"
EVERY_ROLE = [
    "org.permission.customer.read",
    "org.permission.customer.create",
    "org.permission.customer.update",
    "org.permission.company.read",
    "org.permission.company.create",
    "org.permission.company.update",
    "org.permission.kobject.read",
    "org.permission.kobject.create",
    "org.permission.kobject.update",
    "org.permission.bulk.read",
    "org.permission.metadata.read",
    "org.permission.klass.read",
    "org.permission.search.create",
]
CUSTOMER_FIELDS = {"lifetimeValueNum": {"type": "number"}, "tierStr": {"type": "string"}}


def config(**overrides: Any) -> Dict[str, Any]:
    """A valid config against the US host; the rate window shrunk so polls and retries are quick. Customers are
    looked up by GET alone unless told (the lookups by search have tests of their own)."""
    return {"api_token": TOKEN, "rate_limit_window_seconds": 0.6, "lookup_by_search": False, **overrides}


def catalog(*streams: Mapping[str, Any]) -> ConfiguredAirbyteCatalog:
    """A configured catalog of ``streams`` (name, and optionally mode, object, primary key)."""
    configured = []
    for s in streams:
        entry: Dict[str, Any] = {
            "stream": {"name": s["name"], "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
            "sync_mode": "full_refresh",
            "destination_sync_mode": s.get("mode", "append_dedup"),
        }
        if "object" in s:
            entry["destination_object_name"] = s["object"]
        if "primary_key" in s:
            entry["primary_key"] = s["primary_key"]
        configured.append(entry)
    return ConfiguredAirbyteCatalogSerializer.load({"streams": configured})


def record(stream: str, **data: Any) -> AirbyteMessage:
    """A RECORD message."""
    return AirbyteMessage(type=Type.RECORD, record=AirbyteRecordMessage(stream=stream, data=data, emitted_at=0))


def state(stream: str, value: Any) -> AirbyteMessage:
    """A per-stream STATE message."""
    return AirbyteMessage(
        type=Type.STATE,
        state=AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name=stream), stream_state={"cursor": value}),
        ),
    )


def answer(body: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> HttpResponse:
    """A JSON answer."""
    return HttpResponse(json.dumps(body), status, headers or {"x-ratelimit-limit": "1000"})


def error(status: int, detail: str) -> HttpResponse:
    """Kustomer's error document."""
    return answer({"errors": [{"status": status, "title": "Error", "detail": detail}]}, status)


def resource(rtype: str, rid: str, **attributes: Any) -> Dict[str, Any]:
    """A JSON:API resource."""
    relationships = attributes.pop("relationships", {})
    return {"type": rtype, "id": rid, "attributes": attributes, "relationships": relationships}


def job(job_id: str, status: str) -> HttpResponse:
    """A bulk job answer."""
    return answer({"data": {"type": "bulk", "id": job_id, "attributes": {"status": status}}}, 201)


def batches(*counts: Sequence[int], next_link: Optional[str] = None) -> HttpResponse:
    """A page of a job's batches, each ``(successCount, failureCount)``, linking to ``next_link``."""
    data = [{"type": "bulk_batch", "attributes": {"successCount": s, "failureCount": f}} for s, f in counts]
    return answer({"data": data, "links": {"next": next_link}})


def mock_setup(
    http: HttpMocker,
    roles: Optional[List[str]] = None,
    metadata: Optional[Dict[str, Dict[str, Any]]] = None,
    klasses: Sequence[str] = (),
) -> None:
    """What every write asks first: the token record, each object's custom attributes, and (for custom objects)
    the klasses of every status."""
    token = {
        "data": {"type": "auth_token", "id": "t1", "attributes": {"roles": EVERY_ROLE if roles is None else roles}}
    }
    http.get(HttpRequest(f"{BASE}/auth/tokens/current"), answer(token))
    for resource_name, properties in (metadata or {"customer": CUSTOMER_FIELDS}).items():
        body = {"data": {"type": "metadata", "id": resource_name, "attributes": {"properties": properties}}}
        http.get(HttpRequest(f"{BASE}/metadata/{resource_name}"), answer(body))
    if klasses:
        for status in ("enabled", "existing_only", "disabled"):
            listed = [resource("klass", f"k-{name}", name=name) for name in klasses] if status == "enabled" else []
            query = {"status": status, "page": "1", "pageSize": "100"}
            http.get(HttpRequest(f"{BASE}/klasses", query_params=query), answer({"data": listed, "links": {}}))


def lookup(
    http: HttpMocker, path: str, found: Optional[Dict[str, Any]], query: Optional[Dict[str, str]] = None
) -> None:
    """One lookup and its answer (a miss: 200 with empty data, one of the two answers Kustomer may give)."""
    if query is not None:
        http.get(HttpRequest(f"{BASE}/{path}", query_params=query), answer({"data": [found] if found else []}))
    else:
        http.get(HttpRequest(f"{BASE}/{path}"), answer({"data": found or {}}))


@dataclass
class WriteRun:
    """The messages ``write`` yielded (up to the error that stopped it, if one did), the log lines, and how many
    requests had been made when each message came out."""

    messages: List[AirbyteMessage] = field(default_factory=list)
    requests_before: List[int] = field(default_factory=list)
    logs: List[str] = field(default_factory=list)
    error: Optional[AirbyteTracedException] = None

    def states(self) -> List[Any]:
        """The state values passed on, in order."""
        return [m.state.stream.stream_state["cursor"] for m in self.messages if m.type == Type.STATE]

    def summary(self) -> Dict[str, Dict[str, Any]]:
        """The SYNC_SUMMARY by stream."""
        line = next(line for line in self.logs if line.startswith("SYNC_SUMMARY "))
        return {row["stream"]: row for row in json.loads(line[len("SYNC_SUMMARY ") :])}


class _Lines(logging.Handler):
    def __init__(self, sink: List[str]) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


def run_write(
    http: HttpMocker,
    raw_config: Mapping[str, Any],
    configured: ConfiguredAirbyteCatalog,
    inputs: Iterable[Any],
    stops: bool = False,
) -> WriteRun:
    """Run the destination's ``write`` over ``inputs`` in-process; with ``stops``, it must end in an error, kept in
    ``error`` with every message that came out before it."""
    run = WriteRun()
    handler = _Lines(run.logs)
    logger = logging.getLogger("airbyte")
    logger.addHandler(handler)
    try:
        for message in DestinationKustomer().write(raw_config, configured, iter(inputs)):
            run.messages.append(message)
            run.requests_before.append(len(http._mocker.request_history))  # noqa: SLF001 - the mocker's own log
    except AirbyteTracedException as error:
        if not stops:
            raise
        run.error = error
    finally:
        logger.removeHandler(handler)
    assert run.error is not None or not stops, "the write was expected to stop with an error"
    return run


def sent(http: HttpMocker) -> List[str]:
    """Every request made so far, as ``METHOD /path?query``."""
    history = http._mocker.request_history  # noqa: SLF001 - the mocker's own log
    return [f"{r.method} {urlsplit(r.url).path}" + (f"?{urlsplit(r.url).query}" if r.query else "") for r in history]


def array_body(items: List[Any]) -> str:
    """A bulk body as the client sends it (HttpMocker compares bodies that are not objects byte for byte)."""
    return json.dumps(items)


def bulk_body(items: List[Dict[str, Any]]) -> str:
    """A bulk body whose items carry their ``_clientRef`` (their place in the request), as the destination sends."""
    return array_body([{**item, "_clientRef": str(n)} for n, item in enumerate(items)])


def reads(http: HttpMocker, path: str, *found: Dict[str, Any]) -> None:
    """``GET /v1/{path}`` answering each of ``found`` in turn (an object read again: before and after an update)."""
    http.get(HttpRequest(f"{BASE}/{path}"), [answer({"data": item}) for item in found])


def updated(resource_: Dict[str, Any], **attributes: Any) -> Dict[str, Any]:
    """``resource_`` with ``attributes`` merged into its attributes (custom merged too), as an update leaves it."""
    merged = {**resource_["attributes"], **attributes}
    if "custom" in attributes:
        merged["custom"] = {**resource_["attributes"].get("custom", {}), **attributes["custom"]}
    return {**resource_, "attributes": merged}
