"""./demo.sh's activation step, as a user sees it: after the sync, the summary says how many customers' lifetime
values were pushed back through the destination (written, updated, failed) and that the source read them back
unchanged -- and the simulated org holds exactly those values."""

import re
import subprocess

import duckdb
import pytest

from demo.activation import LIFETIME_VALUES, summary_lines
from demo.run import DEMO_TOKEN
from integration_tests.harness import ROOT
from kustomer_simulator.server import ServerSettings
from kustomer_simulator.testing import running_simulator

pytestmark = pytest.mark.slow
SUMMARY = re.compile(
    r"activation: ([\d,]+) customers' lifetime value .* pushed to lifetimeValueNum through destination-kustomer in "
    r"[\d.]+s: ([\d,]+) updated, 0 created, 0 not found, 0 failed;.*\n"
    r"activation: read back with the source: ([\d,]+) of those customers, ([\d,]+) with the pushed value\n"
)


def test_the_demo_pushes_lifetime_values_back_and_reads_them_back(tmp_path):
    settings = ServerSettings(tokens={DEMO_TOKEN: frozenset()}, minute_seconds=3)
    with running_simulator(server_settings=settings, scale=2000, seed=61) as sim:
        customers = sim.org.collections["customers"].count
        demo = ["bash", str(ROOT / "demo.sh"), "--simulator-url", sim.url, "--minute-seconds", "3", "--runs", "1"]
        done = subprocess.run(
            [*demo, "--output-dir", str(tmp_path)], capture_output=True, text=True, timeout=1500, cwd=ROOT
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        shown = SUMMARY.search(done.stdout)
        assert shown, done.stdout[-3000:]
        pushed, updated, read_back, matching = (int(n.replace(",", "")) for n in shown.groups())
        with duckdb.connect(str(tmp_path / "simulator" / "kustomer.duckdb"), read_only=True) as con:
            expected = dict(con.execute(LIFETIME_VALUES).fetchall())
        assert pushed == updated == read_back == matching == len(expected) > 0
        with sim.org.lock:
            coll = sim.org.collections["customers"]
            for email, value in expected.items():
                (holder,) = sim.org.store.holders(coll, "email", email)
                assert coll.render(holder)["attributes"]["custom"]["lifetimeValueNum"] == value
            assert coll.count == customers  # an update stream creates nobody
    assert summary_lines(None) == ["activation: skipped (the demo writes back only to its own simulated org)"]
