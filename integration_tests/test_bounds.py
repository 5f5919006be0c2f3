"""Every bound a sync can reach, each lowered so a small org reaches it: one clear error (or, where the sync can go
on, a saved position and a warning), never a loop, never a loss; and the transient answers that must never become
lost or deleted data. The bounds' real values are stated in SECURITY.md.

The bounded runs are in-process (``airbyte_cdk.test.entrypoint_wrapper``) so a bound can be lowered; the runs that
measure memory go through the real entrypoint.
"""

import math
import time
from typing import Any, Dict, List, Optional

import pytest
from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalogSerializer
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from kustomer_http import responses

from integration_tests.harness import configured_catalog, lost_and_duplicates, run_connector, sim_config, truth
from integration_tests.matrix import record
from integration_tests.slow_reader import read_slowly
from kustomer_simulator.faults import Fault
from kustomer_simulator.org import OrgSettings
from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import TEST_ANCHOR_MS, TEST_TOKEN, running_simulator
from kustomer_simulator.timefmt import iso_ms, now_ms
from source_kustomer import SourceKustomer, deletions, discovery, keyset, merges
from source_kustomer.audit_entry import parse_entry
from source_kustomer.deletions import DELETED_AT
from source_kustomer.merges import named_ids
from source_kustomer.streams import audit_logs, lists, routing

MEMORY_LIMIT_MB = 500  # SECURITY.md's bound on the connector's memory
NO_MERGE_TOKEN = "kst-bounds-no-merge-role-not-a-secret-7Kq2"
LAG = 1  # the simulator's audit publish lag here; the connector allows for it plus two seconds (harness)
PER_CONVERSATION = {"work_item": "rejected", "work_session": "rejected"}  # work items read one conversation at a time


def _simulator(org_per_minute: int = 0, **org: Any):
    tokens = {TEST_TOKEN: frozenset(), NO_MERGE_TOKEN: frozenset({"org.permission.customer_merge.read"})}
    server = ServerSettings(tokens=tokens, org_per_minute=org_per_minute, search_per_minute=0, minute_seconds=1.0)
    settings = dict(seed=83, scale=1500, anchor_ms=TEST_ANCHOR_MS, audit_publish_lag_seconds=LAG)
    settings.update(org)
    return running_simulator(OrgSettings(**settings), server)


def _catalog(config: Dict[str, Any], streams: set, incremental: bool = True):
    return configured_catalog(run_connector("discover", config), streams, incremental)


def _read(config, catalog, state: Optional[List[AirbyteStateMessage]] = None) -> EntrypointOutput:
    loaded = ConfiguredAirbyteCatalogSerializer.load(catalog)
    return read(SourceKustomer(), config, loaded, state, expecting_exception=True)


def _messages(output: EntrypointOutput) -> List[str]:
    return [e.trace.error.message for e in output.errors] + [m.log.message for m in output.logs]


def _final_state(output: EntrypointOutput, stream: str) -> Dict[str, Any]:
    states = [
        m.state.stream.stream_state for m in output.state_messages if m.state.stream.stream_descriptor.name == stream
    ]
    return dict(states[-1].__dict__) if states else {}


def _state_file(output: EntrypointOutput) -> List[AirbyteStateMessage]:
    last: Dict[str, AirbyteStateMessage] = {}
    for message in output.state_messages:
        last[message.state.stream.stream_descriptor.name] = message.state
    return list(last.values())


def _settle() -> None:
    time.sleep(LAG + 2.2)  # what was just logged is then older than the lag the connector allows for


def _burst(sim: Simulator, count: int, object_type: str, verb: str, per_second: int = 1000) -> None:
    sim.org.audit_burst(count, object_type, verb, per_second, now_ms())


BOUNDS = [
    "audit pages",
    "deletion pages",
    "held deletions",
    "list records",
    "searches once a range read splits",
    "JSON values",
]


@pytest.mark.parametrize("bound", BOUNDS)
def test_each_bound_ends_in_one_clear_error_and_the_next_sync_goes_on(monkeypatch, bound):
    clock = time.monotonic()
    with _simulator(counts={"conversation_times": 3000}) as sim:
        config = sim_config(sim, TEST_TOKEN, sync_deletes=True, start_date=iso_ms(now_ms() - 5 * 86_400_000)[:-5] + "Z")
        if bound == "audit pages":
            monkeypatch.setattr(audit_logs, "MAX_AUDIT_PAGES", 2)
            _burst(sim, 2500, "conversation", "update")
            streams, expected = {"audit_logs"}, "needed more than 2 pages"
        elif bound == "deletion pages":
            monkeypatch.setattr(deletions, "MAX_DELETION_PAGES", 1)
            _burst(sim, 1200, "customer", "delete")
            streams, expected = {"customers"}, "needed more than 1 pages"
        elif bound == "held deletions":
            monkeypatch.setattr(deletions, "MAX_HELD_DELETIONS", 5)
            _burst(sim, 50, "company", "delete", per_second=50)
            streams, expected = {"companies"}, "More than 5 deletions (customers merged away included) or"
        elif bound == "list records":
            monkeypatch.setattr(lists, "MAX_LIST_IDS", 20)
            streams, expected = {"tags"}, "holds more than 20 records"
        elif bound == "searches once a range read splits":
            monkeypatch.setattr(keyset, "MAX_SPLIT_SEARCHES", 3)
            config["page_size"] = 10  # one search pages through 1,000 conversation times
            config["start_date"] = "2025-01-01T00:00:00Z"
            streams, expected = {"conversation_times"}, "took more than 3 searches in this sync once it was split"
        else:
            monkeypatch.setattr(responses, "MAX_JSON_VALUES", 50)
            streams, expected = {"tags"}, "more than 50 JSON values"
        _settle()
        catalog = _catalog(config, streams)
        stopped = _read(config, catalog)
        monkeypatch.undo()
        resumed = _read(config, catalog, _state_file(stopped))
        outcome = "; ".join(m for m in _messages(stopped) if expected in m)[:200]
        name = next(iter(streams))
        if name == "audit_logs":
            union = [(r.record.data["id"], r.record.data["createdAt"]) for r in stopped.records + resumed.records]
            lost = len(
                truth(
                    sim,
                    "audit_logs",
                    config["start_date"].replace("Z", ".000Z"),
                    _final_state(resumed, name)["createdAt"],
                )
                - set(union)
            )
        elif name == "conversation_times":
            union = [(r.record.data["id"], r.record.data["createdAt"]) for r in stopped.records + resumed.records]
            lost = len(truth(sim, name, config["start_date"].replace("Z", ".000Z")) - set(union))
        else:
            lost = 0  # the records and deletions are checked where each read pattern is tested
        record(
            f"bound reached: {bound}",
            "lowered bound, then the next sync",
            lost,
            0,
            outcome or "no error",
            time.monotonic() - clock,
        )
        assert stopped.errors and outcome, _messages(stopped)[:5]
        assert not any("Traceback" in e.trace.error.message for e in stopped.errors)
        if bound != "JSON values" and bound != "list records":
            assert not resumed.errors and lost == 0, _messages(resumed)[:5]


def test_discover_stays_within_its_bounds_and_says_what_it_left_untyped(monkeypatch):
    monkeypatch.setattr(discovery, "MAX_METADATA_REQUESTS", 2)
    with _simulator() as sim:
        config = sim_config(sim, TEST_TOKEN)
        sim.stats.reset()
        from airbyte_cdk.test.entrypoint_wrapper import discover

        output = discover(SourceKustomer(), config)
        metadata = sum(n for route, n in sim.stats.snapshot()["requests_by_route"].items() if "/v1/metadata/" in route)
    warned = [m for m in _messages(output) if "keep an untyped 'custom' object" in m]
    record(
        "bound reached: metadata requests per discover (2)", "discover", 0, 0, warned[0][:150] if warned else "", 0.0
    )
    assert metadata == 2 and warned and output.catalog


def test_work_item_pages_per_conversation_are_bounded(monkeypatch):
    monkeypatch.setattr(routing, "MAX_PAGES_PER_CONVERSATION", 1)
    monkeypatch.setattr(routing, "WORK_ITEMS_PAGE_SIZE", 1)
    with _simulator() as sim:
        sim.settings.search.routing_search = PER_CONVERSATION
        config = sim_config(sim, TEST_TOKEN)
        output = _read(config, _catalog(config, {"work_items"}))
    messages = [m for m in _messages(output) if "longer than 1 pages" in m]
    record(
        "bound reached: work-item pages per conversation (1)",
        "full, per conversation",
        0,
        0,
        messages[0][:150] if messages else "",
        0.0,
    )
    assert output.errors and messages


# ---- transient answers never become lost or deleted data ------------------------------------------------------
def test_one_transient_404_on_a_merge_lookup_makes_no_marker():
    """Without the merge role, customers a merge entry names are looked up; one 404 for a live one is no proof."""
    with _simulator(merge_audit="merge-only") as sim:
        config = sim_config(sim, NO_MERGE_TOKEN, sync_deletes=True)
        catalog = _catalog(config, {"customers"})
        first = _read(config, catalog)
        (entry_id, _) = sim.org.audit_burst(1, "customer", "merge", 1, now_ms() + 1000)  # names a live customer
        entry = parse_entry(next(e for e in sim.org.audit_log() if e["id"] == entry_id))
        live = named_ids(entry)[1]  # named in its changes; the entry's own objectId is the one kept
        sim.faults.add(Fault("status", status=404, count=1, scope=f"/v1/customers/{live}"))
        time.sleep(1)
        _settle()
        clock = time.monotonic()
        second = _read(config, catalog, _state_file(first))
        markers = {r.record.data["id"] for r in second.records if r.record.data.get(DELETED_AT)}
        fired = sim.faults.fired.get("status", 0)
    record(
        "one transient 404 on a merge lookup (no merge role)",
        "incremental with sync_deletes",
        0,
        0,
        f"the 404 fired {fired}x; markers for the live customer: {int(live in markers)}; position moved on",
        time.monotonic() - clock,
    )
    assert fired == 1 and live not in markers and not second.errors
    assert _final_state(second, "customers")["deletionsSince"] > _final_state(first, "customers")["deletionsSince"]


def test_a_404_for_a_live_conversations_work_items_is_retried_and_nothing_is_lost():
    with _simulator() as sim:
        sim.settings.search.routing_search = PER_CONVERSATION
        config = sim_config(sim, TEST_TOKEN)
        catalog = _catalog(config, {"work_items"})
        sim.faults.add(Fault("status", status=404, count=2, scope="/v1/routing/conversations/"))
        clock = time.monotonic()
        run = run_connector("read", config, catalog)
        lost, duplicates = lost_and_duplicates(sim, run, ["work_items"])
        fired = sim.faults.fired.get("status", 0)
    record(
        "a work-items list answering 404 for a live conversation",
        "full, per conversation",
        lost,
        duplicates,
        f"{fired} 404s: the conversation looked up, the list asked again; every item read",
        time.monotonic() - clock,
    )
    assert run.returncode == 0 and (lost, duplicates) == (0, 0) and fired == 2


@pytest.mark.parametrize(
    "fault, scope, expected",
    [
        ({"kind": "oversized_page", "variant": "extra_records"}, "search", "though 20 were asked for"),
        ({"kind": "oversized_page", "variant": "minimal_records", "size_mb": 62}, "/v1/tags", "JSON values"),
        ({"kind": "oversized_page", "variant": "empty_objects", "size_mb": 63}, "/v1/tags", "JSON values"),
    ],
)
def test_a_page_larger_than_asked_ends_in_one_clear_error_within_bounded_memory(fault, scope, expected):
    with _simulator() as sim:
        config = sim_config(sim, TEST_TOKEN, page_size=20)
        streams = {"notes"} if scope == "search" else {"tags"}
        catalog = _catalog(config, streams)
        sim.faults.add(Fault(**{**fault, "scope": scope, "count": -1}))
        run = run_connector("read", config, catalog, observe=True)
    errors = [e["message"] for e in run.errors()]
    record(
        f"a page larger than asked ({fault['variant']}{', %d MB' % fault['size_mb'] if 'size_mb' in fault else ''})",
        "full",
        0,
        0,
        f"one clear error; peak RSS {run.peak_rss_mb:.0f} MB",
        run.seconds,
    )
    assert run.returncode != 0 and len(errors) == 1 and expected in errors[0], errors
    assert run.peak_rss_mb is not None and run.peak_rss_mb < 500


def test_a_flood_of_merge_entries_keeps_memory_bounded_and_the_position_before_what_is_left():
    with _simulator(org_per_minute=1_000_000, counts={"customers": 40_000}) as sim:
        since = iso_ms(now_ms() - 86_400_000)[:-5] + "Z"  # the first sync reads one day of customers
        config = sim_config(sim, TEST_TOKEN, sync_deletes=True, start_date=since)
        catalog = _catalog(config, {"customers"})
        first = run_connector("read", config, catalog)
        sim.org.audit_burst(30_000, "customer", "merge", 10_000, now_ms() + 5000)  # published after the first sync
        time.sleep(5)
        _settle()
        second = run_connector("read", config, catalog, first.final_state(), observe=True)
    warnings = [line for line in second.logs() if "could not all be settled" in line]
    position = second.final_state()[0]["stream"]["stream_state"]["deletionsSince"]
    record(
        "a flood of 30,000 merge entries",
        "incremental with sync_deletes",
        0,
        0,
        f"{merges.MAX_MERGE_LOOKUPS:,} merge lookups, then the position held at {position}; "
        f"peak RSS {second.peak_rss_mb:.0f} MB",
        second.seconds,
    )
    assert second.returncode == 0 and warnings and second.peak_rss_mb < 500


@pytest.mark.parametrize("records", [150_000, 1_000])
def test_a_flood_of_merge_records_is_one_clear_error_within_bounded_memory_and_the_position_stays(records):
    """One merge whose records list answers 10 pages of ``records`` merges (the flood that once gave 1.5 million
    delete markers and 1.26 GB): one clear error before any marker, the customers' deletions position kept."""
    with _simulator() as sim:
        config = sim_config(sim, TEST_TOKEN, sync_deletes=True)
        catalog = _catalog(config, {"customers"})
        first = run_connector("read", config, catalog)
        ((source, _),) = sim.org.merge(1)
        sim.faults.add(Fault("merge_flood", records=records, count=-1, scope=f"/v1/customers/{source}/merges"))
        _settle()
        second = run_connector("read", config, catalog, first.final_state(), observe=True)
        sim.faults.clear()
    errors = [e["message"] for e in second.errors()]
    markers = [r for r in second.records("customers") if r.get(DELETED_AT)]
    position = second.final_state()[0]["stream"]["stream_state"].get("deletionsSince")
    record(
        f"a customer's merge records flooded: 10 pages of {records:,} merges",
        "incremental with sync_deletes",
        0,
        0,
        f"one clear error ({errors[0][:90] if errors else 'none'}…); {len(markers)} markers; position kept; "
        f"peak RSS {second.peak_rss_mb:.0f} MB",
        second.seconds,
    )
    assert second.returncode != 0 and errors and not markers
    assert "100 were asked for" in errors[0] or "JSON values" in errors[0]
    assert position == first.final_state()[0]["stream"]["stream_state"]["deletionsSince"]
    assert second.peak_rss_mb is not None and second.peak_rss_mb < 500


FOUR_STREAMS = ["customers", "conversations", "messages", "notes"]


@pytest.mark.parametrize(
    "streams, speed",
    [(["messages"], 1_000_000), (FOUR_STREAMS, 1_000_000), (FOUR_STREAMS, math.inf)],
    ids=["one stream at 1 MB/s", "four streams at 1 MB/s", "four streams at full speed"],
)
def test_memory_stays_under_the_bound_whatever_the_platform_reading_speed(streams, speed):
    """Records of 64 KiB on pages of 500, stdout read for 15 seconds at 1 MB/s or as fast as it is written. Read
    slowly, the streams could fill gigabytes meanwhile (a queue of 10,000 such records held 905 MB with one stream);
    they wait instead. Read at full speed, every stream is fetching and parsing pages of 32 MB: each lets go of a
    page before it asks for the next (holding both took four streams to 517 MB). One stream at full speed stays far
    below four, and checking ~1 GB of output for the key takes most of a minute, so it is not a row."""
    server = ServerSettings(tokens={TEST_TOKEN: frozenset()}, org_per_minute=0, search_per_minute=0)
    with running_simulator(OrgSettings(seed=5, scale=40_000, anchor_ms=TEST_ANCHOR_MS), server) as sim:
        config = sim_config(sim, TEST_TOKEN)
        catalog = _catalog(config, set(streams))
        sim.faults.add(Fault("large_records", size_kb=64, count=-1))
        run = read_slowly(config, catalog, bytes_per_second=speed, seconds=15)
        pages = sim.faults.fired["large_records"]
    records = run.records()
    reading = "at 1 MB/s" if speed == 1_000_000 else "as fast as written"
    record(
        f"a platform reading stdout {reading}, records of 64 KiB ({len(streams)} stream{'s' * (len(streams) > 1)})",
        "full, stopped after 15 s",
        0,
        0,
        f"{len(records)} records read, {pages} pages of 500 fetched; peak RSS {run.peak_rss_mb:.0f} MB",
        run.seconds,
    )
    assert len(records) > 150 and {r["record"]["stream"] for r in records} <= set(streams)
    assert run.peak_rss_mb < MEMORY_LIMIT_MB, run.peak_rss_mb


@pytest.mark.parametrize("variant", ["self", "cycle", "reversed"])
def test_merge_records_that_contradict_are_reported_and_mark_no_customer(variant):
    """Merge records naming a customer merged into itself, each merge also the other way round (a cycle), or the
    kept customer -- emitted by the same sync as changed after -- as merged away: reported, never a marker."""
    with _simulator(merge_pending_seconds=0) as sim:  # settled when read (pending merges: test_deletes.py)
        config = sim_config(sim, TEST_TOKEN, sync_deletes=True)
        catalog = _catalog(config, {"customers"})
        first = run_connector("read", config, catalog)
        pairs = sim.org.merge(2)
        for customer in {customer for pair in pairs for customer in pair}:  # every merges list of both ends
            scope = f"/v1/customers/{customer}/merges"
            sim.faults.add(Fault("merge_contradiction", variant=variant, count=-1, scope=scope))
        _settle()
        second = run_connector("read", config, catalog, first.final_state())
        sim.faults.clear()
    markers = {r["id"] for r in second.records("customers") if r.get(DELETED_AT)}
    kept = {target for _, target in pairs}
    live = {r["id"] for r in second.records("customers") if not r.get(DELETED_AT)}
    reported = [line for line in second.logs() if "were not applied" in line]
    record(
        f"customer merge records that contradict ({variant})",
        "incremental with sync_deletes",
        0,
        0,
        f"{len(markers)} markers; reported: {reported[0][:80] if reported else 'nothing'}…",
        second.seconds,
    )
    assert second.returncode == 0 and reported and not markers & kept and not markers & live
    if variant != "cycle":
        assert not markers  # the contradicting records are the only word on these merges
