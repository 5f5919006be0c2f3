"""discover: the DESTINATION_CATALOG built from Kustomer's documented attributes and the org's own definitions;
check: the key, each need of the configured objects settled by asking (a role granting it, else one harmless
request, else only a write can tell: said), and a cheap read of what the writes read first."""

import json
import logging

import pytest
from airbyte_cdk.models import FailureType, Status
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from destination_kustomer import access
from destination_kustomer.config import parse_config
from destination_kustomer.custom_attributes import CustomAttributes, rule_of
from destination_kustomer.destination import DestinationKustomer
from destination_kustomer.run import run
from kustomer_http.connection import open_connection
from write_mocks import BASE, EVERY_ROLE, answer, config, error, mock_setup

LOGGER = logging.getLogger("airbyte")
METADATA = {
    "customer": {
        "lifetimeValueNum": {"type": "number"},
        "regionTree": {"type": "tree"},
        "ordersId": {"type": "string"},
    },
    "company": {"industryStr": {"type": "string"}},
    "kobject.order": {"totalNum": {"type": "number"}, "shippedAt": {"type": "date"}},
    "kobject.legacy": {},
}


def _catalog(http: HttpMocker):
    mock_setup(http, metadata=METADATA)
    for status, names in (("enabled", ["order"]), ("existing_only", ["legacy"]), ("disabled", [])):
        listed = [{"type": "klass", "id": f"k-{n}", "attributes": {"name": n, "status": status}} for n in names]
        query = {"status": status, "page": "1", "pageSize": "100"}
        http.get(HttpRequest(f"{BASE}/klasses", query_params=query), answer({"data": listed, "links": {}}))
    return DestinationKustomer().discover_catalog(config(), LOGGER)


def test_discover_offers_each_object_with_its_matching_keys_and_soft_delete_for_companies_only():
    with HttpMocker() as http:
        catalog = _catalog(http)
    offered = {(op.object_name, op.sync_mode.value): op.matching_keys for op in catalog.operations}
    assert offered == {
        ("customer", "append_dedup"): [["externalId"], ["email"]],
        ("customer", "update"): [["externalId"], ["email"]],
        ("company", "append_dedup"): [["externalId"]],
        ("company", "update"): [["externalId"]],
        ("company", "soft_delete"): [["externalId"]],
        ("kobject.legacy", "append_dedup"): [["externalId"]],  # a klass of every status
        ("kobject.legacy", "update"): [["externalId"]],
        ("kobject.order", "append_dedup"): [["externalId"]],
        ("kobject.order", "update"): [["externalId"]],
    }


def test_discover_schemas_hold_the_documented_attributes_and_the_orgs_custom_ones_typed_by_suffix():
    with HttpMocker() as http:
        catalog = _catalog(http)
    schemas = {
        op.object_name: op.json_schema["properties"] for op in catalog.operations if op.sync_mode.value == "update"
    }
    customer = schemas["customer"]
    assert {k: v for k, v in customer["externalId"].items() if k != "description"} == {
        "type": "string",
        "maxLength": 256,
        "minLength": 1,
    }
    assert customer["emails"]["maxItems"] == 10
    assert customer["emails"]["items"]["properties"]["type"]["enum"] == ["home", "work", "other"]
    assert customer["tags"]["maxItems"] == 20
    assert customer["lifetimeValueNum"]["type"] == "number" and customer["regionTree"]["maxLength"] == 1024
    assert "ordersId" not in customer  # a relation: its name ends in no type suffix
    assert set(customer["custom"]["properties"]) == {"lifetimeValueNum", "regionTree"}
    assert schemas["company"]["name"]["minLength"] == 3 and "email" not in schemas["company"]
    assert schemas["kobject.order"]["shippedAt"]["format"] == "date-time"
    assert schemas["kobject.order"]["title"]["minLength"] == 1


def test_discover_says_what_an_update_of_each_field_does():
    with HttpMocker() as http:
        catalog = _catalog(http)
    customer = next(op for op in catalog.operations if op.object_name == "customer").json_schema["properties"]
    assert customer["emails"]["description"].startswith("An update replaces the customer's addresses with this list")
    assert customer["tags"]["description"].startswith("An update replaces the object's whole list")
    assert "an update adds it only to a customer with no address yet" in customer["email"]["description"]
    assert "Kustomer unlinks a customer updated without a company" in customer["company"]["description"]
    assert customer["name"]["description"] == "An update sets it; attributes the record does not map are kept."
    assert customer["lifetimeValueNum"]["description"].endswith("the object's other custom attributes are kept.")


def test_discover_prints_one_destination_catalog_message(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps(config()))
    with HttpMocker() as http:
        _catalog(http)
        run(["discover", "--config", str(tmp_path / "config.json")])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    catalogs = [line for line in lines if line["type"] == "DESTINATION_CATALOG"]
    assert len(catalogs) == 1 and len(catalogs[0]["destination_catalog"]["operations"]) == 9


def test_custom_attribute_types_follow_the_published_suffix():
    assert [rule_of(name)["type"] for name in ("aStr", "aTxt", "aNum", "aBool", "aUrl", "lastAt")] == [
        "string",
        "string",
        "number",
        "boolean",
        "string",
        "string",
    ]
    assert rule_of("At") is None and rule_of("colour") is None and rule_of("has space Str") is None
    assert CustomAttributes.of({"okStr": {}, "linkId": {}}).unwritable == ["linkId"]


def test_a_tree_attribute_is_written_only_where_the_orgs_metadata_declares_its_type():
    assert rule_of("regionTree") is None  # Tree is no published suffix
    assert rule_of("regionTree", {"type": "tree"}) == {"type": "string", "maxLength": 1024}
    found = CustomAttributes.of({"regionTree": {"displayName": "Region"}, "levelTree": {"type": "tree"}})
    assert (list(found.writable), found.unwritable) == (["levelTree"], ["regionTree"])


def _check(http: HttpMocker, roles, **overrides):
    mock_setup(http, roles=roles, metadata={"customer": {}})
    return DestinationKustomer().check(LOGGER, config(**overrides))


def test_check_passes_with_every_role_and_the_cheap_reads():
    with HttpMocker() as http:
        http.get(HttpRequest(f"{BASE}/klasses?status=enabled&page=1&pageSize=1"), answer({"data": []}))
        assert _check(http, EVERY_ROLE).status == Status.SUCCEEDED


def test_check_asks_about_what_the_token_record_does_not_settle_and_says_what_only_a_write_can():
    mapped = [{"stream": "ltv", "object": "customer", "matching_key": "email"}]
    with HttpMocker() as http:
        mock_setup(
            http, roles=["org.permission.customer.read", "org.permission.customer.create"], metadata={"customer": {}}
        )
        http.get(HttpRequest(f"{BASE}/bulk/{'0' * 24}"), error(403, "lacks the role org.permission.bulk.read"))
        search = {"or": [{"customer_externalId": {"equals": "airbyte-access-check-0"}}], "queryContext": "customer"}
        http.post(
            HttpRequest(f"{BASE}/customers/search", query_params={"page": "1", "pageSize": "1"}, body=search),
            answer({"data": [], "links": {}}),
        )
        status = DestinationKustomer().check(LOGGER, config(stream_mappings=mapped, lookup_by_search=True))
    assert status.status == Status.SUCCEEDED  # the key may write: bulk and search are only faster ways to
    assert "(to update customer records: org.permission.customer.update or org.user.customer.write)" in (status.message)
    assert "company" not in status.message  # only the mapped objects are asked about


def test_check_fails_naming_the_roles_when_kustomer_refuses_a_lookup():
    mapped = [{"stream": "ltv", "object": "customer"}]
    with HttpMocker() as http:
        _token(http, ["org.permission.customer.create", "org.permission.customer.update"])
        http.get(HttpRequest(f"{BASE}/customers/externalId=airbyte-access-check-0"), error(403, "lacks the role"))
        status = DestinationKustomer().check(LOGGER, config(stream_mappings=mapped))
    assert status.status == Status.FAILED
    assert "Kustomer refused the API key to look up customer records (HTTP 403: lacks the role)" in status.message
    assert "org.permission.customer.read, org.user.customer.read -- or a role they fall under" in status.message


def _token(http: HttpMocker, roles) -> None:
    http.get(HttpRequest(f"{BASE}/auth/tokens/current"), answer({"data": {"attributes": {"roles": roles}}}))


def _check_answered(metadata):
    """Check a config mapping one stream to customers, Kustomer answering ``metadata`` to the cheap read."""
    with HttpMocker() as http:
        _token(http, EVERY_ROLE)
        http.get(HttpRequest(f"{BASE}/metadata/customer"), metadata)
        return DestinationKustomer().check(LOGGER, config(stream_mappings=[{"stream": "ltv", "object": "customer"}]))


def test_check_fails_when_kustomer_refuses_the_cheap_read():
    status = _check_answered(error(403, "lacks the role org.permission.metadata.read"))
    assert status.status == Status.FAILED and "to read custom attribute definitions (HTTP 403" in status.message


def test_check_without_stream_mappings_says_which_objects_it_assumed_and_how_to_narrow_it():
    customers_only = [r for r in EVERY_ROLE if ".company." not in r]
    with HttpMocker() as http:
        _token(http, customers_only)
        http.get(
            HttpRequest(f"{BASE}/companies", query_params={"externalId": "airbyte-access-check-0"}), error(403, "no")
        )
        assumed = DestinationKustomer().check(LOGGER, config())
    assert assumed.status == Status.FAILED and "to look up company records (HTTP 403" in assumed.message
    assert "the check assumed customers, companies and custom objects" in assumed.message
    assert "add an entry per stream (its object) to check only the objects it writes" in assumed.message
    mapped = [{"stream": "people", "object": "customer"}]
    with HttpMocker() as http:
        mock_setup(http, roles=customers_only, metadata={"customer": {}})
        assert DestinationKustomer().check(LOGGER, config(stream_mappings=mapped)).status == Status.SUCCEEDED


def test_check_reports_kustomers_server_errors_as_such_not_as_a_config_mistake():
    status = _check_answered(error(503, "unavailable"))
    assert status.status == Status.FAILED
    assert status.message == "Kustomer kept answering HTTP 503 at https://api.kustomerapp.com; try again later."


def test_a_refused_cheap_read_other_than_a_server_error_is_a_config_error():
    with HttpMocker() as http:
        http.get(HttpRequest(f"{BASE}/metadata/customer"), error(404, "no such resource"))
        with pytest.raises(AirbyteTracedException) as refused:
            access.cheap_reads(_client(), klasses=False)
    assert refused.value.failure_type == FailureType.config_error
    assert "Kustomer answered HTTP 404 to GET /v1/metadata/customer" in refused.value.message


def _client():
    return open_connection(config(), parse_config, "test").client("check", max_retries=0)


def test_check_with_an_invalid_key_says_so():
    with HttpMocker() as http:
        http.get(HttpRequest(f"{BASE}/auth/tokens/current"), error(401, "invalid"))
        status = DestinationKustomer().check(LOGGER, config())
    assert status.status == Status.FAILED and "rejected the API token (HTTP 401)" in status.message
