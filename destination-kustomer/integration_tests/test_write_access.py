"""Access settled by asking: a key holding only the roles Fivetran Activations documents for this job (umbrella roles,
none of them a bulk role), or just ``org``, writes -- under both ``--token-roles`` settings; a key that may not look
customers up stops before the first record with one error naming the need and its roles. And the per-object limit
on custom objects: ``send_imported_at`` creates a customer's backfill of orders without meeting it."""

from typing import Iterator

import pytest
from destination_harness import (
    destination_config,
    input_lines,
    run_destination,
    write_catalog,
    write_in_process,
    written,
)

from kustomer_simulator.roles import FIVETRAN_ACTIVATIONS_ROLES
from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import TEST_TOKEN, running_simulator
from kustomer_simulator.writes import WriteSettings

# Keys as long as Kustomer's (the connectors refuse shorter ones), none of them a secret.
FIVETRAN = "kst-fivetran-activations-roles-Vb2-not-a-secret"
ORG_ONLY = "kst-holding-just-the-org-role-Lq4-not-a-secret"
NO_LOOKUPS = "kst-without-customer-reads-Xe9-not-a-secret"


@pytest.fixture(scope="module", params=["umbrella", "listed"])
def keys(request) -> Iterator[Simulator]:
    settings = ServerSettings(
        tokens={TEST_TOKEN: frozenset(), NO_LOOKUPS: frozenset({"org.permission.customer.read"})},
        grants={FIVETRAN: FIVETRAN_ACTIVATIONS_ROLES, ORG_ONLY: ("org",)},
        token_roles=request.param,
        minute_seconds=3,
        writes=WriteSettings(bulk_seconds=0.05, kobject_creates_per_customer=3),
    )
    with running_simulator(server_settings=settings, scale=1000, seed=83) as sim:
        yield sim


@pytest.mark.parametrize("token", [FIVETRAN, ORG_ONLY])
def test_keys_holding_umbrella_roles_write(keys, token):
    sim = keys
    prefix = f"{token[4:12]}-{sim.settings.token_roles}"
    customers = [{"externalId": f"{prefix}-{n}", "name": f"Key {n}"} for n in range(6)]
    companies = [{"externalId": f"{prefix}-co", "name": "Umbrella Ltd"}]
    orders = [{"externalId": f"{prefix}-o", "title": "Order"}]
    catalog = write_catalog({"name": "customers"}, {"name": "companies"}, {"name": "kobjects_order"})
    lines = input_lines("customers", customers, 6) + input_lines("companies", companies, 1)
    lines += input_lines("kobjects_order", orders, 1)
    run = write_in_process(destination_config(sim, token, batch_size=3), catalog, lines)
    summary = run.summary()
    assert (summary["customers"]["created"], summary["companies"]["created"], summary["kobjects_order"]["created"]) == (
        6,
        1,
        1,
    )
    assert all(len(written(sim, "customers", "externalId", row["externalId"])) == 1 for row in customers)
    warned = [m["log"]["message"] for m in run.of_type("LOG")]
    no_bulk = [line for line in warned if "may not follow bulk writes to their result" in line]
    if token == FIVETRAN:  # no role of theirs grants bulk reads: one request a record, said once
        assert len(no_bulk) == 1 and summary["customers"]["bulk_requests"] == 0
    else:
        assert not no_bulk and summary["customers"]["bulk_requests"] == 2
    again = write_in_process(destination_config(sim, token, batch_size=3), catalog, lines)
    assert again.summary()["customers"]["updated"] == 6 and again.summary()["customers"]["search_lookups"] >= 1


def test_a_key_that_may_not_look_customers_up_stops_before_writing_naming_the_roles(keys):
    run = run_destination(
        "write",
        destination_config(keys, NO_LOOKUPS),
        write_catalog({"name": "customers"}),
        input_lines("customers", [{"externalId": "never-written", "name": "x"}], 1),
    )
    (error,) = run.errors()
    assert run.returncode == 1 and error["failure_type"] == "config_error"
    assert "Kustomer refused the API key to look up customer records (HTTP 403" in error["message"]
    assert "org.permission.customer.read, org.user.customer.read -- or a role they fall under" in error["message"]
    assert not written(keys, "customers", "externalId", "never-written") and not run.of_type("STATE")


@pytest.mark.parametrize("imported", [False, True])
def test_a_backfill_of_one_customers_orders_waits_for_that_customer_or_is_marked_imported(keys, imported):
    owner = keys.org.collections["customers"].record_id(1)
    orders = [{"externalId": f"bf-{imported}-{n}", "title": f"Order {n}", "customer": owner} for n in range(7)]
    run = write_in_process(
        destination_config(keys, TEST_TOKEN, batch_size=7, send_imported_at=imported),
        write_catalog({"name": "kobjects_order"}),
        input_lines("kobjects_order", orders, 7),
    )
    row = run.summary()["kobjects_order"]
    assert (row["created"], row["failed"]) == (7, 0)
    assert all(len(written(keys, "kobjects_order", "externalId", o["externalId"])) == 1 for o in orders)
    assert (row["object_limited"] == 0) == imported and row["http_429"] == 0  # a per-object 429 is no org wait
