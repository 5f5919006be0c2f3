"""The destination under every setting of every write switch of the simulator (each a behaviour Kustomer's evidence
leaves open): creates, updates by externalId and by email, custom attributes kept, bad records reported, and a
second write changing nothing and duplicating nothing. A bulk job that never ends stops the sync (the rows of the
matrix cannot hold there), and emails in another case find their customer or not as the switch says: each has a
test of its own."""

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
    ("bulk_job_end", "complete"),
    ("bulk_job_end", "failed"),
    ("bulk_results", "paged"),
    ("bulk_results", "single"),
    ("duplicate_external_id", "created"),
    ("duplicate_external_id", "conflict"),
    ("customer_emails", "unique"),
    ("customer_emails", "shared"),
    ("email_case", "insensitive"),
    ("email_case", "sensitive"),
    ("custom_tree", "rejected"),
    ("custom_tree", "accepted"),
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


def test_a_bulk_job_that_never_ends_stops_the_sync_and_the_next_sync_creates_only_what_is_missing():
    writes = WriteSettings(bulk_seconds=0.05, bulk_job_end="stuck")
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, minute_seconds=3, writes=writes)
    with running_simulator(server_settings=settings, scale=1000, seed=78) as sim:
        rows = [{"externalId": f"stuck-{n}", "name": f"Stuck {n}"} for n in range(4)]
        config = destination_config(sim, TEST_TOKEN, rate_limit_window_seconds=0.6)  # quick polls
        lines = input_lines("customers", rows, 4)
        stopped = write_in_process(config, write_catalog({"name": "customers"}), lines, stops=True)
        (error,) = stopped.errors()
        assert (
            "had not ended after 40 checks (status 'running'), and 2 of its 4 records are not written yet"
            in (error["message"])
        )
        assert error["failure_type"] == "transient_error" and not stopped.of_type("STATE")
        assert stopped.summary()["customers"]["created"] == 2  # the half the job wrote, found by lookups
        sim.settings.writes.bulk_job_end = "complete"  # the job is over for good; the next sync runs as usual
        again = write_in_process(config, write_catalog({"name": "customers"}), lines)
        assert [len(written(sim, "customers", "externalId", row["externalId"])) for row in rows] == [1, 1, 1, 1]
        assert (again.summary()["customers"]["created"], again.summary()["customers"]["updated"]) == (2, 2)
        assert len(again.of_type("STATE")) == 1


@pytest.mark.parametrize("case", ["insensitive", "sensitive"])
def test_an_email_in_another_case_finds_its_customer_as_the_switch_says(case):
    writes = WriteSettings(bulk_seconds=0.05, email_case=case)
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, minute_seconds=3, writes=writes)
    with running_simulator(server_settings=settings, scale=1000, seed=79) as sim:
        with sim.org.lock:
            sim.org.store.create(sim.org.collections["customers"], {"emails": [{"email": "ada@x.test"}]}, writes, 0)
        config = destination_config(
            sim, TEST_TOKEN, stream_mappings=[{"stream": "people", "object": "customer", "matching_key": "email"}]
        )
        run = write_in_process(
            config,
            write_catalog({"name": "people"}),
            input_lines("people", [{"email": "Ada@X.test", "locale": "fr"}], 1),
        )
        row = run.summary()["people"]
        spelled = written(sim, "customers", "email", "Ada@X.test", exact_case=True)
        if case == "insensitive":  # the customer found is updated, and keeps its address as it was
            assert (row["updated"], row["created"], spelled) == (1, 0, [])
            assert written(sim, "customers", "email", "ada@x.test")[0]["locale"] == "fr"
        else:  # Kustomer sees another address: a customer of its own, created
            assert (row["updated"], row["created"], len(spelled)) == (0, 1, 1)
        assert row["failed"] == 0 and len(run.of_type("STATE")) == 1


@pytest.mark.parametrize("limit", [100_000, 0])
def test_bulk_bodies_stay_under_the_body_limit_whatever_it_is(limit):
    """A hundred records of about 1,000 characters each would make a bulk body past 100 KB: under
    --max-body-bytes 100000 (413 past it) as with no limit (0), every record is written, none refused."""
    writes = WriteSettings(bulk_seconds=0.05, max_body_bytes=limit)
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, minute_seconds=3, writes=writes)
    with running_simulator(server_settings=settings, scale=1000, seed=80) as sim:
        rows = [{"externalId": f"big-{n}", "name": f"Big {n}", "bioTxt": f"{n:04d}" + "x" * 996} for n in range(150)]
        config = destination_config(sim, TEST_TOKEN, batch_size=100)
        run = write_in_process(config, write_catalog({"name": "customers"}), input_lines("customers", rows, 150))
        summary = run.summary()["customers"]
        assert (summary["created"], summary["failed"]) == (150, 0)
        assert "413" not in sim.stats.snapshot()["by_status"]
        for row in rows:
            (record,) = written(sim, "customers", "externalId", row["externalId"])
            assert record["custom"] == {"bioTxt": row["bioTxt"]}
