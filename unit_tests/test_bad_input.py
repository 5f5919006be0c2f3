"""Bad configs, state and catalog files end with one clear message naming the field or stream -- no stack trace,
no token -- and odd-but-valid input works."""

import base64
import json
import re
from datetime import datetime, timezone

import pytest
from airbyte_cdk.models import AirbyteMessageSerializer
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.mock_http import HttpMocker
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.redaction import MIN_TOKEN_LENGTH, redact

from integration_tests.harness import token_forms
from source_kustomer import SourceKustomer
from source_kustomer.config import parse_config, spec_property
from source_kustomer.run import run
from unit_tests.conftest import NOW_ISO, TOKEN, catalog, config, discovery_mocks, error, get, page, resource

GOOD = {"api_token": TOKEN, "start_date": "2025-01-01T00:00:00Z"}

BAD_CONFIGS = [
    ({"api_token": ""}, "'api_token' is empty"),
    ({"api_token": "   "}, "'api_token' is empty"),
    ({"api_token": "abc\ndef"}, "'api_token' contains spaces or line breaks"),
    ({"api_token": "kst-t\u00f6ken-\u201cquoted\u201d"}, "'api_token' contains characters an API key never has"),
    ({"api_token": 12345}, "'api_token' must be the API key as text"),
    ({"api_token": "type"}, "'api_token' is 4 characters long: too short for a Kustomer API key"),
    ({"api_token": "k" * (MIN_TOKEN_LENGTH - 1)}, f"is {MIN_TOKEN_LENGTH - 1} characters long: too short"),
    ({"api_token": "1234567890" * 5}, "'api_token' holds only digits, the characters {}[],:+-. and the letters"),
    ({"api_token": "k" * MIN_TOKEN_LENGTH + '"'}, "'api_token' contains characters an API key never has (quotes"),
    # The key pasted into another field as well: that field is named, its value never quoted.
    ({"organization": TOKEN}, "'organization' holds the API key; the key belongs in 'api_token' only"),
    ({"start_date": f"{TOKEN}Z"}, "'start_date' holds the API key"),
    ({"api_url": f"https://{TOKEN.lower()}.example.com"}, "'api_url' holds the API key"),
    ({"region": base64.b64encode(f"Bearer {TOKEN}".encode()).decode()}, "'region' holds the API key"),
    ({"page_size": TOKEN.encode().hex()}, "'page_size' holds the API key"),
    ({"unknown": {"nested": [f"x{TOKEN}"]}}, "'unknown.nested[0]' holds the API key"),
    ({"unknown": {TOKEN: 1}}, "a field name in 'unknown' holds the API key"),
    ({"start_date": "2025/01/01"}, "'start_date' must be a UTC date-time like YYYY-MM-DDTHH:mm:ssZ"),
    ({"start_date": "yesterday"}, "'start_date' must be a UTC date-time like YYYY-MM-DDTHH:mm:ssZ"),
    ({"start_date": "2025-01-01"}, "'start_date' must be a UTC date-time like YYYY-MM-DDTHH:mm:ssZ"),
    ({"start_date": "2025-13-45T00:00:00Z"}, "'start_date' is not a date"),
    ({"start_date": "2999-01-01T00:00:00Z"}, "'start_date' '2999-01-01T00:00:00Z' is in the future"),
    ({"start_date": "0001-01-01T00:00:00Z"}, "'start_date' '0001-01-01T00:00:00Z' is before 1970"),
    ({"region": "mars"}, "'region' must be one of us, eu, in"),
    ({"region": ["us", "eu"]}, "'region' must be one of us, eu, in"),
    ({"organization": "acme.corp"}, "'organization' 'acme.corp' is not a valid org name"),
    ({"organization": "acme/corp"}, "'organization' 'acme/corp' is not a valid org name"),
    ({"organization": 42}, "'organization' must be text"),
    ({"organization": "[acme.kustomerapp.com"}, "'organization' '[acme.kustomerapp.com' is not a Kustomer URL"),
    ({"api_url": "http://kustomer.example.com"}, "'api_url' must use https"),
    ({"api_url": "ftp://127.0.0.1"}, "'api_url' is not an http:// or https:// URL"),
    ({"api_url": "http://127.0.0.1:99999"}, "'api_url' is not a valid URL (check the host and the port"),
    ({"api_url": "http://127.0.0.1:abc"}, "'api_url' is not a valid URL (check the host and the port"),
    ({"api_url": "http://other-host\\@127.0.0.1:8000"}, "'api_url' contains a space, a backslash"),
    ({"api_url": "https://user:secret@api.kustomerapp.com"}, "'api_url' carries a user name or password"),
    ({"api_url": "https://api.kustomerapp.com/proxy/v1"}, "'api_url' must be the API's address without a path"),
    ({"api_url": ["https://api.kustomerapp.com"]}, "'api_url' must be text"),
    ({"page_size": -1}, "'page_size' must be a whole number from 1 to 500"),
    ({"page_size": 100000}, "'page_size' must be a whole number from 1 to 500"),
    ({"search_requests_per_minute": 0}, "'search_requests_per_minute' must be a whole number from 1 to 100"),
    ({"api_utilization_percent": 150}, "'api_utilization_percent' must be a whole number from 1 to 100"),
    ({"lookback_window_minutes": -5}, "'lookback_window_minutes' must be a whole number"),
    ({"include_deleted": "yes"}, "'include_deleted' must be true or false"),
    ({"request_timeout_seconds": "fast"}, "'request_timeout_seconds' must be a number from 1 to 600"),
    ({"max_concurrent_streams": 0}, "'max_concurrent_streams' must be a whole number from 1 to 16"),
]


def _run(capsys, argv):
    with pytest.raises(SystemExit) as exited:
        run(argv)
    out = capsys.readouterr()
    return exited.value.code, out.out + out.err


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def _no_leak(output: str) -> None:
    assert "Traceback" not in output
    assert not any(form in output for form in token_forms(TOKEN))


CATALOG = {
    "streams": [
        {
            "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
            "sync_mode": "incremental" if name == "customers" else "full_refresh",
            "destination_sync_mode": "append",
            "cursor_field": ["updatedAt"] if name == "customers" else None,
        }
        for name in ("customers", "tags")
    ]
}


@pytest.mark.parametrize("override, expected", BAD_CONFIGS)
def test_bad_config_fails_check_with_a_message_naming_the_field(tmp_path, capsys, override, expected):
    code, output = _run(capsys, ["check", "--config", _write(tmp_path, "config.json", {**GOOD, **override})])
    messages = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    status = [m["connectionStatus"] for m in messages if m["type"] == "CONNECTION_STATUS"]
    assert code == 0 and status and status[0]["status"] == "FAILED"
    assert expected in status[0]["message"]
    _no_leak(output)


@pytest.mark.parametrize("override, expected", BAD_CONFIGS)
def test_bad_config_fails_read_with_one_config_error_trace(tmp_path, capsys, override, expected):
    argv = [
        "read",
        "--config",
        _write(tmp_path, "c.json", {**GOOD, **override}),
        "--catalog",
        _write(tmp_path, "k.json", CATALOG),
    ]
    code, output = _run(capsys, argv)
    traces = [json.loads(line)["trace"] for line in output.splitlines() if '"TRACE"' in line]
    assert code == 1 and len(traces) == 1
    assert traces[0]["error"]["failure_type"] == "config_error" and expected in traces[0]["error"]["message"]
    _no_leak(output)


def _stream_state(name, state):
    return {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": state}}


BAD_STATES = [
    ("{not json", "The --state file", "could not be read as JSON"),
    ("", "The --state file", "could not be read as JSON"),
    ({"customers": {"updatedAt": "2026-01-01T00:00:00Z"}}, "legacy state format", "Reset the connection's state"),
    ([{"type": "GLOBAL", "global": {"shared_state": {"x": 1}, "stream_states": []}}], "of type 'GLOBAL'", "Reset"),
    ([{"type": "LEGACY", "data": {"customers": {}}}], "of type 'LEGACY'", "not per-stream state"),
    (["customers"], "of type 'str'", "not per-stream state"),
    ([{"type": "STREAM", "stream": {"stream_state": {}}}], "Entry 1 of the --state file names no stream", "Reset"),
    ([_stream_state("customers", {"cursor": 123})], "state of stream 'customers' has no 'updatedAt' cursor", "Reset"),
    ([_stream_state("customers", {"updatedAt": "2999-01-01T00:00:00Z"})], "'customers' is in the future", "Reset"),
    ([_stream_state("customers", {"updatedAt": "last tuesday"})], "(updatedAt)' is not a date", "'last tuesday'"),
    ([_stream_state("customers", {"updatedAt": "0001-01-01T00:00:00.000Z"})], "is before 1970", "Reset"),
    ([_stream_state("customers", {"deletionsSince": "0001-01-01T00:00:00.000Z"})], "is before 1970", "Reset"),
    ([_stream_state("audit_logs", {"createdAt": "0001-01-01T00:00:00.000Z"})], "is before 1970", "Reset"),
    ([_stream_state("work_items", {"conversationUpdatedAt": "soon"})], "is not a date", "'soon'"),
    ([_stream_state("customers", "2026-01-01")], "state of stream 'customers' is not an object", "Reset"),
    ([_stream_state("tags", {"next": 123})], "stream 'tags' has a next link that is empty or not text", "Reset"),
    ([_stream_state("tags", {"next": "https://evil.example/v1/tags?page=2"})], "points to another host", "Reset"),
    ([_stream_state("tags", {"next": "//evil.example/v1/tags"})], "neither a path starting with a single '/'", "tags"),
    ([_stream_state("tags", {"page": 3})], "this connector writes only 'next'", "Reset the state of 'tags'"),
]


@pytest.mark.parametrize("state, expected, fix", BAD_STATES)
def test_bad_state_fails_read_with_one_config_error_trace(tmp_path, capsys, state, expected, fix):
    argv = [
        "read",
        "--config",
        _write(tmp_path, "c.json", GOOD),
        "--catalog",
        _write(tmp_path, "k.json", CATALOG),
        "--state",
        _write(tmp_path, "s.json", state),
    ]
    code, output = _run(capsys, argv)
    traces = [json.loads(line)["trace"] for line in output.splitlines() if '"TRACE"' in line]
    assert code == 1 and len(traces) == 1, output[-2000:]
    message = traces[0]["error"]["message"]
    assert traces[0]["error"]["failure_type"] == "config_error" and expected in message and fix in message, message
    _no_leak(output)


@pytest.mark.parametrize("catalog_text", ["[]", '{"streams": "all"}', "{broken"])
def test_a_bad_catalog_file_is_reported_plainly(tmp_path, capsys, catalog_text):
    argv = ["read", "--config", _write(tmp_path, "c.json", GOOD), "--catalog", _write(tmp_path, "k.json", catalog_text)]
    code, output = _run(capsys, argv)
    assert code == 1 and "--catalog file" in output
    _no_leak(output)


def test_unreadable_config_file_is_reported_plainly(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    code, output = _run(capsys, ["discover", "--config", str(path)])
    assert code == 1 and "could not be read as JSON" in output
    _no_leak(output)


@pytest.mark.parametrize(
    "override, base_url",
    [
        ({}, "https://api.kustomerapp.com"),
        ({"region": "eu"}, "https://api.prod2.kustomerapp.com"),
        ({"region": "in"}, "https://api.prod4.kustomerapp.com"),
        ({"organization": "acme"}, "https://acme.api.kustomerapp.com"),
        ({"organization": "https://acme.kustomerapp.com/app/customers"}, "https://acme.api.kustomerapp.com"),
        ({"organization": "Acme.api.kustomerapp.com"}, "https://acme.api.kustomerapp.com"),
        ({"organization": "acme", "api_url": "https://proxy.example.com/"}, "https://proxy.example.com"),
        ({"api_url": "https://API.kustomerapp.com:443/v1"}, "https://api.kustomerapp.com"),
        ({"api_url": "http://127.0.0.1:8099"}, "http://127.0.0.1:8099"),
        ({"api_url": "http://localhost:8099"}, "http://localhost:8099"),
        ({"api_url": "http://[::1]:8099"}, "http://[::1]:8099"),
    ],
)
def test_host_resolution(override, base_url):
    assert parse_config({**GOOD, **override}).base_url == base_url


def test_the_start_date_rule_is_the_specs():
    rule = spec_property("start_date")
    assert rule["format"] == "date-time" and rule["pattern_descriptor"] == "YYYY-MM-DDTHH:mm:ssZ"
    for good in (*rule["examples"], "2025-01-31T08:30:00.123Z", "2025-01-31T08:30:00+02:00"):
        assert re.fullmatch(rule["pattern"], good) and parse_config({**GOOD, "start_date": good}).start_date


def test_defaults():
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    parsed = parse_config({"api_token": TOKEN}, now=now)
    assert parsed.start_date == datetime(2025, 6, 1, tzinfo=timezone.utc)
    assert (parsed.search_requests_per_minute, parsed.api_utilization_percent, parsed.page_size) == (90, 80, None)
    assert parsed.lookback.total_seconds() == 0 and parsed.include_deleted is False


def test_the_spec_asks_for_the_key_length_the_config_accepts():
    assert spec_property("api_token")["minLength"] == MIN_TOKEN_LENGTH


def test_the_key_is_masked_from_the_moment_it_is_read_even_when_it_is_refused():
    key = "kst-refused-for-a-stray-line-break-" + "Zq8x" * 3
    with pytest.raises(AirbyteTracedException, match="contains spaces or line breaks"):
        parse_config({"api_token": f"{key}\n", "organization": key})
    assert redact(f"[{key}]") == "[****]"


def test_every_form_a_server_can_echo_the_key_in_is_masked_everywhere_it_is_printed():
    """A server that echoes the Authorization header base64-encoded, and a link whose host carries the key (which
    URL parsers lower-case): neither form reaches the output."""
    import base64

    echoed = base64.b64encode(f"Bearer {TOKEN}".encode()).decode()
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(
            get("tags", page=1, pageSize=100), page([resource("tag", "t1", NOW_ISO)], f"https://{TOKEN}.evil.example/x")
        )
        http_mocker.get(get("teams", page=1, pageSize=500), error(403, f"denied for credentials {echoed}"))
        output = read(SourceKustomer(), config(), catalog("tags", "teams"), expecting_exception=True)
    printed = "\n".join(json.dumps(AirbyteMessageSerializer.dump(m)) for m in output.get_message_iterator())
    assert output.errors and "another host" in output.errors[0].trace.error.message
    assert all(form not in printed for form in token_forms(TOKEN))
