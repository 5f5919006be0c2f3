"""Work items and work sessions: by search where a sync proves Kustomer's filter (in order where it proves the sort,
else in time ranges), by their lists otherwise; a 404 for a live conversation's work items is never "no items"."""

import json

import pytest
from airbyte_cdk.models import AirbyteStateBlob, SyncMode
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse
from airbyte_cdk.test.state_builder import StateBuilder

from source_kustomer import SourceKustomer
from unit_tests.conftest import NOW_ISO, catalog, config, discovery_mocks, error, get, page, resource, search

START = "2026-01-01T00:00:00.000Z"
T1, T2, T3 = "2026-02-01T10:00:00.000Z", "2026-02-02T10:00:00.000Z", "2026-02-03T10:00:00.000Z"


def _window(prefix: str, low: str = START) -> list:
    return [{f"{prefix}_updated_at": {"gte": low}}, {f"{prefix}_updated_at": {"lte": NOW_ISO}}]


def _item(item_id: str, at: str) -> dict:
    return resource("work_item", item_id, at, status="completed")


TIMES = [f"2026-02-0{day}T10:00:00.000Z" for day in range(1, 8)]


def _range(prefix: str, low: str = START, inclusive: bool = True) -> list:
    return [{f"{prefix}_updated_at": {"gte" if inclusive else "gt": low}}, {f"{prefix}_updated_at": {"lte": NOW_ISO}}]


def _warnings(output) -> list:
    return [m.log.message for m in output.logs if m.log.level.name == "WARN"]


def _read_path(output, stream: str) -> str:
    summary = next(m.log.message for m in output.logs if m.log.message.startswith("SYNC_SUMMARY "))
    return next(row for row in json.loads(summary[len("SYNC_SUMMARY ") :]) if row["stream"] == stream)["read_path"]


def test_work_items_by_keyset_where_page_one_proves_the_filter_and_the_order():
    items = [_item(f"w{n}", at) for n, at in enumerate(TIMES[:6], 1)]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        first = search("work_item", _range("work_item"), page_size=5)
        http_mocker.post(first, page(items[:5], "/v1/customers/search?page=2&pageSize=5", total=6))  # proof, read
        narrowed = search("work_item", _range("work_item", T1, inclusive=False), page_size=5, sort=None)
        http_mocker.post(narrowed, page(items[1:], total=5))
        after = search("work_item", _range("work_item", TIMES[4]), page_size=5)
        http_mocker.post(after, page(items[4:], total=2))
        state = StateBuilder().with_stream_state("work_items", {"conversationUpdatedAt": START}).build()
        output = read(SourceKustomer(), config(page_size=5), catalog("work_items", mode=SyncMode.incremental), state)
        http_mocker.assert_number_of_calls(first, 2)
    assert [m.record.data["id"] for m in output.records] == [f"w{n}" for n in range(1, 7)] and not output.errors
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=TIMES[5])  # the items' own cursor
    assert not _warnings(output) and _read_path(output, "work_items") == "by search, in order of work_item_updated_at"


@pytest.mark.parametrize("sort", ["ignored", "rejected"])
def test_work_items_by_search_in_time_ranges_where_the_filter_is_honoured_but_not_the_sort(sort):
    """The public client's way: the filter, no order. Page 1 is checked against the window and a narrower filter,
    then the window is read by offset as a range, no sort asked: complete when it shows meta.total records."""
    unsorted = [_item("w2", T2), _item("w3", T3), _item("w1", T1)]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        asked_in_order = search("work_item", _range("work_item"))
        unordered = search("work_item", _range("work_item"), sort=None)
        if sort == "ignored":
            http_mocker.post(asked_in_order, page(unsorted, total=3))
        else:
            http_mocker.post(
                asked_in_order, error(400, "Sorting based on other standard Object attributes is unavailable")
            )
        http_mocker.post(unordered, page(unsorted, total=3))  # (the proof, when the sort was refused,) the read
        narrowed = search("work_item", _range("work_item", T1, inclusive=False), sort=None)
        http_mocker.post(narrowed, page(unsorted[:2], total=2))
        output = read(SourceKustomer(), config(), catalog("work_items", mode=SyncMode.incremental))
        http_mocker.assert_number_of_calls(unordered, 2 if sort == "rejected" else 1)
    assert sorted(m.record.data["id"] for m in output.records) == ["w1", "w2", "w3"] and not output.errors
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=NOW_ISO)  # the range read in full
    assert not _warnings(output)
    reason = "came back out of order" if sort == "ignored" else "rejected a sort by work_item_updated_at"
    path = _read_path(output, "work_items")
    assert path.startswith("by search, in time ranges of work_item_updated_at") and reason in path, path


@pytest.mark.parametrize(
    "answer, why",
    [
        ("no updatedAt", "its records carry no updatedAt to check a filter on work_item_updated_at against"),
        ("outside the window", "it did not filter by work_item_updated_at"),
        ("not narrowed", "did not narrow its results (2 of 2)"),
    ],
)
def test_a_search_whose_filter_cannot_be_verified_falls_back_to_the_conversations_with_one_warning(answer, why):
    """Records carrying no updatedAt (the Help Center's work-item attributes list none) prove nothing: a refusal,
    as is a record outside the window or a narrower filter that narrows nothing."""
    dated = [_item("w2", T2), _item("w1", T1)]
    undated = [{**item, "attributes": {"createdAt": T1, "status": "completed"}} for item in dated]
    first = {"no updatedAt": undated, "outside the window": [_item("w0", "2025-06-01T00:00:00.000Z")] + dated}
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.post(search("work_item", _range("work_item")), page(first.get(answer, dated), total=2))
        narrowed = search("work_item", _range("work_item", T1, inclusive=False), sort=None)
        http_mocker.post(narrowed, page(dated[:1], total=2))  # inside the narrower range, but no fewer
        conversations = search("conversation", _window("conversation"))
        conversations._body = {**conversations._body, "includeDeleted": True}
        http_mocker.post(conversations, page([resource("conversation", "c1", T1)]))
        http_mocker.get(get("routing/conversations/c1/work-items", page=1, pageSize=100), page(undated[:1]))
        output = read(SourceKustomer(), config(), catalog("work_items", mode=SyncMode.incremental))
    assert [m.record.data["id"] for m in output.records] == ["w2"] and not output.errors
    warnings = _warnings(output)
    assert len(warnings) == 1 and why in warnings[0] and "Reading each changed conversation" in warnings[0]
    assert _read_path(output, "work_items").startswith("per conversation (search refused:")
    assert output.most_recent_state.stream_state == AirbyteStateBlob(conversationUpdatedAt=T1)


@pytest.mark.parametrize("dropped", ["a short page that links on", "a last page short of meta.total"])
def test_a_range_read_whose_page_drops_records_after_the_proof_stops_with_one_error_and_keeps_the_position(dropped):
    unsorted = [_item("w3", T3), _item("w1", T1), _item("w2", T2)]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.post(search("work_item", _range("work_item"), page_size=3), page(unsorted, total=3))
        narrowed = search("work_item", _range("work_item", T1, inclusive=False), page_size=3, sort=None)
        http_mocker.post(narrowed, page(unsorted[::2], total=2))
        short = (
            page(unsorted[:2], "/v1/customers/search?page=2&pageSize=3", total=5)
            if dropped.startswith("a short page")
            else page(unsorted[:2], total=3)
        )
        read_window = search("work_item", _range("work_item"), page_size=3, sort=None)
        http_mocker.post(read_window, short)
        state = StateBuilder().with_stream_state("work_items", {"updatedAt": START}).build()
        output = read(SourceKustomer(), config(page_size=3), catalog("work_items", mode=SyncMode.incremental), state)
        http_mocker.assert_number_of_calls(read_window, 3)  # asked again twice: a broken page is often transient
    assert not output.records and len(output.errors) == 2  # the stream's own trace, then the CDK's closing summary
    message = output.errors[0].trace.error.message
    assert "did not return what was asked for" in message and "records were dropped" in message, message
    assert all(s.state.stream.stream_state.updatedAt == START for s in output.state_messages)


@pytest.mark.parametrize("persistent", [False, True])
def test_a_404_for_a_live_conversations_work_items_is_asked_again_and_if_it_stays_holds_the_position(persistent):
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.post(search("work_item", _window("work_item")), error(400, "not a search field"))
        http_mocker.post(search("work_item", _window("work_item"), sort=None), error(400, "not a search field"))
        conversations = search("conversation", _window("conversation"))
        conversations._body = {**conversations._body, "includeDeleted": True}
        http_mocker.post(conversations, page([resource("conversation", "c1", T1), resource("conversation", "c2", T2)]))
        first = get("routing/conversations/c1/work-items", page=1, pageSize=100)
        answers = [error(404)] * 3 if persistent else [error(404), page([_item("w1", T1)])]
        http_mocker.get(first, answers)
        http_mocker.get(get("conversations/c1"), HttpResponse(json.dumps({"data": {"id": "c1"}}), 200))
        http_mocker.get(get("routing/conversations/c2/work-items", page=1, pageSize=100), page([_item("w2", T2)]))
        output = read(SourceKustomer(), config(), catalog("work_items", mode=SyncMode.incremental))
    ids = [m.record.data["id"] for m in output.records]
    if persistent:
        assert ids == ["w2"]  # later conversations are still read, but the position stays before c1
        assert output.most_recent_state.stream_state == AirbyteStateBlob(
            conversationUpdatedAt="2026-02-01T09:59:59.999Z"
        )
        assert output.is_in_logs("1 exist but their work items kept answering 404")
    else:
        assert ids == ["w1", "w2"]
        assert output.most_recent_state.stream_state == AirbyteStateBlob(conversationUpdatedAt=T2)


def test_work_sessions_by_search_are_incremental_and_a_state_from_when_they_were_a_list_starts_over():
    sessions = [resource("work_session", "s1", T1), resource("work_session", "s2", T2)]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.post(search("work_session", _window("work_session")), page(sessions, total=2))
        narrowed = search("work_session", _range("work_session", T1, inclusive=False), sort=None)
        http_mocker.post(narrowed, page(sessions[1:], total=1))
        http_mocker.post(search("work_session", _window("work_session"), sort=None), page(sessions, total=2))
        state = StateBuilder().with_stream_state("work_sessions", {"__ab_full_refresh_sync_complete": True}).build()
        output = read(SourceKustomer(), config(), catalog("work_sessions", mode=SyncMode.incremental), state)
    assert [m.record.data["id"] for m in output.records] == ["s1", "s2"] and not output.errors
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=NOW_ISO)
    assert output.is_in_logs("was a list in an earlier version")
    path = _read_path(output, "work_sessions")  # one page: too little to prove an order, the same requests either way
    assert (
        path == "by search, in time ranges of work_session_updated_at (too few records to prove an order by "
        "work_session_updated_at)"
    )
