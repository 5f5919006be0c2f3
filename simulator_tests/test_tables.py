"""The org's extra tables: served in Kustomer's published shapes (OpenAPI: GetSlaById, GetScheduleById,
GetConversationEvents, GetConversationAttachments), paged like lists, with ground truth that follows their changes."""

import pytest
import requests

from kustomer_simulator.server import ServerSettings
from kustomer_simulator.testing import TEST_TOKEN

LISTS = ("snoozes", "cards", "routing/settings", "routing/statuses", "routing/queue-rules")
TRUTH = {
    "snoozes": "snoozes",
    "cards": "cards",
    "routing/settings": "team_routing_settings",
    "routing/statuses": "routing_statuses",
    "routing/queue-rules": "queue_rules",
}


def _all(http: requests.Session, base: str, path: str) -> list:
    records, url = [], f"{base}{path}"
    while url:
        body = http.get(url).json()
        records += body["data"]
        url = f"{base}{body['links']['next']}" if body["links"]["next"] else None
    return records


@pytest.mark.parametrize("path", LISTS)
def test_each_configuration_list_pages_like_the_others_and_matches_ground_truth(sim, http, path):
    records = _all(http, sim.url, f"/v1/{path}?page=1&pageSize=2")
    assert [(r["id"], r["attributes"]["updatedAt"]) for r in records] == sim.org.truth(TRUTH[path])
    assert all(r["links"]["self"] == f"/v1/{path}/{r['id']}" for r in records)


def test_an_sla_by_id_includes_its_versions_an_object_for_one_and_a_list_for_more(sim, http):
    shapes = set()
    for sla in _all(http, sim.url, "/v1/slas"):
        answer = http.get(f"{sim.url}/v1/slas/{sla['id']}", params={"versions": "all"}).json()
        named = [v["id"] for v in answer["data"]["relationships"]["versions"]["data"]]
        included = answer["included"] if isinstance(answer["included"], list) else [answer["included"]]
        shapes.add(type(answer["included"]).__name__)
        assert [v["id"] for v in included] == named and answer["data"]["attributes"]["currentVersion"] == len(named)
        version = included[0]
        assert set(version) == {"type", "id", "attributes", "relationships"}  # no links, as published
        assert {"name", "description", "version", "hours", "metrics", "criteria", "createdAt"} == set(
            version["attributes"]
        )
        assert version["relationships"]["sla"]["data"] == {"type": "sla", "id": sla["id"]}
        active = http.get(f"{sim.url}/v1/slas/{sla['id']}", params={"versions": "active"}).json()["included"]
        assert active["id"] == named[-1]  # the newest only, as an object
    assert shapes == {"dict", "list"}
    assert http.get(f"{sim.url}/v1/slas/{sla['id']}", params={"versions": "some"}).status_code == 400
    assert "included" not in http.get(f"{sim.url}/v1/slas/{sla['id']}").json()


def test_a_schedule_by_id_includes_its_holidays_as_a_list(sim, http):
    holidays = []
    for schedule in _all(http, sim.url, "/v1/schedules"):
        answer = http.get(f"{sim.url}/v1/schedules/{schedule['id']}", params={"include": "holidays"}).json()
        assert isinstance(answer["included"], list)
        assert all(h["relationships"]["schedule"]["data"]["id"] == schedule["id"] for h in answer["included"])
        holidays += answer["included"]
    assert [(h["id"], h["attributes"]["updatedAt"]) for h in holidays] == sim.org.truth("business_holidays")
    assert {"name", "startDate", "endDate", "description", "enabled"} <= set(holidays[0]["attributes"])


def _conversation_with(sim, stream: str) -> str:
    conversations = sim.org.collections["conversations"]
    owner = next(i for i in range(conversations.count) if len(sim.org.tables.children_of(stream, i)) >= 2)
    return conversations.record_id(owner)


def test_a_conversations_events_are_its_change_history_newest_first_and_paged(sim, http):
    conversation = _conversation_with(sim, "conversation_events")
    events = _all(http, sim.url, f"/v1/conversations/{conversation}/events?page=1&pageSize=1")
    published = [e["attributes"]["publishedAt"] for e in events]
    assert len(events) >= 2 and published == sorted(published, reverse=True)
    assert (
        events[-1]["attributes"]["name"] == "kustomer.conversation.create" and "changes" not in events[-1]["attributes"]
    )
    first = events[0]
    assert first["type"] == "customer_event" and first["relationships"]["conversation"]["data"]["id"] == conversation
    assert {"name", "type", "publishedAt", "createdAt", "updatedAt", "modifiedAt", "location", "meta"} <= set(
        first["attributes"]
    )
    assert first["links"]["self"].endswith(f"/events/{first['id']}")


def test_a_conversations_attachments_carry_no_id_by_default_and_a_download_link_that_expires(sim, http):
    conversation = _conversation_with(sim, "message_attachments")
    attachments = _all(http, sim.url, f"/v1/conversations/{conversation}/attachments?page=1&pageSize=1")
    assert len(attachments) >= 2 and all("id" not in a for a in attachments)
    assert set(attachments[0]["attributes"]) == {"name", "contentType", "contentLength", "redacted"}
    assert attachments[0]["links"]["self"].startswith("/v1/messages/")
    assert "X-Amz-Expires=600" in attachments[0]["links"]["related"]
    assert http.get(f"{sim.url}/v1/conversations/{'0' * 24}/attachments").status_code == 404


def test_attachment_ids_are_listed_under_the_switch(simulators, http):
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, org_per_minute=0, attachment_ids="listed")
    sim = simulators(settings, scale=2000, seed=3)
    conversation = _conversation_with(sim, "message_attachments")
    attachments = http.get(f"{sim.url}/v1/conversations/{conversation}/attachments").json()["data"]
    assert all(a["links"]["self"].endswith(f"/attachments/{a['id']}") for a in attachments)


def test_a_change_of_a_conversation_is_an_event_and_children_added_follow_the_update_setting(sim):
    org = sim.org
    conversations = org.collections["conversations"]
    [changed] = org.mutate("conversations", 1)
    i = conversations.index_of(changed)
    newest = org.collections["conversation_events"].render(org.tables.children_of("conversation_events", i)[-1])
    assert newest["attributes"]["updatedAt"] == newest["attributes"]["publishedAt"]  # it moved the conversation
    before = list(conversations.updated_ms)
    added = org.mutate("conversation_events", 3) + org.mutate("message_attachments", 3)
    assert len(added) == 6 and list(conversations.updated_ms) == before  # silent: no conversation moved
    truth = {rid for rid, _ in org.truth("conversation_events")} | {rid for rid, _ in org.truth("message_attachments")}
    assert set(added) <= truth
