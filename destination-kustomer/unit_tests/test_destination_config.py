"""Bad input gets one clear error naming the field and the fix -- from the config, the catalog, the stream mapping --
and never a stack trace or the token."""

import json

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from destination_kustomer.config import parse_config, spec_rules
from destination_kustomer.run import run
from destination_kustomer.targets import resolve_targets
from kustomer_http.redaction import MIN_TOKEN_LENGTH
from write_mocks import TOKEN, catalog, config


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"api_token": ""}, "'api_token' is empty"),
        ({"api_token": "type"}, "'api_token' is 4 characters long: too short for a Kustomer API key"),
        ({"organization": TOKEN}, "'organization' holds the API key; the key belongs in 'api_token' only"),
        (
            {"stream_mappings": [{"stream": "s", "object": f"kobject.{TOKEN}"}]},
            "'stream_mappings[0].object' holds the API key",
        ),
        ({"stream_mappings": [{"stream": TOKEN.upper(), "object": "customer"}]}, "'stream_mappings[0].stream' holds"),
        ({"batch_size": 101}, "'batch_size' must be a whole number from 1 to 100; got 101"),
        ({"batch_size": 0}, "'batch_size' must be a whole number from 1 to 100"),
        ({"max_failed_percent": -1}, "'max_failed_percent' must be a whole number from 0 to 100"),
        ({"max_failed_percent": 101}, "'max_failed_percent' must be a whole number from 0 to 100; got 101"),
        ({"search_requests_per_minute": 0}, "'search_requests_per_minute' must be a whole number from 1 to 100"),
        ({"lookup_by_search": "yes"}, "'lookup_by_search' must be true or false"),
        ({"send_imported_at": 1}, "'send_imported_at' must be true or false"),
        ({"dry_run": "yes"}, "'dry_run' must be true or false"),
        ({"api_utilization_percent": 0}, "'api_utilization_percent' must be a whole number from 1 to 100"),
        ({"api_url": "http://example.com"}, "'api_url' must use https"),
        ({"stream_mappings": {"a": "customer"}}, "'stream_mappings' must be a list"),
        ({"stream_mappings": [{"object": "customer"}]}, "'stream_mappings[0]'.stream must be the name of a stream"),
        (
            {"stream_mappings": [{"stream": "s", "object": "contact"}]},
            "'stream_mappings[0]'.object must be customer | company | kobject.<klass>; got 'contact'",
        ),
        (
            {"stream_mappings": [{"stream": "s", "object": "company", "matching_key": "email"}]},
            "'stream_mappings[0]'.matching_key: a company is matched by externalId; got 'email'",
        ),
        (
            {"stream_mappings": [{"stream": "s", "object": "customer"}, {"stream": "s", "object": "company"}]},
            "the stream 's' is mapped twice",
        ),
    ],
)
def test_each_bad_field_is_named_with_its_fix(overrides, message):
    with pytest.raises(AirbyteTracedException) as error:
        parse_config(config(**overrides))
    assert error.value.failure_type == FailureType.config_error and message in error.value.message
    assert TOKEN.lower() not in error.value.message.lower()


def test_the_spec_asks_for_the_key_length_the_config_accepts():
    assert spec_rules().property("api_token")["minLength"] == MIN_TOKEN_LENGTH


def test_a_config_saved_before_max_failed_percent_still_validates_with_the_new_defaults():
    settings = parse_config({"api_token": TOKEN, "max_failed_records": 100, "batch_size": 50})
    assert (settings.max_failed_percent, settings.lookup_by_search, settings.send_imported_at) == (10, True, False)
    assert (settings.search_requests_per_minute, settings.batch_size) == (50, 50)


@pytest.mark.parametrize(
    "stream, message",
    [
        ({"name": "orders_2024"}, "Stream 'orders_2024' maps to no Kustomer object. Add it to 'stream_mappings'"),
        ({"name": "x", "object": "contact"}, "mapped to 'contact', which is no Kustomer object"),
        ({"name": "x", "object": "customer", "primary_key": [["id"]]}, "a customer is found by externalId or email"),
        ({"name": "customers", "mode": "soft_delete"}, "only companies can be soft-deleted"),
    ],
)
def test_streams_that_map_to_nothing_writable_are_named(stream, message):
    with pytest.raises(AirbyteTracedException) as error:
        resolve_targets(catalog(stream), {})
    assert message in error.value.message


def test_targets_follow_the_object_name_then_the_mapping_then_the_stream_name():
    settings = parse_config(config(stream_mappings=[{"stream": "ltv", "object": "customer", "matching_key": "email"}]))
    targets = resolve_targets(
        catalog(
            {"name": "ltv", "mode": "append"},
            {"name": "kobjects_order", "mode": "overwrite"},
            {"name": "crm", "object": "customer", "mode": "update", "primary_key": [["email"]]},
            {"name": "companies", "primary_key": [["externalId"]]},
        ),
        settings.stream_mappings,
    )
    shown = {name: (t.object.name, t.operation, t.matching_key) for name, t in targets.items()}
    assert shown == {
        "ltv": ("customer", "upsert", "email"),
        "kobjects_order": ("kobject.order", "upsert", "externalId"),
        "crm": ("customer", "update", "email"),
        "companies": ("company", "upsert", "externalId"),
    }


def _run(capsys, args):
    with pytest.raises(SystemExit) as exited:
        run(args)
    out = capsys.readouterr()
    return exited.value.code, [json.loads(line) for line in out.out.splitlines() if line.startswith("{")], out


def test_bad_files_end_in_one_config_error_without_a_stack_trace(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps(config(batch_size=500)))
    (tmp_path / "catalog.json").write_text("[]")
    code, messages, out = _run(
        capsys, ["write", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")]
    )
    assert code == 1 and [m["type"] for m in messages] == ["TRACE"]
    error = messages[0]["trace"]["error"]
    assert error["failure_type"] == "config_error" and "'batch_size' must be a whole number" in error["message"]
    assert "stack_trace" not in error and "Traceback" not in out.err and TOKEN not in out.out + out.err


def test_a_catalog_that_is_not_one_is_named(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps(config()))
    (tmp_path / "catalog.json").write_text(json.dumps({"streams": [{"stream": "x"}]}))
    code, messages, _ = _run(
        capsys, ["write", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")]
    )
    assert code == 1 and "is not a configured catalog" in messages[0]["trace"]["error"]["message"]


def test_check_with_a_bad_config_fails_with_the_reason(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps(config(api_token="has space")))
    code, messages, _ = _run(capsys, ["check", "--config", str(tmp_path / "config.json")])
    status = messages[0]["connectionStatus"]
    assert code == 0 and status["status"] == "FAILED" and "contains spaces" in status["message"]
