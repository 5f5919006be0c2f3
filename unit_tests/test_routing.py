"""Work items and work sessions: by search where a sync proves Kustomer honours it, by their lists otherwise; a 404
for a live conversation's work items is never taken as "no items"."""

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


def test_work_items_by_search_where_page_one_and_a_narrowed_page_one_prove_it_is_honoured():
    items = [_item("w1", T1), _item("w2", T2)]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        first = search("work_item", _window("work_item"))
        http_mocker.post(first, page(items, "/v1/customers/search?page=2&pageSize=500", total=3))
        narrowed = search(
            "work_item", [{"work_item_updated_at": {"gt": T2}}, {"work_item_updated_at": {"lte": NOW_ISO}}]
        )
        http_mocker.post(narrowed, page([_item("w3", T3)], total=1))
        after = search("work_item", [{"work_item_updated_at": {"gte": T2}}, {"work_item_updated_at": {"lte": NOW_ISO}}])
        http_mocker.post(after, page([_item("w2", T2), _item("w3", T3)], total=2))
        state = StateBuilder().with_stream_state("work_items", {"conversationUpdatedAt": START}).build()
        output = read(SourceKustomer(), config(), catalog("work_items", mode=SyncMode.incremental), state)
    assert [m.record.data["id"] for m in output.records] == ["w1", "w2", "w3"] and not output.errors
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=T3)  # exact: the items' own cursor
    assert not [m for m in output.logs if m.log.level.name == "WARN"]


def test_a_search_that_ignores_the_sort_falls_back_to_the_conversations_for_this_sync():
    unsorted = [_item("w2", T2), _item("w1", T1)]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.post(search("work_item", _window("work_item")), page(unsorted, total=2))
        conversations = search("conversation", _window("conversation"))
        conversations._body = {**conversations._body, "includeDeleted": True}
        http_mocker.post(conversations, page([resource("conversation", "c1", T1)]))
        http_mocker.get(get("routing/conversations/c1/work-items", page=1, pageSize=100), page([_item("w1", T1)]))
        output = read(SourceKustomer(), config(), catalog("work_items", mode=SyncMode.incremental))
    assert [m.record.data["id"] for m in output.records] == ["w1"]
    warnings = [m.log.message for m in output.logs if m.log.level.name == "WARN"]
    assert any("did not filter or sort by work_item_updated_at" in w for w in warnings), warnings


@pytest.mark.parametrize("persistent", [False, True])
def test_a_404_for_a_live_conversations_work_items_is_asked_again_and_if_it_stays_holds_the_position(persistent):
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.post(search("work_item", _window("work_item")), error(400, "not a search field"))
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
        state = StateBuilder().with_stream_state("work_sessions", {"__ab_full_refresh_sync_complete": True}).build()
        output = read(SourceKustomer(), config(), catalog("work_sessions", mode=SyncMode.incremental), state)
    assert [m.record.data["id"] for m in output.records] == ["s1", "s2"] and not output.errors
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=T2)
    assert output.is_in_logs("was a list in an earlier version")
