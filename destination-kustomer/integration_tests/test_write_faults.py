"""Writes under fire: 429 storms, 5xx answers and dropped connections on every kind of request a write makes end
with 0 lost and 0 duplicated; a create whose answer is lost (held back past the request timeout while Kustomer
writes it, or cut off) is looked up again and never made twice; bad records are reported with stream, key and
reason while the good ones are written; past the threshold the entrypoint ends with one clear error; check and
discover answer through the entrypoint as Airbyte expects; no output carries the token. (The fault rows run
in-process, sparing a process start each: the requests are the same.)"""

import json
import time
from dataclasses import replace

import pytest
from destination_harness import (
    destination_config,
    input_lines,
    run_destination,
    write_catalog,
    write_in_process,
    written,
)

from conftest import WRITE_LIMITED_TOKEN
from integration_tests import matrix
from kustomer_simulator.faults import Fault
from kustomer_simulator.testing import TEST_TOKEN
from kustomer_simulator.timefmt import now_ms

FAULTS = [
    ("429 storm on lookups", Fault(kind="rate_limit", count=4, scope="/v1/customers/externalId=")),
    ("503 on a bulk create", Fault(kind="status", status=503, count=2, scope="/v1/customers/bulk")),
    ("500 while polling a bulk job", Fault(kind="status", status=500, count=2, scope="/v1/bulk/")),
    ("429 storm on bulk requests", Fault(kind="rate_limit", count=2, scope="/v1/customers/bulk", retry_after=False)),
    ("connection reset on a lookup", Fault(kind="reset", count=2, scope="/v1/customers/externalId=")),
]


@pytest.mark.parametrize("name, fault", FAULTS, ids=[name for name, _ in FAULTS])
def test_faults_are_retried_with_nothing_lost_or_duplicated(sim, name, fault):
    prefix = name.split()[0] + name.split()[-1]
    rows = [{"externalId": f"{prefix}-{n}", "name": f"Fault {n}"} for n in range(30)]
    with sim.org.lock:  # half of the rows exist already, so the faults hit updates as well as creates
        for row in rows[:15]:
            sim.org.store.create(sim.org.collections["customers"], row, sim.settings.writes, now_ms())
    sim.faults.add(fault)
    started = time.monotonic()
    try:
        run = write_in_process(
            destination_config(sim, TEST_TOKEN),
            write_catalog({"name": "customers"}),
            input_lines("customers", rows, 10),
        )
    finally:
        sim.faults.clear()
    seconds = time.monotonic() - started
    holders = [written(sim, "customers", "externalId", row["externalId"]) for row in rows]
    lost = sum(1 for found in holders if not found)
    duplicates = sum(len(found) - 1 for found in holders if found)
    row = run.summary()["customers"]
    matrix.record(f"destination: {name}", "write", lost, duplicates, "succeeded", seconds)
    assert (lost, duplicates, row["failed"]) == (0, 0, 0)
    assert (row["created"], row["updated"]) == (15, 15)
    assert len(run.of_type("STATE")) == 3
    if fault.kind == "rate_limit":
        assert row["http_429"] >= 1


LOST_ANSWERS = [
    # Held back 2.5 s, past the 1 s request timeout; Kustomer writes the records once it answers, after the client
    # gave up (a bulk job then runs, as ever, a little later).
    ("slow bulk create", Fault(kind="slow", seconds=2.5, scope="/v1/customers/bulk"), 100),
    ("slow single create", Fault(kind="slow", seconds=2.5, scope="/v1/customers", after=1), 1),
    ("slow single create landing soon", Fault(kind="slow", seconds=1.3, scope="/v1/customers", after=1), 1),
    # The connection dropped once the request was read: nothing written, and the client cannot know that.
    ("reset on a bulk create", Fault(kind="reset", scope="/v1/customers/bulk"), 100),
    ("reset on a single create", Fault(kind="reset", scope="/v1/customers", after=1), 1),
]


@pytest.mark.parametrize("duplicates", ["created", "conflict"])
@pytest.mark.parametrize("name, fault, batch_size", LOST_ANSWERS, ids=[name for name, _, _ in LOST_ANSWERS])
def test_a_create_whose_answer_is_lost_is_made_once(sim, name, fault, batch_size, duplicates):
    prefix = f"{name.replace(' ', '-')}-{duplicates}"
    rows = [{"externalId": f"{prefix}-{n}", "name": f"Lost {n}"} for n in range(3)]
    sim.settings.writes.duplicate_external_id = duplicates
    fired_before = sim.faults.fired.get(fault.kind, 0)
    sim.faults.add(replace(fault))  # a fresh copy: a fault counts itself down as it fires
    started = time.monotonic()
    try:
        run = write_in_process(
            destination_config(sim, TEST_TOKEN, request_timeout_seconds=1, batch_size=batch_size),
            write_catalog({"name": "customers"}),
            input_lines("customers", rows, 3),
        )
        fired = sim.faults.fired.get(fault.kind, 0) - fired_before
        time.sleep(max(0.0, started + fault.seconds + 0.5 - time.monotonic()))  # until a held-back write has landed
    finally:
        sim.faults.clear()
        sim.settings.writes.duplicate_external_id = "created"
    holders = [written(sim, "customers", "externalId", row["externalId"]) for row in rows]
    duplicated = sum(len(found) - 1 for found in holders if found)
    lost = sum(1 for found in holders if not found)
    row = run.summary()["customers"]
    matrix.record(
        f"destination: {name} ({duplicates})", "write", lost, duplicated, "succeeded", time.monotonic() - started
    )
    assert fired == 1
    assert (lost, duplicated, row["created"], row["updated"], row["failed"]) == (0, 0, 3, 0, 0)
    assert len(run.of_type("STATE")) == 1


def test_bad_records_are_reported_and_the_good_ones_written(sim):
    existing_email = sim.org.collections["customers"].render(3)["attributes"]["emails"][0]["email"]
    rows = [
        {"externalId": "good-1", "name": "Good"},
        {"externalId": "bad-type", "emails": [{"email": "x@y.test", "type": "house"}]},
        {"externalId": "bad-tags", "tags": [f"t{n}" for n in range(25)]},
        {"name": "no key at all"},
        {"externalId": "taken-email", "email": existing_email},  # Kustomer refuses: another customer has it (409)
        {"externalId": "good-2", "name": "Also good", "lifetimeValueNum": 3},
    ]
    run = write_in_process(
        destination_config(sim, TEST_TOKEN, max_failed_percent=100),
        write_catalog({"name": "customers"}),
        input_lines("customers", rows, 6),
    )
    row = run.summary()["customers"]
    assert (row["failed"], row["created"]) == (4, 2)
    reasons = "\n".join(row["failures"])
    assert "(externalId=bad-type) was not written: emails.0.type: must be one of home, work, other; got 'house'" in (
        reasons
    )
    assert "(externalId=bad-tags) was not written: tags: ['t0', 't1', 't2', 't3', 't4', 't5', 't… is too long" in (
        reasons
    )
    assert "(no externalId) was not written: externalId: missing" in reasons
    assert "(externalId=taken-email) was not written: Kustomer answered HTTP 409" in reasons
    assert written(sim, "customers", "externalId", "good-2")[0]["custom"] == {"lifetimeValueNum": 3}
    assert not written(sim, "customers", "externalId", "taken-email")
    assert len(run.of_type("STATE")) == 1


MARK = "POISON-MARK"  # in every poison line: never in the output
POISON = [
    (
        "line not valid UTF-8",
        f'{{"type":"RECORD","record":{{"stream":"customers","data":{{"name":"{MARK}'.encode() + b"\xff" + b'"}}}',
        "not valid UTF-8",
    ),
    ("line that is not JSON", f'{{"type":"RECORD","record":{{"stream":"customers","data":{MARK}'.encode(), "not JSON"),
    (
        "custom object nested past the parser's depth",
        f'{{"type":"RECORD","record":{{"stream":"customers","emitted_at":0,"data":{{"externalId":"{MARK}","lifetimeValueNum":'.encode()
        + b"[" * 1000
        + b"]" * 1000
        + b"}}}",
        "nested deeper than 64 levels",
    ),
    (
        "record nested 100 levels",
        f'{{"type":"RECORD","record":{{"stream":"customers","emitted_at":0,"data":{{"externalId":"{MARK}","custom":'.encode()
        + b'{"a":' * 100
        + b"1"
        + b"}" * 100
        + b"}}}",
        "nested deeper than 64 levels",
    ),
    (
        "line of 9 MiB",
        json.dumps(
            {
                "type": "RECORD",
                "record": {
                    "stream": "customers",
                    "emitted_at": 0,
                    "data": {"externalId": MARK, "name": "n" * (9 << 20)},
                },
            }
        ).encode(),
        "longer than 8,388,608 bytes",
    ),
]


@pytest.mark.parametrize("name, line, reason", POISON, ids=[name for name, _, _ in POISON])
def test_a_poison_line_is_a_refused_record_never_a_crash_and_no_later_state_passes(sim, name, line, reason):
    prefix = "poison-" + name.split()[1]
    rows = [{"externalId": f"{prefix}-{n}", "name": f"Poison {n}"} for n in range(10)]
    before, after = input_lines("customers", rows[:5], 5), input_lines("customers", rows[5:], 5)
    raw = "".join(text + "\n" for text in before).encode() + line + b"\n"
    raw += "".join(text + "\n" for text in after).encode()
    run = run_destination(
        "write", destination_config(sim, TEST_TOKEN), write_catalog({"name": "customers"}), raw=raw, observe=True
    )
    holders = [written(sim, "customers", "externalId", row["externalId"]) for row in rows]
    lost, duplicates = sum(1 for found in holders if not found), sum(len(found) - 1 for found in holders if found)
    (error,) = run.errors()
    matrix.record(
        f"destination: {name}",
        "write",
        lost,
        duplicates,
        f"one clear error; peak RSS {run.peak_rss_mb:.0f} MB",
        run.seconds,
    )
    assert (lost, duplicates, run.returncode) == (0, 0, 1)  # every other record written; exit 1
    assert error["message"].startswith(f"1 line(s) on stdin could not be read as Airbyte messages (line 7: {reason})")
    assert error["failure_type"] == "system_error" and len(run.states()) == 1  # nothing passed after it
    assert MARK not in run.stdout + run.stderr
    warned = [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"]
    assert any("line 7 on stdin" in text.lower() and reason in text for text in warned)
    assert run.peak_rss_mb is not None and run.peak_rss_mb < 500


def test_a_long_value_and_many_unknown_fields_never_flood_the_output(sim):
    rows = [
        {"externalId": "flood-name", "name": "n" * 8_300_000},  # a line just under the bound; refused by the schema
        {"externalId": "flood-fields", **{f"field{n:05d}" + "x" * 100: n for n in range(20_000)}},
        {"externalId": "flood-ok", "name": "Fine"},
    ]
    run = run_destination(
        "write",
        destination_config(sim, TEST_TOKEN, max_failed_percent=100),
        write_catalog({"name": "customers"}),
        input_lines("customers", rows, 3),
        observe=True,
    )
    summary = run.summary()["customers"]
    outcome = f"reported; {len(run.stdout):,} bytes out; peak RSS {run.peak_rss_mb:.0f} MB"
    matrix.record("destination: 8.3 MB value and 20,000 unknown fields", "write", 0, 0, outcome, run.seconds)
    assert run.returncode == 0 and len(run.stdout) < 60_000  # 10 MB in, a few KB out
    assert (summary["failed"], summary["created"], summary["unmapped_unnamed"]) == (1, 2, 19_900)
    assert len(summary["unmapped_fields"]) == 100 and len(run.states()) == 1
    assert run.peak_rss_mb is not None and run.peak_rss_mb < 500


def test_only_the_fields_the_configured_schema_lists_are_written(sim):
    catalog = write_catalog({"name": "customers"})
    catalog["streams"][0]["stream"]["json_schema"] = {
        "type": "object",
        "properties": {"externalId": {"type": "string"}, "name": {"type": "string"}},
    }
    run = write_in_process(
        destination_config(sim, TEST_TOKEN),
        catalog,
        input_lines(
            "customers", [{"externalId": "listed-1", "name": "Listed", "locale": "fr", "lifetimeValueNum": 9}], 1
        ),
    )
    (found,) = written(sim, "customers", "externalId", "listed-1")
    assert found["name"] == "Listed" and not found.get("locale") and not found.get("custom")
    assert run.summary()["customers"]["unmapped_fields"] == ["lifetimeValueNum", "locale"]


FAKER_USERS = [  # source-faker's users stream, as PyAirbyte delivers it
    {
        "id": n,
        "name": f"User {n}",
        "email": f"user{n}@faker.test",
        "gender": ["Female", "Male", "Other"][n % 3],
        "age": 20 + n,
        "address": {"city": "Lisbon", "country_code": "PT"},
        "_airbyte_extracted_at": 0,
    }
    for n in range(25)
]


def test_a_sync_whose_records_are_all_refused_fails_and_says_why_at_warn(sim):
    run = run_destination(
        "write",
        destination_config(
            sim, TEST_TOKEN, stream_mappings=[{"stream": "users", "object": "customer", "matching_key": "email"}]
        ),
        write_catalog({"name": "users"}),
        input_lines("users", FAKER_USERS, 10),
    )
    (error,) = run.errors()
    assert run.returncode == 1 and error["failure_type"] == "config_error"
    assert "Stream 'users': all 25 of its records were refused, so nothing was written" in error["message"]
    assert "gender: must be one of m, f; got 'Female'" in error["message"]
    warned = [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"]
    assert (
        sum("(email=user" in line and "was not written: gender: must be one of m, f" in line for line in warned) == 25
    )
    assert any("field(s) address, age, id are neither standard attributes" in line for line in warned)
    assert not run.of_type("STATE")  # nothing was written: the source sends the records again
    assert "Traceback" not in run.stderr
    assert not written(sim, "customers", "email", "user0@faker.test")


def test_an_enum_value_in_another_case_is_refused_naming_the_valid_one(sim):
    run = write_in_process(
        destination_config(sim, TEST_TOKEN),
        write_catalog({"name": "customers"}),
        input_lines("customers", [{"externalId": "case-1", "gender": "F"}], 1),
        stops=True,
    )
    (reason,) = run.summary()["customers"]["failures"]
    assert "gender: must be one of m, f; got 'F' -- 'f' (the same in another case) is valid" in reason
    assert not written(sim, "customers", "externalId", "case-1")  # never changed silently


def test_past_the_share_of_refusals_allowed_the_write_fails_with_one_clear_error(sim):
    rows = [{"externalId": f"share-{n}", "name": "x" if n % 2 else "Fine"} for n in range(4)]
    rows += [{"externalId": f"share-bad-{n}", "gender": "x"} for n in range(2)]
    run = run_destination(
        "write",
        destination_config(sim, TEST_TOKEN, max_failed_percent=25, max_failed_records=100),
        write_catalog({"name": "customers"}),
        input_lines("customers", rows, 6),
    )
    (error,) = run.errors()
    assert run.returncode == 1 and error["failure_type"] == "config_error"
    assert "2 of its 6 records were refused, more than 'max_failed_percent' (25 %) allows" in error["message"]
    assert "Traceback" not in run.stderr and len(written(sim, "customers", "externalId", "share-0")) == 1
    retired = [
        m["log"]["message"]
        for m in run.of_type("LOG")
        if "'max_failed_records' is no longer used" in m["log"]["message"]
    ]
    assert len(retired) == 1  # an old config still runs, and is told what replaced the option


def test_check_and_discover_through_the_entrypoint(sim):
    limited = run_destination(
        "check",
        destination_config(sim, WRITE_LIMITED_TOKEN, stream_mappings=[{"stream": "s", "object": "customer"}]),
    )
    status = limited.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "SUCCEEDED"  # no harmless request can prove an update: the first write will tell
    assert "to update customer records: org.permission.customer.update or org.user.customer.write" in status["message"]
    discovered = run_destination("discover", destination_config(sim, TEST_TOKEN))
    operations = discovered.of_type("DESTINATION_CATALOG")[0]["destination_catalog"]["operations"]
    objects = {op["object_name"] for op in operations}
    assert objects == {"customer", "company", "kobject.order", "kobject.subscription"}
    customer = next(op for op in operations if op["object_name"] == "customer")
    assert {"lifetimeValueNum", "tierStr", "vipBool", "lastOrderAt"} <= set(customer["json_schema"]["properties"])
