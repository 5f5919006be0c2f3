"""The tables beyond the core objects through the real source with HttpMocker: the configuration lists, the records
included in a parent's answer (SLA versions, holidays) and the lists under each changed conversation (events,
attachments) -- exact requests, records, state, refusals and the per-sync bound of requests."""

import json

import pytest
from airbyte_cdk.models import AirbyteStateBlob, SyncMode
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse
from airbyte_cdk.test.state_builder import StateBuilder

from source_kustomer import SourceKustomer
from source_kustomer.streams import LIST_STREAMS
from unit_tests.conftest import NOW_ISO, catalog, config, discovery_mocks, error, get, page, resource, search

T1, T2, T3 = "2026-02-01T10:00:00.000Z", "2026-02-02T10:00:00.000Z", "2026-02-03T10:00:00.000Z"
START = "2026-01-01T00:00:00.000Z"
NEW_LISTS = {
    "snoozes": "snoozes",
    "cards": "cards",
    "team_routing_settings": "routing/settings",
    "routing_statuses": "routing/statuses",
    "queue_rules": "routing/queue-rules",
}


def _ids(output, stream=None):
    return [m.record.data["id"] for m in output.records if stream is None or m.record.stream == stream]


def _document(data, included=None) -> HttpResponse:
    body = {"data": data}
    if included is not None:
        body["included"] = included
    return HttpResponse(json.dumps(body), 200)


def _warnings(output):
    return [m.log.message for m in output.logs if m.log.level.name == "WARN"]


@pytest.mark.parametrize("stream, path", sorted(NEW_LISTS.items()))
def test_each_configuration_list_is_read_from_its_path_with_the_list_paginator(stream, path):
    assert {spec.name: spec.path for spec in LIST_STREAMS if spec.name in NEW_LISTS} == NEW_LISTS
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        first = get(path, page=1, pageSize=100)
        http_mocker.get(first, page([resource("x", "r1", T1)], f"/v1/{path}?page=2&pageSize=100"))
        second = get(path, page=2, pageSize=100)
        http_mocker.get(second, page([resource("x", "r2", T2)]))
        output = read(SourceKustomer(), config(), catalog(stream))
        for request in (first, second):
            http_mocker.assert_number_of_calls(request, 1)
    assert _ids(output) == ["r1", "r2"] and not output.errors


def test_a_snooze_options_own_type_is_kept_beside_the_records_type():
    option = resource("snooze", "s1", T1, name="2 Hours", type="relative", value=7_200_000, enabled=True)
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(get("snoozes", page=1, pageSize=100), page([option]))
        output = read(SourceKustomer(), config(), catalog("snoozes"))
    record = output.records[0].record.data
    assert (record["type"], record["typeAttribute"], record["value"]) == ("snooze", "relative", 7_200_000)


def _sla(sla_id: str, versions):
    sla = resource("sla", sla_id, T1)
    sla["relationships"]["versions"] = {"data": [{"type": "sla_version", "id": v} for v in versions]}
    return sla


def _version(version_id: str, sla_id: str) -> dict:
    return {
        "type": "sla_version",
        "id": version_id,
        "attributes": {"name": "Email", "version": 1, "metrics": {"firstResponse": {"enabled": True}}},
        "relationships": {"sla": {"data": {"type": "sla", "id": sla_id}}},
    }


def test_sla_versions_are_each_slas_included_versions_an_object_or_a_list():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(get("slas", page=1, pageSize=100), page([resource("sla", "a", T1), resource("sla", "b", T1)]))
        one = get("slas/a", versions="all")
        http_mocker.get(one, _document(_sla("a", ["v1"]), _version("v1", "a")))  # one version: an object
        two = get("slas/b", versions="all")
        http_mocker.get(two, _document(_sla("b", ["v2", "v3"]), [_version("v2", "b"), _version("v3", "b")]))
        output = read(SourceKustomer(), config(), catalog("sla_versions"))
        for request in (one, two):
            http_mocker.assert_number_of_calls(request, 1)
    assert _ids(output) == ["v1", "v2", "v3"] and not output.errors
    record = output.records[0].record.data
    assert record["type"] == "sla_version" and record["metrics"] == {"firstResponse": {"enabled": True}}
    assert record["relationships"]["sla"]["data"]["id"] == "a"
    assert output.most_recent_state.stream_state == AirbyteStateBlob()


def test_an_sla_answer_without_a_version_it_names_stops_the_stream_instead_of_leaving_a_gap():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(get("slas", page=1, pageSize=100), page([resource("sla", "a", T1)]))
        http_mocker.get(get("slas/a", versions="all"), _document(_sla("a", ["v1", "v2"]), _version("v2", "a")))
        output = read(SourceKustomer(), config(), catalog("sla_versions"), expecting_exception=True)
    assert _ids(output) == []
    assert output.errors[0].trace.error.message == (
        "Kustomer's answer for slas a names 1 sla_version records it does not include (v1), though "
        "{'versions': 'all'} asked for all of them; the connector stopped instead of looping. The next run starts "
        "the list again."
    )


def test_business_holidays_are_each_schedules_included_holidays_and_a_schedule_gone_meanwhile_has_none():
    holiday = {"type": "holiday", "id": "h1", "attributes": {"name": "New Year", "startDate": T1, "endDate": T2}}
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        listed = [resource("schedule", "s1", T1), resource("schedule", "s2", T1)]
        http_mocker.get(get("schedules", page=1, pageSize=100), page(listed))
        http_mocker.get(get("schedules/s1", include="holidays"), _document(listed[0], [holiday]))
        http_mocker.get(get("schedules/s2", include="holidays"), error(404, "no such schedule"))
        output = read(SourceKustomer(), config(), catalog("business_holidays"))
    assert _ids(output) == ["h1"] and not output.errors
    assert output.records[0].record.data["startDate"] == T1


def test_a_key_without_the_parents_role_skips_the_included_stream_naming_the_role():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        refused = error(403, "this API key lacks the role org.permission.schedule.read")
        http_mocker.get(get("schedules", page=1, pageSize=100), refused)
        http_mocker.get(get("tags", page=1, pageSize=100), page([resource("tag", "t1", T1)]))
        output = read(SourceKustomer(), config(), catalog("business_holidays", "tags"))
    assert _ids(output) == ["t1"] and not output.errors
    assert any(
        "Skipping stream 'business_holidays'" in w and "org.permission.schedule.read" in w for w in _warnings(output)
    )


def _conversations(http_mocker, found, since=START):
    request = search(
        "conversation", [{"conversation_updated_at": {"gte": since}}, {"conversation_updated_at": {"lte": NOW_ISO}}]
    )
    request._body = {**request._body, "includeDeleted": True}  # a conversation in the trash keeps its history
    http_mocker.post(request, page(found))
    return request


def _attachment(attachment_id: str, message: str) -> dict:
    """An attachment as GetConversationAttachments' example lists it: no id but in links.self."""
    return {
        "type": "attachment",
        "attributes": {
            "name": f"{attachment_id}.jpg",
            "contentType": "image/jpeg",
            "contentLength": 9,
            "redacted": False,
        },
        "relationships": {"message": {"data": {"type": "message", "id": message}}},
        "links": {
            "self": f"/v1/messages/{message}/attachments/{attachment_id}",
            "related": f"https://files.example.com/{attachment_id}?X-Amz-Expires=600&X-Amz-Signature=abc",
        },
    }


def test_attachments_of_each_changed_conversation_are_identified_by_their_link_and_carry_their_conversation():
    state = StateBuilder().with_stream_state("message_attachments", {"conversationUpdatedAt": T1}).build()
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _conversations(http_mocker, [resource("conversation", "c1", T2), resource("conversation", "c2", T3)], since=T1)
        first = get("conversations/c1/attachments", page=1, pageSize=100)
        http_mocker.get(first, page([_attachment("a1", "m1")], "/v1/conversations/c1/attachments?page=2&pageSize=100"))
        http_mocker.get(get("conversations/c1/attachments", page=2, pageSize=100), page([_attachment("a2", "m2")]))
        http_mocker.get(get("conversations/c2/attachments", page=1, pageSize=100), error(404, "gone"))
        http_mocker.get(get("conversations/c2"), error(404, "no such conversation"))  # verified: it is gone
        output = read(SourceKustomer(), config(), catalog("message_attachments", mode=SyncMode.incremental), state)
    assert _ids(output) == ["a1", "a2"] and not output.errors
    record = output.records[0].record.data
    assert (record["conversationId"], record["conversationUpdatedAt"]) == ("c1", T2)
    assert record["links"] == {"self": "/v1/messages/m1/attachments/a1"}  # the pre-signed download link: not synced
    assert output.most_recent_state.stream_state == AirbyteStateBlob(conversationUpdatedAt=T3)


def test_events_of_a_conversation_that_exists_yet_answers_404_stop_the_stream_with_its_position_kept():
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _conversations(http_mocker, [resource("conversation", "c1", T1)])
        http_mocker.get(get("conversations/c1/events", page=1, pageSize=100), error(404, "not found"))
        http_mocker.get(get("conversations/c1"), _document(resource("conversation", "c1", T1)))
        output = read(
            SourceKustomer(), config(), catalog("conversation_events", mode=SyncMode.incremental),
            expecting_exception=True,
        )  # fmt: skip
    assert _ids(output) == []
    assert "Kustomer answered HTTP 404 for the events of conversation c1, though the conversation exists" in (
        output.errors[0].trace.error.message
    )


def test_a_child_stream_that_spends_its_requests_saves_its_position_stops_alone_and_the_next_sync_continues(
    monkeypatch,
):
    monkeypatch.setattr("source_kustomer.streams.conversation_children.MAX_CHILD_REQUESTS", 2)
    monkeypatch.setattr("source_kustomer.streams.conversation_children.CHILDREN_IN_FLIGHT", 1)
    conversations = [resource("conversation", f"c{n}", at) for n, at in ((1, T1), (2, T2), (3, T3))]
    events = {n: {"type": "customer_event", "id": f"e{n}", "attributes": {"updatedAt": T1}} for n in (1, 2, 3)}
    window = [{"conversation_updated_at": {"gte": START}}, {"conversation_updated_at": {"lte": NOW_ISO}}]
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        first_page = search("conversation", window, page_size=2)
        first_page._body = {**first_page._body, "includeDeleted": True}
        http_mocker.post(first_page, page(conversations[:2], "next", total=3))
        rest = search("conversation", [{"conversation_updated_at": {"gte": T2}}, window[1]], page_size=2)
        rest._body = {**rest._body, "includeDeleted": True}
        http_mocker.post(rest, page(conversations[1:]))
        for n in (1, 2):
            http_mocker.get(get(f"conversations/c{n}/events", page=1, pageSize=100), page([events[n]]))
        http_mocker.get(get("tags", page=1, pageSize=2), page([resource("tag", "t1", T1)]))
        output = read(
            SourceKustomer(), config(page_size=2),
            catalog("conversation_events", "tags", mode=SyncMode.incremental), expecting_exception=True,
        )  # fmt: skip
    assert _ids(output, "conversation_events") == ["e1", "e2"]
    assert _ids(output, "tags") == ["t1"]  # the bound stops its own stream only
    failure, summary = output.errors  # the stream's error, and the CDK's closing line repeating it
    assert failure.trace.error.message in summary.trace.error.message
    assert failure.trace.error.message == (
        "Stream 'conversation_events' sent the 2 requests one sync may spend on it (the events of 2 conversations) "
        f"and stopped. Its position is saved: the next sync continues from {T2}."
    )
    events_states = [
        m.state.stream.stream_state
        for m in output.state_messages
        if m.state.stream.stream_descriptor.name == "conversation_events"
    ]
    assert events_states[-1] == AirbyteStateBlob(conversationUpdatedAt=T2)


@pytest.mark.parametrize(
    "second_page, error_text",
    [
        (
            page([{"type": "customer_event", "id": "e2"}], "/v1/conversations/c1/events?page=1&pageSize=100"),
            "Kustomer's list of events of conversation c1 links back to a page already read",
        ),
        (
            page([{"type": "customer_event", "id": f"x{n}"} for n in range(101)]),
            "Kustomer sent 101 events of conversation c1 on one page, 100 asked for",
        ),
    ],
    ids=["a link back to a page already read", "a page longer than asked for"],
)
def test_a_conversations_list_that_loops_or_overflows_stops_the_stream_with_one_clear_error(second_page, error_text):
    event = {"type": "customer_event", "id": "e1", "attributes": {"name": "kustomer.conversation.create"}}
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        _conversations(http_mocker, [resource("conversation", "c1", T1)])
        first = get("conversations/c1/events", page=1, pageSize=100)
        http_mocker.get(first, page([event], "/v1/conversations/c1/events?page=2&pageSize=100"))
        http_mocker.get(get("conversations/c1/events", page=2, pageSize=100), second_page)
        output = read(
            SourceKustomer(),
            config(),
            catalog("conversation_events", mode=SyncMode.incremental),
            expecting_exception=True,
        )
        http_mocker.assert_number_of_calls(first, 1)
    assert _ids(output) == [] and error_text in output.errors[0].trace.error.message


def test_an_included_stream_that_spends_its_requests_stops_alone_with_one_clear_error(monkeypatch):
    monkeypatch.setattr("source_kustomer.streams.included.MAX_CHILD_REQUESTS", 1)
    with HttpMocker() as http_mocker:
        discovery_mocks(http_mocker)
        http_mocker.get(get("slas", page=1, pageSize=100), page([resource("sla", "a", T1), resource("sla", "b", T1)]))
        asked = get("slas/a", versions="all")
        http_mocker.get(asked, _document(_sla("a", ["v1"]), _version("v1", "a")))
        http_mocker.get(get("tags", page=1, pageSize=100), page([resource("tag", "t1", T1)]))
        output = read(SourceKustomer(), config(), catalog("sla_versions", "tags"), expecting_exception=True)
        http_mocker.assert_number_of_calls(asked, 1)
    assert _ids(output, "sla_versions") == ["v1"] and _ids(output, "tags") == ["t1"]
    assert output.errors[0].trace.error.message == (
        "Stream 'sla_versions' sent the 1 requests one sync may spend on it (the sla_versions of 1 slas) and stopped. "
        "It had saved no position yet: the next sync starts it from the beginning."
    )
