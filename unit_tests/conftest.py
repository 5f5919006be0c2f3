"""Builders for HttpMocker-based tests: Kustomer-shaped requests and responses."""

import json
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse
from airbyte_cdk.test.mock_http.request import ANY_QUERY_PARAMS

BASE = "https://api.kustomerapp.com/v1"
TOKEN = "kst-unit-test-token-Qm4v-not-a-secret-7Kq2"
NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
NOW_ISO = "2026-06-01T12:00:00.000Z"


def config(**overrides: Any) -> Dict[str, Any]:
    """A valid config against the US host; window shrunk so retries in tests are quick."""
    base = {
        "api_token": TOKEN,
        "start_date": "2026-01-01T00:00:00Z",
        "rate_limit_window_seconds": 0.6,
        "search_lag_seconds": 0,
    }
    base.update(overrides)
    return base


def resource(rtype: str, rid: str, updated: str, created: str = "2025-12-01T00:00:00.000Z", **attrs: Any) -> dict:
    """A JSON:API resource as Kustomer returns it."""
    return {
        "type": rtype,
        "id": rid,
        "attributes": {"createdAt": created, "updatedAt": updated, **attrs},
        "relationships": {"org": {"data": {"type": "org", "id": "org1"}}},
        "links": {"self": f"/v1/{rtype}s/{rid}"},
    }


def page(
    data: List[dict],
    next_link: Optional[str] = None,
    total: Optional[int] = None,
    status: int = 200,
    headers: Optional[Dict[str, str]] = None,
) -> HttpResponse:
    """A JSON:API page."""
    body: Dict[str, Any] = {"data": data, "links": {"next": next_link}, "meta": {"page": 1}}
    if total is not None:
        body["meta"]["total"] = total
    return HttpResponse(json.dumps(body), status, headers or {})


def error(status: int, detail: str = "", headers: Optional[Dict[str, str]] = None) -> HttpResponse:
    """A Kustomer error response."""
    body = {"errors": [{"status": status, "code": "error", "title": "Error", "detail": detail}]}
    return HttpResponse(json.dumps(body), status, headers or {})


def get(path: str, **params: Any) -> HttpRequest:
    """A GET on the US host."""
    return HttpRequest(f"{BASE}/{path}", query_params={k: str(v) for k, v in params.items()} or None)


def get_any(path: str) -> HttpRequest:
    """A GET on the US host, whatever its query."""
    return HttpRequest(f"{BASE}/{path}", query_params=ANY_QUERY_PARAMS)


def search(
    context: str,
    criteria: List[dict],
    page_no: int = 1,
    page_size: int = 500,
    sort: Optional[str] = "",
    archive: bool = False,
) -> HttpRequest:
    """The exact search request the connector must send (to the archive search with ``archive``); ``sort`` None
    for a search that asks for no order."""
    body: Dict[str, Any] = {"and": criteria}
    if sort is not None:
        body["sort"] = [{sort or f"{context}_updated_at": "asc"}]
    body["queryContext"] = context
    path = "customers/archive/search" if archive else "customers/search"
    return HttpRequest(f"{BASE}/{path}", query_params={"page": str(page_no), "pageSize": str(page_size)}, body=body)


TOKEN_RECORD = {"type": "auth_token", "id": "t1", "attributes": {"name": "sync key", "roles": ["org.user.read"]}}


def token_check(http_mocker) -> HttpRequest:
    """GET /v1/auth/tokens/current: the key is valid; the answer states the org's rate limit."""
    request = get("auth/tokens/current")
    http_mocker.get(request, HttpResponse(json.dumps({"data": TOKEN_RECORD}), 200, {"x-ratelimit-limit": "1000"}))
    return request


def discovery_mocks(http_mocker, klasses: Optional[List[dict]] = None) -> None:
    """The requests every read starts with: the key check (which also sizes the budget) and the klasses of each
    status (``klasses`` are listed as enabled)."""
    token_check(http_mocker)
    for status in ("enabled", "existing_only", "disabled"):
        listed = (klasses or []) if status == "enabled" else []
        http_mocker.get(get("klasses", status=status, page=1, pageSize=100), page(listed))


def catalog(*streams: str, mode: SyncMode = SyncMode.full_refresh):
    """A configured catalog of the named streams."""
    builder = CatalogBuilder()
    for name in streams:
        builder.with_stream(name, mode)
    return builder.build()


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    """Search windows end at NOW, so request bodies are exact."""
    monkeypatch.setattr("kustomer_http.timestamps.utc_now", lambda: NOW)
