"""The write side: creates, updates, lookups and bulk jobs change the org the way reads see it, bodies are held to the
published schemas, and every switch the evidence leaves open behaves as documented."""

import time
from dataclasses import replace
from typing import Any, Callable, Dict, List

import pytest
import requests

from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import TEST_TOKEN
from kustomer_simulator.timefmt import now_ms, parse_iso_ms
from kustomer_simulator.writes import WriteSettings
from simulator_tests.conftest import search_body

WRITE_DENIED = "kst-no-create"
NO_BULK_READ = "kst-no-bulk-read"


@pytest.fixture
def writes(simulators) -> Callable[..., Simulator]:
    """A factory of small orgs with the given write switches (fast asynchronous jobs, none late unless a test says
    so: these tests time a job's own course)."""

    def start(**switches: Any) -> Simulator:
        settings = ServerSettings(
            tokens={
                TEST_TOKEN: frozenset(),
                WRITE_DENIED: frozenset({"org.permission.customer.create"}),
                NO_BULK_READ: frozenset({"org.permission.bulk.read"}),
            },
            org_per_minute=0,
            search_per_minute=0,
            writes=replace(WriteSettings(bulk_seconds=0.2, bulk_late_seconds=0.0), **switches),
        )
        return simulators(settings, scale=3000, seed=5)

    return start


def _session(token: str = TEST_TOKEN) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def _finish(http: requests.Session, sim: Simulator, job: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Poll a bulk job until it completes; its batches."""
    for _ in range(100):
        status = http.get(f"{sim.url}/v1/bulk/{job['id']}").json()["data"]["attributes"]["status"]
        if status == "complete":
            return http.get(f"{sim.url}/v1/bulk/{job['id']}/batches").json()["data"]
        time.sleep(0.05)
    raise AssertionError("the bulk job never completed")


def test_a_created_customer_is_listed_searched_and_in_ground_truth(writes):
    sim, http = writes(), _session()
    before = now_ms()
    created = http.post(f"{sim.url}/v1/customers", json={"name": "Ada", "externalId": "crm-1"})
    assert created.status_code == 201
    record = created.json()["data"]
    attributes = record["attributes"]
    assert attributes["createdAt"] == attributes["updatedAt"] and parse_iso_ms(attributes["createdAt"]) >= before
    assert attributes["name"] == "Ada" and attributes["externalId"] == "crm-1" and "emails" not in attributes
    since = attributes["createdAt"]
    found = http.post(f"{sim.url}/v1/customers/search", json=search_body(since=since)).json()["data"]
    assert record["id"] in [r["id"] for r in found]
    assert (record["id"], attributes["updatedAt"]) in sim.org.truth("customers")
    assert sim.org.audit_log()[-1]["attributes"]["objectId"] == record["id"]


def test_an_update_moves_updated_at_and_shows_only_what_it_wrote(writes):
    sim, http = writes(custom_update="replace"), _session()
    first = http.post(f"{sim.url}/v1/customers/search?pageSize=1", json=search_body()).json()["data"][0]
    updated = http.put(f"{sim.url}/v1/customers/{first['id']}", json={"custom": {"lifetimeValueNum": 12.5}})
    attributes = updated.json()["data"]["attributes"]
    assert updated.status_code == 200 and attributes["updatedAt"] > first["attributes"]["updatedAt"]
    assert attributes["custom"] == {"lifetimeValueNum": 12.5}  # --custom-update replace: the rest is gone
    assert attributes["name"] == first["attributes"]["name"] and attributes["emails"] == first["attributes"]["emails"]


def test_custom_update_merge_sets_only_the_named_attributes(writes):
    sim, http = writes(custom_update="merge"), _session()
    first = http.post(f"{sim.url}/v1/customers/search?pageSize=1", json=search_body()).json()["data"][0]
    updated = http.patch(f"{sim.url}/v1/customers/{first['id']}", json={"custom": {"lifetimeValueNum": 3}})
    assert updated.json()["data"]["attributes"]["custom"] == {**first["attributes"]["custom"], "lifetimeValueNum": 3}


def test_an_update_without_company_unlinks_the_customer_from_it(writes):
    sim, http = writes(), _session()
    customer = http.post(f"{sim.url}/v1/customers", json={"name": "Linked", "company": "5c0000000000000000000001"})
    assert customer.json()["data"]["relationships"]["company"]["data"]["id"] == "5c0000000000000000000001"
    updated = http.put(f"{sim.url}/v1/customers/{customer.json()['data']['id']}", json={"name": "Unlinked"})
    assert "company" not in updated.json()["data"]["relationships"]


@pytest.mark.parametrize(
    "path, body, reason",
    [
        ("/v1/customers", {"nickname": "x"}, "Additional properties"),
        ("/v1/customers", {"externalId": ""}, "should be non-empty"),
        ("/v1/customers", {"emails": [{"email": f"a{n}@x.test"} for n in range(11)]}, "too long"),
        ("/v1/customers", {"emails": [{"email": "a@x.test", "type": "house"}]}, "is not one of"),
        ("/v1/customers", {"emails": [{"email": "not-an-email"}]}, "is not a 'email-relaxed'"),
        ("/v1/customers", {"tags": [f"t{n}" for n in range(21)]}, "too long"),
        ("/v1/customers", {"custom": {f"f{n}Num": n for n in range(101)}}, "too many properties"),
        ("/v1/customers", {"custom": {"colour": "red"}}, "does not match any of the regexes"),
        ("/v1/customers", {"custom": {"bioStr": "x" * 1025}}, "too long"),
        ("/v1/customers", {"custom": {"lastOrderAt": "yesterday"}}, "is not a 'date-time'"),
        ("/v1/customers", {"signedUpAt": "2026-01-01 10:00"}, "is not a 'date-time'"),
        ("/v1/companies", {"name": "Ab"}, "too short"),
        ("/v1/companies", {"externalId": "c-1"}, "'name' is a required property"),
        ("/v1/companies", {"name": "Acme", "domains": [{"domain": "not a domain"}]}, "domain-name"),
        ("/v1/klasses/order", {"externalId": "o-1"}, "'title' is a required property"),
        ("/v1/klasses/order", {"title": "T", "images": ["ftp://x"]}, "is not a 'url'"),
        ("/v1/customers/bulk", [{"name": f"c{n}"} for n in range(101)], "too long"),
        ("/v1/customers", {"custom": {"regionTree": "emea/north"}}, "does not match any of the regexes"),
        ("/v1/companies", {"name": "Acme", "externalId": None}, "None is not of type 'string'"),
        ("/v1/companies/bulk", [{"name": "Acme", "externalId": None}], "None is not of type 'string'"),
    ],
)
def test_bodies_the_published_schema_rejects_get_400(writes, path, body, reason):
    sim = writes()
    answer = _session().post(f"{sim.url}{path}", json=body)
    assert answer.status_code == 400 and reason in answer.json()["errors"][0]["detail"]


def test_writes_need_their_roles(writes):
    sim = writes()
    refused = _session(WRITE_DENIED).post(f"{sim.url}/v1/customers", json={"name": "x"})
    assert refused.status_code == 403 and "org.permission.customer.create" in refused.json()["errors"][0]["detail"]
    assert _session(WRITE_DENIED).post(f"{sim.url}/v1/customers/bulk", json=[{"name": "x"}]).status_code == 403
    job = _session().post(f"{sim.url}/v1/customers/bulk", json=[{"name": "x"}]).json()["data"]
    assert _session(NO_BULK_READ).get(f"{sim.url}/v1/bulk/{job['id']}").status_code == 403


@pytest.mark.parametrize("miss, status, body", [("empty", 200, {"data": {}}), ("404", 404, None)])
def test_a_lookup_miss_answers_as_switched(writes, miss, status, body):
    sim, http = writes(lookup_miss=miss), _session()
    for path in (
        "/v1/customers/externalId=nobody",
        "/v1/customers/email=no%40body.test",
        "/v1/klasses/order/externalId=x",
    ):
        answer = http.get(f"{sim.url}{path}")
        assert answer.status_code == status and (body is None or answer.json() == body)


def test_lookups_find_generated_and_written_records_by_their_keys(writes):
    sim, http = writes(), _session()
    generated = http.post(f"{sim.url}/v1/customers/search?pageSize=1", json=search_body()).json()["data"][0]
    email = generated["attributes"]["emails"][0]["email"]
    assert (
        http.get(f"{sim.url}/v1/customers/email={requests.utils.quote(email, safe='')}").json()["data"]["id"]
        == (generated["id"])
    )
    company = http.post(f"{sim.url}/v1/companies", json={"name": "Acme Inc", "externalId": "acme/1 +x"}).json()["data"]
    listed = http.get(f"{sim.url}/v1/companies", params={"externalId": "acme/1 +x"}).json()["data"]
    assert [c["id"] for c in listed] == [company["id"]]
    assert http.get(f"{sim.url}/v1/companies", params={"externalId": "nobody"}).json()["data"] == []
    assert http.get(f"{sim.url}/v1/companies", params={"filter": "acme"}).status_code == 400
    both = http.get(f"{sim.url}/v1/companies", params={"filter": "acme", "externalId": "nobody"}).json()["data"]
    assert len(both) == 61  # both given: both ignored (every company: the 60 generated, and Acme)


@pytest.mark.parametrize("duplicates", ["created", "conflict"])
def test_a_duplicate_external_id_makes_a_second_record_or_a_conflict(writes, duplicates):
    sim, http = writes(duplicate_external_id=duplicates), _session()
    first = http.post(f"{sim.url}/v1/klasses/order", json={"title": "A", "externalId": "dup-1"})
    second = http.post(f"{sim.url}/v1/klasses/order", json={"title": "B", "externalId": "dup-1"})
    assert first.status_code == 201 and second.status_code == (201 if duplicates == "created" else 409)
    found = http.get(f"{sim.url}/v1/klasses/order/externalId=dup-1").json()["data"]
    assert found["id"] == first.json()["data"]["id"]  # the oldest holder
    job = http.post(f"{sim.url}/v1/klasses/order/bulk", json=[{"title": "C", "externalId": "dup-1"}]).json()["data"]
    results = _finish(http, sim, job)[0]["attributes"]
    assert results["failureCount"] == (0 if duplicates == "created" else 1)


@pytest.mark.parametrize("emails", ["unique", "shared"])
def test_customer_emails_are_unique_or_shared(writes, emails):
    sim, http = writes(customer_emails=emails), _session()
    body = {"emails": [{"email": "same@x.test"}]}
    assert http.post(f"{sim.url}/v1/customers", json=body).status_code == 201
    again = http.post(f"{sim.url}/v1/customers", json=body)
    assert again.status_code == (409 if emails == "unique" else 201)
    other = http.post(f"{sim.url}/v1/customers", json={"name": "Other"}).json()["data"]["id"]
    assert http.put(f"{sim.url}/v1/customers/{other}", json=body).status_code == (409 if emails == "unique" else 200)


def test_an_asynchronous_bulk_job_writes_nothing_before_it_completes(writes):
    sim, http = writes(bulk_seconds=0.6), _session()
    queued = http.post(f"{sim.url}/v1/customers/bulk", json=[{"externalId": "b-1"}, {"externalId": "b-2"}])
    job = queued.json()["data"]
    assert queued.status_code == 201 and job["attributes"]["status"] == "queued"
    assert http.get(f"{sim.url}/v1/customers/externalId=b-1").json() == {"data": {}}
    assert http.get(f"{sim.url}/v1/bulk/{job['id']}/batches").json()["data"] == []
    time.sleep(0.3)
    assert http.get(f"{sim.url}/v1/bulk/{job['id']}").json()["data"]["attributes"]["status"] == "running"
    batches = _finish(http, sim, job)
    assert [b["attributes"]["successCount"] for b in batches] == [2]
    assert (
        http.get(f"{sim.url}/v1/customers/externalId=b-2").json()["data"]["id"] in batches[0]["attributes"]["objectIds"]
    )


def test_a_synchronous_bulk_job_completes_before_its_answer(writes):
    sim, http = writes(bulk_mode="sync", bulk_results="single"), _session()
    job = http.post(f"{sim.url}/v1/companies/bulk", json=[{"name": f"Company {n}"} for n in range(60)]).json()["data"]
    assert job["attributes"]["status"] == "complete" and job["attributes"]["batches"] == {"complete": 3, "total": 3}
    batches = http.get(f"{sim.url}/v1/bulk/{job['id']}/batches").json()["data"]
    assert [b["attributes"]["successCount"] for b in batches] == [25, 25, 10]


def test_paged_batches_link_each_to_the_next(writes):
    sim, http = writes(bulk_mode="sync"), _session()
    job = http.post(f"{sim.url}/v1/companies/bulk", json=[{"name": f"Company {n}"} for n in range(60)]).json()["data"]
    link, counts, links = f"/v1/bulk/{job['id']}/batches", [], []
    for _ in range(5):
        page = http.get(f"{sim.url}{link}").json()
        counts += [b["attributes"]["successCount"] for b in page["data"]]
        link = page["links"]["next"]
        links.append(link)
        if link is None:
            break
    assert counts == [25, 25, 10]
    assert links == [f"/v1/bulk/{job['id']}/batches?page=2", f"/v1/bulk/{job['id']}/batches?page=3", None]


@pytest.mark.parametrize("end, status", [("failed", "failed"), ("stuck", "running")])
def test_a_failed_or_stuck_job_writes_half_its_items(writes, end, status):
    sim, http = writes(bulk_job_end=end, bulk_seconds=0.05), _session()
    job = http.post(f"{sim.url}/v1/customers/bulk", json=[{"externalId": f"h-{n}"} for n in range(4)]).json()["data"]
    time.sleep(0.3)
    assert http.get(f"{sim.url}/v1/bulk/{job['id']}").json()["data"]["attributes"]["status"] == status
    found = [http.get(f"{sim.url}/v1/customers/externalId=h-{n}").json()["data"] != {} for n in range(4)]
    assert found == [True, True, False, False]
    batches = http.get(f"{sim.url}/v1/bulk/{job['id']}/batches").json()["data"]
    assert [b["attributes"]["successCount"] for b in batches] == ([2] if end == "failed" else [])


def test_the_first_job_of_each_collection_and_operation_starts_late_then_runs(writes):
    sim, http = writes(bulk_seconds=0.05, bulk_late_seconds=0.6), _session()
    first = http.post(f"{sim.url}/v1/customers/bulk", json=[{"externalId": "late-1"}]).json()["data"]
    second = http.post(f"{sim.url}/v1/customers/bulk", json=[{"externalId": "late-2"}]).json()["data"]
    companies = http.post(f"{sim.url}/v1/companies/bulk", json=[{"name": "Late Co"}]).json()["data"]
    time.sleep(0.3)
    status = {
        job["id"]: http.get(f"{sim.url}/v1/bulk/{job['id']}").json()["data"]["attributes"]["status"]
        for job in (first, second, companies)
    }
    assert [status[first["id"]], status[second["id"]], status[companies["id"]]] == ["queued", "complete", "queued"]
    assert http.get(f"{sim.url}/v1/customers/externalId=late-1").json() == {"data": {}}  # nothing written yet
    assert [b["attributes"]["successCount"] for b in _finish(http, sim, first)] == [1]  # then it runs
    assert http.get(f"{sim.url}/v1/customers/externalId=late-1").json()["data"]["attributes"]["externalId"] == "late-1"


@pytest.mark.parametrize("case", ["insensitive", "sensitive"])
def test_emails_match_in_any_case_or_only_as_spelled(writes, case):
    sim, http = writes(email_case=case), _session()
    assert http.post(f"{sim.url}/v1/customers", json={"emails": [{"email": "ada@x.test"}]}).status_code == 201
    found = http.get(f"{sim.url}/v1/customers/email=ADA%40X.test").json()["data"]
    assert (found != {}) == (case == "insensitive")
    second = http.post(f"{sim.url}/v1/customers", json={"emails": [{"email": "Ada@X.test"}]})
    assert second.status_code == (409 if case == "insensitive" else 201)


@pytest.mark.parametrize("tree", ["rejected", "accepted"])
def test_tree_custom_attributes_are_refused_or_taken_as_text(writes, tree):
    sim, http = writes(custom_tree=tree), _session()
    answer = http.post(f"{sim.url}/v1/customers", json={"custom": {"regionTree": "emea/north"}})
    assert answer.status_code == (400 if tree == "rejected" else 201)


def test_a_company_update_may_clear_the_external_id_a_create_must_give(writes):
    sim, http = writes(), _session()
    company = http.post(f"{sim.url}/v1/companies", json={"name": "Acme", "externalId": "acme"}).json()["data"]
    assert http.put(f"{sim.url}/v1/companies/{company['id']}", json={"externalId": None}).status_code == 200
    bulk = http.put(f"{sim.url}/v1/companies/bulk", json=[{"id": company["id"], "externalId": None}])
    assert bulk.status_code == 201


def test_bulk_updates_report_each_item_and_custom_objects_answer_200(writes):
    sim, http = writes(bulk_mode="sync"), _session()
    made = http.post(f"{sim.url}/v1/klasses/order", json={"title": "A", "externalId": "u-1"}).json()["data"]
    items = [{"id": made["id"], "title": "A2"}, {"id": "5c0000000000000000000009", "title": "nobody"}]
    answer = http.put(f"{sim.url}/v1/klasses/order/bulk", json=items)
    assert answer.status_code == 200
    results = http.get(f"{sim.url}/v1/bulk/{answer.json()['data']['id']}/batches").json()["data"][0]["attributes"]
    assert (results["successCount"], results["failureCount"]) == (1, 1)
    assert results["objectIds"] == [made["id"]] and results["errors"][0]["status"] == 404
    assert "results" not in results  # per-item outcomes only for items that carried _clientRef
    assert http.get(f"{sim.url}/v1/klasses/order/externalId=u-1").json()["data"]["attributes"]["title"] == "A2"
    assert http.post(f"{sim.url}/v1/klasses/no_such_klass", json={"title": "x"}).status_code == 404


@pytest.mark.parametrize("client_ref", ["rejected", "accepted"])
def test_client_ref_on_bulk_items_is_rejected_or_echoed(writes, client_ref):
    sim, http = writes(client_ref=client_ref, bulk_mode="sync"), _session()
    items = [{"name": "x", "_clientRef": "row-1"}, {"name": "y", "externalId": "", "_clientRef": "row-2"}]
    assert http.post(f"{sim.url}/v1/customers/bulk", json=items[1:]).status_code == 400  # the schema, either way
    answer = http.post(f"{sim.url}/v1/customers/bulk", json=items[:1] + [{"name": "z"}])
    assert answer.status_code == (400 if client_ref == "rejected" else 201)
    if client_ref == "accepted":
        batch = http.get(f"{sim.url}/v1/bulk/{answer.json()['data']['id']}/batches").json()["data"][0]["attributes"]
        (result,) = batch["results"]  # only the item that carried a reference
        assert (result["_clientRef"], result["status"]) == ("row-1", "created")
        assert result["id"] == batch["objectIds"][0]


def test_bodies_past_the_size_limit_get_413(writes):
    sim = writes(max_body_bytes=2000)
    answer = _session().post(f"{sim.url}/v1/customers/bulk", json=[{"name": "x" * 200} for _ in range(20)])
    assert answer.status_code == 413


def test_a_company_soft_deleted_through_put_leaves_lists_and_can_be_restored(writes):
    sim, http = writes(), _session()
    company = http.post(f"{sim.url}/v1/companies", json={"name": "Gone Ltd", "externalId": "gone"}).json()["data"]
    deleted = http.put(f"{sim.url}/v1/companies/{company['id']}", json={"deleted": True}).json()["data"]
    assert deleted["attributes"]["deleted"] is True and deleted["attributes"]["deletedAt"]
    assert http.get(f"{sim.url}/v1/companies", params={"externalId": "gone"}).json()["data"] == []
    since = company["attributes"]["createdAt"]
    live = http.post(f"{sim.url}/v1/customers/search", json=search_body("company", since)).json()["data"]
    every = http.post(f"{sim.url}/v1/customers/search", json=search_body("company", since, includeDeleted=True))
    assert company["id"] not in [c["id"] for c in live] and company["id"] in [c["id"] for c in every.json()["data"]]
    restored = http.put(f"{sim.url}/v1/companies/{company['id']}", json={"deleted": False}).json()["data"]
    assert "deleted" not in restored["attributes"]
    assert [c["id"] for c in http.get(f"{sim.url}/v1/companies", params={"externalId": "gone"}).json()["data"]] == [
        company["id"]
    ]
