"""The rules both connectors (and the simulator's contract) read from one place: ids as one path segment, the roles
a key's record lists, custom attribute types by suffix, the format readings, and what a failed check says."""

import pytest
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from jsonschema import Draft7Validator
from kustomer_http.connection import listed_roles
from kustomer_http.custom_attributes import suffix_of
from kustomer_http.errors import check_failure, config_error, server_trouble
from kustomer_http.formats import KUSTOMER_FORMATS
from kustomer_http.origin import UnsafeUrl, path_segment

ORIGIN = "https://api.kustomerapp.com"


@pytest.mark.parametrize(
    "value, segment",
    [("5c6f0a", "5c6f0a"), ("../companies/x", "..%2Fcompanies%2Fx"), ("a?b#c%d", "a%3Fb%23c%25d"), ("a.b", "a.b")],
)
def test_an_id_goes_into_a_path_as_one_segment(value, segment):
    assert path_segment(value) == segment


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_a_value_no_encoding_keeps_in_its_place_is_refused(value):
    with pytest.raises(UnsafeUrl, match="would not stay one segment of the path"):
        path_segment(value)


def test_the_roles_of_a_key_are_read_from_its_token_record():
    assert listed_roles({"data": {"attributes": {"roles": ["org.user.read", 7, "org.permission.bulk.read"]}}}) == [
        "org.user.read",
        "org.permission.bulk.read",
    ]
    assert listed_roles({"data": {"attributes": {}}}) is None and listed_roles({"data": []}) is None
    assert listed_roles([]) is None


def test_custom_attributes_are_typed_by_their_suffix_and_tree_is_not_published():
    assert suffix_of("lifetimeValueNum").write_rule() == {"type": "number"}
    assert suffix_of("bioTxt").write_rule() == {"type": "string", "maxLength": 1024}
    assert suffix_of("profileUrl").write_rule() == {"type": "string", "format": "uri"}
    assert suffix_of("lastOrderAt").read_schema() == {"type": ["null", "string"], "format": "date-time"}
    assert suffix_of("profileUrl").read_schema() == {"type": ["null", "string"]}  # a reader keeps what it gets
    assert not suffix_of("regionTree").published and suffix_of("vipBool").published
    assert suffix_of("At") is None and suffix_of("ordersId") is None


@pytest.mark.parametrize(
    "fmt, good, bad",
    [
        ("date-time", "2024-05-01T10:00:00.000Z", "2024-05-01 10:00"),
        ("date-time", "2024-05-01T10:00:00+02:00", "2024-02-30T10:00:00Z"),
        ("uri", "mailto:a@x.test", "no scheme"),
        ("url", "https://x.test/a", "ftp://x.test"),
        ("email-relaxed", "a+b@x.test", "not-an-email"),
        ("domain-name", "acme.example", "not a domain"),
        ("phone-number", "+14155550100", "call me"),
        ("whatsapp-number", "+14155550100", "x"),
    ],
)
def test_each_format_reading(fmt, good, bad):
    validator = Draft7Validator({"format": fmt}, format_checker=KUSTOMER_FORMATS)
    assert validator.is_valid(good) and not validator.is_valid(bad) and validator.is_valid(42)


def _exhausted(status: int) -> AirbyteTracedException:
    response = requests.Response()
    response.status_code = status
    try:
        raise requests.HTTPError("retries exhausted", response=response)
    except requests.HTTPError:
        try:
            raise AirbyteTracedException(message="Exhausted available request attempts.")
        except AirbyteTracedException as error:
            return error


def test_a_failed_check_says_what_ended_it():
    assert check_failure(config_error("'api_url' must use https"), ORIGIN) == "'api_url' must use https"
    assert check_failure(server_trouble("Kustomer answered HTTP 503; try again later."), ORIGIN).startswith("Kustomer")
    assert check_failure(_exhausted(503), ORIGIN) == f"Kustomer kept answering HTTP 503 at {ORIGIN}; try again later."
    unreachable = AirbyteTracedException(message="Exhausted", failure_type=FailureType.transient_error)
    assert check_failure(unreachable, ORIGIN).startswith(f"Could not reach Kustomer at {ORIGIN}.")
