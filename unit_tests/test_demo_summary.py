"""The demo's summary lines, how it changes the simulated org, and where it keeps each org (demo/report.py,
demo/simulated_org.py, demo/store.py), without PyAirbyte."""

import argparse
import io
import json
import logging
import re
from pathlib import Path

import duckdb
import pytest

from demo import simulated_org, store
from demo.activation import Activation
from demo.report import ConnectorProgress, counted, summary_table, timing_line, totals_line
from kustomer_simulator.server import ServerSettings
from kustomer_simulator.testing import TEST_TOKEN, running_simulator
from kustomer_simulator.timefmt import now_ms


def _row(stream: str, records: int, deletions: int, start: float, seconds: float, finished: bool = True) -> dict:
    return {
        "stream": stream,
        "records": records,
        "deletions": deletions,
        "requests": 1,
        "duration_s": seconds,
        "started_at": start,
        "finished_at": start + seconds if finished else None,
        "rate_waits": 0,
        "rate_wait_s": 0.0,
        "http_429": 0,
        "possible_duplicates": 0,
        "skipped": None,
    }


ROWS = [_row("customers", 90, 10, 1000.0, 60.0), _row("messages", 200, 0, 1010.0, 80.0), _row("tags", 5, 0, 1030.0, 1)]


def test_the_time_line_sets_the_wall_against_the_sum_of_stream_times():
    # streams ran from 1000 to 1090: 90 s of wall for 141 s of stream time
    assert timing_line(ROWS) == (
        "Time: wall 90.0 s from the first stream's start to the last one's end, sum of stream times 141.0 s: "
        "1.6× overlap (streams are read concurrently)."
    )


def test_the_totals_line_explains_pyairbyte_s_count_by_the_delete_markers():
    line = totals_line(ROWS, 305, {"customers": 85, "messages": 200, "tags": 5})
    assert "PyAirbyte counted 305 records: the connector's 295 records plus its 10 delete markers" in line
    assert line.endswith("the tables now hold 290 live rows (rows that are not delete markers).")
    assert "more the connector's summary does not count" in totals_line(ROWS, 307, {})


def test_the_table_starts_each_stream_from_the_first_start_and_marks_one_that_did_not_finish():
    table = summary_table(ROWS[:1] + [_row("messages", 200, 0, 1010.0, 80.0, finished=False)], {"customers": 85})
    customers, messages = (line for line in table.splitlines() if line.startswith(("customers", "messages")))
    assert customers.split()[1:6] == ["90", "10", "1", "0.0", "60.0"] and customers.split()[-1] == "85"
    assert messages.split()[4:6] == ["10.0", "80.0*"]


def test_the_table_shows_the_wall_time_each_stream_waited_and_the_total_adds_them_up():
    rows = [{**ROWS[0], "rate_waits": 7, "rate_wait_s": 2.25}, {**ROWS[1], "rate_waits": 3, "rate_wait_s": 12.5}]
    table = summary_table(rows).splitlines()
    assert table[0].split()[5:9] == ["secs", "waited", "429s", "dups"]
    customers = next(line for line in table if line.startswith("customers"))
    assert customers.split()[5:7] == ["60.0", "2.2"]  # seconds waited, not the 7 requests that waited
    assert table[-1].split() == ["total", "290", "10", "2", "140.0", "14.8", "0", "0"]


def test_counts_read_as_counts():
    assert [counted(n, "record") for n in (0, 1, 2, 12_345)] == ["0 records", "1 record", "2 records", "12,345 records"]
    line = totals_line([_row("tags", 1, 1, 1000.0, 1.0)], 2, {"tags": 1})
    assert line.startswith("PyAirbyte counted 2 records: the connector's 1 record plus its 1 delete marker ")
    assert line.endswith("the tables now hold 1 live row (rows that are not delete markers).")
    one = Activation(pushed=1, summary={"updated": 1, "requests": 1}).lines()[0]
    assert one.startswith("activation: 1 customer's lifetime value ") and "; 1 request (0 bulk)" in one
    many = Activation(pushed=20, summary={"updated": 20, "requests": 3}).lines()[0]
    assert many.startswith("activation: 20 customers' lifetime value ") and "; 3 requests (0 bulk)" in many


def test_the_org_change_counts_the_records_it_updated_not_its_updates(monkeypatch, capsys):
    """The simulated org picks the records it updates at random, some twice (a small org, 250 picks a stream): the
    line says how many records changed, as the org's own data shows."""
    monkeypatch.setattr(simulated_org, "PUBLISH_LAG_SECONDS", 0)
    updates, admin = [], simulated_org.admin

    def counting_admin(url, path, payload=None):
        answer = admin(url, path, payload)
        if path == "mutate":
            updates.extend(answer["ids"])
        return answer

    monkeypatch.setattr(simulated_org, "admin", counting_admin)
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, org_per_minute=0, search_per_minute=0)
    with running_simulator(server_settings=settings, seed=3, scale=300) as sim:
        searchable = sim.org.search_streams
        before = {s: list(sim.org.collections[s].updated_ms) for s in searchable}
        started = now_ms()
        simulated_org.change_the_org(sim.url, argparse.Namespace(mutate=250, delete=0))
        changed = sum(
            sum(1 for i, was in enumerate(before[s]) if sim.org.collections[s].updated_ms[i] != was) for s in searchable
        )
        assert all(t < started for s in searchable for t in before[s])
    said = re.search(r"updates ([\d,]+) records? across (\d+) streams", capsys.readouterr().out)
    assert said is not None
    assert int(said.group(1).replace(",", "")) == changed
    assert changed < len(updates)  # some records were updated more than once
    assert int(said.group(2)) == len(searchable)


@pytest.mark.parametrize(
    "org, name",
    [
        ("https://acme.api.kustomerapp.com", "acme.api.kustomerapp.com"),
        ("http://127.0.0.1:8099", "127.0.0.1-8099"),
        (store.SIMULATED, "simulator"),
    ],
)
def test_each_org_gets_a_directory_named_after_its_host(org, name):
    assert store.db_path(Path("out"), org) == Path("out") / name / "kustomer.duckdb"


def test_a_file_remembers_its_org_and_forgetting_it_starts_over(tmp_path):
    db = tmp_path / "acme" / "kustomer.duckdb"
    assert store.stamped_org(db) is None
    store.claim(db, "https://acme.api.kustomerapp.com")
    assert store.stamped_org(db) == "https://acme.api.kustomerapp.com"
    store.claim(db, "https://other.api.kustomerapp.com")  # an existing file keeps its stamp
    assert store.stamped_org(db) == "https://acme.api.kustomerapp.com"
    store.forget(db)
    assert not db.exists()
    with duckdb.connect(str(db)) as con:  # a file the demo did not stamp
        con.execute("CREATE TABLE customers (id VARCHAR)")
    assert store.stamped_org(db) is None
    (tmp_path / "not-duckdb").write_text("hello")
    with pytest.raises(store.UnreadableFile):
        store.stamped_org(tmp_path / "not-duckdb")


def _log(handler: logging.Handler, message: str, level: int = logging.INFO) -> None:
    handler.emit(logging.LogRecord("airbyte.source-kustomer", level, __file__, 1, message, None, None))


def test_quiet_progress_prints_a_stream_once_it_is_done_and_every_error():
    out = io.StringIO()
    progress = ConnectorProgress(out=out)
    _log(progress, "progress customers: 500 records, 1 page, 0 rate waits (0.0s), 0 throttled (429), 0 retries")
    _log(progress, "Stream 'users': reading the deactivated users")
    _log(progress, "progress customers: 900 records, 2 pages, 3 rate waits (1.0s) — done in 4.0s")
    _log(progress, "Kustomer rejected the API token (HTTP 401)", logging.ERROR)
    _log(progress, "SYNC_SUMMARY " + json.dumps(ROWS))
    assert out.getvalue().splitlines() == [
        "  ✓ customers: 900 records, 2 pages, 3 rate waits (1.0s) — done in 4.0s",
        "  ! Kustomer rejected the API token (HTTP 401)",
    ]
    assert progress.summary == ROWS
    verbose = ConnectorProgress(verbose=True, out=io.StringIO())
    _log(verbose, "Stream 'users': reading the deactivated users")
    assert verbose.out.getvalue() == "  | Stream 'users': reading the deactivated users\n"


def test_the_table_says_which_way_a_routing_stream_was_read():
    rows = [
        {**_row("work_items", 40, 0, 1000.0, 5.0), "read_path": "by search, in time ranges of work_item_updated_at"},
        {**_row("work_sessions", 9, 0, 1000.0, 1.0), "read_path": "from the list (search refused: …)"},
        _row("tags", 5, 0, 1000.0, 1.0),
    ]
    lines = {line.split()[0]: line for line in summary_table(rows).splitlines()[2:5]}
    assert lines["work_items"].endswith("  (read by search, in time ranges of work_item_updated_at)")
    assert lines["work_sessions"].endswith("  (read from the list (search refused: …))")
    assert lines["tags"].endswith("0")
