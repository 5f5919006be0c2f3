"""The write side's switches for what a careless writer gets hurt by: keys holding umbrella roles, masked sensitive
values, an agent editing a record between a writer's lookup and its write, ``rev`` on updates, the company lookup by
prefix, the per-customer limit on custom object creates, and lookups by search on a customer's keys."""

from dataclasses import replace
from typing import Any, Callable, List

import pytest
import requests

from kustomer_simulator.masking import MASK
from kustomer_simulator.roles import FIVETRAN_ACTIVATIONS_ROLES, first_named
from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import TEST_TOKEN
from kustomer_simulator.writes import AGENT_NOTE, AGENT_TAG, WriteSettings

FIVETRAN = "kst-fivetran-activations"
ORG_ONLY = "kst-org-only"


@pytest.fixture
def org(simulators) -> Callable[..., Simulator]:
    """A factory of small orgs with the given server and write switches; two tokens defined by the roles they hold."""

    def start(token_roles: str = "umbrella", **switches: Any) -> Simulator:
        settings = ServerSettings(
            tokens={TEST_TOKEN: frozenset()},
            grants={FIVETRAN: FIVETRAN_ACTIVATIONS_ROLES, ORG_ONLY: ("org",)},
            token_roles=token_roles,
            org_per_minute=0,
            search_per_minute=0,
            writes=replace(WriteSettings(bulk_seconds=0.2, bulk_mode="sync"), **switches),
        )
        return simulators(settings, scale=2000, seed=9)

    return start


def _session(token: str = TEST_TOKEN) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def _truth(sim: Simulator, collection: str, key: str, value: str) -> dict:
    """The record as stored (no masking), found by key."""
    coll = sim.org.collections[collection]
    with sim.org.lock:
        (i,) = sim.org.store.holders(coll, key, value)
        return coll.render(i)


@pytest.mark.parametrize("token_roles", ["umbrella", "listed"])
def test_umbrella_roles_grant_what_they_cover_and_the_token_record_lists_them_as_switched(org, token_roles):
    sim = org(token_roles=token_roles)
    fivetran, org_only = _session(FIVETRAN), _session(ORG_ONLY)
    listed = fivetran.get(f"{sim.url}/v1/auth/tokens/current").json()["data"]["attributes"]["roles"]
    everything = org_only.get(f"{sim.url}/v1/auth/tokens/current").json()["data"]["attributes"]["roles"]
    if token_roles == "umbrella":
        assert listed == list(FIVETRAN_ACTIVATIONS_ROLES) and everything == ["org"]
    else:
        assert {"org.permission.customer.read", "org.permission.company.update"} <= set(listed)
        assert "org.permission.bulk.read" not in listed and "org.permission.bulk.read" in everything
    assert fivetran.get(f"{sim.url}/v1/customers/externalId=nobody").status_code == 200  # org.permission.customer
    assert fivetran.post(f"{sim.url}/v1/companies", json={"name": "Acme", "externalId": "acme"}).status_code == 201
    created = fivetran.post(f"{sim.url}/v1/customers/bulk", json=[{"name": "Bulk"}])
    assert created.status_code == 201  # org.user.customer.write
    job = created.json()["data"]["id"]
    assert fivetran.get(f"{sim.url}/v1/bulk/{job}").status_code == 403  # no role of theirs covers bulk reads
    assert org_only.get(f"{sim.url}/v1/bulk/{job}").status_code == 200
    assert _session().get(f"{sim.url}/v1/auth/tokens/current").json()["data"]["attributes"]["roles"] == (
        ["org"] if token_roles == "umbrella" else first_named()
    )


@pytest.mark.parametrize("sensitive", ["masked", "shown"])
def test_sensitive_values_come_back_masked_and_a_mask_written_back_is_stored(org, sensitive):
    sim, http = org(sensitive_values=sensitive, agent_edits="none"), _session()
    made = http.post(f"{sim.url}/v1/customers", json={"externalId": "s-1", "custom": {"ssnStr": "123-45-6789"}})
    shown = http.get(f"{sim.url}/v1/customers/externalId=s-1").json()["data"]["attributes"]["custom"]
    assert made.json()["data"]["attributes"]["custom"]["ssnStr"] == shown["ssnStr"]
    assert shown["ssnStr"] == (MASK if sensitive == "masked" else "123-45-6789")
    assert _truth(sim, "customers", "externalId", "s-1")["attributes"]["custom"]["ssnStr"] == "123-45-6789"
    http.put(f"{sim.url}/v1/customers/{made.json()['data']['id']}", json={"custom": shown})  # what a copier does
    assert _truth(sim, "customers", "externalId", "s-1")["attributes"]["custom"]["ssnStr"] == shown["ssnStr"]


@pytest.mark.parametrize("edits", ["after-lookup", "none"])
def test_an_agent_edits_a_record_once_right_after_a_lookup_found_it(org, edits):
    sim, http = org(agent_edits=edits), _session()
    made = http.post(f"{sim.url}/v1/customers", json={"externalId": "a-1", "tags": ["vip"]}).json()["data"]
    assert made["attributes"]["rev"] == 1
    found = http.get(f"{sim.url}/v1/customers/externalId=a-1").json()["data"]
    assert found["attributes"]["tags"] == ["vip"] and found["attributes"]["rev"] == 1  # answered before the edit
    again = http.get(f"{sim.url}/v1/customers/externalId=a-1").json()["data"]["attributes"]
    if edits == "after-lookup":
        assert again["tags"] == ["vip", AGENT_TAG] and again["custom"] == {AGENT_NOTE[0]: AGENT_NOTE[1]}
        assert again["rev"] == 2
        assert http.get(f"{sim.url}/v1/customers/externalId=a-1").json()["data"]["attributes"]["rev"] == 2  # once
    else:
        assert again == found["attributes"]


@pytest.mark.parametrize("stale", ["conflict", "ignored"])
def test_an_update_with_a_stale_rev_is_refused_or_applied(org, stale):
    sim, http = org(stale_rev=stale, agent_edits="none"), _session()
    made = http.post(f"{sim.url}/v1/klasses/order", json={"title": "A", "externalId": "o-1"}).json()["data"]
    path = f"{sim.url}/v1/klasses/order/{made['id']}"
    assert http.put(path, json={"title": "B", "rev": 1}).json()["data"]["attributes"]["rev"] == 2
    late = http.put(path, json={"title": "C", "rev": 1})
    assert late.status_code == (409 if stale == "conflict" else 200)
    assert _truth(sim, "kobjects_order", "externalId", "o-1")["attributes"]["title"] == (
        "B" if stale == "conflict" else "C"
    )
    company = http.post(f"{sim.url}/v1/companies", json={"name": "Acme", "externalId": "c-1"}).json()["data"]
    assert "rev" not in company["attributes"]  # companies' answers carry none (OpenAPI)


@pytest.mark.parametrize("lookup", ["prefix", "exact"])
def test_the_company_lookup_lists_every_prefixed_external_id_in_pages_or_the_exact_one(org, lookup):
    sim, http = org(company_lookup=lookup, agent_edits="none"), _session()
    for external_id in ("foobar2", "FOOBAR3", "foobar", "foo", "xfoobar"):
        http.post(f"{sim.url}/v1/companies", json={"name": f"Co {external_id}", "externalId": external_id})
    url = f"{sim.url}/v1/companies?externalId=foobar&page=1&pageSize=2"
    seen: List[str] = []
    while url:
        page = http.get(url).json()
        seen += [c["attributes"]["externalId"] for c in page["data"]]
        url = f"{sim.url}{page['links']['next']}" if page["links"]["next"] else None
    assert seen == (["foobar2", "FOOBAR3", "foobar"] if lookup == "prefix" else ["foobar"])


def test_custom_objects_created_for_one_customer_past_the_limit_get_429_unless_imported(org):
    sim, http = org(kobject_creates_per_customer=2, agent_edits="none"), _session()
    customer = "5c0000000000000000000001"
    url = f"{sim.url}/v1/klasses/order"
    assert [http.post(url, json={"title": f"t{n}", "customer": customer}).status_code for n in range(2)] == [201, 201]
    refused = http.post(url, json={"title": "t2", "customer": customer})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert http.post(url, json={"title": "t3", "customer": customer, "importedAt": "2024-01-01T00:00:00Z"}).ok
    assert http.post(url, json={"title": "t4", "customer": "5c0000000000000000000002"}).status_code == 201
    job = http.post(f"{url}/bulk", json=[{"title": "t5", "customer": customer}]).json()["data"]["id"]
    (batch,) = http.get(f"{sim.url}/v1/bulk/{job}/batches").json()["data"]
    assert batch["attributes"]["failureCount"] == 1 and batch["attributes"]["errors"][0]["status"] == 429


def test_a_search_finds_customers_by_their_keys_and_counts_as_a_lookup(org):
    sim, http = org(), _session()
    for n in range(3):
        http.post(f"{sim.url}/v1/customers", json={"externalId": f"k-{n}", "emails": [{"email": f"k{n}@x.test"}]})
    body = {
        "or": [
            {"customer_externalId": {"equals": "k-0"}},
            {"customer_email": {"equals": "K2@x.test"}},
            {"customer_externalId": {"equals": "nobody"}},
        ],
        "queryContext": "customer",
    }
    found = http.post(f"{sim.url}/v1/customers/search?page=1&pageSize=100", json=body).json()
    assert sorted(r["attributes"]["externalId"] for r in found["data"]) == ["k-0", "k-2"]
    assert found["meta"]["total"] == 2
    assert AGENT_TAG in _truth(sim, "customers", "externalId", "k-0")["attributes"]["tags"]  # edited after it
    assert "tags" not in _truth(sim, "customers", "externalId", "k-1")["attributes"]
    wrong = {"or": [{"customer_externalId": {"gte": "k"}}], "queryContext": "customer"}
    assert http.post(f"{sim.url}/v1/customers/search", json=wrong).status_code == 400
