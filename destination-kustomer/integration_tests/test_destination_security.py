"""The key stays unprinted through the destination's real entrypoint: pasted into another field as well (a stream
mapping among them), that field is named, and nothing is sent; a refusal whose detail hands the key back in every
form is not quoted; a form only the token redaction knows, logged, is masked. (Every run's output is scanned for
every form of the key by the harness.)"""

from typing import Iterator
from urllib.parse import quote

import pytest
from destination_harness import destination_config, input_lines, run_destination, write_catalog
from kustomer_http.responses import WITHHELD_DETAIL

from integration_tests import matrix
from kustomer_simulator.faults import Fault
from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import ECHO_TOKEN, running_simulator
from kustomer_simulator.writes import WriteSettings

CATALOG = write_catalog({"name": "customers"})
ROWS = [{"externalId": f"echo-{n}", "name": f"Echo {n}"} for n in range(6)]


@pytest.fixture(scope="module")
def echo_sim() -> Iterator[Simulator]:
    settings = ServerSettings(
        tokens={ECHO_TOKEN: frozenset()}, minute_seconds=3, writes=WriteSettings(bulk_seconds=0.05)
    )
    with running_simulator(server_settings=settings, scale=500, seed=43) as simulator:
        yield simulator


def _message(run, command: str) -> str:
    if command == "check":
        return run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["message"]
    errors = run.errors()
    assert run.returncode == 1 and len(errors) == 1, run.stdout[-2000:]
    return errors[0]["message"]


@pytest.mark.parametrize("command", ["check", "discover", "write"])
@pytest.mark.parametrize(
    "override, field",
    [
        ({"organization": ECHO_TOKEN}, "'organization'"),
        (
            {"stream_mappings": [{"stream": "customers", "object": "customer", "matching_key": ECHO_TOKEN}]},
            "'stream_mappings[0].matching_key'",
        ),
        (
            {"stream_mappings": [{"stream": f"Bearer {ECHO_TOKEN}", "object": "customer"}]},
            "'stream_mappings[0].stream'",
        ),
    ],
)
def test_a_key_pasted_into_another_field_is_named_and_nothing_is_sent(echo_sim, command, override, field):
    before = echo_sim.stats.snapshot()["requests"]
    config = {**destination_config(echo_sim, ECHO_TOKEN), **override}
    run = run_destination(command, config, CATALOG if command == "write" else None, input_lines("customers", ROWS, 3))
    assert f"{field} holds the API key; the key belongs in 'api_token' only" in _message(run, command)
    assert echo_sim.stats.snapshot()["requests"] == before


def test_a_refusal_that_hands_the_key_back_is_not_quoted(echo_sim):
    echo_sim.faults.add(Fault("echo_key", count=-1, scope="/v1/customers"))
    try:
        run = run_destination(
            "write", destination_config(echo_sim, ECHO_TOKEN), CATALOG, input_lines("customers", ROWS, 3)
        )
    finally:
        echo_sim.faults.clear()
    assert WITHHELD_DETAIL in run.stdout and echo_sim.faults.fired["echo_key"] >= 1
    matrix.record(
        "destination: 403 whose detail hands the key back (hostile.key_echoes)",
        "write",
        0,
        0,
        "the records fail with Kustomer's detail not quoted; no form of the key printed",
        run.seconds,
    )


def test_a_key_form_only_the_redaction_knows_is_masked_in_the_destinations_log_lines(echo_sim):
    """A record whose field name is the key percent-encoded with escapes in mixed case (a form the CDK's own secret
    filter does not know): the destination logs the field as not written, and the log line passes the redaction."""
    echoed = quote(ECHO_TOKEN, safe="").replace("%2F", "%2f")
    rows = [{"externalId": "echo-logged", "name": "Echo logged", echoed: "x"}]
    run = run_destination("write", destination_config(echo_sim, ECHO_TOKEN), CATALOG, input_lines("customers", rows, 1))
    warnings = [line for line in run.logs() if "are not written" in line]
    assert run.returncode == 0 and warnings and all("field(s) **** are" in line for line in warnings), warnings
    matrix.record(
        "destination: a record field named by the key in a form only the redaction knows",
        "write",
        0,
        0,
        "the field is logged as not written, masked",
        run.seconds,
    )
