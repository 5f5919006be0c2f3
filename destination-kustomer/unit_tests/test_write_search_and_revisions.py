"""Lookups by search (20 keys a request, each answer verified, misses confirmed by GET, fresh creates looked up by GET
only), the share of keys each budget carries, a stale ``rev`` re-read and re-applied with the record's fields only,
a per-object 429 waiting for its object while the others are written, ``importedAt`` on custom object creates, and
the first update's check waiting for an object nobody else changed."""

import json
from datetime import datetime, timezone
from typing import Any, Dict, List

import pytest
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse
from destination_kustomer import stream_writer
from destination_kustomer.search_lookups import MAX_KEYS, SearchShare
from write_mocks import (
    BASE,
    answer,
    batches,
    bulk_body,
    catalog,
    config,
    error,
    job,
    lookup,
    mock_setup,
    reads,
    record,
    resource,
    run_write,
    sent,
    updated,
)

CUSTOMERS = {"name": "customers"}
PAGE = {"page": "1", "pageSize": "100"}


def _search(keys: List[str], field: str = "customer_externalId") -> HttpRequest:
    body = {"or": [{field: {"equals": key}} for key in keys], "queryContext": "customer"}
    return HttpRequest(f"{BASE}/customers/search", query_params=PAGE, body=body)


def _page(*found: Dict[str, Any], next_link: Any = None) -> HttpResponse:
    return answer({"data": list(found), "links": {"next": next_link}, "meta": {"page": 1}})


def _customer(n: int, **attributes: Any) -> Dict[str, Any]:
    return resource("customer", f"c-{n}", externalId=f"crm-{n}", rev=1, **attributes)


def _search_config(**overrides: Any) -> Dict[str, Any]:
    return config(lookup_by_search=True, search_requests_per_minute=100, api_utilization_percent=10, **overrides)


def test_customers_are_looked_up_20_at_a_time_by_search_and_a_miss_is_confirmed_by_get():
    keys = [f"crm-{n}" for n in range(25)]
    with HttpMocker() as http:
        mock_setup(http)
        found = [_customer(n) for n in range(25) if n != 3]
        http.post(_search(keys[:20]), _page(*found[:19]))  # crm-3 not found: search may trail a fresh create
        http.post(_search(keys[20:]), _page(*found[19:]))
        lookup(http, "customers/externalId=crm-3", None)  # the exact lookup confirms the miss
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": "crm-3", "locale": "fr"}), answer({}, 201))
        reads(http, "customers/c-0", found[0], updated(found[0], locale="fr", rev=2))
        http.patch(
            HttpRequest(f"{BASE}/customers/c-0", body={"externalId": "crm-0", "locale": "fr", "rev": 1}), answer({})
        )
        rest = [
            {"id": c["id"], "externalId": c["attributes"]["externalId"], "locale": "fr", "rev": 1} for c in found[1:]
        ]
        http.put(HttpRequest(f"{BASE}/customers/bulk", body=bulk_body(rest)), job("j", "complete"))
        http.get(HttpRequest(f"{BASE}/bulk/j/batches"), batches((23, 0)))
        run = run_write(
            http, _search_config(), catalog(CUSTOMERS), [record("customers", externalId=k, locale="fr") for k in keys]
        )
        gets = [line for line in sent(http) if line.startswith("GET /v1/customers/externalId=")]
    row = run.summary()["customers"]
    assert gets == ["GET /v1/customers/externalId=crm-3"]
    assert (row["search_lookups"], row["searched_keys"], row["lookups"]) == (2, 25, 3)  # 1 GET, 2 reads for the check
    assert (row["created"], row["updated"], row["failed"]) == (1, 24, 0)


@pytest.mark.parametrize(
    "answered",
    [
        [_customer(0), resource("customer", "c-9", externalId="someone-else")],  # an object no key asked for
        [_customer(0), _customer(1)],  # a full page could hide more: see PAGE below (next link)
    ],
    ids=["unasked-object", "more-pages"],
)
def test_a_search_answer_that_is_not_what_was_asked_is_not_used(answered):
    with HttpMocker() as http:
        mock_setup(http)
        link = "/v1/customers/search?page=2" if answered[1]["id"] == "c-1" else None
        http.post(_search(["crm-0", "crm-1"]), _page(*answered, next_link=link))
        for n in range(2):
            lookup(http, f"customers/externalId=crm-{n}", None)
        http.post(
            HttpRequest(f"{BASE}/customers/bulk", body=bulk_body([{"externalId": f"crm-{n}"} for n in range(2)])),
            job("j", "complete"),
        )
        http.get(HttpRequest(f"{BASE}/bulk/j/batches"), batches((2, 0)))
        run = run_write(
            http, _search_config(), catalog(CUSTOMERS), [record("customers", externalId=f"crm-{n}") for n in range(2)]
        )
    row = run.summary()["customers"]
    assert (row["search_distrusted"], row["lookups"], row["created"]) == (1, 2, 2)  # both decided by the exact GET
    assert any("A lookup by search was not used because" in line for line in run.logs)


def test_an_email_two_customers_hold_is_looked_up_by_get_and_keys_created_this_sync_skip_search():
    mapped = [{"stream": "people", "object": "customer", "matching_key": "email"}]
    a = resource("customer", "c-a", emails=[{"email": "Shared@x.test"}], rev=1)
    b = resource("customer", "c-b", emails=[{"email": "shared@x.test"}, {"email": "b@x.test"}], rev=1)
    with HttpMocker() as http:
        mock_setup(http)
        http.post(_search(["shared@x.test", "new@x.test"], "customer_email"), _page(a, b))
        lookup(http, "customers/email=shared%40x.test", a)  # the exact lookup decides which
        reads(http, "customers/c-a", a, updated(a, locale="de", rev=2))
        http.patch(HttpRequest(f"{BASE}/customers/c-a", body={"locale": "de", "rev": 1}), answer({}))
        http.post(
            HttpRequest(f"{BASE}/customers", body={"emails": [{"email": "new@x.test"}], "locale": "de"}),
            answer({}, 201),
        )
        # The second batch: new@x.test was created by this sync, so it is looked up by GET alone.
        made = resource("customer", "c-n", emails=[{"email": "new@x.test"}], rev=1)
        http.get(HttpRequest(f"{BASE}/customers/email=new%40x.test"), [answer({"data": {}}), answer({"data": made})])
        http.patch(HttpRequest(f"{BASE}/customers/c-n", body={"locale": "it", "rev": 1}), answer({}))
        run = run_write(
            http,
            _search_config(stream_mappings=mapped),
            catalog({"name": "people"}),
            [
                record("people", email="shared@x.test", locale="de"),
                record("people", email="new@x.test", locale="de"),
                record("people", email="new@x.test", locale="it"),
            ],
        )
        searches = [line for line in sent(http) if "search" in line]
    row = run.summary()["people"]
    assert len(searches) == 1 and (row["created"], row["updated"], row["failed"]) == (1, 2, 0)


def test_the_share_of_keys_searched_follows_what_each_budget_carries():
    share = SearchShare(searches=100, org_share=lambda: 1000)
    assert share.keys_to_search(1) == 0  # one key: a GET costs one request, a search two
    share.record(asked=1000, found=900)  # 10 % of searched keys missed (each then costs a GET)
    # Search carries 2,000 keys a window for ~500 org requests (its own, the misses' GETs, the writes'); the org
    # budget's other ~500 carry ~450 more keys by GET: 2,000 / 2,450 of the keys go to search.
    assert share.keys_to_search(100) == 82
    assert SearchShare(searches=100, org_share=lambda: 200, keys=1000, misses=100).keys_to_search(100) == 100
    loading = SearchShare(searches=100, org_share=lambda: 1000, keys=1000, misses=1000)  # nothing found: a load
    assert loading.keys_to_search(100) == MAX_KEYS  # one search a batch goes on measuring


def test_a_stale_rev_is_read_again_and_only_the_records_fields_applied_anew():
    before = _customer(0, custom={"tierStr": "gold"})
    edited = updated(before, custom={"tierStr": "platinum"}, tags=["agent"], rev=2)  # an agent's edit meanwhile
    with HttpMocker() as http:
        mock_setup(http)
        lookup(http, "customers/externalId=crm-0", before)
        reads(http, "customers/c-0", before, edited, updated(edited, custom={"lifetimeValueNum": 5}, rev=3))
        http.patch(
            HttpRequest(
                f"{BASE}/customers/c-0", body={"externalId": "crm-0", "custom": {"lifetimeValueNum": 5}, "rev": 1}
            ),
            error(409, "rev 1 is stale"),
        )
        http.patch(
            HttpRequest(
                f"{BASE}/customers/c-0", body={"externalId": "crm-0", "custom": {"lifetimeValueNum": 5}, "rev": 2}
            ),
            answer({}),
        )
        run = run_write(
            http, config(), catalog(CUSTOMERS), [record("customers", externalId="crm-0", lifetimeValueNum=5)]
        )
        bodies = [json.loads(r.body) for r in http._mocker.request_history if r.method == "PATCH"]  # noqa: SLF001
    assert [body["rev"] for body in bodies] == [1, 2] and all("tierStr" not in str(b) for b in bodies)
    row = run.summary()["customers"]
    assert (row["updated"], row["stale_retries"], row["failed"]) == (1, 1, 0)


def test_a_409_that_is_not_about_the_rev_stands():
    before = _customer(0)
    with HttpMocker() as http:
        mock_setup(http)
        lookup(http, "customers/externalId=crm-0", before)
        reads(http, "customers/c-0", before, before)  # read again: the rev has not moved
        body = {"externalId": "crm-0", "emails": [{"email": "taken@x.test"}], "rev": 1}
        http.patch(HttpRequest(f"{BASE}/customers/c-0", body=body), error(409, "another customer has the email"))
        run = run_write(
            http,
            config(max_failed_percent=100),
            catalog(CUSTOMERS),
            [record("customers", externalId="crm-0", emails=[{"email": "taken@x.test"}])],
            stops=True,
        )
    assert "Kustomer answered HTTP 409: another customer has the email" in run.summary()["customers"]["failures"][0]


def test_a_per_object_429_waits_for_its_object_while_the_others_are_written():
    limited = error(429, "too many updates of this object")
    limited.headers.update({"x-ratelimit-remaining": "900", "Retry-After": "0.2"})  # the org budget has room
    with HttpMocker() as http:
        mock_setup(http)
        found = [_customer(n) for n in range(2)]
        for n in range(2):
            lookup(http, f"customers/externalId=crm-{n}", found[n])
        reads(http, "customers/c-0", found[0], found[0])  # before its update, and again once its wait is over
        reads(http, "customers/c-1", found[1], updated(found[1], name="x", rev=2))  # the check settles on crm-1
        http.patch(
            HttpRequest(f"{BASE}/customers/c-0", body={"externalId": "crm-0", "name": "x", "rev": 1}),
            [limited, answer({})],
        )
        http.patch(
            HttpRequest(f"{BASE}/customers/c-1", body={"externalId": "crm-1", "name": "x", "rev": 1}), answer({})
        )
        run = run_write(
            http,
            config(batch_size=2),
            catalog(CUSTOMERS),
            [record("customers", externalId=f"crm-{n}", name="x") for n in range(2)],
        )
        patches = [line for line in sent(http) if line.startswith("PATCH")]
    assert patches == ["PATCH /v1/customers/c-0", "PATCH /v1/customers/c-1", "PATCH /v1/customers/c-0"]
    row = run.summary()["customers"]
    assert (row["updated"], row["object_limited"], row["http_429"], row["failed"]) == (2, 1, 0, 0)


def test_custom_objects_created_as_imports_carry_imported_at(monkeypatch):
    monkeypatch.setattr(stream_writer, "utc_now", lambda: datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc))
    with HttpMocker() as http:
        mock_setup(http, metadata={"kobject.order": {}}, klasses=["order"])
        lookup(http, "klasses/order/externalId=o-1", None)
        body = {"externalId": "o-1", "title": "Old order", "importedAt": "2025-03-01T12:00:00.000Z"}
        http.post(HttpRequest(f"{BASE}/klasses/order", body=body), answer({}, 201))
        run = run_write(
            http,
            config(send_imported_at=True),
            catalog({"name": "kobjects_order"}),
            [record("kobjects_order", externalId="o-1", title="Old order")],
        )
    assert run.summary()["kobjects_order"]["created"] == 1


def test_the_first_update_is_checked_on_an_object_nobody_else_changed_meanwhile():
    found = [_customer(n, custom={"tierStr": "gold"}) for n in range(2)]
    with HttpMocker() as http:
        mock_setup(http)
        for n in range(2):
            lookup(http, f"customers/externalId=crm-{n}", found[n])
        # crm-0: someone else wrote too (rev 1 -> 3): it proves nothing, and tierStr changing is theirs.
        changed = updated(found[0], custom={"tierStr": "silver", "lifetimeValueNum": 5}, rev=3)
        reads(http, "customers/c-0", found[0], changed)
        reads(http, "customers/c-1", found[1], updated(found[1], custom={"lifetimeValueNum": 5}, rev=2))
        for n in range(2):
            body = {"externalId": f"crm-{n}", "custom": {"lifetimeValueNum": 5}, "rev": 1}
            http.patch(HttpRequest(f"{BASE}/customers/c-{n}", body=body), answer({}))
        run = run_write(
            http,
            config(batch_size=1),
            catalog(CUSTOMERS),
            [record("customers", externalId=f"crm-{n}", lifetimeValueNum=5) for n in range(2)],
        )
    row = run.summary()["customers"]
    assert (row["updated"], row["lookups"]) == (2, 6)  # each update read before and after: the second settles it
