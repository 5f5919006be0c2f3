"""Routing: work sessions and their filters, searching work items and sessions, their ground truth and changes."""

import argparse
from collections import Counter

import pytest
import requests

from kustomer_simulator.flag_values import parse_routing_search
from kustomer_simulator.org import MACHINE_USER
from kustomer_simulator.search import ROUTING_BEHAVIOURS, SearchLimits
from kustomer_simulator.server import ServerSettings
from kustomer_simulator.testing import TEST_TOKEN
from kustomer_simulator.timefmt import iso_ms

SESSIONS = "/v1/routing/work-sessions"


def _session_ids(http, sim, query: str = "") -> list:
    response = http.get(f"{sim.url}{SESSIONS}?pageSize=100{query}")
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["data"]]


def test_sessions_belong_to_many_agents_few_still_run_and_none_to_the_machine_user(sim):
    org = sim.org
    sessions = org.collections["work_sessions"]
    users = [org.session_user(i) for i in range(sessions.count)]
    assert MACHINE_USER not in users and len(set(users)) > 10
    running = Counter(org.session_user(i) for i in org.active_sessions)
    assert org.active_sessions and max(running.values()) == 1  # at most one current session per user
    assert len(org.active_sessions) < sessions.count / 2  # most have ended
    for i in range(sessions.count):
        record = sessions.render(i)["attributes"]
        assert record["active"] == (i in org.active_sessions)
        assert (record["signedOutAt"] is None) == record["active"]
        assert record["createdAt"] < record["updatedAt"]
        if not record["active"]:
            assert record["statusType"] == "offline" and record["signedOutAt"] == record["updatedAt"]
    current = requests.get(f"{sim.url}/v1/users/current", headers={"Authorization": f"Bearer {TEST_TOKEN}"})
    assert current.json()["data"]["attributes"]["userType"] == "machine"


@pytest.mark.parametrize("defaults", ["true", "false"])
def test_work_session_filters_and_their_undocumented_defaults(sim, http, defaults):
    sim.settings.work_session_defaults = defaults
    org = sim.org
    sessions = org.collections["work_sessions"]
    everyone = [sessions.record_id(i) for i in range(sessions.count)]
    running = [sessions.record_id(i) for i in sorted(org.active_sessions)]
    assert _session_ids(http, sim) == ([] if defaults == "true" else everyone)  # neither user= nor active=
    assert _session_ids(http, sim, "&user=false") == (running if defaults == "true" else everyone)
    assert _session_ids(http, sim, "&active=false") == ([] if defaults == "true" else everyone)
    assert _session_ids(http, sim, "&user=false&active=false") == everyone
    assert _session_ids(http, sim, "&user=false&active=true") == running
    assert _session_ids(http, sim, "&user=true&active=false") == []  # the key's machine user works no sessions
    busy = [sessions.record_id(i) for i in sorted(org.active_sessions) if org.session_status_type(i) == "busy"]
    assert _session_ids(http, sim, "&user=false&active=false&statusType=busy") == busy
    for bad in ("&user=yes", "&active=1", "&statusType=offline"):
        assert http.get(f"{sim.url}{SESSIONS}?user=false{bad}").status_code == 400
    assert ServerSettings().work_session_defaults == "true"


def test_work_session_links_keep_the_filters(sim, http):
    page = http.get(f"{sim.url}{SESSIONS}?pageSize=5&user=false&active=false").json()
    assert page["links"]["next"] == f"{SESSIONS}?page=2&pageSize=5&user=false&active=false"
    second = http.get(f"{sim.url}{page['links']['next']}").json()["data"]
    assert [r["id"] for r in second] == _session_ids(http, sim, "&user=false&active=false")[5:10]


def _routing_search(http, sim, context: str, field: str, pivot: str, size: int = 500, sort: bool = True):
    body = {"queryContext": context, "and": [{field: {"gte": pivot}}], **({"sort": [{field: "desc"}]} if sort else {})}
    return http.post(f"{sim.url}/v1/customers/search?pageSize={size}", json=body)


@pytest.mark.parametrize("behaviour", ROUTING_BEHAVIOURS)
@pytest.mark.parametrize("context, stream", [("work_item", "work_items"), ("work_session", "work_sessions")])
def test_routing_search_follows_the_switch(sim, http, behaviour, context, stream):
    sim.settings.search.routing_search = {context: behaviour}
    coll = sim.org.collections[stream]
    for suffix, times in (("updated_at", coll.updated_ms), ("created_at", coll.created_ms)):
        field = f"{context}_{suffix}"
        pivot = sorted(times)[max(coll.count // 2, coll.count - 300)]  # the matches fit one page
        response = _routing_search(http, sim, context, field, iso_ms(pivot))
        if behaviour in ("rejected", "sort-rejected"):
            assert response.status_code == 400 and field in response.json()["errors"][0]["detail"]
            if behaviour == "rejected":
                continue
            assert "sorting by" in response.json()["errors"][0]["detail"]
            response = _routing_search(http, sim, context, field, iso_ms(pivot), sort=False)
        found = [coll.index_of(r["id"]) for r in response.json()["data"]]
        total = response.json()["meta"]["total"]
        served = [r["attributes"] for r in response.json()["data"]]
        assert all(("updatedAt" in r) == (behaviour != "no-updated-at") for r in served)
        assert all(("modifiedAt" in r) == (behaviour != "no-updated-at") for r in served)
        expected = sorted((i for i in range(coll.count) if times[i] >= pivot), key=lambda i: -times[i])
        if behaviour == "honoured":
            assert [times[i] for i in found] == [times[i] for i in expected] and total == len(expected)
        elif behaviour == "ignored":  # every item matches, in index order (not by time)
            assert total == coll.count and len(found) == min(500, coll.count)
            assert [times[i] for i in found] != sorted(times[i] for i in found)
            assert min(times[i] for i in found) < pivot
        else:  # the filter honoured (on the index's own time where the records do not show it), the order not
            assert sorted(found) == sorted(expected) and total == len(expected)
            assert [times[i] for i in found] != [times[i] for i in expected]


def test_routing_search_is_set_per_context_and_filter_only_by_default(sim, http):
    assert SearchLimits().routing_search == {"work_item": "filter-only", "work_session": "filter-only"}
    assert parse_routing_search("honoured") == {"work_item": "honoured", "work_session": "honoured"}
    split = parse_routing_search("work_item=no-updated-at,work_session=rejected")
    assert split == {"work_item": "no-updated-at", "work_session": "rejected"}
    for bad in ("conversation=honoured", "work_item=sorted"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_routing_search(bad)
    sim.settings.search.routing_search = split
    pivot = "2026-01-01T00:00:00.000Z"
    assert _routing_search(http, sim, "work_item", "work_item_updated_at", pivot).status_code == 200
    assert _routing_search(http, sim, "work_session", "work_session_updated_at", pivot).status_code == 400
    unknown = _routing_search(http, sim, "work_item", "work_item_handle_completed_at", pivot)
    assert unknown.status_code == 400 and "does not model" in unknown.text


def test_routing_lists_serve_no_updated_at_where_the_switch_says_the_records_carry_none(sim, http):
    sim.settings.search.routing_search = {"work_item": "no-updated-at", "work_session": "honoured"}
    conversation = sim.org.collections["conversations"].record_id(sim.org.conversation_of(0))
    items = http.get(f"{sim.url}/v1/routing/conversations/{conversation}/work-items").json()["data"]
    sessions = http.get(f"{sim.url}{SESSIONS}?user=false&active=false&pageSize=5").json()["data"]
    assert items and all(set(r["attributes"]) & {"updatedAt", "modifiedAt"} == set() for r in items)
    assert all("createdAt" in r["attributes"] for r in items)
    assert sessions and all("updatedAt" in r["attributes"] for r in sessions)


def test_routing_search_needs_the_routing_role(sim):
    sim.settings.tokens = {**sim.settings.tokens, "no-routing": frozenset({"org.user.routing.read"})}
    body = {"queryContext": "work_item"}
    refused = requests.post(f"{sim.url}/v1/customers/search", json=body, headers={"Authorization": "Bearer no-routing"})
    assert refused.status_code == 403 and "org.user.routing.read" in refused.text


@pytest.mark.parametrize("stream", ["work_items", "work_sessions"])
def test_routing_ground_truth_is_timed_and_follows_mutations(sim, http, stream):
    sim.settings.search.routing_search = {"work_item": "honoured", "work_session": "honoured"}
    coll = sim.org.collections[stream]
    since = iso_ms(sorted(coll.updated_ms)[max(coll.count // 2, coll.count - 300)])
    truth = requests.get(f"{sim.url}/__admin/truth", params={"stream": stream, "since": since}).json()["records"]
    assert truth and all(updated >= since for _, updated in truth)
    assert len(truth) < len(sim.org.truth(stream))  # since= narrows a timed stream
    context = stream[:-1]
    served = _routing_search(http, sim, context, f"{context}_updated_at", since).json()["data"]
    assert sorted((r["id"], r["attributes"]["updatedAt"]) for r in served) == sorted(map(tuple, truth))
    moved = requests.post(f"{sim.url}/__admin/mutate", json={"stream": stream, "count": 5}).json()["ids"]
    assert moved
    latest = {rid for rid, _ in sim.org.truth(stream, since_ms=coll.updated_ms[coll.index_of(moved[0])])}
    assert set(moved) <= latest
    if stream == "work_sessions":  # an ended session is read-only: only running ones change
        assert {coll.index_of(rid) for rid in moved} <= sim.org.active_sessions


def test_a_work_item_change_leaves_its_conversation_alone_by_default(sim):
    assert sim.org.settings.work_item_updates == "silent"
    conversations = sim.org.collections["conversations"]
    before = list(conversations.updated_ms)
    (moved,) = sim.org.mutate("work_items", 1)
    assert conversations.updated_ms == before and moved in {rid for rid, _ in sim.org.truth("work_items")}
