"""The audit log as Kustomer documents it (ids minted at publish, createdAt earlier, bare next links) and deletions
only on proof: exact requests, records, markers and positions, through the real source with HttpMocker."""

import json
from datetime import datetime
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

import pytest
from airbyte_cdk.models import AirbyteStateBlob, SyncMode
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse
from airbyte_cdk.test.state_builder import StateBuilder

from source_kustomer import SourceKustomer, deletions
from unit_tests.conftest import (
    NOW_ISO,
    catalog,
    config,
    discovery_mocks,
    error,
    get,
    get_any,
    page,
    resource,
    search,
)

SINCE = "2026-05-28T10:00:00.000Z"  # within one audit window (a week) of now
ASKED_FROM = "2026-05-28T09:59:59.999Z"
UNTIL = "2026-06-01T11:55:00.000Z"  # now less the publish lag the connector allows (5 minutes)
ASKED_TO = "2026-06-01T12:00:00.001Z"
MERGE_SOURCE, MERGE_TARGET, BYSTANDER = "a" * 24, "b" * 24, "c" * 24


def _seconds(at: str) -> int:
    return int(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp())


def entry(
    verb: str,
    object_type: str,
    object_id: str,
    published: str,
    created: Optional[str] = "",
    serial: int = 0,
    changes: Optional[dict] = None,
) -> dict:
    """An audit entry as Kustomer sends it: an ObjectId minted at ``published``; createdAt earlier or absent."""
    attributes: Dict[str, Any] = {"eventVerb": verb, "objectType": object_type, "objectId": object_id}
    if created is not None:
        attributes["createdAt"] = created or published
    attributes["publishedAt"] = published
    if changes is not None:
        attributes["changes"] = changes
    return {"type": "audit_log", "id": f"{_seconds(published):08x}{serial:016x}", "attributes": attributes}


def audit(before: Optional[str] = None, types: Optional[List[str]] = None, low: str = ASKED_FROM, high: str = ASKED_TO):
    """The exact audit-log request the connector builds (it never follows Kustomer's next link)."""
    query: Dict[str, str] = {"count": "1000"}
    if types:
        query["filter[objectType]"] = types[0]
        if len(types) > 1:
            query["filter[include]"] = ",".join(types[1:])
    query.update({"filter[start]": low, "filter[end]": high})
    if before:
        query["before"] = before
    return get("audit-logs", **query)


def _audit_state(cursor: str = SINCE):
    return StateBuilder().with_stream_state("audit_logs", {"createdAt": cursor}).build()


def _read_audit(http_mocker, pages: List[tuple], expecting_exception: bool = False):
    discovery_mocks(http_mocker)
    for request, response in pages:
        http_mocker.get(request, response)
    return read(
        SourceKustomer(),
        config(),
        catalog("audit_logs", mode=SyncMode.incremental),
        _audit_state(),
        expecting_exception=expecting_exception,
    )


def test_entries_are_taken_in_publish_order_with_created_at_lagging_and_the_next_page_built_from_the_last_id():
    newest = entry("update", "conversation", "c1", "2026-06-01T10:00:08.387Z", "2026-06-01T10:00:01.074Z", 2)
    # published earlier, created later than the entry above: allowed, both are read
    older = entry("update", "customer", "u1", "2026-06-01T10:00:05.000Z", "2026-06-01T10:00:04.000Z", 1)
    oldest = entry("create", "message", "m1", "2026-05-30T00:00:00.000Z", serial=0)
    with HttpMocker() as http_mocker:
        output = _read_audit(
            http_mocker,
            [
                (audit(), page([newest, older], "/v1/audit-logs?count=1000&before=" + older["id"])),
                (audit(before=older["id"]), page([oldest])),
            ],
        )
    assert [m.record.data["id"] for m in output.records] == [newest["id"], older["id"], oldest["id"]]
    assert output.records[0].record.data["createdAt"] == "2026-06-01T10:00:01.074Z"
    assert output.most_recent_state.stream_state == AirbyteStateBlob(createdAt=UNTIL)
    assert not output.errors


def test_a_server_that_drops_the_filters_costs_at_most_the_page_that_reaches_past_the_window():
    inside = entry("update", "customer", "u1", "2026-05-30T00:00:00.000Z", serial=3)
    before_window = entry("update", "customer", "u0", "2026-05-20T00:00:00.000Z", serial=2)
    far_older = entry("update", "customer", "u-", "2026-05-01T00:00:00.000Z", serial=1)
    with HttpMocker() as http_mocker:
        first = audit()
        output = _read_audit(
            http_mocker, [(first, page([inside, before_window, far_older], "/v1/audit-logs?before=x&count=1000"))]
        )
        http_mocker.assert_number_of_calls(first, 1)
    assert [m.record.data["id"] for m in output.records] == [inside["id"]] and not output.errors


def test_an_entry_without_created_at_is_placed_by_published_at_and_one_without_dates_by_its_id():
    by_published = entry("update", "customer", "u1", "2026-05-31T00:00:00.000Z", created=None, serial=2)
    undated = entry("update", "customer", "u2", "2026-05-30T00:00:00.000Z", created=None, serial=1)
    del undated["attributes"]["publishedAt"]
    with HttpMocker() as http_mocker:
        output = _read_audit(http_mocker, [(audit(), page([by_published, undated]))])
    assert [m.record.data["id"] for m in output.records] == [by_published["id"], undated["id"]]
    warnings = [m.log.message for m in output.logs if m.log.level.name == "WARN"]
    assert any("1 entries had neither createdAt nor publishedAt" in w for w in warnings), warnings


@pytest.mark.parametrize(
    "entries, why",
    [
        (lambda: [entry("update", "customer", "u1", "2026-05-29T00:00:00.000Z", serial=1),
                  entry("update", "customer", "u2", "2026-05-30T00:00:00.000Z", serial=2)],
         "newest first by id"),
        (lambda: [{"type": "audit_log", "id": f"{n:024x}", "attributes": {}} for n in range(1001, 0, -1)],
         "a page of 1,001 entries, though 1,000 were asked for"),
    ],
)  # fmt: skip
def test_a_page_out_of_order_or_longer_than_asked_stops_the_read_without_moving_the_position(entries, why):
    with HttpMocker() as http_mocker:
        output = _read_audit(http_mocker, [(audit(), page(entries()))], expecting_exception=True)
    assert not output.records and why in output.errors[0].trace.error.message
    assert output.most_recent_state.stream_state == AirbyteStateBlob(createdAt=SINCE)


def test_a_state_older_than_ninety_days_warns_what_kustomer_may_have_dropped():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        state = _audit_state("2026-02-01T00:00:00.000Z")
        http_mocker.get(get_any("audit-logs"), page([]))  # every window: nothing
        output = read(SourceKustomer(), config(), catalog("audit_logs", mode=SyncMode.incremental), state)
    warnings = [m.log.message for m in output.logs if m.log.level.name == "WARN"]
    assert any("more than 90 days ago" in w and "routing events" in w for w in warnings), warnings


# ---- deletions ---------------------------------------------------------------------------------------------
def _records_search(http_mocker, context: str, records: List[dict]) -> None:
    criteria = [{f"{context}_updated_at": {"gte": SINCE}}, {f"{context}_updated_at": {"lte": NOW_ISO}}]
    request = search(context, criteria)
    request._body = {**request._body, "includeDeleted": True}
    http_mocker.post(request, page(records))


def _metadata(http_mocker, *resources: str) -> None:
    for name in resources:
        http_mocker.get(get(f"metadata/{name}"), error(404))


def _deletions_read(http_mocker, streams: List[str], merge_role: bool = True, **overrides: Any):
    builder = StateBuilder()
    for name in streams:
        builder = builder.with_stream_state(name, {"updatedAt": SINCE, "deletionsSince": SINCE})
    return read(
        SourceKustomer(),
        config(sync_deletes=True, **overrides),
        catalog(*streams, mode=SyncMode.incremental),
        builder.build(),
        expecting_exception=True,
    )


def _merges(customer: str, merges: List[tuple]) -> HttpResponse:
    data = [
        {
            "type": "customer_merge",
            "id": f"{n:024x}",
            "attributes": {"status": status, "createdAt": "2026-05-30T00:00:01.000Z"},
            "relationships": {
                "source": {"links": {"self": f"/v1/customers/{s}"}, "data": {"type": "customer", "id": s}},
                "target": {"links": {"self": f"/v1/customers/{t}"}, "data": {"type": "customer", "id": t}},
            },
        }
        for n, (s, t, status) in enumerate(merges)
    ]
    return HttpResponse(json.dumps({"data": data, "links": {"next": None}, "meta": {"page": 1}}), 200)


def _merge_entry(serial: int = 5) -> dict:
    changes = {"relationships": {"mergedCustomers": {"op": "add", "before": [BYSTANDER], "after": [MERGE_SOURCE]}}}
    return entry("merge", "customer", MERGE_TARGET, "2026-05-30T00:00:00.000Z", serial=serial, changes=changes)


def _markers(output) -> List[tuple]:
    return [
        (m.record.data["id"], m.record.data["_ab_cdc_deleted_at"])
        for m in output.records
        if "_ab_cdc_deleted_at" in m.record.data
    ]


def test_one_combined_pass_reads_the_deletions_of_every_stream_and_merges_come_from_kustomers_merge_records():
    deleted_conversation = entry("delete", "conversation", "d" * 24, "2026-05-31T00:00:00.000Z", serial=9)
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "customer", "conversation")
        _records_search(http_mocker, "customer", [])
        _records_search(http_mocker, "conversation", [])
        combined = audit(types=["conversation", "customer"], high=ASKED_TO)
        http_mocker.get(combined, page([deleted_conversation, _merge_entry()]))
        for customer in (MERGE_TARGET, BYSTANDER):
            http_mocker.get(get(f"customers/{customer}/merges", page=1, pageSize=100), _merges(customer, []))
        http_mocker.get(
            get(f"customers/{MERGE_SOURCE}/merges", page=1, pageSize=100),
            _merges(MERGE_SOURCE, [(MERGE_SOURCE, MERGE_TARGET, "success")]),
        )
        output = _deletions_read(http_mocker, ["customers", "conversations"])
        http_mocker.assert_number_of_calls(combined, 1)
    assert not output.errors
    by_stream = {m.record.stream: (m.record.data["id"], m.record.data["_ab_cdc_deleted_at"]) for m in output.records}
    assert by_stream == {
        "conversations": ("d" * 24, "2026-05-31T00:00:00.000Z"),
        "customers": (MERGE_SOURCE, "2026-05-30T00:00:01.000Z"),  # only the one merged away, never the kept one
    }
    final = {m.state.stream.stream_descriptor.name: m.state.stream.stream_state for m in output.state_messages}
    assert final["customers"] == AirbyteStateBlob(updatedAt=SINCE, deletionsSince=UNTIL)


@pytest.mark.parametrize(
    "state, asked_from, weeks",
    [
        (None, "2026-05-31T11:59:59.999Z", 1),  # a first sync: from a day before it began, not from start_date
        ({"updatedAt": SINCE}, "2025-12-31T23:59:59.999Z", 22),  # deletes turned on later: from start_date
        ({"updatedAt": SINCE, "deletionsSince": SINCE}, ASKED_FROM, 1),  # from where the last sync stopped
    ],
)
def test_deletions_are_read_from_the_saved_position_else_from_before_the_sync_or_from_start_date(
    state, asked_from, weeks
):
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "company")
        criteria_low = SINCE if state else "2026-01-01T00:00:00.000Z"
        criteria = [{"company_updated_at": {"gte": criteria_low}}, {"company_updated_at": {"lte": NOW_ISO}}]
        request = search("company", criteria)
        request._body = {**request._body, "includeDeleted": True}
        http_mocker.post(request, page([]))
        http_mocker.get(get_any("audit-logs"), page([]))
        output = read(
            SourceKustomer(),
            config(sync_deletes=True),
            catalog("companies", mode=SyncMode.incremental),
            StateBuilder().with_stream_state("companies", state).build() if state else None,
        )
        asked = [r.url for r in http_mocker._mocker.request_history if "/audit-logs" in r.url]
    assert not output.errors
    starts = sorted(parse_qs(urlsplit(url).query)["filter[start]"][0] for url in asked)
    assert starts[0] == asked_from and len(asked) == weeks  # one request per (empty) week of the window


def test_where_filter_include_is_ignored_each_object_type_gets_its_own_pass():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "message", "company")
        _records_search(http_mocker, "message", [])
        _records_search(http_mocker, "company", [])
        stray = entry("update", "shortcut", "s" * 24, "2026-05-31T00:00:00.000Z", serial=3)
        http_mocker.get(audit(types=["company", "message"]), page([stray]))
        gone = entry("delete", "company", "e" * 24, "2026-05-30T00:00:00.000Z", serial=2)
        http_mocker.get(audit(types=["company"]), page([gone]))
        http_mocker.get(audit(types=["message"]), page([]))
        output = _deletions_read(http_mocker, ["messages", "companies"])
    assert _markers(output) == [("e" * 24, "2026-05-30T00:00:00.000Z")] and not output.errors
    assert output.is_in_logs("does not honour filter\\[include\\]")


def _fallback_mocks(http_mocker, lookups: List[HttpResponse]) -> None:
    discovery_mocks(http_mocker)
    _metadata(http_mocker, "customer")
    _records_search(http_mocker, "customer", [])
    http_mocker.get(audit(types=["customer"]), page([_merge_entry()]))
    http_mocker.get(get(f"customers/{MERGE_TARGET}/merges", page=1, pageSize=100), error(403, "lacks merge role"))
    http_mocker.get(get(f"customers/{BYSTANDER}"), HttpResponse(json.dumps({"data": {}}), 200))
    http_mocker.get(get(f"customers/{MERGE_SOURCE}"), lookups)


@pytest.mark.parametrize(
    "lookups, markers, position",
    [
        (["404", "200"], [], UNTIL),  # a transient 404 is no proof: no marker, and nothing left to settle
        (["404", "404"], [(MERGE_SOURCE, "2026-05-30T00:00:00.000Z")], UNTIL),  # absent twice: a marker
        (["404", "400"], [], "2026-05-29T23:59:59.999Z"),  # cannot be settled: the position stays before it
    ],
)
def test_without_the_merge_role_only_an_absence_seen_twice_becomes_a_marker(monkeypatch, lookups, markers, position):
    monkeypatch.setattr(deletions, "ABSENCE_RECHECK_SECONDS", 0.0)
    answers = [error(int(code)) if code != "200" else HttpResponse("{}", 200) for code in lookups]
    with HttpMocker() as http_mocker:
        _fallback_mocks(http_mocker, answers)
        output = _deletions_read(http_mocker, ["customers"])
    assert _markers(output) == markers
    final = output.most_recent_state.stream_state
    assert final.__dict__ == {"updatedAt": SINCE, "deletionsSince": position}
    assert output.is_in_logs("Kustomer refused the customer merge records")


def test_merges_are_settled_oldest_first_and_a_spent_lookup_budget_holds_the_position_before_the_next(monkeypatch):
    monkeypatch.setattr(deletions, "MAX_MERGE_LOOKUPS", 1)
    first = entry("merge", "customer", MERGE_TARGET, "2026-05-29T00:00:00.000Z", serial=1)
    second = entry("merge", "customer", BYSTANDER, "2026-05-30T00:00:00.000Z", serial=2)
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "customer")
        _records_search(http_mocker, "customer", [])
        http_mocker.get(audit(types=["customer"]), page([second, first]))
        http_mocker.get(
            get(f"customers/{MERGE_TARGET}/merges", page=1, pageSize=100),
            _merges(MERGE_TARGET, [(MERGE_SOURCE, MERGE_TARGET, "success"), ("f" * 24, MERGE_TARGET, "failed")]),
        )
        http_mocker.get(get(f"customers/{BYSTANDER}/merges", page=1, pageSize=100), _merges(BYSTANDER, []))
        output = _deletions_read(http_mocker, ["customers"])
    assert _markers(output) == [(MERGE_SOURCE, "2026-05-30T00:00:01.000Z")]  # a failed merge removes nobody
    assert output.most_recent_state.stream_state == AirbyteStateBlob(
        updatedAt=SINCE, deletionsSince="2026-05-29T23:59:59.999Z"
    )
    assert output.is_in_logs("the next sync goes on from there")


def test_more_deletions_than_may_be_held_are_read_again_in_smaller_windows_then_stop_with_one_error(monkeypatch):
    monkeypatch.setattr(deletions, "MAX_HELD_DELETIONS", 1)
    burst = [entry("delete", "company", f"{n:024x}", "2026-05-30T00:00:00.000Z", serial=n) for n in (3, 2)]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "company")
        _records_search(http_mocker, "company", [])
        http_mocker.get(get_any("audit-logs"), page(burst))  # every window asked for: the same two entries
        output = _deletions_read(http_mocker, ["companies"])
    assert not _markers(output)
    assert "More than 1 deletions or" in output.errors[0].trace.error.message
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=SINCE, deletionsSince=SINCE)


# ---- bounded pages ---------------------------------------------------------------------------------------------
def test_a_search_page_longer_than_asked_for_is_one_clear_error():
    window = [{"note_updated_at": {"gte": "2026-01-01T00:00:00.000Z"}}, {"note_updated_at": {"lte": NOW_ISO}}]
    records = [resource("note", f"n{n}", "2026-02-01T00:00:00.000Z") for n in range(3)]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.post(search("note", window, page_size=2), page(records))
        output = read(SourceKustomer(), config(page_size=2), catalog("notes"), expecting_exception=True)
    assert not output.records
    assert "a page of 3 records, though 2 were asked for" in output.errors[0].trace.error.message


def test_a_body_of_millions_of_tiny_values_is_refused_before_it_is_parsed():
    body = '{"data":[' + ",".join(["{}"] * 1_600_000) + "]}"
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(get("tags", page=1, pageSize=100), HttpResponse(body, 200))
        output = read(SourceKustomer(), config(), catalog("tags"), expecting_exception=True)
    assert not output.records
    assert "more than 1,500,000 JSON values" in output.errors[0].trace.error.message
