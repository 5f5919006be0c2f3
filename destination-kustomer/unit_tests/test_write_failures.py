"""Bad records never stop the sync silently nor corrupt others: each is reported with its stream, key, field and
reason and counted; a bulk job's outcomes are taken item by item where it names them (and add up), else settled
item by item; past the allowed share of refusals, when a stream wrote nothing, or when Kustomer refuses the key,
the sync stops with one clear error; umbrella roles grant what they cover."""

import io
import json

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from destination_kustomer.destination import DestinationKustomer
from write_mocks import (
    BASE,
    answer,
    array_body,
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

from kustomer_simulator.roles import FIVETRAN_ACTIVATIONS_ROLES  # the roles Fivetran Activations documents

CUSTOMERS = {"name": "customers"}


def test_records_failing_the_published_schema_are_reported_and_the_others_written():
    with HttpMocker() as http:
        mock_setup(http)
        lookup(http, "customers/externalId=good", None)
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": "good", "tags": ["vip"]}), answer({}, 201))
        run = run_write(
            http,
            config(max_failed_percent=100),
            catalog(CUSTOMERS),
            [
                record("customers", externalId="bad-1", emails=[{"email": "x@y.test", "type": "house"}]),
                record("customers", externalId="bad-2", tags=[f"t{n}" for n in range(21)]),
                record("customers", name="no key"),
                record("customers", externalId="bad-3", lifetimeValueNum="lots"),
                record("customers", externalId="good", tags=["vip"]),
                state("customers", 1),
            ],
        )
    row = run.summary()["customers"]
    assert (row["failed"], row["created"]) == (4, 1) and run.states() == [1]
    assert row["failures"] == [
        "record of stream 'customers' (externalId=bad-1) was not written: emails.0.type: must be one of home, work, "
        "other; got 'house' (Kustomer's published request schema)",
        "record of stream 'customers' (externalId=bad-2) was not written: tags: ['t0', 't1', 't2', 't3', 't4', 't5',"
        " 't… is too long (Kustomer's published request schema)",
        "record of stream 'customers' (no externalId) was not written: externalId: missing; it is the field that "
        "finds the customer to write",
        "record of stream 'customers' (externalId=bad-3) was not written: lifetimeValueNum: 'lots' is not of type "
        "'number' (Kustomer's published request schema)",
    ]
    warned = [line for line in run.logs if line.startswith("record of stream")]
    assert warned == row["failures"]  # each one logged (the harness keeps the WARN lines) as it was refused


def test_a_secret_fields_value_is_never_quoted_and_long_values_are_cut():
    with HttpMocker() as http:
        mock_setup(http)
        secret = catalog(CUSTOMERS)
        secret.streams[0].stream.json_schema = {
            "properties": {"externalId": {}, "name": {}, "gender": {"type": "string", "airbyte_secret": True}}
        }
        run = run_write(
            http,
            config(max_failed_percent=100),
            secret,
            [
                record("customers", externalId="s-1", gender="Female-secret-value"),
                record("customers", externalId="s-2", name="n" * 300),
            ],
            stops=True,  # every record refused
        )
    first, second = run.summary()["customers"]["failures"]
    assert "gender: must be one of m, f; got a secret value" in first and "Female" not in first
    assert "name: 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn… is too long" in second


def test_a_bulk_job_with_failures_is_settled_item_by_item():
    with HttpMocker() as http:
        mock_setup(http)
        # First lookups: all three missing. After the job: crm-0 was created by it, crm-1 and crm-2 were not.
        http.get(
            HttpRequest(f"{BASE}/customers/externalId=crm-0"),
            [answer({"data": {}}), answer({"data": resource("customer", "c-0", externalId="crm-0")})],
        )
        for n in (1, 2):
            http.get(HttpRequest(f"{BASE}/customers/externalId=crm-{n}"), [answer({"data": {}}), answer({"data": {}})])
        items = [{"externalId": f"crm-{n}"} for n in range(3)]
        http.post(HttpRequest(f"{BASE}/customers/bulk", body=bulk_body(items)), job("j", "complete"))
        http.get(HttpRequest(f"{BASE}/bulk/j/batches"), batches((1, 2)))  # no per-item results: settled by lookups
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": "crm-1"}), answer({}, 201))
        conflict = error(409, "another customer already has the email")
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": "crm-2"}), conflict)
        run = run_write(
            http,
            config(max_failed_percent=50),
            catalog(CUSTOMERS),
            [record("customers", externalId=f"crm-{n}") for n in range(3)],
        )
    row = run.summary()["customers"]
    assert (row["created"], row["failed"], row["single_writes"]) == (2, 1, 2)
    assert row["failures"] == [
        "record of stream 'customers' (externalId=crm-2) was not written: Kustomer answered HTTP 409: another "
        "customer already has the email"
    ]


def test_a_bulk_job_naming_each_items_outcome_is_taken_at_its_word():
    results = [
        {"_clientRef": "1", "status": "failed", "error": {"status": 422, "detail": "bad phone"}},
        {"_clientRef": "0", "status": "created", "id": "c-0"},
        {"_clientRef": "2", "status": "created", "id": "c-2"},
    ]
    with HttpMocker() as http:
        mock_setup(http)
        for n in range(3):
            lookup(http, f"customers/externalId=crm-{n}", None)
        items = [{"externalId": f"crm-{n}"} for n in range(3)]
        http.post(HttpRequest(f"{BASE}/customers/bulk", body=bulk_body(items)), job("j", "complete"))
        page = {
            "data": [{"type": "bulk_batch", "attributes": {"successCount": 2, "failureCount": 1, "results": results}}]
        }
        http.get(HttpRequest(f"{BASE}/bulk/j/batches"), answer(page))
        run = run_write(
            http,
            config(max_failed_percent=50),
            catalog(CUSTOMERS),
            [record("customers", externalId=f"crm-{n}") for n in range(3)],
        )
    row = run.summary()["customers"]
    assert (row["created"], row["failed"], row["lookups"], row["single_writes"]) == (2, 1, 3, 0)  # nothing settled
    assert row["failures"] == [
        "record of stream 'customers' (externalId=crm-1) was not written: Kustomer answered HTTP 422: bad phone"
    ]


@pytest.mark.parametrize(
    "results",
    [
        [{"_clientRef": "0", "status": "created"}],  # one item unanswered
        [{"_clientRef": "0", "status": "created"}, {"_clientRef": "0", "status": "created"}],  # answered twice
        [{"_clientRef": "0", "status": "created"}, {"_clientRef": "7", "status": "created"}],  # never sent
        [{"_clientRef": "0", "status": "created"}, {"_clientRef": "1", "status": "maybe"}],  # unknown status
    ],
    ids=["missing", "twice", "unknown-ref", "unknown-status"],
)
def test_item_outcomes_that_do_not_add_up_are_not_trusted(results):
    with HttpMocker() as http:
        mock_setup(http)
        for n in range(2):
            found = resource("customer", f"c-{n}", externalId=f"crm-{n}")
            http.get(
                HttpRequest(f"{BASE}/customers/externalId=crm-{n}"), [answer({"data": {}}), answer({"data": found})]
            )
        items = [{"externalId": f"crm-{n}"} for n in range(2)]
        http.post(HttpRequest(f"{BASE}/customers/bulk", body=bulk_body(items)), job("j", "complete"))
        page = {
            "data": [{"type": "bulk_batch", "attributes": {"successCount": 1, "failureCount": 1, "results": results}}]
        }
        http.get(HttpRequest(f"{BASE}/bulk/j/batches"), answer(page))
        run = run_write(
            http, config(), catalog(CUSTOMERS), [record("customers", externalId=f"crm-{n}") for n in range(2)]
        )
    row = run.summary()["customers"]
    assert (row["created"], row["failed"], row["lookups"]) == (2, 0, 4)  # both looked up again, found: created once


def test_a_bulk_request_refused_for_client_refs_is_sent_once_more_without_them_and_never_again_with():
    with HttpMocker() as http:
        mock_setup(http)
        for n in range(4):
            lookup(http, f"customers/externalId=crm-{n}", None)
        first, second = [{"externalId": f"crm-{n}"} for n in (0, 1)], [{"externalId": f"crm-{n}"} for n in (2, 3)]
        http.post(HttpRequest(f"{BASE}/customers/bulk", body=bulk_body(first)), error(400, "_clientRef not allowed"))
        http.post(HttpRequest(f"{BASE}/customers/bulk", body=array_body(first)), job("j1", "complete"))
        http.post(HttpRequest(f"{BASE}/customers/bulk", body=array_body(second)), job("j2", "complete"))
        for name in ("j1", "j2"):
            http.get(HttpRequest(f"{BASE}/bulk/{name}/batches"), batches((2, 0)))
        run = run_write(
            http,
            config(batch_size=2),
            catalog(CUSTOMERS),
            [record("customers", externalId=f"crm-{n}") for n in range(4)],
        )
        posted = [line for line in sent(http) if line == "POST /v1/customers/bulk"]
    assert run.summary()["customers"]["created"] == 4 and len(posted) == 3


def test_a_bulk_request_refused_whole_is_sent_again_one_record_at_a_time():
    with HttpMocker() as http:
        mock_setup(http)
        found = [resource("customer", f"c-{n}", externalId=f"crm-{n}") for n in range(3)]
        for n in range(3):
            lookup(http, f"customers/externalId=crm-{n}", found[n])
        reads(http, "customers/c-0", found[0], updated(found[0], name="N0"))
        items = [{"id": f"c-{n}", "externalId": f"crm-{n}", "name": f"N{n}"} for n in (1, 2)]
        http.put(HttpRequest(f"{BASE}/customers/bulk", body=bulk_body(items)), error(413, "payload too large"))
        http.put(HttpRequest(f"{BASE}/customers/bulk", body=array_body(items)), error(413, "payload too large"))
        for n in range(3):
            http.patch(
                HttpRequest(f"{BASE}/customers/c-{n}", body={"externalId": f"crm-{n}", "name": f"N{n}"}), answer({})
            )
        run = run_write(
            http,
            config(),
            catalog(CUSTOMERS),
            [record("customers", externalId=f"crm-{n}", name=f"N{n}") for n in range(3)],
        )
    assert (run.summary()["customers"]["updated"], run.summary()["customers"]["single_writes"]) == (3, 3)


def test_past_the_share_of_refusals_the_sync_stops_with_one_error_and_no_later_state():
    good = [record("customers", externalId=f"ok-{n}") for n in range(98)]
    with HttpMocker() as http:
        mock_setup(http)
        for n in range(98):
            lookup(http, f"customers/externalId=ok-{n}", None)
        items = [{"externalId": f"ok-{n}"} for n in range(98)]
        http.post(HttpRequest(f"{BASE}/customers/bulk", body=bulk_body(items)), job("j", "complete"))
        http.get(HttpRequest(f"{BASE}/bulk/j/batches"), batches((98, 0)))
        run = run_write(
            http,
            config(max_failed_percent=1),
            catalog(CUSTOMERS),
            good
            + [state("customers", 1), record("customers", name="a"), record("customers", name="b")]
            + [record("customers", externalId="never-read"), state("customers", 2)],
            stops=True,
        )
    assert run.error.failure_type == FailureType.config_error
    assert "Stream 'customers': 2 of its 100 records were refused, more than 'max_failed_percent' (1 %)" in (
        run.error.message
    )
    assert run.states() == [1]  # the state before the refused records, and none after them
    assert run.summary()["customers"]["records"] == 100


def test_a_stream_whose_every_record_is_refused_fails_the_sync_and_passes_on_no_state():
    with HttpMocker() as http:
        mock_setup(http)
        run = run_write(
            http,
            config(),
            catalog(CUSTOMERS),
            [record("customers", externalId=f"x-{n}", gender="Other") for n in range(3)] + [state("customers", 1)],
            stops=True,
        )
        assert [line for line in sent(http) if "/customers" in line] == []  # nothing was even looked up
    assert run.error.failure_type == FailureType.config_error
    assert "Stream 'customers': all 3 of its records were refused, so nothing was written" in run.error.message
    assert "gender: must be one of m, f; got 'Other'" in run.error.message
    assert run.states() == []  # the source sends the records again next time


def test_a_key_whose_token_record_names_no_lookup_role_is_asked_and_stops_before_the_first_record():
    with HttpMocker() as http:
        mock_setup(http, roles=["org.permission.customer.create", "org.permission.customer.update"])
        http.get(HttpRequest(f"{BASE}/customers/externalId=airbyte-access-check-0"), error(403, "lacks the role"))
        with pytest.raises(AirbyteTracedException) as stopped:
            run_write(http, config(), catalog(CUSTOMERS), [record("customers", externalId="x"), state("customers", 1)])
        assert "GET /v1/customers/externalId=x" not in sent(http)
    assert stopped.value.failure_type == FailureType.config_error
    assert (
        "Kustomer refused the API key to look up customer records (HTTP 403: lacks the role)" in stopped.value.message
    )
    assert "org.permission.customer.read, org.user.customer.read -- or a role they fall under, such as " in (
        stopped.value.message
    )


@pytest.mark.parametrize(
    "roles",
    [["org"], list(FIVETRAN_ACTIVATIONS_ROLES)],
    ids=["org", "fivetran-activations"],
)
def test_umbrella_roles_grant_what_they_cover_without_a_request(roles):
    with HttpMocker() as http:
        mock_setup(http, roles=roles)
        if "org" not in roles:  # no role of Fivetran's grants bulk reads: asked, refused, written one by one
            http.get(HttpRequest(f"{BASE}/bulk/{'0' * 24}"), error(403, "lacks the role"))
        for n in range(2):
            lookup(http, f"customers/externalId=u-{n}", None)
            http.post(HttpRequest(f"{BASE}/customers", body={"externalId": f"u-{n}"}), answer({}, 201))
        if "org" in roles:
            items = [{"externalId": f"u-{n}"} for n in range(2)]
            http.post(HttpRequest(f"{BASE}/customers/bulk", body=bulk_body(items)), job("j", "complete"))
            http.get(HttpRequest(f"{BASE}/bulk/j/batches"), batches((2, 0)))
        run = run_write(
            http, config(), catalog(CUSTOMERS), [record("customers", externalId=f"u-{n}") for n in range(2)]
        )
        probes = [line for line in sent(http) if "airbyte-access-check" in line]
    assert run.summary()["customers"]["created"] == 2 and probes == []


def test_a_write_kustomer_refuses_for_a_role_stops_the_sync_naming_it():
    with HttpMocker() as http:
        mock_setup(http, roles=None)
        lookup(http, "customers/externalId=x", None)
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": "x"}), error(403, "lacks the role"))
        run = run_write(
            http, config(), catalog(CUSTOMERS), [record("customers", externalId="x"), state("customers", 1)], stops=True
        )
    assert "to create customer records (HTTP 403: lacks the role)" in run.error.message
    assert "org.permission.customer.create" in run.error.message and run.states() == []


def test_a_lookup_answering_another_object_writes_nothing_over_it():
    with HttpMocker() as http:
        mock_setup(http)
        lookup(http, "customers/externalId=mine", resource("customer", "c-9", externalId="someone-else"))
        run = run_write(
            http, config(), catalog(CUSTOMERS), [record("customers", externalId="mine", name="x")], stops=True
        )
    assert "returned a customer (c-9) without that externalId" in run.summary()["customers"]["failures"][0]


def test_custom_objects_need_a_title_to_be_created_and_keep_their_customer_on_update():
    with HttpMocker() as http:
        mock_setup(http, metadata={"kobject.order": {"totalNum": {"type": "number"}}}, klasses=["order"])
        lookup(http, "klasses/order/externalId=o-1", None)
        order = resource("kobject.order", "k-2", externalId="o-2", rev=2)
        lookup(http, "klasses/order/externalId=o-2", order)
        reads(http, "klasses/order/k-2", order, updated(order, custom={"totalNum": 3}, rev=3))
        body = {"externalId": "o-2", "custom": {"totalNum": 3}, "rev": 2}
        http.put(HttpRequest(f"{BASE}/klasses/order/k-2", body=body), answer({}))
        run = run_write(
            http,
            config(max_failed_percent=50),
            catalog({"name": "kobjects_order"}),
            [
                record("kobjects_order", externalId="o-1", totalNum=1),
                record("kobjects_order", externalId="o-2", totalNum=3, customer="cust-1"),
            ],
        )
    row = run.summary()["kobjects_order"]
    assert (row["updated"], row["failed"]) == (1, 1)
    assert "title: none exists yet, and creating a kobject.order needs 'title'" in row["failures"][0]


def test_a_missing_klass_is_one_clear_error():
    with HttpMocker() as http:
        mock_setup(http, metadata={}, klasses=["order"])
        with pytest.raises(AirbyteTracedException) as stopped:
            run_write(http, config(), catalog({"name": "kobjects_refund"}), [])
    assert "the klass 'refund', which this Kustomer org does not have (its klasses: order)" in stopped.value.message


def test_fields_that_are_not_written_are_reported_once_per_stream():
    with HttpMocker() as http:
        mock_setup(http)
        for n in range(3):
            lookup(http, f"customers/externalId=crm-{n}", None)
        items = [{"externalId": f"crm-{n}"} for n in range(3)]
        http.post(HttpRequest(f"{BASE}/customers/bulk", body=bulk_body(items)), job("j", "complete"))
        http.get(HttpRequest(f"{BASE}/bulk/j/batches"), batches((3, 0)))
        run = run_write(
            http,
            config(),
            catalog(CUSTOMERS),
            [
                record("customers", externalId=f"crm-{n}", shoeSize=44, _airbyte_raw_id="x", custom={"colourStr": "r"})
                for n in range(2)
            ]
            + [record("customers", externalId="crm-2", hatSize=7)],
        )
    reports = [line for line in run.logs if "are not written" in line]
    assert len(reports) == 2 and "custom.colourStr, shoeSize" in reports[0] and "hatSize" in reports[1]
    assert run.summary()["customers"]["unmapped_fields"] == ["custom.colourStr", "hatSize", "shoeSize"]


def test_lines_on_stdin_that_are_no_messages_are_read_as_unreadable_without_quoting_them():
    lines = io.StringIO("not json\n" + json.dumps({"no": "message"}) + "\n" + json.dumps({"type": "STATE"}) + "\n")
    parsed = list(DestinationKustomer()._parse_input_stream(io.BytesIO(lines.getvalue().encode())))  # noqa: SLF001
    assert [(p.line, p.reason) for p in parsed[:2]] == [(1, "not JSON"), (2, "JSON, but no Airbyte message")]
    assert parsed[2].type.value == "STATE" and "not json" not in repr(parsed[:2])
