"""The audit log as Kustomer documents it (ObjectIds, createdAt earlier than publishedAt, before/after cursors, bare
next links) and deletions only on proof: exact requests, records, markers and positions, through the real source
with HttpMocker. Merges: unit_tests/test_merges.py."""

from typing import List
from urllib.parse import parse_qs, urlsplit

import pytest
from airbyte_cdk.models import AirbyteStateBlob, SyncMode
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse
from airbyte_cdk.test.state_builder import StateBuilder

from source_kustomer import SourceKustomer, deletions
from source_kustomer.audit_log import DELETE_RETENTION
from unit_tests.audit_builders import (
    ASKED_FROM,
    MERGE_SOURCE,
    MERGE_TARGET,
    SINCE,
    UNTIL,
    audit,
    audit_state,
    deletions_read,
    entry,
    include_proof,
    markers,
    merge_record,
    merges_of,
    merges_page,
    metadata,
    object_id,
    records_search,
    seconds,
    warnings,
)
from unit_tests.conftest import NOW_ISO, catalog, config, discovery_mocks, error, get, get_any, page, resource, search


def _read_audit(http_mocker, pages: List[tuple], expecting_exception: bool = False):
    discovery_mocks(http_mocker)
    for request, response in pages:
        http_mocker.get(request, response)
    return read(
        SourceKustomer(),
        config(),
        catalog("audit_logs", mode=SyncMode.incremental),
        audit_state(),
        expecting_exception=expecting_exception,
    )


def _ids(output) -> List[str]:
    return [m.record.data["id"] for m in output.records]


def test_pages_are_asked_between_after_and_before_ids_and_publish_order_is_only_reported():
    # ids minted when stored: the entry below the newest by id was published three seconds after it
    newest = entry("update", "conversation", "c1", "2026-06-01T10:00:05.000Z", serial=2, stored="2026-06-01T10:00:09Z")
    inverted = entry("update", "customer", "u1", "2026-06-01T10:00:08.387Z", "2026-06-01T10:00:01.074Z", serial=1)
    oldest = entry("create", "message", "m1", "2026-05-30T00:00:00.000Z", serial=0)
    with HttpMocker() as http_mocker:
        output = _read_audit(
            http_mocker,
            [
                (audit(), page([newest, inverted], "/v1/audit-logs?count=1000&before=" + inverted["id"])),
                (audit(before=inverted["id"]), page([oldest])),
            ],
        )
    assert _ids(output) == [newest["id"], inverted["id"], oldest["id"]]
    assert output.records[1].record.data["createdAt"] == "2026-06-01T10:00:01.074Z"
    assert output.most_recent_state.stream_state == AirbyteStateBlob(createdAt=UNTIL)
    assert not output.errors
    assert any("1 entries published a second or more after the entry before them" in w for w in warnings(output))


def test_where_after_with_before_is_refused_the_published_form_is_read_and_stops_at_an_id_too_old():
    inside = entry("update", "customer", "u1", "2026-05-30T00:00:00.000Z", serial=3)
    older = entry("update", "customer", "u0", "2026-05-28T10:00:01.500Z", "2026-05-28T10:00:00.500Z", serial=2)
    before_window = entry("update", "customer", "u-", "2026-05-28T09:59:57.000Z", serial=1)
    with HttpMocker() as http_mocker:
        refused = audit()
        first = audit(form="published")
        following = audit(before=older["id"], form="published")
        output = _read_audit(
            http_mocker,
            [
                (refused, error(400, "before and after cannot be combined")),
                (first, page([inside, older], "/v1/audit-logs?count=1000&before=" + older["id"])),
                (following, page([before_window], "/v1/audit-logs?count=1000&before=" + before_window["id"])),
            ],
        )
        for request in (refused, first, following):
            http_mocker.assert_number_of_calls(request, 1)  # no page below an id too old for the window
    assert _ids(output) == [inside["id"], older["id"]] and not output.errors
    assert output.is_in_logs("refused 'after' with 'before'")
    assert output.most_recent_state.stream_state == AirbyteStateBlob(createdAt=UNTIL)


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
    assert _ids(output) == [inside["id"]] and not output.errors


def test_one_misdated_entry_is_reported_and_skipped_and_every_entry_after_it_is_read():
    """The entry newest by id says it was published 30 days before it was created: it cannot be placed, and it
    must not end the window's read (it used to: 0 of 5 entries read behind it, the position moved past them)."""
    misdated = entry("update", "customer", "u9", "2026-04-30T00:00:00.000Z", "2026-05-31T00:00:00.000Z", serial=9)
    misdated["id"] = object_id(seconds("2026-05-31T00:00:01.000Z"), 9)  # minted when it really was published
    rest = [entry("update", "customer", f"u{n}", f"2026-05-30T00:00:0{n}.000Z", serial=n) for n in range(5, 0, -1)]
    with HttpMocker() as http_mocker:
        output = _read_audit(http_mocker, [(audit(), page([misdated, *rest]))])
    assert _ids(output) == [e["id"] for e in rest] and not output.errors
    assert output.most_recent_state.stream_state == AirbyteStateBlob(createdAt=UNTIL)
    assert any(f"{misdated['id']} (createdAt after publishedAt)" in w for w in warnings(output)), warnings(output)


def test_an_entry_without_created_at_is_placed_by_published_at_and_one_without_dates_by_its_id():
    by_published = entry("update", "customer", "u1", "2026-05-31T00:00:00.000Z", created=None, serial=2)
    undated = entry("update", "customer", "u2", "2026-05-30T00:00:00.000Z", created=None, serial=1)
    del undated["attributes"]["publishedAt"]
    with HttpMocker() as http_mocker:
        output = _read_audit(http_mocker, [(audit(), page([by_published, undated]))])
    assert _ids(output) == [by_published["id"], undated["id"]]
    assert any("1 entries had neither createdAt nor publishedAt" in w for w in warnings(output)), warnings(output)


def test_ids_out_of_order_on_a_page_and_entries_served_again_are_read_once():
    a, b, c = (entry("update", "customer", f"u{n}", f"2026-05-30T00:00:0{n}.000Z", serial=n) for n in (1, 2, 3))
    with HttpMocker() as http_mocker:
        output = _read_audit(
            http_mocker,
            [
                (audit(), page([b, c, b], "/v1/audit-logs?next")),  # not newest first, b twice
                (audit(before=b["id"]), page([c, a])),  # c again (at or above the cursor)
            ],
        )
    assert _ids(output) == [b["id"], c["id"], a["id"]] and not output.errors
    assert any("1 pages not newest id first, 2 entries served twice" in w for w in warnings(output)), warnings(output)


def test_a_full_page_without_a_next_link_is_followed_all_the_same():
    """A page holding as many entries as asked may not be the last, whatever its links say: the position never
    moves past an entry that was not read."""
    full = [entry("update", "customer", f"u{n}", "2026-05-30T01:00:00.000Z", serial=n) for n in range(2000, 1000, -1)]
    last = entry("update", "customer", "u0", "2026-05-30T00:00:00.000Z", serial=1)
    with HttpMocker() as http_mocker:
        output = _read_audit(http_mocker, [(audit(), page(full)), (audit(before=full[-1]["id"]), page([last]))])
    assert _ids(output) == [e["id"] for e in full] + [last["id"]] and not output.errors


@pytest.mark.parametrize(
    "entries, why",
    [
        (lambda: [entry("update", "customer", "u1", "2026-05-29T00:00:00.000Z", serial=1)],
         "a page holding only entries read already"),
        (lambda: [{"type": "audit_log", "id": f"{n:024x}", "attributes": {}} for n in range(1001, 0, -1)],
         "a page of 1,001 entries, though 1,000 were asked for"),
    ],
)  # fmt: skip
def test_a_page_without_progress_or_longer_than_asked_stops_the_read_without_moving_the_position(entries, why):
    looping = entries()
    with HttpMocker() as http_mocker:
        pages = [(audit(), page(looping, "/v1/audit-logs?next"))]
        pages += [(audit(before=looping[-1]["id"]), page(looping, "/v1/audit-logs?next"))]
        output = _read_audit(http_mocker, pages, expecting_exception=True)
    assert why in output.errors[0].trace.error.message
    assert output.most_recent_state.stream_state == AirbyteStateBlob(createdAt=SINCE)


def test_a_state_older_than_ninety_days_warns_what_kustomer_may_have_dropped():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        state = audit_state("2026-02-01T00:00:00.000Z")
        http_mocker.get(get_any("audit-logs"), page([]))  # every window: nothing
        output = read(SourceKustomer(), config(), catalog("audit_logs", mode=SyncMode.incremental), state)
    assert any("more than 90 days ago" in w and "routing events" in w for w in warnings(output)), warnings(output)


# ---- deletions ---------------------------------------------------------------------------------------------
def test_one_combined_pass_reads_the_deletions_of_every_stream():
    deleted_conversation = entry("delete", "conversation", "d" * 24, "2026-05-31T00:00:00.000Z", serial=9)
    deleted_customer = entry("delete", "customer", "e" * 24, "2026-05-30T00:00:00.000Z", serial=8)
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        metadata(http_mocker, "customer", "conversation")
        records_search(http_mocker, "customer", [])
        records_search(http_mocker, "conversation", [])
        include_proof(http_mocker, ["conversation", "customer"], {"customer": deleted_customer})
        combined = audit(types=["conversation", "customer"])
        http_mocker.get(combined, page([deleted_conversation, deleted_customer]))
        output = deletions_read(["customers", "conversations"])
        http_mocker.assert_number_of_calls(combined, 1)
    assert not output.errors
    by_stream = {m.record.stream: (m.record.data["id"], m.record.data["_ab_cdc_deleted_at"]) for m in output.records}
    assert by_stream == {
        "conversations": ("d" * 24, "2026-05-31T00:00:00.000Z"),
        "customers": ("e" * 24, "2026-05-30T00:00:00.000Z"),
    }
    final = {m.state.stream.stream_descriptor.name: m.state.stream.stream_state for m in output.state_messages}
    assert final["customers"] == AirbyteStateBlob(updatedAt=SINCE, deletionsSince=UNTIL)


def test_deletions_behind_a_misdated_entry_are_all_delivered():
    misdated = entry("update", "customer", "u9", "2026-04-30T00:00:00.000Z", "2026-05-31T00:00:00.000Z", serial=9)
    misdated["id"] = object_id(seconds("2026-05-31T00:00:01.000Z"), 9)
    gone = [entry("delete", "customer", f"{n:024x}", f"2026-05-30T00:00:0{n}.000Z", serial=n) for n in range(5, 0, -1)]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        metadata(http_mocker, "customer")
        records_search(http_mocker, "customer", [])
        http_mocker.get(audit(types=["customer"]), page([misdated, *gone]))
        output = deletions_read(["customers"])
    assert markers(output) == [(e["attributes"]["objectId"], e["attributes"]["createdAt"]) for e in gone[::-1]]
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=SINCE, deletionsSince=UNTIL)
    assert any("1 entries were skipped because their own times contradict" in w for w in warnings(output))


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
        metadata(http_mocker, "company")
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


@pytest.mark.parametrize(
    "stray, why",
    [
        (entry("update", "shortcut", "s" * 24, "2026-05-31T00:00:00.000Z", serial=3), "got an entry of"),
        # an entry of an included type from outside the dates asked: the include is OR-ed outside the date filter
        (entry("update", "message", "m" * 24, "2026-03-01T00:00:00.000Z", serial=3, stored="2026-05-31T00:00:00Z"),
         "outside the dates"),
    ],
)  # fmt: skip
def test_where_filter_include_is_not_honoured_on_type_or_dates_each_object_type_gets_its_own_pass(stray, why):
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        metadata(http_mocker, "message", "company")
        records_search(http_mocker, "message", [])
        records_search(http_mocker, "company", [])
        include_proof(http_mocker, ["company", "message"])  # no message entry at all: nothing to prove
        http_mocker.get(audit(types=["company", "message"]), page([stray]))
        gone = entry("delete", "company", "e" * 24, "2026-05-30T00:00:00.000Z", serial=2)
        http_mocker.get(audit(types=["company"]), page([gone]))
        http_mocker.get(audit(types=["message"]), page([]))
        output = deletions_read(["messages", "companies"])
    assert markers(output) == [("e" * 24, "2026-05-30T00:00:00.000Z")] and not output.errors
    assert output.is_in_logs("does not honour filter\\[include\\]") and output.is_in_logs(why)


def test_an_include_the_newest_entry_of_an_included_type_does_not_come_back_through_is_not_used():
    """A server ignoring filter[include] answers as if only filter[objectType] was asked: no page shows it, so the
    include is proven once a sync before a combined pass is trusted."""
    newest_message = entry("update", "message", "m" * 24, "2026-06-01T11:00:00.000Z", serial=7)
    gone = entry("delete", "message", "g" * 24, "2026-05-30T00:00:00.000Z", serial=2)
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        metadata(http_mocker, "message", "company")
        records_search(http_mocker, "message", [])
        records_search(http_mocker, "company", [])
        include_proof(http_mocker, ["company", "message"], {"message": newest_message}, comes_back=False)
        http_mocker.get(audit(types=["company"]), page([]))
        http_mocker.get(audit(types=["message"]), page([gone]))
        output = deletions_read(["messages", "companies"])
    assert markers(output) == [("g" * 24, "2026-05-30T00:00:00.000Z")] and not output.errors
    assert output.is_in_logs("did not come back through filter\\[include\\]")


def test_every_delete_entry_is_taken_to_be_kept_ninety_days_as_the_simulator_keeps_it():
    from kustomer_simulator.audit import retention_days

    assert DELETE_RETENTION.days == 90
    assert {retention_days(object_type, "delete") for object_type in deletions.AUDIT_OBJECT_TYPES.values()} == {90}


def test_more_deletions_than_may_be_held_are_read_again_in_smaller_windows_then_stop_with_one_error(monkeypatch):
    monkeypatch.setattr(deletions, "MAX_HELD_DELETIONS", 1)
    burst = [entry("delete", "company", f"{n:024x}", "2026-05-30T00:00:00.000Z", serial=n) for n in (3, 2)]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        metadata(http_mocker, "company")
        records_search(http_mocker, "company", [])
        http_mocker.get(get_any("audit-logs"), page(burst))  # every window asked for: the same two entries
        output = deletions_read(["companies"])
    assert not markers(output)
    assert "More than 1 deletions (customers merged away included)" in output.errors[0].trace.error.message
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=SINCE, deletionsSince=SINCE)


def test_deletions_found_through_merges_count_against_the_same_cap(monkeypatch):
    monkeypatch.setattr(deletions, "MAX_HELD_DELETIONS", 2)
    flood = [merge_record(n, f"{n:024x}", MERGE_TARGET) for n in range(1, 4)]
    merge = entry("merge", "customer", MERGE_TARGET, "2026-05-30T00:00:00.000Z", serial=5)
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        metadata(http_mocker, "customer")
        records_search(http_mocker, "customer", [])
        http_mocker.get(audit(types=["customer"]), page([merge]))
        http_mocker.get(merges_of(MERGE_TARGET), merges_page(flood))
        output = deletions_read(["customers"])
    assert not markers(output) and MERGE_SOURCE not in str(output.records)
    assert "More than 2 deletions (customers merged away included)" in output.errors[0].trace.error.message
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
