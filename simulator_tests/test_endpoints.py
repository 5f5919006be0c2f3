"""Lists, search, metadata and ground truth agree with each other and with Kustomer's documented shapes."""

import requests

from kustomer_simulator.org import Org, OrgSettings
from kustomer_simulator.testing import TEST_ANCHOR_MS
from simulator_tests.conftest import LIMITED_TOKEN, search_body


def _follow_list(http: requests.Session, base: str, path: str) -> list:
    ids, url, pages = [], f"{base}{path}", 0
    while url:
        body = http.get(url).json()
        pages += 1
        ids += [r["id"] for r in body["data"]]
        url = f"{base}{body['links']['next']}" if body["links"]["next"] else None
    return ids


def test_list_pages_follow_next_links_and_cover_ground_truth(sim, http):
    ids = _follow_list(http, sim.url, "/v1/tags?page=1&pageSize=7")
    assert ids == [rid for rid, _ in sim.org.truth("tags")]
    assert len(ids) == 60 and len(set(ids)) == 60


def test_list_page_size_is_clamped_to_the_endpoint_maximum(sim, http):
    users = http.get(f"{sim.url}/v1/users?pageSize=1000").json()
    tags = http.get(f"{sim.url}/v1/tags?pageSize=1000").json()
    assert users["meta"]["pageSize"] == 500 and tags["meta"]["pageSize"] == 100


def test_child_lists_return_only_children_of_the_parent(sim, http):
    conversation = http.post(f"{sim.url}/v1/customers/search?pageSize=1", json=search_body("conversation")).json()
    conversation_id = conversation["data"][0]["id"]
    messages = http.get(f"{sim.url}/v1/conversations/{conversation_id}/messages").json()["data"]
    assert all(m["relationships"]["conversation"]["data"]["id"] == conversation_id for m in messages)
    kobjects = http.get(f"{sim.url}/v1/klasses/order?pageSize=5").json()["data"]
    assert [k["type"] for k in kobjects] == ["kobject.order"] * 5
    assert kobjects[0]["relationships"]["klass"]["data"] == {"type": "klass", "id": "order"}
    assert kobjects[0]["links"]["self"] == f"/v1/klasses/order/{kobjects[0]['id']}"


def test_search_is_json_api_shaped_and_sorted(sim, http):
    body = http.post(f"{sim.url}/v1/customers/search?page=1&pageSize=50", json=search_body()).json()
    record = body["data"][0]
    assert set(record) == {"type", "id", "attributes", "relationships", "links"}
    assert len(record["id"]) == 24 and record["attributes"]["updatedAt"].endswith("Z")
    stamps = [r["attributes"]["updatedAt"] for r in body["data"]]
    assert stamps == sorted(stamps)
    assert set(body["meta"]) == {"page", "pageSize", "total", "totalPages", "aggregations"}
    assert body["links"]["next"] == "/v1/customers/search?page=2&pageSize=50"


def test_search_descending_and_bounds(sim, http):
    since, until = "2026-01-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"
    body = {
        "and": [{"customer_updated_at": {"gte": since}}, {"customer_updated_at": {"lt": until}}],
        "sort": [{"customer_updated_at": "desc"}],
        "queryContext": "customer",
    }
    data = http.post(f"{sim.url}/v1/customers/search?pageSize=500", json=body).json()["data"]
    stamps = [r["attributes"]["updatedAt"] for r in data]
    assert stamps == sorted(stamps, reverse=True)
    assert all(since <= s < until for s in stamps)


def test_search_or_criteria(sim, http):
    body = {
        "or": [
            {"customer_updated_at": {"lt": "2025-09-01T00:00:00.000Z"}},
            {"customer_updated_at": {"gte": "2026-05-01T00:00:00.000Z"}},
        ],
        "queryContext": "customer",
    }
    data = http.post(f"{sim.url}/v1/customers/search?pageSize=500", json=body).json()["data"]
    assert data
    stamps = [r["attributes"]["updatedAt"] for r in data]
    assert all(s < "2025-09-01" or s >= "2026-05-01" for s in stamps)


def test_search_rejects_unknown_fields_and_contexts(sim, http):
    bad_field = {"and": [{"customer_colour": {"gte": "2020-01-01T00:00:00Z"}}], "queryContext": "customer"}
    assert http.post(f"{sim.url}/v1/customers/search", json=bad_field).status_code == 400
    assert http.post(f"{sim.url}/v1/customers/search", json={"queryContext": "planet"}).status_code == 400


def test_search_window_errors_past_ten_thousand_results(sim, http):
    sim.settings.search.window = 1000
    inside = http.post(f"{sim.url}/v1/customers/search?page=10&pageSize=100", json=search_body())
    past = http.post(f"{sim.url}/v1/customers/search?page=11&pageSize=100", json=search_body())
    assert inside.status_code == 200
    # like Kustomer, the last page inside the window still links past it
    assert inside.json()["links"]["next"] == "/v1/customers/search?page=11&pageSize=100"
    assert past.status_code == 400 and past.json()["errors"][0]["code"] == "search_window_exceeded"


def test_search_window_can_answer_empty_without_next(sim, http):
    sim.settings.search.window = 1000
    sim.settings.search.past_window = "empty"
    past = http.post(f"{sim.url}/v1/customers/search?page=11&pageSize=100", json=search_body()).json()
    assert past["data"] == [] and past["links"]["next"] is None


def test_tie_cluster_larger_than_a_page_in_stable_non_id_order(sim, http):
    coll = sim.org.collections["customers"]
    counts = {}
    for ms in coll.updated_ms:
        counts[ms] = counts.get(ms, 0) + 1
    tied_ms, size = max(counts.items(), key=lambda kv: kv[1])
    assert size >= 650  # the 700 cluster, less soft-deleted records
    from kustomer_simulator.timefmt import iso_ms

    stamp = iso_ms(tied_ms)
    body = {"and": [{"customer_updated_at": {"equals": stamp}}], "queryContext": "customer"}
    first = [r["id"] for r in http.post(f"{sim.url}/v1/customers/search?pageSize=500", json=body).json()["data"]]
    again = [r["id"] for r in http.post(f"{sim.url}/v1/customers/search?pageSize=500", json=body).json()["data"]]
    assert len(first) == 500 and first == again
    assert first != sorted(first)


def test_soft_deleted_records_only_with_include_deleted(sim, http):
    live = http.post(f"{sim.url}/v1/customers/search?pageSize=1", json=search_body()).json()["meta"]["total"]
    everything = http.post(f"{sim.url}/v1/customers/search?pageSize=1", json=search_body(includeDeleted=True)).json()[
        "meta"
    ]["total"]
    deleted = len(sim.org.collections["customers"].deleted)
    assert deleted > 0 and everything == live + deleted
    assert len(sim.org.truth("customers", include_deleted=True)) == everything


def test_metadata_matches_generated_custom_values(sim, http):
    properties = http.get(f"{sim.url}/v1/metadata/customer").json()["data"]["attributes"]["properties"]
    data = http.post(f"{sim.url}/v1/customers/search?pageSize=200", json=search_body()).json()["data"]
    used = {name for r in data for name in r["attributes"]["custom"]}
    assert used and used <= set(properties)
    assert properties["lifetimeValueNum"]["type"] == "number"
    klass = http.get(f"{sim.url}/v1/metadata/kobject.order").json()["data"]["attributes"]["properties"]
    assert klass["totalNum"]["type"] == "number"
    assert http.get(f"{sim.url}/v1/metadata/note").status_code == 404  # not a documented metadata resource


def test_current_user(sim, http):
    user = http.get(f"{sim.url}/v1/users/current").json()["data"]
    assert user["type"] == "user" and user["attributes"]["email"]


def test_wrong_token_is_401_and_missing_role_is_403(sim):
    wrong = requests.get(f"{sim.url}/v1/users", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    limited = {"Authorization": f"Bearer {LIMITED_TOKEN}"}
    assert requests.get(f"{sim.url}/v1/tags", headers=limited).status_code == 200
    refused = requests.get(f"{sim.url}/v1/slas", headers=limited)
    assert refused.status_code == 403
    assert "org.permission.sla.read" in refused.json()["errors"][0]["detail"]


def test_ground_truth_equals_what_search_serves(sim, http):
    for context, stream in (("message", "messages"), ("kobject_subscription", "kobjects_subscription")):
        served, page = [], 1
        while True:
            body = http.post(
                f"{sim.url}/v1/customers/search?page={page}&pageSize=500",
                json={
                    "queryContext": context,
                    "sort": [{"kobject_updated_at" if "kobject" in context else f"{context}_updated_at": "asc"}],
                },
            ).json()
            served += [(r["id"], r["attributes"]["updatedAt"]) for r in body["data"]]
            if not body["links"]["next"]:
                break
            page += 1
        assert sorted(served) == sorted(sim.org.truth(stream))


def test_generation_is_deterministic_for_a_seed():
    def fingerprint(seed: int) -> list:
        org = Org(OrgSettings(seed=seed, scale=3000, anchor_ms=TEST_ANCHOR_MS, tie_clusters=[50]))
        coll = org.collections["conversations"]
        return [coll.render(i) for i in range(0, coll.count, 97)] + org.truth("messages")[:50]

    assert fingerprint(5) == fingerprint(5)
    assert fingerprint(5) != fingerprint(6)


def test_relationships_point_at_records_that_exist():
    org = Org(OrgSettings(seed=3, scale=3000, anchor_ms=TEST_ANCHOR_MS))
    customers = {rid for rid, _ in org.truth("customers", include_deleted=True)}
    conversations = {rid for rid, _ in org.truth("conversations", include_deleted=True)}
    messages = org.collections["messages"]
    for i in range(0, messages.count, 50):
        rel = messages.render(i)["relationships"]
        assert rel["conversation"]["data"]["id"] in conversations
        assert rel["customer"]["data"]["id"] in customers


def test_mutation_moves_updated_at_forward_and_into_truth(sim, http):
    before = dict(sim.org.truth("notes"))
    ids = sim.org.mutate("notes", 5)
    after = dict(sim.org.truth("notes"))
    assert ids and all(after[i] > before[i] for i in ids)
    newest = http.post(
        f"{sim.url}/v1/customers/search?pageSize=10",
        json={"queryContext": "note", "sort": [{"note_updated_at": "desc"}]},
    ).json()["data"]
    assert {r["id"] for r in newest[: len(set(ids))]} == set(ids)
