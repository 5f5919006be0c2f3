"""Each read pattern through the real source with HttpMocker: exact requests, records, state, retries, refusals.

Over ~400 lines as one table of read patterns on one harness (BEHAVIOR.md cites it test by test); it runs in
seconds, so splitting it would not balance ./test.sh's workers.
"""

import json
from datetime import datetime
from urllib.parse import quote

from airbyte_cdk.models import AirbyteMessageSerializer, AirbyteStateBlob, FailureType, Status, SyncMode
from airbyte_cdk.test.entrypoint_wrapper import discover, read
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse
from airbyte_cdk.test.state_builder import StateBuilder

from source_kustomer import SourceKustomer
from source_kustomer.version import USER_AGENT
from unit_tests.conftest import (
    BASE,
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
    token_check,
)

T1, T2, T3 = "2026-02-01T10:00:00.000Z", "2026-02-02T10:00:00.000Z", "2026-02-03T10:00:00.000Z"
EARLIER = "2026-02-01T09:59:59.999Z"  # T1 less the millisecond the audit log is asked from before a position
AUDIT_UNTIL = "2026-06-01T11:55:00.000Z"  # the audit log is read up to now less its publish lag (5 minutes)
AUDIT_END = "2026-06-01T12:00:00.001Z"
DELETIONS_SINCE, DELETIONS_ASKED = (
    "2026-05-28T10:00:00.000Z",
    "2026-05-28T09:59:59.999Z",
)  # within a week of now  # asked up to that lag (and a millisecond) later: late-published entries
START = "2026-01-01T00:00:00.000Z"
WINDOW = [{"customer_updated_at": {"gte": START}}, {"customer_updated_at": {"lte": NOW_ISO}}]


def _ids(output, stream=None):
    return [m.record.data["id"] for m in output.records if stream is None or m.record.stream == stream]


def _everything(output) -> str:
    return "\n".join(json.dumps(AirbyteMessageSerializer.dump(m)) for m in output.get_message_iterator())


def _metadata(http_mocker, resource_name: str, properties=None) -> None:
    body = {"data": {"attributes": {"properties": properties or {"tierStr": {"type": "string"}}}}}
    http_mocker.get(get(f"metadata/{resource_name}"), HttpResponse(json.dumps(body), 200))


def _klass(name: str, klass_id: str) -> dict:
    return {"type": "klass", "id": klass_id, "attributes": {"name": name}}


def test_list_stream_follows_next_links_at_the_maximum_page_size_and_reads_deactivated_users_too():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        first = get("users", deleted="false", page=1, pageSize=500)
        second = get("users", page=2, pageSize=500, deleted="false")  # the link drops the filter: it is sent again
        deactivated = get("users", deleted="true", page=1, pageSize=500)
        http_mocker.get(
            first, page([resource("user", "u1", T1), resource("user", "u2", T1)], "/v1/users?page=2&pageSize=500")
        )
        http_mocker.get(second, page([resource("user", "u3", T2)]))
        http_mocker.get(deactivated, page([resource("user", "u4", T2, deletedAt=T2)]))
        output = read(SourceKustomer(), config(), catalog("users"))
        for request in (first, second, deactivated):
            http_mocker.assert_number_of_calls(request, 1)
    assert _ids(output) == ["u1", "u2", "u3", "u4"]
    record = output.records[0].record.data
    assert record["type"] == "user" and record["updatedAt"] == T1
    assert record["relationships"]["org"]["data"]["id"] == "org1"
    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages]
    assert states == [
        {"next": "/v1/users?page=2&pageSize=500&deleted=false"},  # saved with the filter the link dropped
        {"next": "/v1/users?deleted=true&page=1&pageSize=500"},
        {"__ab_full_refresh_sync_complete": True},
        {"__ab_full_refresh_sync_complete": True},
    ]
    assert not output.errors


def test_every_request_says_who_is_calling():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        tags = HttpRequest(
            f"{BASE}/tags", query_params={"page": "1", "pageSize": "100"}, headers={"User-Agent": USER_AGENT}
        )
        http_mocker.get(tags, page([resource("tag", "t1", T1)]))
        output = read(SourceKustomer(), config(), catalog("tags"))
        http_mocker.assert_number_of_calls(tags, 1)
    assert _ids(output) == ["t1"] and USER_AGENT.startswith("airbyte-source-kustomer/")


def test_search_stream_reads_by_keyset_and_checkpoints_the_last_updated_at():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "customer")
        http_mocker.post(
            search("customer", WINDOW, page_size=2),
            page([resource("customer", "a", T1), resource("customer", "b", T2)], "/v1/customers/search?page=2"),
        )
        http_mocker.post(
            search("customer", [{"customer_updated_at": {"gte": T2}}, WINDOW[1]], page_size=2),
            page([resource("customer", "b", T2), resource("customer", "c", T3)]),
        )
        output = read(SourceKustomer(), config(page_size=2), catalog("customers", mode=SyncMode.incremental))
    assert _ids(output) == ["a", "b", "c"]
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=T3)
    assert "custom" not in output.records[0].record.data


def test_a_page_all_at_one_updated_at_is_read_as_a_group_by_offset_then_passed_with_gt():
    b, c, d = (resource("customer", rid, T2) for rid in "bcd")
    group = [{"customer_updated_at": {"gte": T2}}, {"customer_updated_at": {"lte": T2}}]
    more = "/v1/customers/search?page=2"
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "customer")
        http_mocker.post(search("customer", WINDOW, page_size=2), page([resource("customer", "a", T1), b], more))
        http_mocker.post(
            search("customer", [{"customer_updated_at": {"gte": T2}}, WINDOW[1]], page_size=2), page([c, b], more)
        )
        first = search("customer", group, page_size=2)
        http_mocker.post(first, page([b, c], more, total=3))
        http_mocker.post(search("customer", group, page_no=2, page_size=2), page([d], total=3))
        http_mocker.post(
            search("customer", [{"customer_updated_at": {"gt": T2}}, WINDOW[1]], page_size=2),
            page([resource("customer", "e", T3)]),
        )
        output = read(SourceKustomer(), config(page_size=2), catalog("customers", mode=SyncMode.incremental))
        http_mocker.assert_number_of_calls(first, 1)
    assert _ids(output) == ["a", "b", "c", "d", "e"]
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=T3)


def test_incremental_read_starts_at_the_state_cursor_less_the_lookback():
    state = StateBuilder().with_stream_state("notes", {"updatedAt": T2}).build()
    lower = "2026-02-02T09:00:00.000Z"  # T2 less 60 minutes
    criteria = [{"note_updated_at": {"gte": lower}}, {"note_updated_at": {"lte": NOW_ISO}}]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)  # notes have no documented metadata: none is requested
        http_mocker.post(search("note", criteria), page([resource("note", "n1", T2), resource("note", "n2", T3)]))
        output = read(
            SourceKustomer(), config(lookback_window_minutes=60), catalog("notes", mode=SyncMode.incremental), state
        )
    assert _ids(output) == ["n1", "n2"]
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=T3)
    assert output.is_in_logs(r"\b1 possible duplicate,")


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


def test_a_search_page_flagged_timed_out_is_retried_not_trusted():
    partial = json.dumps({"data": [resource("note", "n1", T1)], "links": {"next": None}, "meta": {"timed_out": True}})
    criteria = [{"note_updated_at": {"gte": START}}, {"note_updated_at": {"lte": NOW_ISO}}]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        request = search("note", criteria)
        whole = page([resource("note", "n1", T1), resource("note", "n2", T2)])
        http_mocker.post(request, [HttpResponse(partial, 200), whole])
        output = read(SourceKustomer(), config(), catalog("notes"))
        http_mocker.assert_number_of_calls(request, 2)
    assert _ids(output) == ["n1", "n2"]


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


def test_a_401_on_one_stream_with_a_valid_key_skips_only_that_stream():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        denied = error(401, "this API key lacks the role org.permission.note.read")
        http_mocker.post(
            search("note", [{"note_updated_at": {"gte": START}}, {"note_updated_at": {"lte": NOW_ISO}}]), denied
        )
        http_mocker.get(get("tags", page=1, pageSize=100), page([resource("tag", "t1", T1)]))
        output = read(SourceKustomer(), config(), catalog("notes", "tags"))
    assert _ids(output) == ["t1"] and not output.errors
    warnings = [m.log.message for m in output.logs if m.log.level.name == "WARN"]
    assert any("'notes'" in w and "HTTP 401" in w and "org.permission.note.read" in w for w in warnings)


def test_an_invalid_key_fails_with_a_config_error_that_never_shows_the_token():
    with HttpMocker() as http_mocker:
        http_mocker.get(get("auth/tokens/current"), error(401, f"invalid or expired API key {TOKEN}"))
        output = read(SourceKustomer(), config(), catalog("tags"), expecting_exception=True)
    assert output.errors[0].trace.error.failure_type == FailureType.config_error
    assert "invalid or has expired" in output.errors[0].trace.error.message
    assert TOKEN not in _everything(output)


def test_custom_fields_are_typed_from_documented_metadata_in_discover():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker, klasses=[_klass("order", "k1")])
        for name in ("customer", "conversation", "message", "company"):
            _metadata(http_mocker, name)
        _metadata(http_mocker, "kobject.order", {"totalNum": {"type": "number"}, "giftBool": {"type": "boolean"}})
        output = discover(SourceKustomer(), config())
    streams = {s.name: s for s in output.catalog.catalog.streams}
    assert streams["customers"].json_schema["properties"]["custom"]["properties"]["tierStr"] == {
        "type": ["null", "string"]
    }
    assert streams["kobjects_order"].json_schema["properties"]["custom"]["properties"] == {
        "totalNum": {"type": ["null", "number"]},
        "giftBool": {"type": ["null", "boolean"]},
    }
    assert streams["notes"].json_schema["properties"]["custom"] == {
        "type": ["null", "object"],
        "additionalProperties": True,
    }
    assert streams["customers"].default_cursor_field == ["updatedAt"]
    assert streams["customers"].source_defined_primary_key == [["id"]]


def test_klasses_of_every_status_are_listed_past_the_first_page_each_once():
    first = [_klass(f"k{n:03d}", f"{n:024x}") for n in range(100)]
    with HttpMocker() as http_mocker:
        token_check(http_mocker)
        enabled = "/v1/klasses?status=enabled&page=2&pageSize=100"
        http_mocker.get(get("klasses", status="enabled", page=1, pageSize=100), page(first, enabled))
        second = [_klass("k100", f"{100:024x}"), first[0]]  # listed again: one klass, one stream
        http_mocker.get(get("klasses", status="enabled", page=2, pageSize=100), page(second))
        legacy = {
            **_klass("legacy_case", f"{200:024x}"),
            "attributes": {"name": "legacy_case", "status": "existing_only"},
        }
        http_mocker.get(get("klasses", status="existing_only", page=1, pageSize=100), page([legacy]))
        http_mocker.get(get("klasses", status="disabled", page=1, pageSize=100), error(403, "lacks klass read"))
        for name in ["customer", "conversation", "message", "company"] + [f"kobject.k{n:03d}" for n in range(101)]:
            http_mocker.get(get(f"metadata/{name}"), error(404))
        http_mocker.get(get("metadata/kobject.legacy_case"), error(404))
        output = discover(SourceKustomer(), config())
    streams = {s.name: s for s in output.catalog.catalog.streams if s.name.startswith("kobjects_")}
    assert len(streams) == 102 and "kobjects_k100" in streams and "kobjects_k000_" not in " ".join(streams)
    assert "klass status: existing_only" in streams["kobjects_legacy_case"].json_schema["description"]
    assert any("Cannot list disabled custom object klasses" in m.log.message for m in output.logs)


def test_klasses_whose_names_normalise_alike_get_unique_stable_stream_names():
    klasses = [_klass("Order Item", "aaaaaaaaaaaaaaaaaa111111"), _klass("order_item", "bbbbbbbbbbbbbbbbbb222222")]
    klasses.append(_klass("order-item", "cccccccccccccccccc333333"))
    runs = []
    for ordering in (klasses, klasses[::-1]):
        with HttpMocker() as http_mocker:
            discovery_mocks(http_mocker, klasses=ordering)
            for name in ("customer", "conversation", "message", "company"):
                http_mocker.get(get(f"metadata/{name}"), error(404))
            for klass in klasses:
                http_mocker.get(get(f"metadata/kobject.{quote(klass['attributes']['name'], safe='')}"), error(404))
            runs.append(sorted(s.name for s in discover(SourceKustomer(), config()).catalog.catalog.streams))
    kobjects = [name for name in runs[0] if name.startswith("kobjects_")]
    assert kobjects == ["kobjects_order_item", "kobjects_order_item_111111", "kobjects_order_item_333333"]
    assert runs[0] == runs[1]


def test_check_validates_the_key_then_one_search_and_names_the_missing_search_role():
    probe = search("customer", [{"customer_updated_at": {"gte": START}}], page_size=1)
    with HttpMocker() as http_mocker:
        token_check(http_mocker)
        http_mocker.post(probe, error(403, "this API key lacks the role org.user.search.read"))
        status = SourceKustomer().check(None, config())
    assert status.status == Status.FAILED
    assert "org.user.search.read" in status.message and "valid" in status.message
    with HttpMocker() as http_mocker:
        token_check(http_mocker)
        http_mocker.post(probe, page([resource("customer", "a", T1)]))
        assert SourceKustomer().check(None, config()).status == Status.SUCCEEDED


def test_a_list_link_to_another_host_stops_the_stream_without_following_it():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(get("tags", page=1, pageSize=100), page([resource("tag", "t1", T1)], "////evil.invalid/x"))
        output = read(SourceKustomer(), config(), catalog("tags"), expecting_exception=True)
    assert _ids(output) == ["t1"]
    message = output.errors[0].trace.error.message
    assert "Kustomer sent a link that" in message and "api.kustomerapp.com" in message
    assert "evil.invalid" not in json.dumps([s.state.stream.stream_state.__dict__ for s in output.state_messages])


def test_a_list_that_links_back_to_a_page_already_read_stops_instead_of_looping():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        first = get("tags", page=1, pageSize=100)
        http_mocker.get(first, page([resource("tag", "t1", T1)], "/v1/tags?page=1&pageSize=100"))
        output = read(SourceKustomer(), config(), catalog("tags"), expecting_exception=True)
        http_mocker.assert_number_of_calls(first, 1)
    assert "links back to a page already read" in output.errors[0].trace.error.message


def test_a_search_that_kustomer_rejects_stops_with_kustomers_words():
    criteria = [{"note_updated_at": {"gte": START}}, {"note_updated_at": {"lte": NOW_ISO}}]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.post(search("note", criteria), error(400, "invalid search body"))
        output = read(SourceKustomer(), config(), catalog("notes"), expecting_exception=True)
    message = output.errors[0].trace.error.message
    assert "Kustomer rejected the search" in message and "HTTP 400: invalid search body" in message


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


def test_history_older_than_two_years_is_read_from_the_archive_and_the_boundary_from_both_searches():
    band_start, band_end = "2024-05-25T12:00:00.000Z", "2024-06-08T12:00:00.000Z"  # two years before NOW, +- 7 days
    old, in_band, moved, recent = "2021-03-01T00:00:00.000Z", "2024-05-30T00:00:00.000Z", "2024-06-02T00:00:00.000Z", T1

    def between(low, high):
        return [{"company_updated_at": {"gte": low}}, {"company_updated_at": {"lte": high}}]

    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "company")
        archive_all = search("company", between("2020-01-01T00:00:00.000Z", band_end), archive=True)
        http_mocker.post(archive_all, page([resource("company", "old", old), resource("company", "b1", in_band)]))
        standard_band = search("company", between(band_start, band_end))
        http_mocker.post(standard_band, page([resource("company", "b1", in_band), resource("company", "b2", moved)]))
        archive_band = search("company", between(band_start, band_end), archive=True)
        http_mocker.post(archive_band, page([resource("company", "b1", in_band), resource("company", "b3", moved)]))
        http_mocker.post(search("company", between(band_end, NOW_ISO)), page([resource("company", "new", recent)]))
        output = read(
            SourceKustomer(), config(start_date="2020-01-01T00:00:00Z"), catalog("companies", mode=SyncMode.incremental)
        )
        for request in (archive_all, standard_band, archive_band):
            http_mocker.assert_number_of_calls(request, 1)
    assert _ids(output) == ["old", "b1", "b2", "b3", "new"]  # b1 was found three times, emitted once
    states = [m.state.stream.stream_state for m in output.state_messages]
    # while the boundary is read from both searches the state stays at its start, then moves past it
    assert states[:3] == [AirbyteStateBlob(updatedAt=band_start)] * 2 + [AirbyteStateBlob(updatedAt=band_end)]
    assert states[-1] == AirbyteStateBlob(updatedAt=recent)


def test_notes_older_than_two_years_are_nowhere_in_kustomer_and_the_sync_says_so():
    criteria = [{"note_updated_at": {"gte": "2020-01-01T00:00:00.000Z"}}, {"note_updated_at": {"lte": NOW_ISO}}]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.post(search("note", criteria), page([resource("note", "n1", T1)]))
        output = read(SourceKustomer(), config(start_date="2020-01-01T00:00:00Z"), catalog("notes"))
    assert _ids(output) == ["n1"]
    warnings = [m.log.message for m in output.logs if m.log.level.name == "WARN"]
    assert any("neither in its search nor in its archive search" in w for w in warnings)


def _entry_id(object_id: str, verb: str, at: str) -> str:
    """An ObjectId-shaped entry id: the second it was published (here: created), then something unique."""
    seconds = int(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp())
    return f"{seconds:08x}{int.from_bytes((object_id + verb).encode()[:8].ljust(8, b'0'), 'big'):016x}"


def _cursors(start: str, end: str, before: str = "") -> dict:
    """The ``after`` and ``before`` ids a window's first page is asked with: three seconds wider than its dates
    (unit_tests/test_audit_and_deletions.py tests them); ``before`` moves down to the last id read."""

    def object_id(at: str, by_seconds: int) -> str:
        return f"{int(datetime.fromisoformat(at.replace('Z', '+00:00')).timestamp()) + by_seconds:08x}" + "0" * 16

    return {"after": object_id(start, -3), "before": before or object_id(end, 3)}


def _audit_entry(verb: str, object_type: str, object_id: str, at: str) -> dict:
    attributes = {"eventVerb": verb, "objectType": object_type, "objectId": object_id, "createdAt": at}
    return {"type": "audit_log", "id": _entry_id(object_id, verb, at), "attributes": attributes}


def test_sync_deletes_turns_soft_deletes_and_logged_hard_deletes_into_markers_and_saves_both_positions():
    state = StateBuilder().with_stream_state("customers", {"updatedAt": T1, "deletionsSince": DELETIONS_SINCE}).build()
    criteria = [{"customer_updated_at": {"gte": T1}}, {"customer_updated_at": {"lte": NOW_ISO}}]
    audit_query = {
        "count": "1000",
        "filter[objectType]": "customer",
        "filter[start]": DELETIONS_ASKED,
        "filter[end]": AUDIT_END,
    }
    newer, gone_at = "2026-05-30T10:00:00.000Z", "2026-05-29T10:00:00.000Z"
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "customer")
        records = search("customer", criteria)
        records._body = {**records._body, "includeDeleted": True}
        http_mocker.post(
            records,
            page([resource("customer", "live", T2), resource("customer", "soft", T3, deleted=True, deletedAt=T3)]),
        )
        first_log = get("audit-logs", **audit_query, **_cursors(DELETIONS_ASKED, AUDIT_END))
        updated_at = "2026-05-29T12:00:00.000Z"
        last_id = _entry_id("live", "update", updated_at)
        # built from the last id read
        second_log = get("audit-logs", **audit_query, **_cursors(DELETIONS_ASKED, AUDIT_END, before=last_id))
        http_mocker.get(
            first_log,
            page(
                [
                    _audit_entry("delete", "customer", "merged", newer),
                    _audit_entry("update", "customer", "live", updated_at),
                ],
                f"/v1/audit-logs?count=1000&before={last_id}",  # Kustomer's link carries no filters
            ),
        )
        http_mocker.get(
            second_log,
            page(
                [
                    _audit_entry("delete", "customer", "soft", gone_at),
                    _audit_entry("delete", "customer", "gone", gone_at),
                ]
            ),
        )
        output = read(
            SourceKustomer(), config(sync_deletes=True), catalog("customers", mode=SyncMode.incremental), state
        )
        http_mocker.assert_number_of_calls(first_log, 1)
        http_mocker.assert_number_of_calls(second_log, 1)
    data = [m.record.data for m in output.records]
    assert [(r["id"], r.get("_ab_cdc_deleted_at")) for r in data] == [
        ("live", None),
        ("soft", T3),  # its audit-log delete entry is not delivered (nor counted) again
        ("gone", gone_at),  # the audit log is read newest first; its markers go out oldest first
        ("merged", newer),
    ]
    assert data[1] == {"id": "soft", "type": "customer", "updatedAt": T3, "_ab_cdc_deleted_at": T3}
    states = [m.state.stream.stream_state for m in output.state_messages]
    assert states[0] == AirbyteStateBlob(updatedAt=T3, deletionsSince=DELETIONS_SINCE)  # records are saved first
    assert states[-1] == AirbyteStateBlob(updatedAt=T3, deletionsSince=AUDIT_UNTIL)
    assert output.is_in_logs("0 possible duplicates, 3 deletions")


def test_an_audit_log_page_out_of_order_is_read_all_the_same_and_the_deletions_position_moves():
    state = StateBuilder().with_stream_state("companies", {"updatedAt": T1, "deletionsSince": DELETIONS_SINCE}).build()
    criteria = [{"company_updated_at": {"gte": T1}}, {"company_updated_at": {"lte": NOW_ISO}}]
    audit_query = {
        "count": "1000",
        "filter[objectType]": "company",
        "filter[start]": DELETIONS_ASKED,
        "filter[end]": AUDIT_END,
        **_cursors(DELETIONS_ASKED, AUDIT_END),
    }
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _metadata(http_mocker, "company")
        records = search("company", criteria)
        records._body = {**records._body, "includeDeleted": True}
        http_mocker.post(records, page([resource("company", "c1", T2)]))
        oldest_first = [
            _audit_entry("delete", "company", "a", "2026-05-29T10:00:00.000Z"),
            _audit_entry("delete", "company", "b", "2026-05-30T10:00:00.000Z"),
        ]
        http_mocker.get(get("audit-logs", **audit_query), page(oldest_first))
        output = read(
            SourceKustomer(), config(sync_deletes=True), catalog("companies", mode=SyncMode.incremental), state
        )
    assert _ids(output) == ["c1", "a", "b"] and not output.errors  # the order is noted, never a reason to stop
    assert output.most_recent_state.stream_state == AirbyteStateBlob(updatedAt=T2, deletionsSince=AUDIT_UNTIL)
    warnings = [m.log.message for m in output.logs if m.log.level.name == "WARN"]
    assert any("1 pages not newest id first" in w for w in warnings), warnings


def test_conversation_times_are_read_by_created_at_without_asking_for_a_sort_and_checkpoint_the_window():
    criteria = [{"conversation_time_created_at": {"gte": START}}, {"conversation_time_created_at": {"lte": NOW_ISO}}]
    times = [
        {"type": "conversation_time", "id": f"t{n}", "attributes": {"createdAt": at}} for n, at in ((2, T2), (1, T1))
    ]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        request = search("conversation_time", criteria, sort=None)
        http_mocker.post(request, page(times, total=2))  # not in time order: fine, it is read as one set
        output = read(SourceKustomer(), config(), catalog("conversation_times", mode=SyncMode.incremental))
        http_mocker.assert_number_of_calls(request, 1)
    assert _ids(output) == ["t2", "t1"] and not output.errors
    assert output.most_recent_state.stream_state == AirbyteStateBlob(createdAt=NOW_ISO)


def test_work_items_are_read_per_conversation_where_their_search_is_rejected_and_the_state_follows_the_conversations():
    criteria = [{"conversation_updated_at": {"gte": START}}, {"conversation_updated_at": {"lte": NOW_ISO}}]
    item = {"type": "work_item", "id": "w1", "attributes": {"updatedAt": T1, "status": "completed"}}
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        items_window = [{"work_item_updated_at": {"gte": START}}, {"work_item_updated_at": {"lte": NOW_ISO}}]
        http_mocker.post(search("work_item", items_window), error(400, "work_item_updated_at is not searchable"))
        unsorted = search("work_item", items_window, sort=None)
        http_mocker.post(unsorted, error(400, "work_item_updated_at is not searchable"))
        conversations = search("conversation", criteria)
        conversations._body = {**conversations._body, "includeDeleted": True}
        http_mocker.post(conversations, page([resource("conversation", "c1", T1), resource("conversation", "c2", T2)]))
        first = get("routing/conversations/c1/work-items", page=1, pageSize=100)
        http_mocker.get(first, page([item], "/v1/routing/conversations/c1/work-items?page=2&pageSize=100"))
        http_mocker.get(
            get("routing/conversations/c1/work-items", page=2, pageSize=100),
            page([{**item, "id": "w2"}]),
        )
        http_mocker.get(get("routing/conversations/c2/work-items", page=1, pageSize=100), error(404, "gone"))
        http_mocker.get(get("conversations/c2"), error(404, "no such conversation"))  # verified: it is gone
        output = read(SourceKustomer(), config(), catalog("work_items", mode=SyncMode.incremental))
    assert _ids(output) == ["w1", "w2"] and output.records[0].record.data["status"] == "completed"
    assert output.most_recent_state.stream_state == AirbyteStateBlob(conversationUpdatedAt=T2)
    warnings = [m.log.message for m in output.logs if m.log.level.name == "WARN"]
    assert any(
        "work_item_updated_at is not searchable" in w and "Reading each changed conversation" in w for w in warnings
    )
    assert any("1 conversations were deleted while their work items were read" in w for w in warnings)


def test_work_sessions_where_their_search_is_rejected_are_every_session_of_every_agent_from_the_list():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        window = [{"work_session_updated_at": {"gte": START}}, {"work_session_updated_at": {"lte": NOW_ISO}}]
        http_mocker.post(search("work_session", window), error(400, "unknown field"))
        http_mocker.post(search("work_session", window, sort=None), error(400, "unknown field"))
        request = get("routing/work-sessions", user="false", active="false", page=1, pageSize=100)
        http_mocker.get(request, page([resource("work_session", "s1", T1, statusType="offline")]))
        output = read(SourceKustomer(), config(), catalog("work_sessions"))
        http_mocker.assert_number_of_calls(request, 1)
    assert _ids(output) == ["s1"] and output.records[0].record.data["statusType"] == "offline"


def test_the_audit_log_is_read_a_week_at_a_time_and_its_state_is_a_date_not_an_entry():
    state = StateBuilder().with_stream_state("audit_logs", {"createdAt": "2026-05-20T12:00:00.000Z"}).build()
    week_one = {"count": "1000", "filter[start]": "2026-05-20T11:59:59.999Z", "filter[end]": "2026-05-27T12:05:00.001Z"}
    week_one.update(_cursors(week_one["filter[start]"], week_one["filter[end]"]))
    week_two = {"count": "1000", "filter[start]": "2026-05-27T11:59:59.999Z", "filter[end]": AUDIT_END}
    week_two.update(_cursors(week_two["filter[start]"], week_two["filter[end]"]))
    boundary = _audit_entry("update", "customer", "a", "2026-05-27T12:00:00.000Z")
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        week_one_page = [boundary, _audit_entry("create", "note", "b", "2026-05-22T00:00:00.000Z")]
        http_mocker.get(get("audit-logs", **week_one), page(week_one_page))
        late = _audit_entry("update", "message", "c", "2026-06-01T11:56:00.000Z")  # after the sync's end: next sync
        week_two_page = [late, _audit_entry("update", "message", "d", "2026-06-01T11:50:00.000Z"), boundary]
        http_mocker.get(get("audit-logs", **week_two), page(week_two_page))
        output = read(SourceKustomer(), config(), catalog("audit_logs", mode=SyncMode.incremental), state)
    expected = [boundary, week_one_page[1], week_two_page[1]]
    assert _ids(output) == [entry["id"] for entry in expected]  # an entry at a week's end: once
    states = [m.state.stream.stream_state for m in output.state_messages]
    assert states == [
        AirbyteStateBlob(createdAt="2026-05-27T12:00:00.000Z"),
        AirbyteStateBlob(createdAt=AUDIT_UNTIL),
        AirbyteStateBlob(createdAt=AUDIT_UNTIL),
    ]


def test_custom_attribute_metadata_is_one_record_per_attribute_of_every_described_resource():
    klasses = [_klass("order", "k1")]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker, klasses)
        _metadata(http_mocker, "customer", {"tierStr": {"type": "string", "displayName": "Tier", "enumeration": ["a"]}})
        http_mocker.get(get("metadata/company"), error(404, "no custom attributes"))
        empty = {"data": {"attributes": {"properties": {}}}}
        http_mocker.get(get("metadata/conversation"), HttpResponse(json.dumps(empty), 200))
        _metadata(http_mocker, "message", {"sentimentNum": {"type": "number", "displayName": "Sentiment"}})
        _metadata(http_mocker, "kobject.order", {"totalNum": {"type": "number", "displayName": "Total"}})
        output = read(SourceKustomer(), config(), catalog("custom_attribute_metadata"))
    assert [m.record.data for m in output.records] == [
        {
            "id": "customer.tierStr",
            "resource": "customer",
            "name": "tierStr",
            "type": "string",
            "displayName": "Tier",
            "enumeration": ["a"],
        },
        {
            "id": "message.sentimentNum",
            "resource": "message",
            "name": "sentimentNum",
            "type": "number",
            "displayName": "Sentiment",
        },
        {
            "id": "kobject.order.totalNum",
            "resource": "kobject.order",
            "name": "totalNum",
            "type": "number",
            "displayName": "Total",
        },
    ]


def test_a_refusal_after_the_first_page_of_a_list_is_an_error_not_the_end_of_the_list():
    """A full-refresh overwrite would be truncated to the pages read: a 403 or 404 on page 2 stops the stream, and
    its state keeps the page to read next instead of saying the list is complete."""
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(
            get("tags", page=1, pageSize=100), page([resource("tag", "t1", T1)], "/v1/tags?page=2&pageSize=100")
        )
        http_mocker.get(get("tags", page=2, pageSize=100), error(403, "lacks the role org.permission.tag.read"))
        output = read(SourceKustomer(), config(), catalog("tags"), expecting_exception=True)
    assert _ids(output) == ["t1"]
    assert "after earlier pages were read" in output.errors[0].trace.error.message
    assert output.most_recent_state.stream_state == AirbyteStateBlob(next="/v1/tags?page=2&pageSize=100")


def test_the_summary_names_the_selected_streams_in_the_catalogs_order_whatever_order_they_started_in():
    """Streams start longest first (tags before users here, by name), but the summary lines and SYNC_SUMMARY keep
    the order of the streams' tables, so a reader finds a stream where the catalog has it."""
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(get("tags", page=1, pageSize=100), page([resource("tag", "t1", T1)]))
        for deleted in ("false", "true"):
            http_mocker.get(get("users", deleted=deleted, page=1, pageSize=500), page([]))
        output = read(SourceKustomer(), config(max_concurrent_streams=1), catalog("tags", "users"))
    logs = [m.log.message for m in output.logs]
    assert [line.split(":")[0] for line in logs if line.startswith("summary ")] == ["summary users", "summary tags"]
    summary = json.loads(next(line for line in logs if line.startswith("SYNC_SUMMARY "))[len("SYNC_SUMMARY ") :])
    assert [row["stream"] for row in summary] == ["users", "tags"]
    started = [m.trace.stream_status.stream_descriptor.name for m in output.get_message_iterator() if m.trace]
    assert started[0] == "tags"
