"""The destination under every setting of every write switch of the simulator (each a behaviour Kustomer's evidence
leaves open): creates, updates by externalId and by email, custom attributes kept, bad records reported, and a
second write changing nothing and duplicating nothing."""

from dataclasses import replace

import pytest
from destination_harness import destination_config, input_lines, write_catalog, write_in_process, written

from kustomer_simulator.server import ServerSettings
from kustomer_simulator.testing import TEST_TOKEN, running_simulator
from kustomer_simulator.timefmt import now_ms
from kustomer_simulator.writes import WriteSettings

SETTINGS = [
    ("bulk_mode", "async"),
    ("bulk_mode", "sync"),
    ("duplicate_external_id", "created"),
    ("duplicate_external_id", "conflict"),
    ("customer_emails", "unique"),
    ("customer_emails", "shared"),
    ("lookup_miss", "empty"),
    ("lookup_miss", "404"),
    ("client_ref", "rejected"),
    ("client_ref", "accepted"),
    ("custom_update", "replace"),
    ("custom_update", "merge"),
]


@pytest.mark.parametrize("switch, value", SETTINGS, ids=[f"{s}={v}" for s, v in SETTINGS])
def test_writes_are_exact_under_every_setting(switch, value):
    writes = replace(WriteSettings(bulk_seconds=0.05), **{switch: value})
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, minute_seconds=3, writes=writes)
    with running_simulator(server_settings=settings, scale=1000, seed=77) as sim:
        coll = sim.org.collections["customers"]
        with sim.org.lock:  # half of the rows exist already, with a custom attribute the rows do not carry
            for n in range(6):
                sim.org.store.create(coll, {"externalId": f"m-{n}", "custom": {"tierStr": "silver"}}, writes, now_ms())
        live = [i for i in range(coll.generated) if i not in coll.deleted][:4]
        emails = [coll.render(i)["attributes"]["emails"][0]["email"] for i in live]
        before = {email: written(sim, "customers", "email", email)[0]["custom"] for email in emails}
        rows = [{"externalId": f"m-{n}", "name": f"Matrix {n}", "lifetimeValueNum": n} for n in range(12)]
        rows.append({"externalId": "m-taken", "email": emails[0]})  # a second customer with an existing email
        by_email = [{"email": email, "lifetimeValueNum": 500 + n} for n, email in enumerate(emails)]
        config = destination_config(
            sim,
            TEST_TOKEN,
            batch_size=5,
            stream_mappings=[{"stream": "ltv", "object": "customer", "matching_key": "email"}],
        )
        catalog = write_catalog({"name": "customers"}, {"name": "ltv"})
        lines = input_lines("customers", rows, 5) + input_lines("ltv", by_email, 2)
        first = write_in_process(config, catalog, lines)
        again = write_in_process(config, catalog, lines)

        summary = first.summary()
        refused = writes.customer_emails == "unique"
        assert (summary["customers"]["created"], summary["customers"]["updated"]) == (6 + (not refused), 6)
        assert summary["customers"]["failed"] == int(refused) and summary["ltv"]["updated"] == 4
        for n in range(12):
            (record,) = written(sim, "customers", "externalId", f"m-{n}")
            assert record["custom"] == ({"tierStr": "silver"} if n < 6 else {}) | {"lifetimeValueNum": n}
        for n, email in enumerate(emails):
            holders = written(sim, "customers", "email", email)
            updated = next(h for h in holders if h.get("externalId") != "m-taken")
            assert updated["custom"] == {**before[email], "lifetimeValueNum": 500 + n}
        assert sum(row["created"] for row in again.summary().values()) == 0
        assert len(first.of_type("STATE")) == len(again.of_type("STATE")) == 3 + 2
