"""An org whose history spans five years: records older than two years only in the archive search.

A sync from a start_date five years back must read every record once (archive for the old part, standard search
for the recent part, the boundary from both), then continue incrementally; records moving into the archive while
the sync runs must not be lost. Objects Kustomer keeps out of the archive (notes, conversation times) are read as
far back as standard search reaches, with a warning.
"""

import time
from collections import Counter
from typing import Dict, Set, Tuple

import pytest

from integration_tests.harness import configured_catalog, run_connector, sim_config, truth
from integration_tests.matrix import record
from kustomer_simulator.org import DAY_MS, OrgSettings
from kustomer_simulator.search import SearchLimits
from kustomer_simulator.server import ServerSettings
from kustomer_simulator.testing import TEST_ANCHOR_MS, TEST_TOKEN, running_simulator
from kustomer_simulator.timefmt import iso_ms, now_ms, parse_iso_ms

FIVE_YEARS_AGO = iso_ms(TEST_ANCHOR_MS - 5 * 365 * DAY_MS - DAY_MS)
ARCHIVED = ["customers", "conversations", "messages", "companies", "kobjects_order", "work_items"]
RECENT_ONLY = ["notes", "conversation_times"]


def _org(**overrides) -> OrgSettings:
    settings = dict(seed=73, scale=6000, anchor_ms=TEST_ANCHOR_MS, history_days=5 * 365, tie_clusters=[60])
    settings.update(overrides)
    return OrgSettings(**settings)


@pytest.fixture(scope="module")
def five_years():
    # Work items are read per conversation here (their search ignored), reaching the archive through conversations.
    per_conversation = SearchLimits(routing_search={"work_item": "ignored", "work_session": "ignored"})
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, minute_seconds=1, search=per_conversation)
    with running_simulator(_org(), settings) as sim:
        yield sim


def _emitted(run, stream: str) -> Tuple[Set[Tuple[str, str]], int]:
    pairs = run.pairs(stream)
    return set(pairs), sum(n - 1 for n in Counter(rid for rid, _ in pairs).values())


def _standard_only(sim, stream: str, horizon: str) -> Set[Tuple[str, str]]:
    return {pair for pair in truth(sim, stream, FIVE_YEARS_AGO) if pair[1] >= horizon}


def test_a_five_year_history_syncs_completely_then_incrementally(five_years):
    sim = five_years
    config = sim_config(sim, TEST_TOKEN, start_date=FIVE_YEARS_AGO)
    catalog = configured_catalog(run_connector("discover", config), set(ARCHIVED + RECENT_ONLY))
    clock = time.monotonic()
    first = run_connector("read", config, catalog)
    seconds = time.monotonic() - clock
    assert first.returncode == 0, first.errors()
    horizon_after = iso_ms(now_ms() - 730 * DAY_MS)
    archive_requests = sum(1 for entry in sim.search_log if entry["archive"])
    lost = duplicates = 0
    for stream in ARCHIVED:
        emitted, repeated = _emitted(first, stream)
        expected = truth(sim, stream, FIVE_YEARS_AGO)
        assert any(pair[1] < horizon_after for pair in expected), stream  # the archive really holds some
        lost, duplicates = lost + len(expected - emitted), duplicates + repeated
        assert emitted == expected and repeated == 0, stream
    for stream in RECENT_ONLY:
        emitted, repeated = _emitted(first, stream)
        assert repeated == 0 and _standard_only(sim, stream, horizon_after) <= emitted <= truth(
            sim, stream, FIVE_YEARS_AGO
        ), stream
    warnings = [m["log"]["message"] for m in first.of_type("LOG") if m["log"]["level"] == "WARN"]
    assert all(any(f"Stream '{stream}'" in w and "archive search" in w for w in warnings) for stream in RECENT_ONLY)
    record(
        "five-year history: archive search, standard search and the boundary band between them",
        "full from five years back",
        lost,
        duplicates,
        f"{archive_requests} archive searches; notes and conversation times only as far as search reaches (warned)",
        seconds,
    )

    # Work items are read per conversation here (the five_years simulator ignores work_item searches): a silent item
    # change waits for its conversation to change (test_switch_matrix measures it), so it is not asked for here.
    changed: Dict[str, Set[str]] = {s: set(sim.org.mutate(s, 25)) for s in ("customers", "conversations")}
    second = run_connector("read", config, catalog, first.final_state())
    assert second.returncode == 0, second.errors()
    for stream, ids in changed.items():
        assert ids <= {rid for rid, _ in second.pairs(stream)}, stream
    assert len(second.records("companies")) <= 1  # nothing changed: only the record at the saved cursor
    for stream in ARCHIVED:
        union = {rid for rid, _ in first.pairs(stream)} | {rid for rid, _ in second.pairs(stream)}
        assert union == {rid for rid, _ in truth(sim, stream, FIVE_YEARS_AGO)}, stream


def test_records_moving_into_the_archive_during_the_sync_are_not_lost():
    """The boundary moves three days right after the sync leaves the archive for the standard search: the
    records that moved were in standard search when the archive was read and are in the archive when standard
    search reads the band. The second archive pass over the band catches them."""
    settings = ServerSettings(
        tokens={TEST_TOKEN: frozenset()}, org_per_minute=0, search_per_minute=0, minute_seconds=0.5
    )
    with running_simulator(_org(seed=74, counts={"customers": 12_000}), settings) as sim:
        config = sim_config(sim, TEST_TOKEN, start_date=FIVE_YEARS_AGO, page_size=5)
        catalog = configured_catalog(run_connector("discover", config), {"customers"})
        moves = {"at": None}
        original = sim.after_request

        def boundary_moves() -> None:
            original()
            left_archive = any(e["archive"] for e in sim.search_log) and not sim.search_log[-1]["archive"]
            if left_archive and moves["at"] is None:
                moves["at"] = len(sim.search_log)
                sim.settings.search.horizon_days = 727

        sim.after_request = boundary_moves  # type: ignore[method-assign]
        horizon = now_ms() - 730 * DAY_MS
        moved = {
            rid
            for rid, at in truth(sim, "customers", FIVE_YEARS_AGO)
            if horizon <= parse_iso_ms(at) < horizon + 3 * DAY_MS
        }
        clock = time.monotonic()
        run = run_connector("read", config, catalog)
        emitted, repeated = _emitted(run, "customers")
        lost = len(truth(sim, "customers", FIVE_YEARS_AGO) - emitted)
        record(
            "records moving from standard search into the archive mid-sync (boundary moves 3 days)",
            "full from five years back",
            lost,
            repeated,
            f"{len(moved)} records moved between the archive pass and the standard pass over the boundary band",
            time.monotonic() - clock,
        )
        assert run.returncode == 0 and moves["at"] and len(moved) > 10
        assert lost == 0 and repeated == 0


@pytest.mark.parametrize("routing", ["honoured", "filter-only"])
def test_work_items_by_search_reach_only_as_far_as_search_does_and_the_sync_says_so(five_years, routing):
    """Where Kustomer honours work_item searches (sorted, or filtered only: then in time ranges), work items are read
    by search; Kustomer keeps no work item in its archive search, so those last changed more than two years ago are
    not synced, and the sync warns."""
    sim = five_years
    saved = sim.settings.search.routing_search
    sim.settings.search.routing_search = {"work_item": routing, "work_session": routing}
    try:
        config = sim_config(sim, TEST_TOKEN, start_date=FIVE_YEARS_AGO)
        run = run_connector("read", config, configured_catalog(run_connector("discover", config), {"work_items"}))
    finally:
        sim.settings.search.routing_search = saved
    horizon = iso_ms(now_ms() - 730 * DAY_MS)
    emitted, repeated = _emitted(run, "work_items")
    assert run.returncode == 0 and repeated == 0
    assert _standard_only(sim, "work_items", horizon) <= emitted <= truth(sim, "work_items", FIVE_YEARS_AGO)
    warnings = [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"]
    assert any("Stream 'work_items'" in w and "archive search" in w for w in warnings), warnings
