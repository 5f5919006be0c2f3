"""Rows in a local JSONL file → the destination's entrypoint → the simulated org → the source's entrypoint: what the
source reads back equals the rows on every mapped field; writing the same rows again changes nothing and
duplicates nothing."""

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from destination_harness import destination_config, input_lines, run_destination, write_catalog, written

from integration_tests.harness import configured_catalog, run_connector, sim_config
from kustomer_simulator.testing import TEST_TOKEN

STREAMS = {"customers", "companies", "kobjects_order"}
MOVED_BY_ANY_UPDATE = ("updatedAt", "modifiedAt", "lastActivityAt", "rev")  # Kustomer's own, not written


def _rows(sim) -> Dict[str, List[Dict[str, Any]]]:
    owners = [sim.org.collections["customers"].record_id(i) for i in range(5)]
    coll = sim.org.collections["customers"]
    live = [i for i in range(10, coll.generated) if i not in coll.deleted][:6]
    existing = [coll.render(i)["attributes"]["emails"][0]["email"] for i in live]
    return {
        "customers": [
            {
                "externalId": f"rt-{n}",
                "name": f"Round Trip {n}",
                "email": f"rt{n}@roundtrip.test",
                "locale": "fr_FR",
                "signedUpAt": f"2025-0{1 + n % 9}-15T10:00:00.000Z",
                "lifetimeValueNum": n * 1.5,
                "tierStr": "gold",
                "crm_segment": "not a Kustomer field",
            }
            for n in range(30)
        ],
        "ltv": [{"email": email, "lifetimeValueNum": 100 + n} for n, email in enumerate(existing)],
        "companies": [
            {"externalId": f"co-{n}", "name": f"Company {n} Ltd", "employeeCount": 10 * n, "industryStr": "retail"}
            for n in range(10)
        ],
        "kobjects_order": [
            {
                "externalId": f"ord-{n}",
                "title": f"Order {n}",
                "totalNum": n + 0.25,
                "giftBool": n % 2 == 0,
                "customer": owners[n % 5],
            }
            for n in range(10)
        ],
    }


def _jsonl(tmp_path: Path, rows: Dict[str, List[Dict[str, Any]]]) -> List[str]:
    """Write the rows to a JSONL file and read them back as the destination's input."""
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "".join(json.dumps({"stream": s, "data": row}) + "\n" for s, stream in rows.items() for row in stream)
    )
    by_stream: Dict[str, List[Dict[str, Any]]] = {}
    for line in path.read_text().splitlines():
        item = json.loads(line)
        by_stream.setdefault(item["stream"], []).append(item["data"])
    return [line for stream, stream_rows in by_stream.items() for line in input_lines(stream, stream_rows, 7)]


@pytest.fixture(scope="module")
def first_write(sim, tmp_path_factory):
    rows = _rows(sim)
    before = {row["email"]: written(sim, "customers", "email", row["email"])[0]["custom"] for row in rows["ltv"]}
    config = destination_config(
        sim, TEST_TOKEN, stream_mappings=[{"stream": "ltv", "object": "customer", "matching_key": "email"}]
    )
    catalog = write_catalog(*({"name": name} for name in rows))
    lines = _jsonl(tmp_path_factory.mktemp("rows"), rows)
    run = run_destination("write", config, catalog, lines)
    assert run.returncode == 0, run.stderr[-3000:]
    return rows, before, config, catalog, lines, run


def test_the_write_reports_what_it_did(first_write):
    rows, _, _, _, _, run = first_write
    summary = run.summary()
    assert (summary["customers"]["created"], summary["customers"]["failed"]) == (30, 0)
    assert summary["ltv"]["updated"] == 6 and summary["companies"]["created"] == 10
    assert summary["kobjects_order"]["created"] == 10
    assert summary["customers"]["unmapped_fields"] == ["crm_segment"]
    states = [m["state"]["stream"]["stream_state"]["position"] for m in run.of_type("STATE")]
    assert len(states) == sum(-(-len(r) // 7) for r in rows.values())


def test_the_source_reads_back_every_mapped_field(sim, first_write):
    rows, before, _, _, _, _ = first_write
    source_config = sim_config(sim, TEST_TOKEN)
    discovered = run_connector("discover", source_config)
    read = run_connector("read", source_config, configured_catalog(discovered, STREAMS, incremental=False))
    assert read.returncode == 0, read.stderr[-3000:]
    customers = {r.get("externalId"): r for r in read.records("customers")}
    for row in rows["customers"]:
        got = customers[row["externalId"]]
        assert (got["name"], got["locale"], got["signedUpAt"]) == (row["name"], row["locale"], row["signedUpAt"])
        assert [e["email"] for e in got["emails"]] == [row["email"]]
        assert got["custom"] == {"lifetimeValueNum": row["lifetimeValueNum"], "tierStr": "gold"}
    by_email = {e["email"]: r for r in read.records("customers") for e in r.get("emails") or []}
    for row in rows["ltv"]:
        # The new value landed; the custom attributes the customer had are kept.
        assert by_email[row["email"]]["custom"] == {**before[row["email"]], "lifetimeValueNum": row["lifetimeValueNum"]}
    companies = {r.get("externalId"): r for r in read.records("companies")}
    for row in rows["companies"]:
        got = companies[row["externalId"]]
        assert (got["name"], got["employeeCount"], got["custom"]) == (
            row["name"],
            row["employeeCount"],
            {"industryStr": "retail"},
        )
    orders = {r.get("externalId"): r for r in read.records("kobjects_order")}
    for row in rows["kobjects_order"]:
        got = orders[row["externalId"]]
        assert (got["title"], got["custom"]) == (
            row["title"],
            {"totalNum": row["totalNum"], "giftBool": row["giftBool"]},
        )
        assert got["relationships"]["customer"]["data"]["id"] == row["customer"]


def test_writing_the_same_rows_again_changes_nothing_and_duplicates_nothing(sim, first_write):
    rows, _, config, catalog, lines, _ = first_write
    keys = [("customers", "externalId", r["externalId"]) for r in rows["customers"]]
    keys += [("companies", "externalId", r["externalId"]) for r in rows["companies"]]
    keys += [("kobjects_order", "externalId", r["externalId"]) for r in rows["kobjects_order"]]
    keys += [("customers", "email", r["email"]) for r in rows["ltv"]]

    def state() -> List[Dict[str, Any]]:
        found = [written(sim, *key) for key in keys]
        assert all(len(holders) == 1 for holders in found), "a record was written twice"
        return [{k: v for k, v in h[0].items() if k not in MOVED_BY_ANY_UPDATE} for h in found]

    first = state()
    again = run_destination("write", config, catalog, lines)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sum(row["created"] for row in again.summary().values()) == 0
    assert state() == first
