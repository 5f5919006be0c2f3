"""A client that must not send a request twice (a create) retries only what is known not to have taken effect -- a
429, a connection never made -- and says when the outcome of a request is unknown instead of sending it again."""

import json
import socket

import pytest
import requests
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse
from kustomer_http.connection import KustomerConnection, OutcomeUnknown
from kustomer_http.settings import ConnectionSettings
from kustomer_http.transport import RefusedDestination, never_left

BASE = "https://api.kustomerapp.com/v1"
CREATED = HttpResponse(json.dumps({"data": {"id": "c-1"}}), 201)


def _client(resend: bool, url: str = "https://api.kustomerapp.com", timeout: float = 10):
    settings = ConnectionSettings("kst-sent-once-test", url, timeout, 0.6, 50, 100)
    return KustomerConnection(settings, "test").client("creates", max_retries=3, resend=resend)


def _posts(http: HttpMocker) -> int:
    return sum(1 for r in http._mocker.request_history if r.method == "POST")  # noqa: SLF001 - the mocker's own log


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_a_server_error_to_a_create_is_not_sent_again_and_is_told_as_answered(status):
    with HttpMocker() as http:
        http.post(HttpRequest(f"{BASE}/customers", body={"name": "x"}), [HttpResponse("{}", status), CREATED])
        client = _client(resend=False)
        with pytest.raises(OutcomeUnknown) as unknown:
            client.send("POST", client.api_url("customers"), body={"name": "x"})
        assert _posts(http) == 1
    assert unknown.value.answered and client.stats.retries == 0


def test_an_answer_that_is_not_json_is_an_unknown_outcome_too():
    with HttpMocker() as http:
        http.post(HttpRequest(f"{BASE}/customers"), [HttpResponse("<html>", 200), CREATED])
        client = _client(resend=False)
        with pytest.raises(OutcomeUnknown):
            client.send("POST", client.api_url("customers"), body={})
        assert _posts(http) == 1


def test_a_429_is_retried_and_a_client_that_resends_retries_server_errors():
    limited = HttpResponse("{}", 429, {"Retry-After": "0.05"})
    with HttpMocker() as http:
        http.post(HttpRequest(f"{BASE}/customers"), [limited, CREATED])
        client = _client(resend=False)
        assert client.send("POST", client.api_url("customers"), body={}).status_code == 201
        assert _posts(http) == 2
    with HttpMocker() as http:
        http.post(HttpRequest(f"{BASE}/customers"), [HttpResponse("{}", 503), CREATED])
        client = _client(resend=True)
        assert client.send("POST", client.api_url("customers"), body={}).status_code == 201
        assert _posts(http) == 2


def test_a_timeout_after_the_request_left_is_an_unknown_outcome_without_an_answer():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, reads nothing, never answers
    try:
        client = _client(resend=False, url=f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=1)
        with pytest.raises(OutcomeUnknown) as unknown:
            client.send("POST", client.api_url("customers"), body={})
    finally:
        listener.close()
    assert not unknown.value.answered


def test_a_connection_never_made_is_known_not_to_have_left():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: the connection is refused
    with pytest.raises(requests.exceptions.ConnectionError) as refused:
        requests.post(f"http://127.0.0.1:{port}/v1/customers", timeout=2)
    assert never_left(refused.value)
    assert never_left(requests.exceptions.ConnectTimeout()) and never_left(RefusedDestination("off the origin"))
    assert not never_left(requests.exceptions.ReadTimeout()) and not never_left(
        requests.exceptions.ChunkedEncodingError()
    )
    reset = requests.exceptions.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))
    assert not never_left(reset)
