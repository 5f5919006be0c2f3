"""The real entrypoint against the simulator: full sync, incremental after mutations, schemas, roles."""

from collections import Counter

import jsonschema

from integration_tests.conftest import LIMITED_TOKEN
from integration_tests.harness import configured_catalog, run_connector, sim_config, truth

CHILDREN = ("conversation_events", "message_attachments")


def test_spec_and_check(sim, config):
    spec = run_connector("spec", None)
    assert spec.of_type("SPEC")[0]["spec"]["connectionSpecification"]["properties"]["api_token"]["airbyte_secret"]
    assert run_connector("check", config).of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"] == "SUCCEEDED"
    wrong = run_connector("check", {**config, "api_token": "kst-wrong-token-not-a-secret-7Kq2Vx9Lm4Pz8"})
    status = wrong.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "invalid or has expired" in status["message"]


def test_check_names_the_host_it_could_not_reach(config):
    unreachable = run_connector("check", {**config, "api_url": "http://127.0.0.1:9"}, timeout=120)
    status = unreachable.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "http://127.0.0.1:9" in status["message"]
    logs = [m["log"]["message"] for m in unreachable.of_type("LOG")]
    assert not [line for line in logs if "Traceback" in line or "Rate limit" in line]  # the CDK's wording, reworded
    assert any(
        line.startswith("No answer from Kustomer (the connection failed or timed out); retrying in") for line in logs
    )


def test_discover_lists_every_stream_including_one_per_klass(catalog):
    names = {s["stream"]["name"] for s in catalog["streams"]}
    assert names == {
        "users",
        "teams",
        "tags",
        "shortcuts",
        "brands",
        "queues",
        "klasses",
        "satisfaction",
        "slas",
        "business_schedules",
        "customers",
        "conversations",
        "messages",
        "notes",
        "companies",
        "kobjects_order",
        "kobjects_subscription",
        "conversation_times",
        "work_sessions",
        "work_items",
        "audit_logs",
        "custom_attribute_metadata",
        "snoozes",
        "cards",
        "team_routing_settings",
        "routing_statuses",
        "queue_rules",
        "sla_versions",
        "business_holidays",
        "conversation_events",
        "message_attachments",
    }
    shapes = {
        s["stream"]["name"]: (
            tuple(s["stream"]["supported_sync_modes"]),
            tuple(s["stream"].get("default_cursor_field") or ()),
            s["stream"]["source_defined_primary_key"],
        )
        for s in catalog["streams"]
    }
    both, full = ("full_refresh", "incremental"), ("full_refresh",)
    assert shapes["conversation_times"] == (both, ("createdAt",), [["id"]])
    assert shapes["audit_logs"] == (both, ("createdAt",), [["id"]])
    assert shapes["work_items"] == (both, ("updatedAt",), [["id"]])
    assert shapes["work_sessions"] == (both, ("updatedAt",), [["id"]])
    assert shapes["custom_attribute_metadata"] == (full, (), [["id"]])
    for child in CHILDREN:
        assert shapes[child] == (both, ("conversationUpdatedAt",), [["id"]])
    for listed in ("snoozes", "cards", "team_routing_settings", "routing_statuses", "queue_rules"):
        assert shapes[listed] == (full, (), [["id"]])
    assert shapes["sla_versions"] == shapes["business_holidays"] == (full, (), [["id"]])


def test_full_sync_matches_ground_truth_and_every_record_fits_its_schema(sim, config, catalog):
    run = run_connector("read", config, catalog)
    assert run.returncode == 0 and not run.errors(), run.errors()
    schemas = {s["stream"]["name"]: s["stream"]["json_schema"] for s in catalog["streams"]}
    for name, schema in schemas.items():
        emitted = run.pairs(name)
        assert set(emitted) == truth(sim, name), name
        duplicates = sum(n - 1 for n in Counter(emitted).values())
        assert duplicates == 0, f"{name}: {duplicates} duplicates in a sync without faults"
        validator = jsonschema.Draft7Validator(schema)
        for record in run.records(name):
            validator.validate(record)
    summary = run.summary()
    assert summary["customers"]["records"] == len(truth(sim, "customers"))
    assert summary["customers"]["http_429"] == 0


def test_incremental_sync_after_mutations_reads_only_what_changed(sim, config, catalog):
    first = run_connector("read", config, catalog)
    state = first.final_state()
    changed = {stream: set(sim.org.mutate(stream, 40)) for stream in ("customers", "conversations", "kobjects_order")}
    second = run_connector("read", config, catalog, state)
    assert second.returncode == 0 and not second.errors()
    for stream, ids in changed.items():
        emitted = {rid for rid, _ in second.pairs(stream)}
        assert ids <= emitted, stream
        new_pairs = set(second.pairs(stream))
        assert {p for p in truth(sim, stream) if p[0] in ids} <= new_pairs
    # untouched search streams re-read at most their boundary record
    assert len(second.records("messages")) <= 1
    cursors = {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"] for s in second.final_state()}
    newest_customer = max(u for _, u in truth(sim, "customers"))
    assert cursors["customers"] == {"updatedAt": newest_customer}
    # a conversation's events and attachments: exactly those of the conversations changed since the first sync
    before = {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"] for s in state}
    for child in CHILDREN:
        since = before[child]["conversationUpdatedAt"]
        assert set(second.pairs(child)) == truth(sim, child, since=since), child
        assert cursors[child] == {"conversationUpdatedAt": max(u for _, u in truth(sim, "conversations"))}
    new_events = {rid for rid, _ in second.pairs("conversation_events")} - {
        rid for rid, _ in first.pairs("conversation_events")
    }
    assert len(new_events) >= len(changed["conversations"])  # each change of a conversation is an event of it


def test_a_missing_role_skips_that_stream_and_the_rest_sync(sim):
    limited = sim_config(sim, LIMITED_TOKEN)
    discovered = run_connector("discover", limited)
    catalog = configured_catalog(discovered, {"slas", "sla_versions", "tags", "notes", "companies"})
    run = run_connector("read", limited, catalog)
    assert run.returncode == 0 and not run.errors()
    assert not run.records("slas") and not run.records("notes") and not run.records("sla_versions")
    assert set(run.pairs("tags")) == truth(sim, "tags")
    assert set(run.pairs("companies")) == truth(sim, "companies")
    warnings = [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"]
    assert any("org.permission.sla.read" in w for w in warnings)
    assert any("Skipping stream 'sla_versions'" in w and "org.permission.sla.read" in w for w in warnings)
    assert any("org.permission.note.read" in w for w in warnings)
