"""A write killed (SIGKILL) mid-sync and resumed from the last STATE it passed on, as Airbyte resumes it: every row
ends up in Kustomer exactly once -- 0 lost, 0 duplicated."""

import json

from destination_harness import (
    destination_config,
    input_lines,
    run_destination,
    run_until_states,
    write_catalog,
    written,
)

from integration_tests import matrix
from kustomer_simulator.testing import TEST_TOKEN

ROWS = [{"externalId": f"kill-{n}", "name": f"Killed {n}", "lifetimeValueNum": n} for n in range(160)]


def _after(lines, position):
    """The input a resumed sync sends: what follows the state at ``position``."""
    states = [n for n, line in enumerate(lines) if json.loads(line)["type"] == "STATE"]
    marker = next(n for n in states if json.loads(lines[n])["state"]["stream"]["stream_state"]["position"] == position)
    return lines[marker + 1 :]


def test_a_killed_write_resumes_from_its_last_state_with_nothing_lost_or_duplicated(sim):
    config = destination_config(sim, TEST_TOKEN, batch_size=40)
    catalog = write_catalog({"name": "customers"})
    lines = input_lines("customers", ROWS, 40)
    killed = run_until_states(config, catalog, lines, states=2)
    checkpoints = [m["state"]["stream"]["stream_state"]["position"] for m in killed.of_type("STATE")]
    assert killed.returncode == -9 and checkpoints == [40, 80]
    half_written = sum(1 for row in ROWS if written(sim, "customers", "externalId", row["externalId"]))
    assert 80 <= half_written < len(ROWS)  # everything before the last state is in; the kill came mid-sync

    resumed = run_destination("write", config, catalog, _after(lines, checkpoints[-1]))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    holders = [written(sim, "customers", "externalId", row["externalId"]) for row in ROWS]
    lost = sum(1 for found in holders if not found)
    duplicates = sum(len(found) - 1 for found in holders if found)
    assert (lost, duplicates) == (0, 0)
    assert all(
        found[0]["custom"] == {"lifetimeValueNum": row["lifetimeValueNum"]}
        for found, row in zip(holders, ROWS, strict=True)
    )
    matrix.record("destination killed after 2 states, resumed", "write", lost, duplicates, "resumed", resumed.seconds)
