"""The simulator holds clients to Kustomer's published contract, and every unsettled behaviour is a switch."""

import gzip
import socket
import time
import zlib

import pytest
import requests

from kustomer_simulator.faults import Fault
from kustomer_simulator.org import DAY_MS, Org, OrgSettings
from kustomer_simulator.search import SearchError, SearchLimits, run_search
from kustomer_simulator.server import ServerSettings
from kustomer_simulator.testing import TEST_ANCHOR_MS, TEST_TOKEN, running_simulator
from kustomer_simulator.timefmt import iso_ms, now_ms
from simulator_tests.conftest import search_body

SINCE = "2000-01-01T00:00:00.000Z"


def _search(http, sim, body, page=1, size=50, path="/v1/customers/search"):
    return http.post(f"{sim.url}{path}?page={page}&pageSize={size}", json=body)


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({**search_body(), "and": [{"customer_updated_at": {"gte": SINCE}}] * 2}, "non-unique"),
        ({**search_body(), "and": [{"customer_updated_at": {"gte": f"20{n:02d}-01-01"}} for n in range(21)]}, "long"),
        ({**search_body(), "sort": [{"customer_updated_at": "asc"}] * 2}, "non-unique"),
        ({**search_body(), "pageSize": 5}, "Additional properties"),
        ({**search_body(), "queryContext": "planet"}, "does not match"),
        ({**search_body(), "includeDeleted": "yes"}, "is not of type 'boolean'"),
    ],
)
def test_bodies_the_published_schema_rejects_get_400(sim, http, body, fragment):
    response = _search(http, sim, body)
    assert response.status_code == 400 and fragment in response.json()["errors"][0]["detail"]


def test_bodies_the_published_schema_accepts_are_served(sim, http):
    object_form = {
        "and": {"customer_updated_at": {"gte": SINCE}},
        "sort": {"customer_updated_at": "desc"},
        "queryContext": "customer",
    }
    served = _search(http, sim, object_form).json()["data"]
    stamps = [r["attributes"]["updatedAt"] for r in served]
    assert served and stamps == sorted(stamps, reverse=True)
    cut = stamps[10]
    negated = {**search_body(), "not": [{"customer_updated_at": {"gte": cut}}]}
    assert all(r["attributes"]["updatedAt"] < cut for r in _search(http, sim, negated).json()["data"])
    every_klass = _search(http, sim, {"queryContext": "kobject", "sort": [{"kobject_updated_at": "asc"}]}, size=500)
    kinds = {r["type"] for r in every_klass.json()["data"]}
    assert kinds == {"kobject.order", "kobject.subscription"}
    for context in ("conversation_time", "work_session", "work_item"):
        assert _search(http, sim, {"queryContext": context}).status_code == 200


def test_search_needs_its_own_role_and_a_missing_role_can_be_401(sim):
    sim.settings.tokens = {**sim.settings.tokens, "no-search": frozenset({"org.user.search.read"})}
    headers = {"Authorization": "Bearer no-search"}
    refused = requests.post(f"{sim.url}/v1/customers/search", json=search_body(), headers=headers)
    assert refused.status_code == 403 and "org.user.search.read" in refused.text
    assert requests.get(f"{sim.url}/v1/tags", headers=headers).status_code == 200
    sim.settings.missing_role_status = 401
    assert requests.post(f"{sim.url}/v1/customers/search", json=search_body(), headers=headers).status_code == 401
    token = requests.get(f"{sim.url}/v1/auth/tokens/current", headers=headers).json()["data"]["attributes"]
    assert "org.user.search.read" not in token["roles"] and "org.user.read" in token["roles"]


@pytest.mark.parametrize("behaviour", ["honoured", "ignored", "rejected"])
def test_created_at_sort_and_filter_follow_the_switch(sim, http, behaviour):
    sim.settings.search.created_at = {"customer": behaviour}
    body = {"and": [{"customer_updated_at": {"gte": SINCE}}], "sort": [{"customer_created_at": "desc"}]}
    response = _search(http, sim, {**body, "queryContext": "customer"}, size=100)
    if behaviour == "rejected":
        assert response.status_code == 400 and "customer_created_at" in response.text
        return
    created = [r["attributes"]["createdAt"] for r in response.json()["data"]]
    assert (created == sorted(created, reverse=True)) == (behaviour == "honoured")
    pivot = created[50]
    filtered = {"and": [{"customer_created_at": {"gt": pivot}}], "queryContext": "customer"}
    later = [r["attributes"]["createdAt"] for r in _search(http, sim, filtered, size=500).json()["data"]]
    assert all(c > pivot for c in later) == (behaviour == "honoured")


def test_company_created_at_is_rejected_and_conversation_created_at_ignored_by_default(sim, http):
    company = {"and": [{"company_created_at": {"gte": SINCE}}], "queryContext": "company"}
    assert _search(http, sim, company).status_code == 400
    conversation = {"sort": [{"conversation_created_at": "asc"}], "queryContext": "conversation"}
    created = [r["attributes"]["createdAt"] for r in _search(http, sim, conversation, size=200).json()["data"]]
    assert created != sorted(created)


def test_total_can_be_capped_at_ten_thousand():
    org = Org(OrgSettings(seed=2, scale=500, anchor_ms=TEST_ANCHOR_MS, counts={"customers": 10_600}))
    body = search_body()
    exact = run_search(org, body, 1, 100, SearchLimits())[1]
    capped = run_search(org, body, 1, 100, SearchLimits(total="capped"))[1]
    assert exact["total"] > 10_000 and capped["total"] == 10_000 and capped["totalPages"] == 100


def test_standard_search_covers_two_years_and_the_archive_the_rest():
    org = Org(OrgSettings(seed=2, scale=3000, anchor_ms=TEST_ANCHOR_MS, history_days=1500))
    horizon = iso_ms(now_ms() - 730 * DAY_MS)  # two years before the real clock, whatever the data's anchor
    body = {**search_body(), "sort": [{"customer_updated_at": "asc"}]}
    recent = run_search(org, body, 1, 500, SearchLimits())[1]["total"]
    archived = run_search(org, body, 1, 500, SearchLimits(), archive=True)[1]["total"]
    times = org.collections["customers"].updated_ms
    live = [i for i in org.collections["customers"].live_indexes()]
    assert archived == sum(1 for i in live if iso_ms(times[i]) < horizon) > 0
    assert recent == sum(1 for i in live if iso_ms(times[i]) >= horizon) > 0


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"queryContext": "note", "and": [{"note_updated_at": {"gte": "2020-01-01"}}]}, "queryContext"),
        ({"queryContext": "conversation_time"}, "queryContext"),
        ({"queryContext": "customer", "fields": [{"customer_id": {}}]}, "fields"),
    ],
)
def test_archive_search_accepts_only_its_own_published_schema(body, fragment):
    org = Org(OrgSettings(seed=2, scale=300, anchor_ms=TEST_ANCHOR_MS))
    with pytest.raises(SearchError, match=fragment):
        run_search(org, body, 1, 100, SearchLimits(), archive=True)


def test_archive_search_sorts_by_created_at_as_documented_even_where_standard_search_does_not():
    org = Org(OrgSettings(seed=3, scale=3000, anchor_ms=TEST_ANCHOR_MS, history_days=1500))
    body = {"queryContext": "conversation", "sort": [{"conversation_created_at": "asc"}]}
    coll = org.collections["conversations"]
    archived = [coll.created_ms[i] for _, i in run_search(org, body, 1, 500, SearchLimits(), archive=True)[0]]
    standard = [coll.created_ms[i] for _, i in run_search(org, body, 1, 500, SearchLimits())[0]]
    assert archived == sorted(archived) and standard != sorted(standard)


@pytest.mark.parametrize("sort", ["honoured", "ignored", "rejected"])
def test_conversation_times_are_dated_by_created_at_and_their_sort_follows_the_switch(sort):
    org = Org(OrgSettings(seed=4, scale=3000, anchor_ms=TEST_ANCHOR_MS))
    times = org.collections["conversation_times"]
    body = {
        "queryContext": "conversation_time",
        "and": [{"conversation_time_created_at": {"gte": iso_ms(times.created_ms[10])}}],
        "sort": [{"conversation_time_created_at": "asc"}],
    }
    if sort == "rejected":
        with pytest.raises(SearchError, match="sorting by conversation_time_created_at is unavailable"):
            run_search(org, body, 1, 500, SearchLimits(conversation_time_sort=sort))
        body = {key: value for key, value in body.items() if key != "sort"}  # the filter alone is still served
    targets, meta = run_search(org, body, 1, 500, SearchLimits(conversation_time_sort=sort))
    found = [times.created_ms[i] for _, i in targets]
    assert meta["total"] == sum(1 for c in times.created_ms if c >= times.created_ms[10])
    assert min(found) >= times.created_ms[10] and (found == sorted(found)) == (sort == "honoured")  # else index order
    assert "updatedAt" not in times.render(0)["attributes"]
    with pytest.raises(SearchError, match="not model"):
        run_search(
            org, {**body, "and": [{"conversation_time_updated_at": {"gte": "2020-01-01"}}]}, 1, 10, SearchLimits()
        )


@pytest.mark.parametrize("updates", ["touch", "silent"])
def test_work_items_belong_to_conversations_and_their_updates_follow_the_switch(updates):
    org = Org(OrgSettings(seed=5, scale=2000, anchor_ms=TEST_ANCHOR_MS, work_item_updates=updates))
    items, conversations = org.collections["work_items"], org.collections["conversations"]
    assert sum(len(owned) for owned in org.work_items_of.values()) == items.count
    for owner, owned in org.work_items_of.items():
        assert all(items.updated_ms[i] <= conversations.updated_ms[owner] for i in owned)
    (moved,) = org.mutate("work_items", 1)
    item = items.index_of(moved)
    owner = org.conversation_of(item)
    assert (conversations.updated_ms[owner] == items.updated_ms[item]) == (updates == "touch")


def test_routing_lists_and_the_audit_history_are_served(sim, http):
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
    every = "/v1/routing/work-sessions?page=1&pageSize=100&user=false&active=false"
    sessions = http.get(f"{sim.url}{every}", headers=headers).json()
    assert len(sessions["data"]) == min(100, sim.org.collections["work_sessions"].count)
    owner, owned = next(iter(sim.org.work_items_of.items()))
    conversation = sim.org.collections["conversations"].record_id(owner)
    items = http.get(f"{sim.url}/v1/routing/conversations/{conversation}/work-items", headers=headers).json()
    assert [r["id"] for r in items["data"]] == [sim.org.collections["work_items"].record_id(i) for i in owned]
    assert all(r["relationships"]["resource"]["data"]["id"] == conversation for r in items["data"])
    served = {e["id"] for e in sim.org.audit_log()}
    assert served and any(e.id not in served for e in sim.org.audit.entries)  # the history outlives its retention


def test_writes_reach_search_within_the_index_lag_and_not_in_order(sim, http):
    sim.settings.search.index_lag_seconds = 5.0
    moved = set(sim.org.mutate("notes", 20))
    newest = {"queryContext": "note", "sort": [{"note_updated_at": "desc"}]}
    found = moved & {r["id"] for r in _search(http, sim, newest).json()["data"]}
    assert len(found) < len(moved)  # most of the twenty writes are not searchable yet
    sim.settings.search.index_lag_seconds = 0.0
    assert moved <= {r["id"] for r in _search(http, sim, newest).json()["data"]}


def test_reset_header_can_be_absent(sim, http):
    sim.settings.reset_mode = "absent"
    sim.set_rate_limits(org_per_minute=10, search_per_minute=3, minute_seconds=6)
    headers = http.get(f"{sim.url}/v1/tags").headers
    assert "x-ratelimit-limit" in headers and "x-ratelimit-reset" not in headers


def test_page_faults_change_the_page_the_way_they_say(sim, http):
    body = search_body()
    plain = _search(http, sim, body, size=10).json()
    sim.faults.add(Fault("timed_out", scope="search"))
    cut = _search(http, sim, body, size=10).json()
    assert cut["meta"]["timed_out"] is True and len(cut["data"]) == 5
    sim.faults.add(Fault("unsorted", scope="search"))
    assert _search(http, sim, body, size=10).json()["data"] == plain["data"][::-1]
    sim.faults.add(Fault("far_future", scope="search"))
    assert _search(http, sim, body, size=10).json()["data"][-1]["attributes"]["updatedAt"].startswith("2999")
    for variant, check in (
        ("no_id", lambda r: "id" not in r),
        ("bad_updated_at", lambda r: r["attributes"]["updatedAt"] == "last tuesday"),
        ("no_attributes", lambda r: "attributes" not in r),
        ("not_object", lambda r: r == 42),
    ):
        sim.faults.add(Fault("malformed", variant=variant, scope="search"))
        assert check(_search(http, sim, body, size=10).json()["data"][0])


def test_link_faults_point_elsewhere_or_back(sim, http):
    sim.faults.add(Fault("foreign_next", link="https://evil.example/x", scope="/v1/tags"))
    assert http.get(f"{sim.url}/v1/tags?page=1&pageSize=5").json()["links"]["next"] == "https://evil.example/x"
    sim.faults.add(Fault("self_next", scope="/v1/tags"))
    assert http.get(f"{sim.url}/v1/tags?page=1&pageSize=5").json()["links"]["next"] == "/v1/tags?page=1&pageSize=5"
    sim.faults.add(Fault("redirect", link="https://evil.example/y", scope="/v1/tags"))
    moved = http.get(f"{sim.url}/v1/tags", allow_redirects=False)
    assert moved.status_code == 302 and moved.headers["Location"] == "https://evil.example/y"
    sim.faults.add(Fault("echo_auth", scope="/v1/tags"))
    assert TEST_TOKEN in http.get(f"{sim.url}/v1/tags").text


def test_hostile_bodies_trickle_never_end_or_inflate(sim, http):
    sim.faults.add(Fault("trickle", seconds=0.05, scope="/v1/tags"))
    with socket.create_connection(("127.0.0.1", int(sim.url.rsplit(":", 1)[1]))) as raw:
        raw.sendall(f"GET /v1/tags HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TEST_TOKEN}\r\n\r\n".encode())
        started = time.monotonic()
        first = raw.recv(100)
        assert len(first) == 1 and time.monotonic() - started < 1
    sim.faults.add(Fault("endless", scope="/v1/tags"))
    received = 0
    with http.get(f"{sim.url}/v1/tags", stream=True) as endless:
        for chunk in endless.iter_content(65536):
            received += len(chunk)
            if received > 5_000_000:
                break
    assert received > 5_000_000
    sim.faults.add(Fault("gzip_bomb", size_mb=64, scope="/v1/tags"))
    with http.get(f"{sim.url}/v1/tags", stream=True) as bomb:
        packed = bomb.raw.read(decode_content=False)
    assert bomb.headers["Content-Encoding"] == "gzip" and len(packed) < 200_000
    assert len(zlib.decompressobj(31).decompress(packed, 1 << 20)) == 1 << 20
    assert gzip.decompress(packed).startswith(b'{"data": [')


def test_the_default_token_model_and_settings_are_the_documented_ones():
    settings = ServerSettings()
    assert settings.missing_role_status == 403 and settings.reset_mode == "epoch"
    assert SearchLimits().created_at["customer"] == "honoured" and SearchLimits().total == "exact"
    assert SearchLimits().conversation_time_sort == "ignored"
    org = OrgSettings()
    assert (org.work_item_updates, org.merge_audit, org.audit_publish_lag_seconds) == ("silent", "merge-only", 8.0)
    assert (org.audit_ids, settings.audit_paging, settings.audit_include) == ("insertion", "both", "toplevel")
    assert org.klasses == ("order", "subscription") and not org.klass_status  # both enabled
    with running_simulator(server_settings=ServerSettings(tokens={TEST_TOKEN: frozenset()}), scale=300) as small:
        listed = requests.get(f"{small.url}/v1/klasses", headers={"Authorization": f"Bearer {TEST_TOKEN}"}).json()
        klass = listed["data"][0]
        assert "attributes" not in klass["attributes"] and klass["attributes"]["status"] == "enabled"
        assert klass["relationships"]["kobjects"]["links"]["self"] == f"/v1/klasses/{klass['attributes']['name']}"


def test_deletes_and_merges_reach_search_lists_and_the_audit_log(sim, http):
    # Entries served as soon as they are published, paged as the published links do, a merge logged on the kept
    # customer and as a delete of the one merged away (the other settings: simulator_tests/test_audit_log.py).
    sim.org.audit.ids, sim.settings.audit_paging = "publish", "either"
    sim.org.settings.merge_audit, sim.org.settings.merge_audit_verb = "delete", "merge"
    sim.org.settings.merge_audit_about = "target"
    since = iso_ms(int(time.time() * 1000) - 1000)
    soft = sim.org.delete("customers", 3, hard=False)
    hard = sim.org.delete("conversations", 2, hard=True)
    ((source, target),) = sim.org.merge(1)
    live = {r["id"] for r in _search(http, sim, search_body(since=since), size=500).json()["data"]}
    everything = {r["id"] for r in _search(http, sim, search_body(since=since, includeDeleted=True)).json()["data"]}
    assert live == {target} and everything == {target, *soft}  # soft deletes only with includeDeleted
    customers = {rid for rid, _ in sim.org.truth("customers")}
    assert not set(soft) & customers and source not in customers and target in customers

    conversations = {rid for rid, _ in sim.org.truth("conversations", include_deleted=True)}
    assert not set(hard) & conversations  # hard-deleted: not even with includeDeleted
    log = http.get(f"{sim.url}/v1/audit-logs?count=2&filter[objectType]=customer").json()
    assert [e["attributes"]["eventVerb"] for e in log["data"]] == ["delete", "merge"]  # newest first
    assert log["data"][0]["attributes"]["objectId"] == source
    assert log["links"]["next"] == f"/v1/audit-logs?count=2&before={log['data'][1]['id']}"  # bare, as published
    rest = http.get(f"{sim.url}{log['links']['next']}&filter[objectType]=customer").json()["data"]
    assert [e["attributes"]["objectId"] for e in rest] == soft[::-1][:2]  # count=2 per page, newest first
    deleted = http.get(f"{sim.url}/v1/audit-logs?filter[objectType]=conversation").json()["data"]
    assert {e["attributes"]["objectId"] for e in deleted if e["attributes"]["eventVerb"] == "delete"} == set(hard)


def test_the_audit_log_needs_its_role():
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset({"org.permission.audit_logs.read"})})
    with running_simulator(server_settings=settings, scale=400) as small:
        headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
        refused = requests.get(f"{small.url}/v1/audit-logs", headers=headers)
        assert refused.status_code == 403 and "org.permission.audit_logs.read" in refused.text
