"""Bad records never stop the sync silently nor corrupt others: each is reported with its stream, key and reason and
counted; bulk jobs with failures are settled item by item; past the threshold, or when Kustomer refuses the key,
the sync stops with one clear error."""

import io
import json

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from destination_kustomer.destination import DestinationKustomer
from write_mocks import (
    BASE,
    EVERY_ROLE,
    answer,
    array_body,
    batches,
    catalog,
    config,
    error,
    job,
    lookup,
    mock_setup,
    record,
    resource,
    run_write,
    sent,
    state,
)

CUSTOMERS = {"name": "customers"}


def test_records_failing_the_published_schema_are_reported_and_the_others_written():
    with HttpMocker() as http:
        mock_setup(http)
        lookup(http, "customers/externalId=good", None)
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": "good", "tags": ["vip"]}), answer({}, 201))
        run = run_write(
            http,
            config(),
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
    assert "'house' is not one of ['home', 'work', 'other']" in row["failures"][0]
    assert "(externalId=bad-2)" in row["failures"][1] and "is too long" in row["failures"][1]
    assert "(no externalId)" in row["failures"][2] and "it has no externalId" in row["failures"][2]
    assert "lifetimeValueNum" in row["failures"][3] and "is not of type 'number'" in row["failures"][3]
    assert all(line.startswith("record of stream 'customers'") for line in row["failures"])


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
        sent = [{"externalId": f"crm-{n}"} for n in range(3)]
        http.post(HttpRequest(f"{BASE}/customers/bulk", body=array_body(sent)), job("j", "complete"))
        http.get(HttpRequest(f"{BASE}/bulk/j/batches"), batches((1, 2)))
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": "crm-1"}), answer({}, 201))
        conflict = error(409, "another customer already has the email")
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": "crm-2"}), conflict)
        run = run_write(
            http, config(), catalog(CUSTOMERS), [record("customers", externalId=f"crm-{n}") for n in range(3)]
        )
    row = run.summary()["customers"]
    assert (row["created"], row["failed"], row["single_writes"]) == (2, 1, 2)
    assert row["failures"] == [
        "record of stream 'customers' (externalId=crm-2) was not written: Kustomer answered HTTP 409: another "
        "customer already has the email"
    ]


def test_a_bulk_request_refused_whole_is_sent_again_one_record_at_a_time():
    with HttpMocker() as http:
        mock_setup(http)
        for n in range(2):
            lookup(http, f"customers/externalId=crm-{n}", resource("customer", f"c-{n}", externalId=f"crm-{n}"))
        sent = [{"id": f"c-{n}", "externalId": f"crm-{n}", "name": f"N{n}"} for n in range(2)]
        http.put(HttpRequest(f"{BASE}/customers/bulk", body=array_body(sent)), error(413, "payload too large"))
        for n in range(2):
            http.put(
                HttpRequest(f"{BASE}/customers/c-{n}", body={"externalId": f"crm-{n}", "name": f"N{n}"}), answer({})
            )
        run = run_write(
            http,
            config(),
            catalog(CUSTOMERS),
            [record("customers", externalId=f"crm-{n}", name=f"N{n}") for n in range(2)],
        )
    assert (run.summary()["customers"]["updated"], run.summary()["customers"]["single_writes"]) == (2, 2)


def test_past_the_threshold_the_sync_stops_with_one_error_and_no_later_state():
    with HttpMocker() as http:
        mock_setup(http)
        run = run_write(
            http,
            config(max_failed_records=1),
            catalog(CUSTOMERS),
            [
                record("customers", name="a"),
                state("customers", 1),
                record("customers", name="b"),
                state("customers", 2),
                record("customers", externalId="never-read"),
                state("customers", 3),
            ],
            stops=True,
        )
    assert run.error.failure_type == FailureType.config_error
    assert "2 records could not be written, more than 'max_failed_records' (1)" in run.error.message
    assert run.states() == [1]  # the state before the failing record, and none after it
    assert run.summary()["customers"]["records"] == 2


def test_a_key_without_a_write_role_stops_before_the_first_record():
    with HttpMocker() as http:
        mock_setup(http, roles=[r for r in EVERY_ROLE if r != "org.permission.customer.update"])
        with pytest.raises(AirbyteTracedException) as stopped:
            run_write(http, config(), catalog(CUSTOMERS), [record("customers", externalId="x"), state("customers", 1)])
        assert sent(http) == ["GET /v1/auth/tokens/current"]
    assert stopped.value.failure_type == FailureType.config_error
    assert (
        "org.user.customer.write or org.permission.customer.update (to update customer records)"
        in stopped.value.message
    )


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
        run = run_write(http, config(), catalog(CUSTOMERS), [record("customers", externalId="mine", name="x")])
    assert "returned a customer (c-9) without that externalId" in run.summary()["customers"]["failures"][0]


def test_custom_objects_need_a_title_to_be_created_and_keep_their_customer_on_update():
    with HttpMocker() as http:
        mock_setup(http, metadata={"kobject.order": {"totalNum": {"type": "number"}}}, klasses=["order"])
        lookup(http, "klasses/order/externalId=o-1", None)
        lookup(http, "klasses/order/externalId=o-2", resource("kobject.order", "k-2", externalId="o-2"))
        http.put(
            HttpRequest(f"{BASE}/klasses/order/k-2", body={"externalId": "o-2", "custom": {"totalNum": 3}}), answer({})
        )
        run = run_write(
            http,
            config(),
            catalog({"name": "kobjects_order"}),
            [
                record("kobjects_order", externalId="o-1", totalNum=1),
                record("kobjects_order", externalId="o-2", totalNum=3, customer="cust-1"),
            ],
        )
    row = run.summary()["kobjects_order"]
    assert (row["updated"], row["failed"]) == (1, 1)
    assert "creating a kobject.order needs 'title'" in row["failures"][0]


def test_a_missing_klass_is_one_clear_error():
    with HttpMocker() as http:
        mock_setup(http, metadata={}, klasses=["order"])
        with pytest.raises(AirbyteTracedException) as stopped:
            run_write(http, config(), catalog({"name": "kobjects_refund"}), [])
    assert "the klass 'refund', which this Kustomer org does not have (its klasses: order)" in stopped.value.message


def test_fields_that_are_not_written_are_reported_once_per_stream():
    with HttpMocker() as http:
        mock_setup(http)
        for n in range(2):
            lookup(http, f"customers/externalId=crm-{n}", resource("customer", f"c-{n}", externalId=f"crm-{n}"))
        sent = [{"id": f"c-{n}", "externalId": f"crm-{n}"} for n in range(2)]
        http.put(HttpRequest(f"{BASE}/customers/bulk", body=array_body(sent)), job("j", "complete"))
        http.get(HttpRequest(f"{BASE}/bulk/j/batches"), batches((2, 0)))
        run = run_write(
            http,
            config(),
            catalog(CUSTOMERS),
            [
                record("customers", externalId=f"crm-{n}", shoeSize=44, _airbyte_raw_id="x", custom={"colourStr": "r"})
                for n in range(2)
            ],
        )
    reports = [line for line in run.logs if "are not written" in line]
    assert len(reports) == 1 and "custom.colourStr, shoeSize" in reports[0]
    assert run.summary()["customers"]["unmapped_fields"] == ["custom.colourStr", "shoeSize"]


def test_lines_on_stdin_that_are_no_messages_are_skipped_without_quoting_them():
    lines = io.StringIO("not json\n" + json.dumps({"no": "message"}) + "\n" + json.dumps({"type": "STATE"}) + "\n")
    parsed = list(DestinationKustomer()._parse_input_stream(lines))  # noqa: SLF001 - the CDK's input hook
    assert [m.type.value for m in parsed] == ["STATE"]
