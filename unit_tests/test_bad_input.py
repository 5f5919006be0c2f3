"""Bad configs and states end with one clear message naming the field — no stack trace, no token."""

import json
from datetime import datetime, timezone

import pytest

from integration_tests.harness import token_forms
from source_kustomer.config import parse_config
from source_kustomer.run import run
from unit_tests.conftest import TOKEN

GOOD = {"api_token": TOKEN, "start_date": "2025-01-01T00:00:00Z"}

BAD_CONFIGS = [
    ({"api_token": ""}, "'api_token' is empty"),
    ({"api_token": "   "}, "'api_token' is empty"),
    ({"api_token": "abc\ndef"}, "'api_token' contains spaces or line breaks"),
    ({"start_date": "2025/01/01"}, "'start_date' is not a date"),
    ({"start_date": "yesterday"}, "'start_date' is not a date"),
    ({"start_date": "2999-01-01T00:00:00Z"}, "'start_date' '2999-01-01T00:00:00Z' is in the future"),
    ({"region": "mars"}, "'region' must be one of us, eu, in"),
    ({"organization": "acme.corp"}, "'organization' 'acme.corp' is not a valid org name"),
    ({"organization": "acme/corp"}, "'organization' 'acme/corp' is not a valid org name"),
    ({"api_url": "http://kustomer.example.com"}, "'api_url' must use https"),
    ({"api_url": "ftp://127.0.0.1"}, "'api_url' 'ftp://127.0.0.1' is not a URL"),
    ({"page_size": -1}, "'page_size' must be a whole number from 1 to 500"),
    ({"page_size": 100000}, "'page_size' must be a whole number from 1 to 500"),
    ({"search_requests_per_minute": 0}, "'search_requests_per_minute' must be a whole number from 1 to 100"),
    ({"api_utilization_percent": 150}, "'api_utilization_percent' must be a whole number from 1 to 100"),
    ({"lookback_window_minutes": -5}, "'lookback_window_minutes' must be a whole number"),
    ({"include_deleted": "yes"}, "'include_deleted' must be true or false"),
]


def _run(capsys, argv):
    with pytest.raises(SystemExit) as exited:
        run(argv)
    out = capsys.readouterr()
    return exited.value.code, out.out + out.err


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(json.dumps(content))
    return str(path)


CATALOG = {
    "streams": [
        {
            "stream": {"name": "customers", "json_schema": {}, "supported_sync_modes": ["incremental"]},
            "sync_mode": "incremental",
            "destination_sync_mode": "append",
            "cursor_field": ["updatedAt"],
        }
    ]
}


@pytest.mark.parametrize("override, expected", BAD_CONFIGS)
def test_bad_config_fails_check_with_a_message_naming_the_field(tmp_path, capsys, override, expected):
    code, output = _run(capsys, ["check", "--config", _write(tmp_path, "config.json", {**GOOD, **override})])
    messages = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    status = [m["connectionStatus"] for m in messages if m["type"] == "CONNECTION_STATUS"]
    assert code == 0 and status and status[0]["status"] == "FAILED"
    assert expected in status[0]["message"]
    assert "Traceback" not in output and not any(form in output for form in token_forms(TOKEN))


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
    assert "Traceback" not in output and not any(form in output for form in token_forms(TOKEN))


def _stream_state(name, state):
    return {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": state}}


BAD_STATES = [
    ([_stream_state("customers", {"cursor": 123})], "state of stream 'customers' has no 'updatedAt' cursor"),
    (
        [_stream_state("customers", {"updatedAt": "2999-01-01T00:00:00Z"})],
        "state of stream 'customers' is in the future",
    ),
    (
        [_stream_state("customers", {"updatedAt": "last tuesday"})],
        "state of stream 'customers' (updatedAt)' is not a date",
    ),
    ([{"type": "GLOBAL", "global": {"shared_state": {"x": 1}, "stream_states": []}}], "not per-stream state"),
]


@pytest.mark.parametrize("state, expected", BAD_STATES)
def test_bad_state_fails_read_with_one_config_error_trace(tmp_path, capsys, state, expected):
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
    assert traces[0]["error"]["failure_type"] == "config_error" and expected in traces[0]["error"]["message"]
    assert "Traceback" not in output


def test_unreadable_config_file_is_reported_plainly(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    code, output = _run(capsys, ["discover", "--config", str(path)])
    assert code == 1 and "could not be read as a JSON object" in output and "Traceback" not in output


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
        ({"api_url": "http://127.0.0.1:8099"}, "http://127.0.0.1:8099"),
        ({"api_url": "http://localhost:8099"}, "http://localhost:8099"),
        ({"api_url": "http://[::1]:8099"}, "http://[::1]:8099"),
    ],
)
def test_host_resolution(override, base_url):
    assert parse_config({**GOOD, **override}).base_url == base_url


def test_defaults():
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    parsed = parse_config({"api_token": TOKEN}, now=now)
    assert parsed.start_date == datetime(2025, 6, 1, tzinfo=timezone.utc)
    assert (parsed.search_requests_per_minute, parsed.api_utilization_percent, parsed.page_size) == (90, 80, None)
    assert parsed.lookback.total_seconds() == 0 and parsed.include_deleted is False
