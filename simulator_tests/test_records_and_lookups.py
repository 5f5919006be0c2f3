"""Users, klasses, merges and lookups by id, record shapes, oversized pages, and the route table itself."""

import re
import time
from typing import Iterator

import orjson
import pytest
import requests

from kustomer_simulator.__main__ import build_parser
from kustomer_simulator.faults import Fault
from kustomer_simulator.flag_values import parse_klasses
from kustomer_simulator.org import MACHINE_USER
from kustomer_simulator.roles import ROLES
from kustomer_simulator.routes import ROUTES
from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import TEST_TOKEN, running_simulator
from simulator_tests.conftest import search_body

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
KLASSES = ("order", "subscription", "legacy_case", "old_survey")
STATUSES = {"legacy_case": "existing_only", "old_survey": "disabled"}


@pytest.mark.parametrize("default", ["active", "all"])
def test_users_deleted_filter_and_its_undocumented_default(sim, http, default):
    sim.settings.users_default = default
    users = sim.org.collections["users"]
    deactivated = sim.org.deactivated_users
    assert deactivated and MACHINE_USER not in deactivated
    every = [users.record_id(i) for i in range(users.count)]
    gone = [users.record_id(i) for i in sorted(deactivated)]
    active = [rid for rid in every if rid not in gone]

    def listed(query: str = "") -> list:
        response = http.get(f"{sim.url}/v1/users?pageSize=500{query}")
        assert response.status_code == 200
        return response.json()["data"]

    assert [r["id"] for r in listed("&deleted=true")] == gone
    assert all(r["attributes"]["deletedAt"] for r in listed("&deleted=true"))
    assert [r["id"] for r in listed("&deleted=false")] == active
    assert not any("deletedAt" in r["attributes"] for r in listed("&deleted=false"))
    assert [r["id"] for r in listed()] == (active if default == "active" else every)
    assert [rid for rid, _ in sim.org.truth("users")] == every  # ground truth: active and deactivated
    assert http.get(f"{sim.url}/v1/users?deleted=maybe").status_code == 400
    assert ServerSettings().users_default == "active"


def test_user_list_links_keep_the_deleted_filter(sim, http):
    page = http.get(f"{sim.url}/v1/users?pageSize=1&deleted=true").json()
    assert page["links"]["next"] == "/v1/users?page=2&pageSize=1&deleted=true"


@pytest.fixture
def klass_sim() -> Iterator[Simulator]:
    """An org with enabled, existing_only and disabled klasses."""
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, org_per_minute=0, search_per_minute=0)
    with running_simulator(server_settings=settings, scale=2000, klasses=KLASSES, klass_status=STATUSES) as sim:
        yield sim


def test_klasses_are_listed_by_status_enabled_by_default(klass_sim):
    def names(query: str = "") -> list:
        response = requests.get(f"{klass_sim.url}/v1/klasses{query}", headers=AUTH)
        assert response.status_code == 200
        data = response.json()["data"]
        assert all(k["attributes"]["status"] == (query.partition("=")[2] or "enabled") for k in data)
        return [k["attributes"]["name"] for k in data]

    assert names() == names("?status=enabled") == ["order", "subscription"]
    assert names("?status=existing_only") == ["legacy_case"]
    assert names("?status=disabled") == ["old_survey"]
    assert requests.get(f"{klass_sim.url}/v1/klasses?status=archived", headers=AUTH).status_code == 400
    assert parse_klasses("order,legacy_case:existing_only,old_survey:disabled") == (KLASSES[:1] + KLASSES[2:], STATUSES)
    with pytest.raises(Exception, match="klass status"):
        parse_klasses("order:archived")


@pytest.mark.parametrize("policy", ["served", "refused"])
def test_a_disabled_klass_objects_follow_the_switch(klass_sim, policy):
    klass_sim.settings.disabled_klass_objects = policy
    listed = requests.get(f"{klass_sim.url}/v1/klasses/old_survey", headers=AUTH)
    searched = requests.post(
        f"{klass_sim.url}/v1/customers/search", json={"queryContext": "kobject_old_survey"}, headers=AUTH
    )
    if policy == "served":
        assert listed.status_code == searched.status_code == 200 and listed.json()["data"]
        assert searched.json()["data"][0]["type"] == "kobject.old_survey"
    else:
        for refused in (listed, searched):
            assert refused.status_code == 403 and "old_survey" in refused.json()["errors"][0]["detail"]
    assert requests.get(f"{klass_sim.url}/v1/klasses/legacy_case", headers=AUTH).status_code == 200  # existing_only
    every = requests.post(
        f"{klass_sim.url}/v1/customers/search?pageSize=500",
        json={"queryContext": "kobject", "sort": [{"kobject_updated_at": "desc"}]},
        headers=AUTH,
    ).json()
    kinds = {r["type"] for r in every["data"]}
    assert ("kobject.old_survey" in kinds) == (policy == "served") and "kobject.legacy_case" in kinds
    assert ServerSettings().disabled_klass_objects == "served"


@pytest.mark.parametrize("listed_for", ["source", "both"])
def test_merges_are_listed_for_the_source_or_both_sides(sim, http, listed_for):
    sim.settings.merges_listed_for = listed_for
    sim.org.merges.pending_ms = 0  # succeeds within 250 ms (pending merges: simulator_tests/test_audit_log.py)
    ((source, target),) = sim.org.merge(1)
    time.sleep(0.3)
    (merge,) = sim.org.merges.merges
    expected = {
        "type": "customer_merge",
        "id": merge.id,
        "attributes": {"status": "success", "createdAt": merge.render(sim.org.org_id, 0)["attributes"]["createdAt"]},
        "relationships": {
            "org": {"links": {"self": f"/v1/orgs/{sim.org.org_id}"}, "data": {"type": "org", "id": sim.org.org_id}},
            "source": {"links": {"self": f"/v1/customers/{source}"}, "data": {"type": "customer", "id": source}},
            "target": {"links": {"self": f"/v1/customers/{target}"}, "data": {"type": "customer", "id": target}},
            "createdBy": {
                "links": {"self": f"/v1/users/{merge.created_by}"},
                "data": {"type": "user", "id": merge.created_by},
            },
        },
        "links": {"self": f"/v1/customers/merges/{merge.id}"},
    }
    by_source = http.get(f"{sim.url}/v1/customers/{source}/merges").json()
    (record,) = by_source["data"]
    assert record["attributes"].pop("updatedAt") >= record["attributes"]["createdAt"]
    assert record == expected
    assert by_source["meta"] == {"page": 1, "pageSize": 100}
    assert by_source["links"]["self"] == f"/v1/customers/{source}/merges?page=1&pageSize=100"
    by_target = http.get(f"{sim.url}/v1/customers/{target}/merges").json()["data"]
    assert [m["id"] for m in by_target] == ([] if listed_for == "source" else [merge.id])
    single = http.get(f"{sim.url}/v1/customers/merges/{merge.id}").json()["data"]
    assert single == {
        **expected,
        "attributes": {**expected["attributes"], "updatedAt": single["attributes"]["updatedAt"]},
    }
    assert http.get(f"{sim.url}/v1/customers/merges/{'0' * 24}").status_code == 404
    assert ServerSettings().merges_listed_for == "source"


def test_merges_need_their_own_role(sim):
    sim.settings.tokens = {**sim.settings.tokens, "no-merges": frozenset({"org.permission.customer_merge.read"})}
    ((source, _),) = sim.org.merge(1)
    headers = {"Authorization": "Bearer no-merges"}
    refused = requests.get(f"{sim.url}/v1/customers/{source}/merges", headers=headers)
    assert refused.status_code == 403 and "org.permission.customer_merge.read" in refused.text
    assert (
        requests.get(f"{sim.url}/v1/customers/merges/{sim.org.merges.merges[0].id}", headers=headers).status_code == 403
    )


@pytest.mark.parametrize("merged_lookup", [200, 404])
def test_a_merged_away_customer_answers_as_the_switch_says_and_a_deleted_one_404(sim, http, merged_lookup):
    sim.settings.merged_lookup = merged_lookup
    customers = sim.org.collections["customers"]
    ((source, target),) = sim.org.merge(1)
    as_it_was = customers.render(customers.issued(source))
    (deleted,) = sim.org.delete("customers", 1, hard=True)
    looked_up = http.get(f"{sim.url}/v1/customers/{source}")
    assert looked_up.status_code == merged_lookup
    if merged_lookup == 200:
        assert looked_up.json()["data"] == as_it_was
    assert http.get(f"{sim.url}/v1/customers/{deleted}").status_code == 404
    assert http.get(f"{sim.url}/v1/customers/{target}").json()["data"]["id"] == target
    assert ServerSettings().merged_lookup == 200


def test_conversations_by_id_answer_until_hard_deleted(sim, http):
    conversations = sim.org.collections["conversations"]
    (trashed,) = sim.org.delete("conversations", 1, hard=False)
    (gone,) = sim.org.delete("conversations", 1, hard=True)
    live = next(conversations.record_id(i) for i in conversations.live_indexes())
    assert http.get(f"{sim.url}/v1/conversations/{live}").json()["data"]["id"] == live
    soft = http.get(f"{sim.url}/v1/conversations/{trashed}").json()["data"]
    assert soft["id"] == trashed and soft["attributes"]["deleted"] is True
    assert http.get(f"{sim.url}/v1/conversations/{gone}").status_code == 404
    assert http.get(f"{sim.url}/v1/conversations/nope").status_code == 404


def test_records_are_shaped_as_in_the_reference(sim, http):
    org_id = sim.org.org_id
    assert re.fullmatch(r"[0-9a-f]{24}", org_id)
    company = http.post(f"{sim.url}/v1/customers/search?pageSize=1", json=search_body("company")).json()["data"][0]
    assert company["links"]["self"] == f"/v1/companies/{company['id']}"
    org = {"links": {"self": f"/v1/orgs/{org_id}"}, "data": {"type": "org", "id": org_id}}
    assert company["relationships"]["org"] == org
    conversation = http.post(f"{sim.url}/v1/customers/search?pageSize=1", json=search_body("conversation")).json()
    customer = conversation["data"][0]["relationships"]["customer"]
    assert customer == {"links": {"self": f"/v1/customers/{customer['data']['id']}"}, "data": customer["data"]}
    kobject = http.get(f"{sim.url}/v1/klasses/order?pageSize=1").json()["data"][0]
    assert kobject["links"]["self"] == f"/v1/klasses/order/{kobject['id']}"
    item = sim.org.collections["work_items"].render(0)["relationships"]["resource"]
    assert item["links"]["self"] == f"/v1/conversations/{item['data']['id']}"


def test_oversized_pages_hold_more_records_than_asked(sim, http):
    sim.faults.add(Fault("oversized_page", scope="search"))
    page = http.post(f"{sim.url}/v1/customers/search?pageSize=10", json=search_body()).json()
    assert page["meta"]["pageSize"] == 10 and len(page["data"]) == 20
    originals, copies = page["data"][:10], page["data"][10:]
    customers = sim.org.collections["customers"]
    assert [c["attributes"] for c in copies] == [o["attributes"] for o in originals]
    assert all(customers.index_of(c["id"]) is None for c in copies) and len({r["id"] for r in page["data"]}) == 20
    sim.faults.add(Fault("oversized_page", variant="extra_records", scope="/v1/tags"))
    assert len(http.get(f"{sim.url}/v1/tags?pageSize=7").json()["data"]) == 14


@pytest.mark.parametrize("variant", ["empty_objects", "minimal_records"])
def test_oversized_bodies_are_as_big_as_asked(sim, http, variant):
    sim.faults.add(Fault("oversized_page", variant=variant, size_mb=3, scope="/v1/tags"))
    response = http.get(f"{sim.url}/v1/tags")
    assert response.status_code == 200 and 3 << 20 <= len(response.content) < (3 << 20) + 200_000
    data = orjson.loads(response.content)["data"]
    if variant == "empty_objects":
        assert set(map(orjson.dumps, data)) == {b"{}"}
    else:
        assert all(set(r) == {"id", "attributes"} and set(r["attributes"]) == {"updatedAt"} for r in data)
        assert len({r["id"] for r in data}) == len(data)
    assert http.get(f"{sim.url}/v1/tags").status_code == 200


def test_fault_variants_belong_to_their_kind():
    assert Fault("oversized_page").variant == "extra_records" and Fault("malformed").variant == "no_id"
    with pytest.raises(ValueError, match="oversized_page variant"):
        Fault("oversized_page", variant="no_dates")
    with pytest.raises(ValueError):
        Fault("status", variant="no_id")


def test_routes_are_one_table_matched_by_method_and_path(sim, http):
    assert all(route.resource is None or route.resource in ROLES for route in ROUTES)
    assert all(route.handler.__doc__ for route in ROUTES)
    assert len({(route.method, route.path) for route in ROUTES}) == len(ROUTES)
    assert http.post(f"{sim.url}/v1/users", json={}).status_code == 405  # a route, not for this method
    assert http.get(f"{sim.url}/v1/planets").status_code == 404
    assert http.get(f"{sim.url}/v1/customers/search").status_code == 404  # a customer id nobody issued
    stats = requests.get(f"{sim.url}/__admin/stats").json()
    assert stats["requests_by_route"]["GET /v1/planets"] == 1


def test_serve_help_lists_every_switch_with_its_default(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    flat = " ".join(capsys.readouterr().out.split())
    for flag, default in (
        ("--audit-publish-lag-seconds", "8.0"),
        ("--audit-next-links", "bare"),
        ("--audit-date-field", "publishedAt"),
        ("--audit-bounds", "inclusive"),
        ("--audit-include", "toplevel"),
        ("--audit-paging", "both"),
        ("--audit-ids", "insertion"),
        ("--work-session-defaults", "true"),
        ("--users-default", "active"),
        ("--klasses", "order,subscription"),
        ("--disabled-klass-objects", "served"),
        ("--merges-listed-for", "source"),
        ("--merged-lookup", "200"),
        ("--merge-audit", "merge-only"),
        ("--merge-audit-verb", "update"),
        ("--merge-audit-about", "source"),
        ("--merge-pending-seconds", "5.0"),
        ("--work-item-updates", "silent"),
        ("--conversation-time-sort", "ignored"),
        ("--routing-search", "work_item=filter-only,work_session=filter-only"),
    ):
        section = flat.split(f" {flag} ", 1)[1]
        assert f"(default: {default})" in section.split(" --", 1)[0], flag
