"""The destination under every setting of every write switch of the simulator (each a behaviour Kustomer's evidence
leaves open): customers created and updated by externalId and by email, companies found through a lookup that
matches by prefix, custom objects created past a per-customer limit. Under each setting every input record is
applied exactly once, nothing is duplicated, nothing the input did not map changes in the org (sensitive values
the answers mask, an agent's edits, phones, tags, other custom attributes, a customer's company), each STATE comes
out only once the records before it are in the org, the write exits cleanly, and a second write changes nothing
and creates nothing. Settings whose outcome differs by design have tests of their own: a bulk job that never ends
or starts late (the sync stops, and the next waits for the job before it writes), emails in another case, and a
server that replaces custom attributes on update (the sync stops after the first update, before the batch rewrites
the org)."""

import time
from dataclasses import replace
from typing import Any, Dict, List, Mapping, Tuple

import pytest
from destination_harness import (
    destination_config,
    input_lines,
    record_line,
    state_line,
    stored_config,
    write_catalog,
    write_in_process,
    written,
)
from destination_kustomer import following

from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import TEST_TOKEN, running_simulator
from kustomer_simulator.timefmt import now_ms
from kustomer_simulator.writes import AGENT_NOTE, AGENT_TAG, WriteSettings

WRITE_SETTINGS = [
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
    ("custom_update", "merge"),
    ("sensitive_values", "masked"),
    ("sensitive_values", "shown"),
    ("agent_edits", "after-lookup"),
    ("agent_edits", "none"),
    ("stale_rev", "conflict"),
    ("stale_rev", "ignored"),
    ("company_lookup", "prefix"),
    ("company_lookup", "exact"),
    ("kobject_creates_per_customer", 120),
    ("kobject_creates_per_customer", 2),
]
SERVER_SETTINGS = [("token_roles", "umbrella"), ("token_roles", "listed"), ("index_lag_seconds", 2.0)]
IGNORED = ("updatedAt", "modifiedAt", "rev", "lastActivityAt")  # what every update moves
ORDERS = 5  # custom objects created for one customer: past the tight per-customer limit


def _settings(switch: str, value: Any) -> ServerSettings:
    writes = WriteSettings(bulk_seconds=0.05)
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, minute_seconds=3, writes=writes)
    if switch in {f for f, _ in SERVER_SETTINGS} - {"index_lag_seconds"}:
        return replace(settings, **{switch: value})
    if switch == "index_lag_seconds":
        settings.search.index_lag_seconds = value
        return settings
    return replace(settings, writes=replace(writes, **{switch: value}))


def _record(sim: Simulator, collection: str, key: str, value: str) -> Dict[str, Any]:
    """The one record holding the key (a second would be a duplicate; but for the customer a row creates with an
    existing email where emails may be shared), as stored: attributes and its links."""
    holders = [h for h in written(sim, collection, key, value) if key != "email" or h.get("externalId") != "m-taken"]
    assert len(holders) == 1, f"{collection} {key}={value}: {len(holders)} records"
    coll = sim.org.collections[collection]
    with sim.org.lock:
        relationships = coll.render(coll.index_of(holders[0]["id"]))["relationships"]
    links = {name: link["data"]["id"] for name, link in relationships.items() if name in ("company", "customer")}
    return {**{k: v for k, v in holders[0].items() if k not in IGNORED}, "links": links}


def _edited(before: Mapping[str, Any]) -> Dict[str, Any]:
    """A record as the agent of --agent-edits leaves it."""
    return {
        **before,
        "tags": list(before.get("tags") or []) + [AGENT_TAG],
        "custom": {**before.get("custom", {}), AGENT_NOTE[0]: AGENT_NOTE[1]},
    }


def _seed(sim: Simulator) -> Tuple[str, List[str]]:
    """Six customers with what no row maps (a sensitive value, tags, phones, a company), three companies sharing a
    prefix, and one order; the id of the customer the orders are for, and four generated customers' emails."""
    org, writes = sim.org, sim.settings.writes
    with org.lock:
        companies = org.collections["companies"]
        company_ids = []
        for external_id in ("acme-2", "ACME-3", "acme"):
            _, made = org.store.create(companies, {"name": f"Co {external_id}", "externalId": external_id}, writes, 0)
            company_ids.append(made["id"])
        customers = org.collections["customers"]
        for n in range(6):
            body = {
                "externalId": f"m-{n}",
                "custom": {"tierStr": "silver", "ssnStr": f"123-45-000{n}"},
                "tags": ["vip"],
                "phones": [{"type": "mobile", "phone": f"+1555000000{n}"}],
                "company": company_ids[0],
            }
            _, customer = org.store.create(customers, body, writes, now_ms())
        orders = org.collections["kobjects_order"]
        org.store.create(orders, {"title": "Old", "externalId": "o-old", "icon": "box"}, writes, now_ms())
        live = [i for i in range(customers.generated) if i not in customers.deleted][:4]
        emails = [customers.render(i)["attributes"]["emails"][0]["email"] for i in live]
    return customer["id"], emails


@pytest.mark.parametrize(
    "switch, value",
    WRITE_SETTINGS + SERVER_SETTINGS,
    ids=[f"{s}={v}" for s, v in WRITE_SETTINGS + SERVER_SETTINGS],
)
def test_writes_are_exact_under_every_setting(switch, value):
    settings = _settings(switch, value)
    with running_simulator(server_settings=settings, scale=1000, seed=77) as sim:
        owner, emails = _seed(sim)
        customers = [("externalId", f"m-{n}") for n in range(12)]
        before = {key: _record(sim, "customers", *key) for key in customers[:6]}
        before |= {("email", email): _record(sim, "customers", "email", email) for email in emails}
        before |= {("externalId", c): _record(sim, "companies", "externalId", c) for c in ("acme", "acme-2", "ACME-3")}
        before[("externalId", "o-old")] = _record(sim, "kobjects_order", "externalId", "o-old")
        rows = [{"externalId": f"m-{n}", "name": f"Matrix {n}", "lifetimeValueNum": n} for n in range(12)]
        rows.append({"externalId": "m-taken", "email": emails[0]})  # a second customer with an existing email
        by_email = [{"email": email, "lifetimeValueNum": 500 + n} for n, email in enumerate(emails)]
        companies = [{"externalId": "acme", "employeeCount": 12}, {"externalId": "acme-new", "name": "Acme New"}]
        orders = [{"externalId": f"o-{n}", "title": f"Order {n}", "customer": owner} for n in range(ORDERS)]
        orders.append({"externalId": "o-old", "description": "shipped"})
        config = destination_config(
            sim,
            TEST_TOKEN,
            batch_size=5,
            stream_mappings=[{"stream": "ltv", "object": "customer", "matching_key": "email"}],
        )
        catalog = write_catalog(
            {"name": "customers"}, {"name": "ltv"}, {"name": "companies"}, {"name": "kobjects_order"}
        )
        inputs = {"customers": rows, "ltv": by_email, "companies": companies, "kobjects_order": orders}
        lines = [line for stream, items in inputs.items() for line in input_lines(stream, items, 3)]
        refused = sim.settings.writes.customer_emails == "unique"

        def applied(stream: str, position: int) -> None:  # each STATE: the rows before it are in the org
            for row in inputs[stream][:position]:
                if stream == "ltv":
                    assert (
                        _record(sim, "customers", "email", row["email"])["custom"]["lifetimeValueNum"]
                        == (row["lifetimeValueNum"])
                    )
                elif row["externalId"] != "m-taken" or not refused:
                    found = _record(sim, stream, "externalId", row["externalId"])
                    mapped = [(k, v) for k, v in row.items() if k not in ("customer", "email")]
                    assert all(found.get(k) == v or found.get("custom", {}).get(k) == v for k, v in mapped)

        first = write_in_process(config, catalog, lines, on_state=applied)
        again = write_in_process(config, catalog, lines, on_state=applied)

        summary = first.summary()
        assert (summary["customers"]["created"], summary["customers"]["updated"]) == (6 + (not refused), 6)
        assert summary["customers"]["failed"] == int(refused)
        assert (summary["ltv"]["updated"], summary["companies"]["updated"], summary["companies"]["created"]) == (
            4,
            1,
            1,
        )
        assert (summary["kobjects_order"]["created"], summary["kobjects_order"]["updated"]) == (ORDERS, 1)
        assert sum(row["failed"] for row in summary.values()) == int(refused)
        assert sum(row["created"] for row in again.summary().values()) == 0
        assert len(first.of_type("STATE")) == len(again.of_type("STATE")) == 5 + 2 + 1 + 2
        agent = sim.settings.writes.agent_edits == "after-lookup"
        for key, was in before.items():
            collection = (
                "kobjects_order"
                if key[1] == "o-old"
                else "companies"
                if key[1].lower().startswith("acme")
                else "customers"
            )
            now = _record(sim, collection, *key)
            looked_up = (
                key[1] in ("acme", "o-old") or collection == "customers" or settings.writes.company_lookup == "prefix"
            )
            expected = _edited(was) if agent and looked_up else dict(was)
            if key in customers:
                n = int(key[1].split("-")[1])
                expected |= {"name": f"Matrix {n}", "custom": {**expected["custom"], "lifetimeValueNum": n}}
            elif key[0] == "email":
                expected["custom"] = {**expected["custom"], "lifetimeValueNum": 500 + emails.index(key[1])}
            elif key[1] == "acme":
                expected["employeeCount"] = 12
            elif key[1] == "o-old":
                expected["description"] = "shipped"
            assert now == expected, f"{key}: what the input did not map changed"
        note = dict([AGENT_NOTE]) if agent else {}  # the second write's lookups found what the first created
        for n in range(6, 12):
            assert _record(sim, "customers", "externalId", f"m-{n}")["custom"] == {"lifetimeValueNum": n, **note}
        assert _record(sim, "companies", "externalId", "acme-new")["name"] == "Acme New"
        assert [_record(sim, "kobjects_order", "externalId", f"o-{n}")["links"] for n in range(ORDERS)] == [
            {"customer": owner}
        ] * ORDERS


def test_a_bulk_job_that_never_ends_stops_the_sync_and_the_next_sync_waits_for_it_then_creates_what_is_missing():
    writes = WriteSettings(bulk_seconds=0.05, bulk_job_end="stuck")
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, minute_seconds=3, writes=writes)
    with running_simulator(server_settings=settings, scale=1000, seed=78) as sim:
        rows = [{"externalId": f"stuck-{n}", "name": f"Stuck {n}"} for n in range(4)]
        config = destination_config(sim, TEST_TOKEN, rate_limit_window_seconds=0.6)  # quick polls
        lines = input_lines("customers", rows, 4)
        stopped = write_in_process(config, write_catalog({"name": "customers"}), lines, stops=True)
        (error,) = stopped.errors()
        (job_id,) = sim.org.bulk.jobs
        assert f"bulk job {job_id} (4 customer records) was still 'running' after 80 checks" in error["message"]
        assert error["failure_type"] == "transient_error" and not stopped.of_type("STATE")
        assert stopped.summary()["customers"]["created"] == 0  # nothing it carries was looked up or sent again
        carried = stored_config(config, stopped)
        assert carried["pending_bulk_jobs"] == [job_id]
        still = write_in_process(carried, write_catalog({"name": "customers"}), lines, stops=True)
        assert "had still not ended after 80 checks" in still.errors()[0]["message"] and not still.of_type("STATE")
        assert still.summary() == {}  # stopped before a single record was read, let alone written
        with sim.org.lock:
            sim.org.bulk.jobs[job_id].end = "failed"  # the job ends at last, its first half written
        sim.settings.writes.bulk_job_end = "complete"  # and later jobs end as the guide says
        again = write_in_process(stored_config(carried, still), write_catalog({"name": "customers"}), lines)
        assert stored_config(carried, again)["pending_bulk_jobs"] == []
        assert [len(written(sim, "customers", "externalId", row["externalId"])) for row in rows] == [1, 1, 1, 1]
        assert (again.summary()["customers"]["created"], again.summary()["customers"]["updated"]) == (2, 2)
        assert len(again.of_type("STATE")) == 1


FOLLOW_BOUND = following.follow_bound(0.6 / 60)  # how long the destination follows a job at a 0.6 s window
LATE_SECONDS = FOLLOW_BOUND + 3  # past that bound
DEFAULT_LATE_SECONDS = WriteSettings().bulk_late_seconds  # late, but inside the bound


@pytest.mark.parametrize(
    "bulk_late_seconds, collection",
    [
        (0.0, "customers"),
        (DEFAULT_LATE_SECONDS, "customers"),
        (DEFAULT_LATE_SECONDS, "companies"),
        (LATE_SECONDS, "customers"),
        (LATE_SECONDS, "companies"),
    ],
    ids=[
        "not late",
        "customer jobs late inside the bound",
        "company jobs late inside the bound",
        "customer jobs late past the bound",
        "company jobs late past the bound",
    ],
)
def test_a_late_bulk_job_is_waited_for_so_the_newer_values_win(bulk_late_seconds, collection):
    """Versions 1 then 2 of the same objects, in bulk. Under --bulk-late-seconds the first create and update jobs
    stay queued longer and then run (a stale rev applied, as --stale-rev ignored reads it; companies carry no rev).
    Late inside the destination's bound (the default), the sync waits for them and goes on. Late past it, the first
    sync stops after its first STATE, naming the jobs, and hands them on; the next waits for them before writing
    anything. Every object ends at version 2, none twice."""
    assert 0 < DEFAULT_LATE_SECONDS < FOLLOW_BOUND
    writes = WriteSettings(
        bulk_seconds=0.05, bulk_late_seconds=bulk_late_seconds, stale_rev="ignored", agent_edits="none"
    )
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, minute_seconds=3, writes=writes)
    with running_simulator(server_settings=settings, scale=1000, seed=81) as sim:
        keys = [f"late-{n}" for n in range(6)]
        with sim.org.lock:
            for key in keys[:4]:  # four exist, two are created by version 1
                sim.org.store.create(
                    sim.org.collections[collection], {"externalId": key, "name": "Version 0"}, writes, 0
                )
        version = {v: [{"externalId": key, "name": f"Version {v}"} for key in keys] for v in (1, 2)}
        lines = [record_line(collection, version[1][0]), state_line(collection, 0)]  # alone: no job
        lines += [record_line(collection, row) for row in version[1][1:]] + [state_line(collection, 1)]
        lines += [record_line(collection, row) for row in version[2]] + [state_line(collection, 2)]
        config = destination_config(sim, TEST_TOKEN, rate_limit_window_seconds=0.6, batch_size=6)
        catalog = write_catalog({"name": collection})
        started = time.monotonic()
        late = bulk_late_seconds > FOLLOW_BOUND
        first = write_in_process(config, catalog, lines, stops=late)
        positions = [state["stream"]["stream_state"]["position"] for state in first.states()]
        carried = stored_config(config, first)
        if late:
            (error,) = first.errors()
            assert first.returncode == 1 and error["failure_type"] == "transient_error"
            assert "It may still run, and would overwrite whatever is written after it" in error["message"]
            assert positions == [0]  # nothing past the jobs that may still run
            assert sorted(carried["pending_bulk_jobs"]) == sorted(sim.org.bulk.jobs)  # the create and update jobs
            listed = f"for the next sync to wait for: {', '.join(sorted(sim.org.bulk.jobs))}"
            assert any(listed in line for line in first.logs())  # said too, for runners that drop CONTROL
            second = write_in_process(carried, catalog, lines)  # waits for them, then writes everything again
            assert stored_config(carried, second)["pending_bulk_jobs"] == []
            positions = [state["stream"]["stream_state"]["position"] for state in second.states()]
        assert positions == [0, 1, 2]
        time.sleep(max(0.0, started + bulk_late_seconds + 1 - time.monotonic()))  # any late job has run by now
        for key in keys:
            (found,) = written(sim, collection, "externalId", key)  # one each: none duplicated
            assert found["name"] == "Version 2", f"{key}: a late job overwrote the newer value"


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


def test_a_server_replacing_custom_attributes_stops_the_sync_after_the_first_update():
    writes = WriteSettings(bulk_seconds=0.05, custom_update="replace", agent_edits="none")
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, minute_seconds=3, writes=writes)
    with running_simulator(server_settings=settings, scale=1000, seed=80) as sim:
        with sim.org.lock:
            for n in range(6):
                body = {"externalId": f"r-{n}", "custom": {"tierStr": "gold"}}
                sim.org.store.create(sim.org.collections["customers"], body, writes, now_ms())
        rows = [{"externalId": f"r-{n}", "lifetimeValueNum": n} for n in range(6)]
        config = destination_config(sim, TEST_TOKEN, batch_size=3)
        stopped = write_in_process(
            config, write_catalog({"name": "customers"}), input_lines("customers", rows, 3), stops=True
        )
        (error,) = stopped.errors()
        assert (
            "(custom, externalId) also changed custom.tierStr. Kustomer replaced the object's values"
            in error["message"]
        )
        assert error["failure_type"] == "system_error" and not stopped.of_type("STATE")
        kept = [written(sim, "customers", "externalId", f"r-{n}")[0]["custom"] for n in range(6)]
        assert kept[0] == {"lifetimeValueNum": 0}  # the one object the check needed
        assert kept[1:] == [{"tierStr": "gold"}] * 5  # nothing else was written


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
