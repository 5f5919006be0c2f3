"""What an org defines, read safely: klasses of every status each once (following next links, a bounded number of
pages), a status Kustomer refuses reported and left out, and custom attribute definitions."""

import json

import pytest
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http import definitions
from kustomer_http.connection import KustomerConnection
from kustomer_http.settings import ConnectionSettings

BASE = "https://api.kustomerapp.com/v1"


def _client():
    settings = ConnectionSettings("kst-definitions-test", "https://api.kustomerapp.com", 10, 0.6, 50, 100)
    return KustomerConnection(settings, "test").client("definitions")


def _page(names, status, next_link=None, code=200):
    data = [{"type": "klass", "id": f"id-{n}", "attributes": {"name": n, "status": status}} for n in names]
    return HttpResponse(json.dumps({"data": data, "links": {"next": next_link}}), code)


def _klasses(http, status, *responses, page=1):
    query = {"status": status, "page": str(page), "pageSize": "100"}
    http.get(
        HttpRequest(f"{BASE}/klasses", query_params=query), list(responses) if len(responses) > 1 else responses[0]
    )


def test_klasses_of_every_status_are_listed_once_across_pages():
    refused = []
    with HttpMocker() as http:
        _klasses(http, "enabled", _page(["order"], "enabled", "/v1/klasses?status=enabled&page=2&pageSize=100"))
        _klasses(http, "enabled", _page(["order", "ticket"], "enabled"), page=2)
        _klasses(http, "existing_only", _page(["legacy"], "existing_only"))
        error = {"errors": [{"detail": "this API key lacks the role org.admin.klass.read"}]}
        _klasses(http, "disabled", HttpResponse(json.dumps(error), 403))
        found = definitions.list_klasses(_client(), lambda status, reason: refused.append((status, reason)))
    assert [(k.name, k.status) for k in found] == [
        ("legacy", "existing_only"),
        ("order", "enabled"),
        ("ticket", "enabled"),
    ]
    assert refused == [("disabled", "HTTP 403: this API key lacks the role org.admin.klass.read")]


def test_a_list_that_links_back_to_itself_stops_with_one_error():
    with HttpMocker() as http:
        _klasses(http, "enabled", _page(["a"], "enabled", "/v1/klasses?status=enabled&page=1&pageSize=100"))
        with pytest.raises(AirbyteTracedException, match="links back to a page already read"):
            definitions.list_klasses(_client(), lambda *_: None)


def test_custom_attribute_definitions_are_read_from_metadata():
    body = {"data": {"type": "metadata", "id": "kobject.order", "attributes": {"properties": {"totalNum": {}}}}}
    with HttpMocker() as http:
        http.get(HttpRequest(f"{BASE}/metadata/kobject.order"), HttpResponse(json.dumps(body)))
        http.get(HttpRequest(f"{BASE}/metadata/company"), HttpResponse(json.dumps({"errors": []}), 404))
        response, properties = definitions.metadata_properties(_client(), "kobject.order")
        missing, none = definitions.metadata_properties(_client(), "company")
    assert response.ok and properties == {"totalNum": {}}
    assert missing.status_code == 404 and none is None
