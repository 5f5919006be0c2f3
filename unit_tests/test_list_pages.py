"""A list stream's paginator (``ListPages``) through the real source with HttpMocker: the size cap, the repeat check
and a resumed position inside a later variant -- exact requests, records, states and errors."""

import weakref

from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.mock_http import HttpMocker
from airbyte_cdk.test.state_builder import StateBuilder
from kustomer_http.connection import KustomerClient

from source_kustomer import SourceKustomer
from source_kustomer.streams.lists import ListPages
from unit_tests.conftest import catalog, config, discovery_mocks, error, get, page, resource

T1 = "2026-02-01T10:00:00.000Z"


def _ids(output):
    return [m.record.data["id"] for m in output.records]


def _states(output):
    return [m.state.stream.stream_state.__dict__ for m in output.state_messages]


def test_a_list_page_longer_than_asked_for_stops_the_list_before_any_of_its_records():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        tags = [resource("tag", f"t{n}", T1) for n in range(3)]
        http_mocker.get(get("tags", page=1, pageSize=2), page(tags, "/v1/tags?page=2&pageSize=2"))
        output = read(SourceKustomer(), config(page_size=2), catalog("tags"), expecting_exception=True)
    assert _ids(output) == []
    assert output.errors[0].trace.error.message == (
        "Kustomer's tags list sent a page of 3 records, 2 asked for; the connector stopped instead of looping. "
        "The next run starts the list again."
    )
    assert _states(output) == [{}]


def test_a_list_that_only_repeats_records_already_read_stops_after_three_such_pages():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        same = [resource("tag", "t1", T1)]
        pages = [get("tags", page=number, pageSize=100) for number in range(1, 5)]
        for number, request in enumerate(pages, start=2):
            http_mocker.get(request, page(same, f"/v1/tags?page={number}&pageSize=100"))
        output = read(SourceKustomer(), config(), catalog("tags"), expecting_exception=True)
        for request in pages:
            http_mocker.assert_number_of_calls(request, 1)
    assert _ids(output) == ["t1"]
    assert (
        "Kustomer's list of tags returned only records already read, 3 pages in a row"
        in output.errors[0].trace.error.message
    )
    assert _states(output) == [
        {"next": "/v1/tags?page=2&pageSize=100"},
        {"next": "/v1/tags?page=3&pageSize=100"},
        {"next": "/v1/tags?page=4&pageSize=100"},
        {"next": "/v1/tags?page=4&pageSize=100"},
    ]


def test_a_list_resumed_inside_a_later_variant_reads_on_from_there_with_its_filter():
    state = StateBuilder().with_stream_state("users", {"next": "/v1/users?deleted=true&page=2&pageSize=500"}).build()
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        resumed = get("users", deleted="true", page=2, pageSize=500)
        http_mocker.get(resumed, page([resource("user", "u9", T1, deletedAt=T1)]))
        output = read(SourceKustomer(), config(), catalog("users"), state)
        http_mocker.assert_number_of_calls(resumed, 1)
    assert _ids(output) == ["u9"] and not output.errors
    assert _states(output) == [{"__ab_full_refresh_sync_complete": True}] * 2


def test_a_list_whose_next_link_drops_the_filter_saves_and_resumes_the_link_with_it():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(get("users", deleted="false", page=1, pageSize=500), page([]))
        first = get("users", deleted="true", page=1, pageSize=500)
        http_mocker.get(first, page([resource("user", "u1", T1, deletedAt=T1)], "/v1/users?page=2&pageSize=500"))
        second = get("users", deleted="true", page=2, pageSize=500)
        http_mocker.get(second, error(400, "bad page"))  # the sync stops here, inside deleted=true
        stopped = read(SourceKustomer(), config(), catalog("users"), expecting_exception=True)
    saved = _states(stopped)[-1]
    assert saved == {"next": "/v1/users?page=2&pageSize=500&deleted=true"}
    state = StateBuilder().with_stream_state("users", saved).build()
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(second, page([resource("user", "u2", T1, deletedAt=T1)]))
        resumed = read(SourceKustomer(), config(), catalog("users"), state)
        http_mocker.assert_number_of_calls(second, 1)
    assert _ids(resumed) == ["u2"] and not resumed.errors


def test_a_position_saved_without_its_filter_by_an_earlier_version_starts_that_list_over_and_says_why():
    old = {"next": "/v1/users?page=2&pageSize=500"}  # deleted=false or deleted=true? It cannot say.
    state = StateBuilder().with_stream_state("users", old).build()
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        active = get("users", deleted="false", page=1, pageSize=500)
        deactivated = get("users", deleted="true", page=1, pageSize=500)
        http_mocker.get(active, page([resource("user", "u1", T1)]))
        http_mocker.get(deactivated, page([resource("user", "u2", T1, deletedAt=T1)]))
        output = read(SourceKustomer(), config(), catalog("users"), state)
        for request in (active, deactivated):
            http_mocker.assert_number_of_calls(request, 1)
    assert _ids(output) == ["u1", "u2"] and not output.errors
    warnings = [m.log.message for m in output.logs if m.log.level.value == "WARN"]
    assert any(
        "Stream 'users': the saved position /v1/users?page=2&pageSize=500 does not say which part of the list "
        "(deleted=false or deleted=true) it was in"
        in w
        and "read again from its first page" in w
        for w in warnings
    )


def test_a_list_lets_go_of_a_page_and_its_response_before_it_asks_for_the_next(monkeypatch):
    """Nothing of a page -- its response, its records -- is still held when the next page is asked for (a page held
    meanwhile took four streams of large records to 517 MB)."""
    served: list = []
    ask, read_page = KustomerClient.get, ListPages.read

    def watched_get(self, url, params=None):
        if "/v1/tags" not in url:  # the org's klasses and metadata, read before the list
            return ask(self, url, params)
        held = [ref for ref in served if ref() is not None]
        assert not held, f"{len(held)} responses or pages still held when {url} was asked for"
        response = ask(self, url, params)
        served.append(weakref.ref(response))
        return response

    def watched_read(self, response):
        listed = read_page(self, response)
        served.append(weakref.ref(listed))
        return listed

    monkeypatch.setattr(KustomerClient, "get", watched_get)
    monkeypatch.setattr(ListPages, "read", watched_read)
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        for number in range(1, 4):
            tags = [resource("tag", f"t{number}-{n}", T1) for n in range(2)]
            link = f"/v1/tags?page={number + 1}&pageSize=2" if number < 3 else None
            http_mocker.get(get("tags", page=number, pageSize=2), page(tags, link))
        output = read(SourceKustomer(), config(page_size=2), catalog("tags"), expecting_exception=True)
    assert not output.errors, output.errors[0].trace.error.internal_message
    assert _ids(output) == [f"t{number}-{n}" for number in range(1, 4) for n in range(2)]
    assert len(served) == 6  # three responses, three pages
