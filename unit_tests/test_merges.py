"""Customer merges become delete markers exactly when Kustomer's merge records say so: whatever verb and shape the
audit entry has, pending merges asked again, pages and counts bounded, contradicting records reported and not
applied. Exact requests, markers and positions through the real source with HttpMocker."""

import json
from typing import List

import pytest
from airbyte_cdk.models import AirbyteStateBlob
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse

from source_kustomer import merges
from unit_tests.audit_builders import (
    BYSTANDER,
    MERGE_SOURCE,
    MERGE_TARGET,
    SINCE,
    UNTIL,
    audit,
    deletions_read,
    entry,
    markers,
    merge_entry,
    merge_record,
    merges_of,
    merges_page,
    metadata,
    records_search,
    warnings,
)
from unit_tests.conftest import discovery_mocks, error, get, page, resource

A, B = MERGE_SOURCE, MERGE_TARGET
MERGED_AT = "2026-05-30T00:00:01.000Z"  # merge_record's createdAt
HELD = "2026-05-29T23:59:59.999Z"  # the position just before the merge entry


def _customers(http_mocker, log: List[dict], records: List[dict] = ()) -> None:
    discovery_mocks(http_mocker)
    metadata(http_mocker, "customer")
    records_search(http_mocker, "customer", list(records))
    http_mocker.get(audit(types=["customer"]), page(log))


def single_merge(record: dict) -> HttpResponse:
    """GET /v1/customers/merges/{id}'s answer."""
    return HttpResponse(json.dumps({"data": record}), 200)


def _position(output) -> AirbyteStateBlob:
    return output.most_recent_state.stream_state


SHAPES = {
    # the connector's first guess: a merge verb on the kept customer, naming the one merged away in its changes
    "merge verb on the target": merge_entry(),
    # an update of the customer merged away, naming the kept one
    "update on the source": entry(
        "update", "customer", MERGE_SOURCE, "2026-05-30T00:00:00.000Z", serial=5,
        changes={"relationships": {"mergedInto": {"op": "replace", "before": None, "after": MERGE_TARGET}}},
    ),
    # only the event name says it
    "event name only": {
        **entry("update", "customer", MERGE_TARGET, "2026-05-30T00:00:00.000Z", serial=5,
                changes={"attributes": {"emails": {"op": "add", "before": [], "after": ["x@example.com"]}}}),
    },
}  # fmt: skip
SHAPES["event name only"]["attributes"]["eventName"] = "kustomer.customer.merged"


# the customers each shape's entry names, and the merge record each one's listing holds
ASKED = {
    "merge verb on the target": {MERGE_TARGET: [], BYSTANDER: [], MERGE_SOURCE: [merge_record(1, A, B)]},
    "update on the source": {MERGE_SOURCE: [merge_record(1, A, B)], MERGE_TARGET: []},
    "event name only": {MERGE_TARGET: [merge_record(1, A, B)]},  # the kept one's listing names both ends
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_merge_is_found_from_the_merge_records_of_every_customer_the_entry_names_whatever_its_shape(shape):
    with HttpMocker() as http_mocker:
        _customers(http_mocker, [SHAPES[shape]])
        asked = {customer: merges_of(customer) for customer in ASKED[shape]}
        for customer, listed in ASKED[shape].items():
            http_mocker.get(asked[customer], merges_page(listed))
        output = deletions_read(["customers"])
        for request in asked.values():
            http_mocker.assert_number_of_calls(request, 1)
    assert markers(output) == [(MERGE_SOURCE, MERGED_AT)] and not output.errors  # never the kept one
    assert _position(output) == AirbyteStateBlob(updatedAt=SINCE, deletionsSince=UNTIL)


def test_an_entry_that_names_no_merge_is_not_looked_up():
    update = entry("update", "customer", MERGE_TARGET, "2026-05-30T00:00:00.000Z", serial=5, changes={"attributes": {}})
    with HttpMocker() as http_mocker:
        _customers(http_mocker, [update])  # any request for merges would be unmatched, and fail the test
        output = deletions_read(["customers"])
    assert not markers(output) and not output.errors


RECENT = "2026-06-01T06:00:00.000Z"  # six hours before the sync


@pytest.mark.parametrize(
    "answers, created, expected, position, warned",
    [
        # asked again until it succeeded
        (["pending", "success"], RECENT, [(A, RECENT)], UNTIL, None),
        # still pending: the customers' position stays before it, and the next sync asks again
        (["pending"] * 3, RECENT, [], "2026-06-01T05:59:59.999Z", "could not all be settled"),
        # pending for more than a day: reported and let go, never silently taken for "no merge"
        (["pending"] * 3, "2026-05-30T00:00:01.000Z", [], UNTIL, "never succeeded"),
    ],
)
def test_a_pending_merge_is_asked_again_and_never_taken_for_no_merge(answers, created, expected, position, warned):
    pending = merge_record(7, A, B, "pending", created)
    later = [single_merge({**pending, "attributes": {**pending["attributes"], "status": s}}) for s in answers]
    with HttpMocker() as http_mocker:
        _customers(http_mocker, [merge_entry(at=created)])
        http_mocker.get(merges_of(B), merges_page([]))
        http_mocker.get(merges_of(BYSTANDER), merges_page([]))
        http_mocker.get(merges_of(A), merges_page([pending]))
        single = get(f"customers/merges/{pending['id']}")
        http_mocker.get(single, later)
        output = deletions_read(["customers"])
        http_mocker.assert_number_of_calls(single, len(answers))
    assert markers(output) == expected and not output.errors
    assert _position(output) == AirbyteStateBlob(updatedAt=SINCE, deletionsSince=position)
    if warned:
        assert any(warned in w for w in warnings(output)), warnings(output)


def test_a_merges_page_longer_than_asked_is_one_clear_error_and_the_position_stays():
    flood = [merge_record(n, f"{n:024x}", MERGE_TARGET) for n in range(1, 102)]
    with HttpMocker() as http_mocker:
        _customers(http_mocker, [merge_entry(changes={})])
        http_mocker.get(merges_of(MERGE_TARGET), merges_page(flood))
        output = deletions_read(["customers"])
    assert not markers(output)
    assert "a page of 101 records, though 100 were asked for" in output.errors[0].trace.error.message
    assert _position(output) == AirbyteStateBlob(updatedAt=SINCE, deletionsSince=SINCE)


CONTRADICTIONS = {
    "merged into itself": ([merge_record(1, B, B)], [], "a customer merged into itself"),
    "names neither end": ([merge_record(1, BYSTANDER, "f" * 24)], [], "who is neither end of it"),
    "a cycle": ([merge_record(1, A, B), merge_record(2, B, A)], [], "a cycle"),
    "target deleted first": (
        [merge_record(1, A, B)],
        [entry("delete", "customer", B, "2026-05-29T00:00:00.000Z", serial=2)],
        "its target was deleted before the merge",
    ),
    "emitted as changed later": ([merge_record(1, A, B)], [], "this sync read the customer as changed later"),
}


@pytest.mark.parametrize("case", list(CONTRADICTIONS))
def test_merge_records_that_contradict_each_other_or_the_syncs_own_records_are_reported_not_marked(case):
    records, extra_log, why = CONTRADICTIONS[case]
    live = [resource("customer", A, "2026-05-31T00:00:00.000Z")] if case == "emitted as changed later" else []
    changes = {"relationships": {"mergedCustomers": {"op": "add", "before": [], "after": [A]}}}
    with HttpMocker() as http_mocker:
        _customers(http_mocker, [merge_entry(changes=changes), *extra_log], live)
        http_mocker.get(merges_of(B), merges_page(records))
        http_mocker.get(merges_of(A), merges_page([r for r in records if r["id"].endswith("2")]))
        output = deletions_read(["customers"])
    marked = {customer for customer, _ in markers(output)}
    assert A not in marked and not output.errors
    assert marked == ({B} if case == "target deleted first" else set())  # the delete entry itself stands
    assert any("were not applied" in w and why in w for w in warnings(output)), warnings(output)
    cursor = live[0]["attributes"]["updatedAt"] if live else SINCE
    assert _position(output) == AirbyteStateBlob(updatedAt=cursor, deletionsSince=UNTIL)


@pytest.mark.parametrize(
    "lookups, expected, position",
    [
        (["404", "200"], [], UNTIL),  # a transient 404 is no proof: no marker, and nothing left to settle
        (["404", "404"], [(MERGE_SOURCE, "2026-05-30T00:00:00.000Z")], UNTIL),  # absent twice: a marker
        (["404", "400"], [], HELD),  # cannot be settled: the position stays before it
    ],
)
def test_without_the_merge_role_only_an_absence_seen_twice_becomes_a_marker(lookups, expected, position):
    answers = [error(int(code)) if code != "200" else HttpResponse("{}", 200) for code in lookups]
    with HttpMocker() as http_mocker:
        _customers(http_mocker, [merge_entry()])
        http_mocker.get(merges_of(MERGE_TARGET), error(403, "lacks merge role"))
        for present in (MERGE_TARGET, BYSTANDER):  # every customer named is looked up, the kept one too
            http_mocker.get(get(f"customers/{present}"), HttpResponse('{"data": {}}', 200))
        http_mocker.get(get(f"customers/{MERGE_SOURCE}"), answers)
        output = deletions_read(["customers"])
    assert markers(output) == expected
    assert _position(output) == AirbyteStateBlob(updatedAt=SINCE, deletionsSince=position)
    assert output.is_in_logs("Kustomer refused the customer merge records")


def test_merges_are_settled_oldest_first_and_a_spent_lookup_budget_holds_the_position_before_the_next(monkeypatch):
    monkeypatch.setattr(merges, "MAX_MERGE_LOOKUPS", 1)
    first = entry("merge", "customer", MERGE_TARGET, "2026-05-29T00:00:00.000Z", serial=1)
    second = entry("merge", "customer", BYSTANDER, "2026-05-30T00:00:00.000Z", serial=2)
    with HttpMocker() as http_mocker:
        _customers(http_mocker, [second, first])
        failed = merge_record(2, "f" * 24, MERGE_TARGET, "failed", "2026-05-01T00:00:00.000Z")
        http_mocker.get(merges_of(MERGE_TARGET), merges_page([merge_record(1, MERGE_SOURCE, MERGE_TARGET), failed]))
        http_mocker.get(merges_of(BYSTANDER), merges_page([]))
        output = deletions_read(["customers"])
    assert markers(output) == [(MERGE_SOURCE, MERGED_AT)]  # a failed merge removes nobody
    assert _position(output) == AirbyteStateBlob(updatedAt=SINCE, deletionsSince=HELD)
    assert output.is_in_logs("the next sync goes on from there")
