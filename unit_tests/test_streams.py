"""Each read pattern through the real source with HttpMocker: exact requests, records, state, retries."""

import json

from airbyte_cdk.models import AirbyteMessageSerializer, AirbyteStateBlob, FailureType, SyncMode
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse
from airbyte_cdk.test.state_builder import StateBuilder

from source_kustomer import SourceKustomer
from unit_tests.conftest import (
    NOW_ISO,
    TOKEN,
    catalog,
    config,
    discovery_mocks,
    error,
    get,
    page,
    resource,
    search,
)

T1, T2, T3 = "2026-02-01T10:00:00.000Z", "2026-02-02T10:00:00.000Z", "2026-02-03T10:00:00.000Z"
START = "2026-01-01T00:00:00.000Z"
WINDOW = [{"customer_updated_at": {"gte": START}}, {"customer_updated_at": {"lte": NOW_ISO}}]


def _ids(output, stream=None):
    return [m.record.data["id"] for m in output.records if stream is None or m.record.stream == stream]


def _metadata(http_mocker, resource_name: str) -> None:
    http_mocker.get(
        get(f"metadata/{resource_name}"),
        HttpResponse(json.dumps({"data": {"attributes": {"properties": {"tierStr": {"type": "string"}}}}}), 200),
    )


def test_list_stream_follows_next_links_at_the_maximum_page_size():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        first = get("users", page=1, pageSize=500)
        second = get("users", page=2, pageSize=500)
        http_mocker.get(
            first, page([resource("user", "u1", T1), resource("user", "u2", T1)], "/v1/users?page=2&pageSize=500")
        )
        http_mocker.get(second, page([resource("user", "u3", T2)]))
        output = read(SourceKustomer(), config(), catalog("users"))
        http_mocker.assert_number_of_calls(first, 1)
        http_mocker.assert_number_of_calls(second, 1)
    assert _ids(output) == ["u1", "u2", "u3"]
    record = output.records[0].record.data
    assert (
        record["type"] == "user"
        and record["updatedAt"] == T1
        and record["relationships"]["org"]["data"]["id"] == "org1"
    )
    assert not output.errors


def test_search_stream_reads_by_keyset_and_checkpoints_the_last_updated_at():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "customer")
        http_mocker.post(
            search("customer", WINDOW, page_size=2),
            page([resource("customer", "a", T1), resource("customer", "b", T2)], "/v1/customers/search?page=2"),
        )
        http_mocker.post(
            search("customer", WINDOW + [{"customer_updated_at": {"gte": T2}}], page_size=2),
            page([resource("customer", "b", T2), resource("customer", "c", T3)]),
        )
        output = read(SourceKustomer(), config(page_size=2), catalog("customers", mode=SyncMode.incremental))
    assert _ids(output) == ["a", "b", "c"]
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=T3)
    assert "custom" not in output.records[0].record.data


def test_tie_cluster_longer_than_a_page_is_read_by_created_at_then_passed_with_gt():
    c1, c2, c3 = "2025-12-01T00:00:01.000Z", "2025-12-01T00:00:02.000Z", "2025-12-01T00:00:03.000Z"
    b, c, d = (resource("customer", "b", T2, c1), resource("customer", "c", T2, c2), resource("customer", "d", T2, c3))
    group = WINDOW + [{"customer_updated_at": {"gte": T2}}, {"customer_updated_at": {"lte": T2}}]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "customer")
        more = "/v1/customers/search?page=2"
        http_mocker.post(search("customer", WINDOW, page_size=2), page([resource("customer", "a", T1), b], more))
        http_mocker.post(
            search("customer", WINDOW + [{"customer_updated_at": {"gte": T2}}], page_size=2), page([c, b], more)
        )
        by_created = search("customer", group, page_size=2, sort="customer_created_at")
        http_mocker.post(by_created, page([b, c], more, total=3))
        http_mocker.post(
            search("customer", group + [{"customer_created_at": {"gte": c2}}], page_size=2, sort="customer_created_at"),
            page([c, d], total=3),
        )
        http_mocker.post(
            search("customer", WINDOW + [{"customer_updated_at": {"gt": T2}}], page_size=2),
            page([resource("customer", "e", T3)]),
        )
        output = read(SourceKustomer(), config(page_size=2), catalog("customers", mode=SyncMode.incremental))
        http_mocker.assert_number_of_calls(by_created, 1)
    assert _ids(output) == ["a", "b", "c", "d", "e"]
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=T3)


def test_incremental_read_starts_at_the_state_cursor_less_the_lookback():
    state = StateBuilder().with_stream_state("notes", {"updatedAt": T2}).build()
    lower = "2026-02-02T09:00:00.000Z"  # T2 less 60 minutes
    criteria = [{"note_updated_at": {"gte": lower}}, {"note_updated_at": {"lte": NOW_ISO}}]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "note")
        http_mocker.post(search("note", criteria), page([resource("note", "n1", T2), resource("note", "n2", T3)]))
        output = read(
            SourceKustomer(), config(lookback_window_minutes=60), catalog("notes", mode=SyncMode.incremental), state
        )
    assert _ids(output) == ["n1", "n2"]
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=T3)
    assert output.is_in_logs("1 possible duplicates")


def test_include_deleted_asks_search_for_soft_deleted_records():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "company")
        criteria = [{"company_updated_at": {"gte": START}}, {"company_updated_at": {"lte": NOW_ISO}}]
        request = search("company", criteria)
        request._body = {**request._body, "includeDeleted": True}
        http_mocker.post(request, page([resource("company", "c1", T1, deleted=True, deletedAt=T1)]))
        output = read(SourceKustomer(), config(include_deleted=True), catalog("companies"))
    assert output.records[0].record.data["deleted"] is True


def test_429_waits_for_retry_after_then_succeeds():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        request = get("tags", page=1, pageSize=100)
        http_mocker.get(
            request,
            [
                error(429, headers={"Retry-After": "0", "x-ratelimit-remaining": "0"}),
                page([resource("tag", "t1", T1)]),
            ],
        )
        output = read(SourceKustomer(), config(), catalog("tags"))
        http_mocker.assert_number_of_calls(request, 2)
    assert _ids(output) == ["t1"]
    assert output.is_in_logs("1 throttled \\(429\\)")


def test_5xx_and_non_json_bodies_are_retried():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        request = get("brands", page=1, pageSize=100)
        http_mocker.get(
            request,
            [error(503), HttpResponse("<html>502 Bad Gateway</html>", 200), page([resource("brand", "b1", T1)])],
        )
        output = read(SourceKustomer(), config(), catalog("brands"))
        http_mocker.assert_number_of_calls(request, 3)
    assert _ids(output) == ["b1"]
    assert output.is_in_logs("2 retries")


def test_empty_page_that_links_to_a_next_page_is_retried_not_trusted():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        request = get("routing/queues", page=1, pageSize=100)
        http_mocker.get(request, [page([], "/v1/routing/queues?page=2"), page([resource("queue", "q1", T1)])])
        output = read(SourceKustomer(), config(), catalog("queues"))
    assert _ids(output) == ["q1"]


def test_retries_are_bounded_and_end_with_one_clear_error():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(get("teams", page=1, pageSize=500), [error(500)] * 9)
        output = read(SourceKustomer(), config(), catalog("teams"), expecting_exception=True)
    assert not output.records
    assert len(output.errors) == 2  # the stream's own trace, then the CDK's closing summary (dropped by run())
    message = output.errors[0].trace.error.message
    assert "Kustomer kept failing requests for stream 'teams' after every retry" in message
    assert output.errors[0].trace.error.failure_type == FailureType.transient_error


def test_403_skips_the_stream_naming_the_role_and_the_others_continue():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(
            get("slas", page=1, pageSize=100), error(403, "this API key lacks the role org.permission.sla.read")
        )
        http_mocker.get(get("tags", page=1, pageSize=100), page([resource("tag", "t1", T1)]))
        output = read(SourceKustomer(), config(), catalog("slas", "tags"))
    assert _ids(output) == ["t1"]
    assert not output.errors
    warnings = [m.log.message for m in output.logs if m.log.level.name == "WARN"]
    assert any("slas" in w and "org.permission.sla.read" in w for w in warnings)


def test_401_fails_with_a_config_error_that_never_shows_the_token():
    with HttpMocker() as http_mocker:
        http_mocker.get(get("users/current"), error(401, "invalid or expired API key"))
        output = read(SourceKustomer(), config(), catalog("tags"), expecting_exception=True)
    assert output.errors[0].trace.error.failure_type == FailureType.config_error
    assert "invalid or has expired" in output.errors[0].trace.error.message
    everything = "\n".join(json.dumps(AirbyteMessageSerializer.dump(m)) for m in output.get_message_iterator())
    assert "invalid or expired API key" in everything and TOKEN not in everything


def test_custom_fields_are_typed_from_metadata_in_discover():
    from airbyte_cdk.test.entrypoint_wrapper import discover

    with HttpMocker() as http_mocker:
        discovery_mocks(
            http_mocker,
            klasses=[
                {
                    "type": "klass",
                    "id": "k1",
                    "attributes": {"name": "order", "attributes": {"totalNum": {"type": "number"}}},
                }
            ],
        )
        for name in ("customer", "conversation", "message", "note", "company"):
            _metadata(http_mocker, name)
        output = discover(SourceKustomer(), config())
    streams = {s.name: s for s in output.catalog.catalog.streams}
    assert "kobjects_order" in streams
    assert streams["customers"].json_schema["properties"]["custom"]["properties"]["tierStr"] == {
        "type": ["null", "string"]
    }
    assert streams["kobjects_order"].json_schema["properties"]["custom"]["properties"]["totalNum"] == {
        "type": ["null", "number"]
    }
    assert streams["customers"].default_cursor_field == ["updatedAt"]
    assert streams["customers"].source_defined_primary_key == [["id"]]


def test_a_list_finished_in_an_earlier_sync_is_read_again_in_full():
    state = StateBuilder().with_stream_state("tags", {"__ab_full_refresh_sync_complete": True}).build()
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(get("tags", page=1, pageSize=100), page([resource("tag", "t1", T1)]))
        output = read(SourceKustomer(), config(), catalog("tags"), state)
    assert _ids(output) == ["t1"]


def test_a_list_interrupted_mid_way_resumes_from_its_next_link():
    state = StateBuilder().with_stream_state("tags", {"next": "/v1/tags?page=3&pageSize=100"}).build()
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(get("tags", page=3, pageSize=100), page([resource("tag", "t201", T1)]))
        output = read(SourceKustomer(), config(), catalog("tags"), state)
    assert _ids(output) == ["t201"]
    assert output.most_recent_state.stream_state == AirbyteStateBlob(__ab_full_refresh_sync_complete=True)


def test_start_date_beyond_search_history_warns():
    criteria = [{"company_updated_at": {"gte": "2020-01-01T00:00:00.000Z"}}, {"company_updated_at": {"lte": NOW_ISO}}]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "company")
        http_mocker.post(search("company", criteria), page([resource("company", "c1", T1)]))
        output = read(SourceKustomer(), config(start_date="2020-01-01T00:00:00Z"), catalog("companies"))
    assert _ids(output) == ["c1"]
    warnings = [m.log.message for m in output.logs if m.log.level.name == "WARN"]
    assert any("search only covers the last two years" in w for w in warnings)
