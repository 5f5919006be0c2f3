"""The exact requests a write makes, through the real destination with HttpMocker: lookups by key, create and update
bodies (single and bulk), following bulk jobs, and each STATE passed on only after the records before it."""

from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest
from destination_kustomer.updates import MAX_BODY_BYTES, chunks
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
    state,
    updated,
)

CUSTOMERS = {"name": "customers"}


def test_a_miss_is_created_and_a_match_updated_with_only_what_the_record_maps():
    found = resource(
        "customer",
        "c-2",
        externalId="crm-2",
        emails=[{"email": "b@x.test", "type": "work", "verified": True, "id": None}],
        custom={"tierStr": "*****", "lifetimeValueNum": 1},  # a sensitive value, masked in answers
        rev=7,
        relationships={"company": {"data": {"type": "company", "id": "co-9"}}},
    )
    with HttpMocker() as http:
        mock_setup(http)
        lookup(http, "customers/externalId=crm-1", None)
        lookup(http, "customers/externalId=crm-2", found)
        create = {"externalId": "crm-1", "name": "Ada", "emails": [{"email": "a@x.test"}], "custom": {"tierStr": "new"}}
        http.post(HttpRequest(f"{BASE}/customers", body=create), answer({"data": resource("customer", "c-1")}, 201))
        # Nothing read is sent back: not the masked custom attribute, not the addresses; the company the customer
        # has is named (an update without it unlinks the customer), with the rev it was read at.
        update = {"externalId": "crm-2", "company": "co-9", "custom": {"lifetimeValueNum": 42.5}, "rev": 7}
        reads(http, "customers/c-2", found, updated(found, custom={"lifetimeValueNum": 42.5}, rev=8))
        http.patch(HttpRequest(f"{BASE}/customers/c-2", body=update), answer({"data": found}))
        run = run_write(
            http,
            config(),
            catalog(CUSTOMERS),
            [
                record("customers", externalId="crm-1", name="Ada", email="a@x.test", tierStr="new"),
                record("customers", externalId="crm-2", email="c@x.test", custom={"lifetimeValueNum": 42.5}),
                state("customers", 1),
            ],
        )
    assert run.states() == [1]
    row = run.summary()["customers"]
    assert (row["created"], row["updated"], row["failed"], row["single_writes"], row["bulk_requests"]) == (
        1,
        1,
        0,
        2,
        0,
    )
    assert row["partly_written"] == 1  # c@x.test was not added: the customer has another address
    assert any("(externalId=crm-2) was written, but email: not added to the customer" in line for line in run.logs)


def test_a_batch_is_one_bulk_create_followed_to_its_result_before_the_state():
    with HttpMocker() as http:
        mock_setup(http)
        for n in range(3):
            lookup(http, f"customers/externalId=crm-{n}", None)
        sent_items = [{"externalId": f"crm-{n}", "name": f"C{n}"} for n in range(3)]
        http.post(HttpRequest(f"{BASE}/customers/bulk", body=bulk_body(sent_items)), job("job-1", "queued"))
        http.get(HttpRequest(f"{BASE}/bulk/job-1"), [job("job-1", "running"), job("job-1", "complete")])
        http.get(HttpRequest(f"{BASE}/bulk/job-1/batches"), batches((2, 0), (1, 0)))
        run = run_write(
            http,
            config(),
            catalog(CUSTOMERS),
            [record("customers", externalId=f"crm-{n}", name=f"C{n}") for n in range(3)] + [state("customers", "s1")],
        )
        requests_made = len(http._mocker.request_history)  # noqa: SLF001
    assert run.states() == ["s1"] and run.requests_before == [requests_made]  # the state came after every request
    row = run.summary()["customers"]
    assert (row["created"], row["bulk_requests"], row["bulk_follow_ups"], row["lookups"]) == (3, 1, 3, 3)


def test_bulk_updates_name_each_id_and_a_complete_answer_is_not_polled():
    with HttpMocker() as http:
        mock_setup(http)
        found = [resource("customer", f"id-{n}", externalId=f"crm-{n}", rev=3) for n in range(3)]
        for n in range(3):
            lookup(http, f"customers/externalId=crm-{n}", found[n])
        reads(http, "customers/id-0", found[0], updated(found[0], locale="fr", rev=4))
        http.patch(
            HttpRequest(f"{BASE}/customers/id-0", body={"externalId": "crm-0", "locale": "fr", "rev": 3}), answer({})
        )
        items = [{"id": f"id-{n}", "externalId": f"crm-{n}", "locale": "fr", "rev": 3} for n in (1, 2)]
        http.put(HttpRequest(f"{BASE}/customers/bulk", body=bulk_body(items)), job("job-2", "complete"))
        http.get(HttpRequest(f"{BASE}/bulk/job-2/batches"), batches((2, 0)))
        run = run_write(
            http,
            config(),
            catalog(CUSTOMERS),
            [record("customers", externalId=f"crm-{n}", locale="fr") for n in range(3)],
        )
    assert run.summary()["customers"]["updated"] == 3


def test_a_repeated_key_closes_the_batch_so_the_later_record_is_written_after():
    with HttpMocker() as http:
        mock_setup(http)
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": "crm-1", "name": "first"}), answer({}, 201))
        # The second lookup finds what the first write created.
        made = resource("customer", "c-1", externalId="crm-1", name="first")
        http.get(HttpRequest(f"{BASE}/customers/externalId=crm-1"), [answer({"data": {}}), answer({"data": made})])
        reads(http, "customers/c-1", made, updated(made, name="second"))
        http.patch(HttpRequest(f"{BASE}/customers/c-1", body={"externalId": "crm-1", "name": "second"}), answer({}))
        run = run_write(
            http,
            config(),
            catalog(CUSTOMERS),
            [
                record("customers", externalId="crm-1", name="first"),
                record("customers", externalId="crm-1", name="second"),
            ],
        )
    assert (run.summary()["customers"]["created"], run.summary()["customers"]["updated"]) == (1, 1)


def test_email_lookups_escape_the_address_and_companies_are_found_in_every_page_of_their_list():
    with HttpMocker() as http:
        mock_setup(http, metadata={"customer": {}, "company": {}})
        customer = resource("customer", "c-1", emails=[{"email": "A+b@x.test"}])
        lookup(http, "customers/email=a%2Bb%40x.test", customer)
        reads(http, "customers/c-1", customer, updated(customer, locale="de"))
        http.patch(HttpRequest(f"{BASE}/customers/c-1", body={"locale": "de"}), answer({}))
        # Kustomer matches externalId by prefix and pages: the exact company, in the same case, is on page 2.
        first = {
            "data": [resource("company", "co-2", externalId="acme2"), resource("company", "co-3", externalId="ACME")]
        }
        first["links"] = {"next": "/v1/companies?externalId=acme&page=2"}
        http.get(HttpRequest(f"{BASE}/companies", query_params={"externalId": "acme"}), answer(first))
        company = resource("company", "co-1", externalId="acme", name="Acme")
        second = {"data": [company], "links": {"next": None}}
        http.get(HttpRequest(f"{BASE}/companies", query_params={"externalId": "acme", "page": "2"}), answer(second))
        reads(http, "companies/co-1", company, updated(company, employeeCount=12))
        http.put(HttpRequest(f"{BASE}/companies/co-1", body={"externalId": "acme", "employeeCount": 12}), answer({}))
        run = run_write(
            http,
            config(stream_mappings=[{"stream": "people", "object": "customer", "matching_key": "email"}]),
            catalog({"name": "people"}, {"name": "companies"}),
            [
                record("people", email="a+b@x.test", locale="de"),
                record("companies", externalId="acme", employeeCount=12),
            ],
        )
    assert run.summary()["people"]["updated"] == 1 and run.summary()["companies"]["updated"] == 1


def test_soft_delete_marks_the_company_and_update_creates_nothing():
    with HttpMocker() as http:
        mock_setup(http, metadata={"company": {}, "customer": {}})
        gone = resource("company", "co-1", externalId="gone")
        lookup(http, "companies", gone, query={"externalId": "gone"})
        lookup(http, "companies", None, query={"externalId": "never"})
        reads(http, "companies/co-1", gone, updated(gone, deleted=True))
        http.put(HttpRequest(f"{BASE}/companies/co-1", body={"deleted": True}), answer({}))
        lookup(http, "customers/externalId=nobody", None)
        run = run_write(
            http,
            config(),
            catalog(
                {"name": "dead", "object": "company", "mode": "soft_delete", "primary_key": [["externalId"]]},
                {"name": "crm", "object": "customer", "mode": "update", "primary_key": [["externalId"]]},
            ),
            [
                record("dead", externalId="gone"),
                record("dead", externalId="never"),
                record("crm", externalId="nobody", name="x"),
            ],
        )
    summary = run.summary()
    assert (summary["dead"]["soft_deleted"], summary["dead"]["not_found"]) == (1, 1)
    assert (summary["crm"]["not_found"], summary["crm"]["created"]) == (1, 0)


def test_a_dry_run_looks_up_writes_nothing_and_passes_on_no_state():
    with HttpMocker() as http:
        mock_setup(http)
        lookup(http, "customers/externalId=crm-1", None)
        lookup(http, "customers/externalId=crm-2", resource("customer", "c-2", externalId="crm-2"))
        run = run_write(
            http,
            config(dry_run=True),
            catalog(CUSTOMERS),
            [
                record("customers", externalId="crm-1"),
                state("customers", 8),
                record("customers", externalId="crm-2"),
                state("customers", 9),
            ],
        )
        assert [line for line in sent(http) if "/customers" in line] == [
            "GET /v1/customers/externalId=crm-1",
            "GET /v1/customers/externalId=crm-2",
        ]
    row = run.summary()["customers"]
    assert (row["would_create"], row["would_update"], row["created"], row["updated"]) == (1, 1, 0, 0)
    assert run.messages == []  # no state: a source must not take records a dry run did not write as delivered


def test_a_stream_state_waits_only_for_its_own_stream():
    with HttpMocker() as http:
        mock_setup(http, metadata={"customer": {}, "company": {}})
        lookup(http, "companies", None, query={"externalId": "co-1"})
        http.post(HttpRequest(f"{BASE}/companies", body={"externalId": "co-1", "name": "Acme"}), answer({}, 201))
        lookup(http, "customers/externalId=crm-1", None)
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": "crm-1"}), answer({}, 201))
        run = run_write(
            http,
            config(),
            catalog(CUSTOMERS, {"name": "companies"}),
            [
                record("customers", externalId="crm-1"),
                record("companies", externalId="co-1", name="Acme"),
                state("companies", "c"),
                state("customers", "p"),
            ],
        )
        history = [f"{r.method} {r.path}" for r in http._mocker.request_history]  # noqa: SLF001
    # The companies state came once the company was written, before the customer (still pending) was.
    assert run.states() == ["c", "p"]
    assert history.index("POST /v1/companies") < run.requests_before[0] <= history.index("POST /v1/customers")


def test_a_throttled_lookup_is_retried_and_nothing_is_lost():
    with HttpMocker() as http:
        mock_setup(http)
        limited = error(429, "rate limit exceeded")
        limited.headers.update({"Retry-After": "0.05", "x-ratelimit-remaining": "0"})
        http.get(HttpRequest(f"{BASE}/customers/externalId=crm-1"), [limited, answer({"data": {}})])
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": "crm-1"}), answer({}, 201))
        run = run_write(http, config(), catalog(CUSTOMERS), [record("customers", externalId="crm-1")])
    row = run.summary()["customers"]
    assert (row["created"], row["http_429"]) == (1, 1)


def test_bulk_bodies_are_cut_by_count_and_by_bytes_keeping_the_order():
    sizes = {"a": 50_000, "b": 50_000, "c": 10, "d": 10, "e": 200_000, "f": 5}
    runs = chunks(list(sizes), sizes.get, max_items=2, max_bytes=MAX_BODY_BYTES)
    assert runs == [["a"], ["b", "c"], ["d"], ["e"], ["f"]]  # "e" alone is past the limit: it goes alone
