"""The fault matrix: every fault the simulator injects, under a full and an incremental sync of the search
streams plus two lists; plus ties, the result window inside a tie, records moving during a sync, a 401
mid-sync and SIGKILL-and-resume. Each run's (id, updatedAt) set is compared to the simulator's ground truth.

Results are collected into a table printed at the end of the pytest run (see conftest).

Over ~400 lines as one table (a test per fault, parametrized by sync mode); ./test.sh spreads its tests over its
workers (conftest.SPREAD), each worker making the module's 8k-record simulator once.
"""

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

import pytest

from integration_tests.harness import (
    ROOT,
    START_DATE,
    configured_catalog,
    lost_and_duplicates,
    run_connector,
    sim_config,
    token_forms,
)
from integration_tests.matrix import record
from kustomer_simulator.faults import Fault
from kustomer_simulator.search import SearchLimits
from kustomer_simulator.server import ServerSettings
from kustomer_simulator.testing import TEST_TOKEN, running_simulator
from kustomer_simulator.timefmt import iso_ms, now_ms, parse_iso_ms

SEARCH = ["customers", "conversations", "messages", "notes", "companies", "kobjects_order", "kobjects_subscription"]
LISTS = ["users", "tags"]
STREAMS = set(SEARCH + LISTS)
PAGE_SIZE = 100

FAULTS: Dict[str, List[Dict[str, Any]]] = {
    "429 storm with Retry-After": [{"kind": "rate_limit", "count": 4, "after": 10}],
    "429 without Retry-After, reset in the past": [
        {"kind": "rate_limit", "count": 3, "after": 10, "retry_after": False, "reset": "past"}
    ],
    "429 without Retry-After, reset far in the future": [
        {"kind": "rate_limit", "count": 2, "after": 10, "retry_after": False, "reset": "future"}
    ],
    "429 without Retry-After, garbage reset": [
        {"kind": "rate_limit", "count": 3, "after": 10, "retry_after": False, "reset": "garbage"}
    ],
    "429 with no rate-limit headers at all": [
        {"kind": "rate_limit", "count": 2, "after": 10, "retry_after": False, "reset": "missing"}
    ],
    "5xx burst": [
        {"kind": "status", "status": 502, "count": 3, "after": 12},
        {"kind": "status", "count": 1, "after": 30},
    ],
    "connection resets": [{"kind": "reset", "count": 2, "after": 8}],
    "responses slower than the timeout": [{"kind": "slow", "seconds": 2.5, "count": 1, "after": 12}],
    "truncated bodies": [{"kind": "truncated", "count": 2, "after": 9}],
    "non-JSON bodies": [{"kind": "invalid_json", "count": 2, "after": 11}],
    "empty page that still links to a next page": [
        {"kind": "empty_next", "count": 1, "after": 14, "scope": "search"},
        {"kind": "empty_next", "count": 1, "scope": "/v1/tags"},
    ],
    "partial search pages flagged meta.timed_out": [{"kind": "timed_out", "count": 2, "after": 9, "scope": "search"}],
    "malformed records, transient (no id, bad updatedAt, not an object)": [
        {"kind": "malformed", "variant": "no_id", "count": 1, "after": 7, "scope": "search"},
        {"kind": "malformed", "variant": "bad_updated_at", "count": 1, "after": 12, "scope": "search"},
        {"kind": "malformed", "variant": "not_object", "count": 1, "after": 3, "scope": "/v1/users"},
    ],
}


@pytest.fixture(scope="module")
def sim():
    """8k records with tie clusters of 10x and 2x the page size, real budgets on a 3-second minute."""
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, minute_seconds=3)
    with running_simulator(server_settings=settings, scale=8000, tie_clusters=[1000, 200], seed=41) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def config(sim):
    return sim_config(sim, TEST_TOKEN, page_size=PAGE_SIZE, request_timeout_seconds=1)


@pytest.fixture(scope="module")
def catalog(config):
    return configured_catalog(run_connector("discover", config), STREAMS)


@pytest.fixture(scope="module")
def baseline_state(sim, config, catalog):
    """The state after a clean full sync: where every incremental run of the matrix starts."""
    run = run_connector("read", config, catalog)
    assert run.returncode == 0
    # A new sync carries the search streams' cursors; full-refresh lists start over (as the platform does).
    return [s for s in run.final_state() if s["stream"]["stream_descriptor"]["name"] in SEARCH]


def _cursors(state: List[Dict[str, Any]]) -> Dict[str, str]:
    return {
        s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"].get("updatedAt")
        for s in state
        if s["stream"]["stream_state"].get("updatedAt")
    }


def expected(sim, stream: str, since: Optional[str], until_ms: int) -> Set[Tuple[str, str]]:
    """What a sync started at ``until_ms`` must emit: lists whole, search streams from ``since``."""
    if stream in LISTS:
        return set(sim.org.truth(stream))
    return set(sim.org.truth(stream, since_ms=parse_iso_ms(since or START_DATE), until_ms=until_ms))


def evaluate(sim, emitted: Dict[str, List[Tuple[str, str]]], since: Dict[str, str], until_ms: int) -> Tuple[int, int]:
    """(records lost, duplicates) over the matrix streams."""
    lost = duplicates = 0
    for stream in STREAMS:
        pairs = emitted.get(stream, [])
        lost += len(expected(sim, stream, since.get(stream), until_ms) - set(pairs))
        duplicates += sum(n - 1 for n in Counter(rid for rid, _ in pairs).values())
    return lost, duplicates


def _queue(sim, specs: List[Dict[str, Any]]) -> None:
    sim.faults.clear()
    sim.faults.fired = {}
    sim.expired_tokens.clear()
    for spec in specs:
        sim.faults.add(Fault(**spec))


@pytest.mark.parametrize("mode", ["full", "incremental"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_transient_fault_loses_nothing(sim, config, catalog, baseline_state, fault, mode):
    state = None
    if mode == "incremental":
        for stream in SEARCH:
            sim.org.mutate(stream, 30)
        state = baseline_state
    _queue(sim, FAULTS[fault])
    started, clock = now_ms(), time.monotonic()
    run = run_connector("read", config, catalog, state)
    fired = sum(sim.faults.fired.values())
    sim.faults.clear()
    lost, duplicates = evaluate(sim, {s: run.pairs(s) for s in STREAMS}, _cursors(state or []), started)
    outcome = "recovered" if run.returncode == 0 and not run.errors() else f"FAILED: {run.errors()[:1]}"
    record(fault, mode, lost, duplicates, outcome, time.monotonic() - clock)
    assert fired > 0, "the fault never fired"
    assert run.returncode == 0 and not run.errors(), run.errors()
    assert lost == 0


def test_records_updated_while_the_sync_runs_are_caught_now_or_next_sync(sim, config, catalog, baseline_state):
    _queue(sim, [])
    sim.mutate_during = {"every": 3, "count": 2, "streams": SEARCH}
    started, clock = now_ms(), time.monotonic()
    first = run_connector("read", config, catalog)
    sim.mutate_during = None
    moved_after_start = {
        (s, rid, updated) for s in SEARCH for rid, updated in sim.org.truth(s) if parse_iso_ms(updated) > started
    }
    assert moved_after_start, "nothing was updated during the sync"
    lost, duplicates = evaluate(sim, {s: first.pairs(s) for s in STREAMS}, {}, started)
    next_state = [s for s in first.final_state() if s["stream"]["stream_descriptor"]["name"] in SEARCH]
    second = run_connector("read", config, catalog, next_state)
    # a record updated before its stream started is read at its new updatedAt now; the others next sync
    caught = {(s, rid, updated) for run in (first, second) for s in SEARCH for rid, updated in run.pairs(s)}
    missed = len(moved_after_start - caught)
    outcome = (
        f"recovered; {len(moved_after_start)} records moved during the sync, "
        "each read at its new updatedAt by this or the next sync"
    )
    record(
        "records updated while the sync runs",
        "full + next incremental",
        lost + missed,
        duplicates,
        outcome,
        time.monotonic() - clock,
    )
    assert first.returncode == 0 and second.returncode == 0, (first.errors(), second.errors())
    assert (lost, missed) == (0, 0)


def test_401_mid_sync_stops_with_one_clear_error_and_a_resumable_state(sim, config, catalog):
    _queue(sim, [{"kind": "unauthorized", "after": 40}])
    started, clock = now_ms(), time.monotonic()
    first = run_connector("read", config, catalog)
    errors = first.errors()
    assert first.returncode != 0
    assert len(errors) == 1 and errors[0]["failure_type"] == "config_error"
    assert "invalid or has expired" in errors[0]["message"]
    _queue(sim, [])  # the user puts in a new key
    second = run_connector("read", config, catalog, first.final_state())
    emitted = {s: first.pairs(s) + second.pairs(s) for s in STREAMS}
    lost, duplicates = evaluate(sim, emitted, {}, started)
    record(
        "401 mid-sync, then resumed with a valid key",
        "full",
        lost,
        duplicates,
        "stopped with one config_error trace; resume completed",
        time.monotonic() - clock,
    )
    assert second.returncode == 0 and lost == 0


def test_retries_exhausted_end_with_one_clear_error(sim, config, catalog):
    _queue(sim, [{"kind": "status", "status": 503, "count": -1, "after": 20}])
    clock = time.monotonic()
    run = run_connector("read", config, catalog)
    sim.faults.clear()
    errors = run.errors()
    record(
        "503 on every request (retries exhausted)",
        "full",
        0,
        0,
        f"stopped after bounded retries with one trace ({errors[0]['failure_type'] if errors else 'none'})",
        time.monotonic() - clock,
    )
    assert run.returncode != 0 and len(errors) == 1
    assert "after every retry" in errors[0]["message"]


def test_403_on_every_stream_ends_with_one_error_naming_the_roles(sim):
    denied = frozenset(
        {
            "org.permission.customer.read",
            "org.permission.conversation.read",
            "org.permission.message.read",
            "org.permission.note.read",
            "org.permission.company.read",
            "org.user.kobject.read",
            "org.permission.tag.read",
            "org.user.read",
            "org.admin.klass.read",
            "org.admin.metadata.read",
        }
    )
    token = "kst-matrix-no-roles-not-a-secret-7Kq2Vx9Lm"
    sim.settings.tokens = {**sim.settings.tokens, token: denied}
    config = sim_config(sim, token, page_size=PAGE_SIZE)
    catalog = configured_catalog(
        run_connector("discover", config), STREAMS - {"kobjects_order", "kobjects_subscription"}
    )
    run = run_connector("read", config, catalog)
    errors = run.errors()
    record(
        "403 on every stream",
        "full",
        0,
        0,
        f"stopped with one {errors[0]['failure_type'] if errors else 'missing'} trace naming the roles",
        0,
    )
    assert run.returncode != 0 and not run.records()
    assert len(errors) == 1 and errors[0]["failure_type"] == "config_error"
    assert "org.permission.customer.read" in errors[0]["message"] and "org.user.read" in errors[0]["message"]


def _search_state(run) -> List[Dict[str, Any]]:
    return [s for s in run.final_state() if s["stream"]["stream_descriptor"]["name"] in SEARCH]


@pytest.mark.parametrize(
    "fault, what",
    [
        ("unsorted", "a search page in the reverse of the requested order"),
        ("far_future", "a search record dated past the requested upper bound (2999)"),
    ],
)
def test_a_page_that_breaks_the_query_stops_the_sync_and_a_rerun_loses_nothing(sim, config, catalog, fault, what):
    _queue(sim, [{"kind": fault, "count": -1, "after": 11, "scope": "search"}])
    started, clock = now_ms(), time.monotonic()
    first = run_connector("read", config, catalog)
    errors = first.errors()
    assert first.returncode != 0 and len(errors) == 1 and "did not return what was asked for" in errors[0]["message"]
    assert all("2999" not in json.dumps(s) for s in first.states())  # the state never took the bad value
    _queue(sim, [])
    second = run_connector("read", config, catalog, _search_state(first))
    lost, duplicates = evaluate(sim, {s: first.pairs(s) + second.pairs(s) for s in STREAMS}, {}, started)
    record(
        what,
        "full, then rerun",
        lost,
        duplicates,
        "stopped with one error; rerun from state completed",
        time.monotonic() - clock,
    )
    assert second.returncode == 0 and lost == 0


@pytest.mark.parametrize("routing", ["filter-only", "honoured"])
def test_a_routing_search_that_drops_records_after_its_proof_stops_with_one_error_and_a_rerun_loses_nothing(routing):
    """Work items' search passes the sync's proving requests, then answers every page without its first record
    (meta.total and links unchanged): whether read in time ranges or in order, one clear error naming the dropped
    records, the position never past what was read; once the search stops dropping, the next sync reads everything."""
    limits = SearchLimits(routing_search={"work_item": routing, "work_session": routing})
    settings = ServerSettings(
        tokens={TEST_TOKEN: frozenset()}, org_per_minute=0, search_per_minute=0, minute_seconds=1, search=limits
    )
    with running_simulator(server_settings=settings, scale=1500, seed=47) as sim:
        config = sim_config(sim, TEST_TOKEN, page_size=100)
        catalog = configured_catalog(run_connector("discover", config), {"work_items"})
        _queue(sim, [{"kind": "dropped_records", "count": -1, "after": 4, "scope": "search"}])  # proof: 2 searches
        clock = time.monotonic()
        first = run_connector("read", config, catalog)
        errors = first.errors()
        _queue(sim, [])
        second = run_connector("read", config, catalog, first.final_state())
        emitted = set(first.pairs("work_items")) | set(second.pairs("work_items"))
        lost = len(set(sim.org.truth("work_items", since_ms=parse_iso_ms(START_DATE))) - emitted)
        record(
            f"work items' search (routing search {routing}) drops a record from every page after the proof",
            "full, then rerun",
            lost,
            0,
            f"stopped with one error after {len(first.pairs('work_items'))} records; rerun from state completed",
            time.monotonic() - clock,
        )
    assert first.returncode != 0 and len(errors) == 1, errors
    assert (
        "records were dropped" in errors[0]["message"] and "did not return what was asked for" in errors[0]["message"]
    )
    assert second.returncode == 0 and lost == 0


def test_records_that_stay_malformed_are_skipped_and_reported_never_lost_silently(sim, config, catalog):
    _queue(sim, [{"kind": "malformed", "variant": "no_id", "count": -1, "scope": "search"}])
    started, clock = now_ms(), time.monotonic()
    run = run_connector("read", config, catalog)
    sim.faults.clear()
    lost, duplicates = evaluate(sim, {s: run.pairs(s) for s in STREAMS}, {}, started)
    reported = sum(row["malformed_skipped"] for row in run.summary().values())
    named = [line for line in run.logs() if line.startswith("Skipping a malformed record")]
    record(
        "a malformed record on every search page (persistent)",
        "full",
        lost,
        duplicates,
        f"{reported} malformed records skipped, each reported (WARN + summary); every lost one among them",
        time.monotonic() - clock,
    )
    # a record reported twice (once as a page's boundary, once as new) is lost at most once: lost <= reported
    assert run.returncode == 0 and 0 < lost <= reported and named


@pytest.mark.parametrize("cluster", [1000, 200])
def test_resuming_from_a_cursor_on_a_tied_value_loses_nothing(sim, config, cluster):
    _queue(sim, [])
    coll = sim.org.collections["customers"]
    tied_ms = min(Counter(coll.updated_ms).most_common(2), key=lambda pair: abs(pair[1] - cluster))[0]
    cursor = iso_ms(tied_ms)
    state = [
        {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": "customers"}, "stream_state": {"updatedAt": cursor}},
        }
    ]
    catalog = configured_catalog(run_connector("discover", config), {"customers"})
    rejected_before, clock = sim.stats.by_status.get(400, 0), time.monotonic()
    run = run_connector("read", config, catalog, state)
    expected = set(sim.org.truth("customers", since_ms=tied_ms))
    lost = len(expected - set(run.pairs("customers")))
    duplicates = sum(n - 1 for n in Counter(run.pairs("customers")).values())
    record(
        f"resume from a cursor on a tied updatedAt ({cluster:,} records, {cluster // PAGE_SIZE}x the page)",
        "incremental",
        lost,
        duplicates,
        "resumed; every request body valid" if run.returncode == 0 else "FAILED",
        time.monotonic() - clock,
    )
    assert run.returncode == 0 and lost == 0 and sim.stats.by_status.get(400, 0) == rejected_before


def test_result_window_hit_inside_a_tie_cluster():
    """12,000 records share one updatedAt; search stops at 10,000 results per query."""
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, org_per_minute=0, search_per_minute=0)
    with running_simulator(
        server_settings=settings, scale=2000, seed=43, tie_clusters=[12_000], counts={"customers": 15_000}
    ) as big:
        config = sim_config(big, TEST_TOKEN, page_size=500)
        catalog = configured_catalog(run_connector("discover", config), {"customers"})
        clock = time.monotonic()
        run = run_connector("read", config, catalog)
        lost = len(set(big.org.truth("customers", since_ms=parse_iso_ms(START_DATE))) - set(run.pairs("customers")))
        duplicates = sum(n - 1 for n in Counter(run.pairs("customers")).values())
        split = any("reading them in order of createdAt" in line for line in run.logs())
        record(
            "~10k result window hit inside a 12,000-record tie",
            "full",
            lost,
            duplicates,
            "read by createdAt inside the tie" if split else "no split",
            time.monotonic() - clock,
        )
        assert run.returncode == 0 and split and lost == 0 and duplicates == 0
        assert big.stats.by_status.get(400, 0) == 0, "the connector asked for a page past the window"


def _kill_and_resume(sim, config, catalog, seed: int) -> Tuple[int, int, int]:
    """SIGKILL the sync at a random point, resume from the last state; returns (lost, duplicates, killed_at)."""
    rng = random.Random(seed)
    kill_after = rng.randrange(200, 9000)
    started = now_ms()
    committed: Dict[str, List[Tuple[str, str]]] = {s: [] for s in STREAMS}
    pending: Dict[str, List[Tuple[str, str]]] = {s: [] for s in STREAMS}
    last_state: Dict[str, Dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, content in (("config", config), ("catalog", catalog)):
            paths[name] = Path(tmp) / f"{name}.json"
            paths[name].write_text(json.dumps(content))
        process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "main.py"),
                "read",
                "--config",
                str(paths["config"]),
                "--catalog",
                str(paths["catalog"]),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        seen = 0
        leaked = False
        for line in process.stdout:
            leaked = leaked or any(form in line for form in token_forms(TEST_TOKEN))
            message = json.loads(line) if line.startswith("{") else {}
            if message.get("type") == "RECORD":
                data = message["record"]["data"]
                pending[message["record"]["stream"]].append((data["id"], data.get("updatedAt")))
                seen += 1
            elif message.get("type") == "STATE":
                name = message["state"]["stream"]["stream_descriptor"]["name"]
                committed[name] += pending[name]  # a destination commits records up to their stream's state
                pending[name] = []
                last_state[name] = message["state"]
            if seen >= kill_after:
                os.kill(process.pid, signal.SIGKILL)
                break
        process.kill()
        _, stderr = process.communicate()
        assert not leaked and not any(form in stderr for form in token_forms(TEST_TOKEN))
    resumed = run_connector("read", config, catalog, list(last_state.values()))
    assert resumed.returncode == 0
    union = {s: committed[s] + resumed.pairs(s) for s in STREAMS}
    lost, duplicates = evaluate(sim, union, {}, started)
    return lost, duplicates, kill_after


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_a_random_point_then_resume_loses_nothing(sim, config, catalog, seed):
    _queue(sim, [])
    clock = time.monotonic()
    lost, duplicates, killed_at = _kill_and_resume(sim, config, catalog, seed)
    record(
        f"SIGKILL after {killed_at} records, resumed from last state",
        "full, 4 streams at a time, then resume",
        lost,
        duplicates,
        "resumed",
        time.monotonic() - clock,
    )
    assert lost == 0


NEW_PATTERNS = {
    "conversation_times": "search",  # time ranges read by offset
    "work_items": "/v1/routing/conversations/",  # one list per conversation
    "work_sessions": "/v1/routing/work-sessions",
    "audit_logs": "/v1/audit-logs",  # newest first, paged by entry ids
    "custom_attribute_metadata": "/v1/metadata/",
}
PATTERN_FAULTS = {
    "5xx burst and connection resets": [
        {"kind": "status", "status": 502, "count": 2, "after": 1},
        {"kind": "reset", "count": 1, "after": 2},
    ],
    "truncated and non-JSON bodies": [
        {"kind": "truncated", "count": 1, "after": 1},
        {"kind": "invalid_json", "count": 1, "after": 2},
    ],
    "429 storm without Retry-After": [{"kind": "rate_limit", "count": 3, "after": 1, "retry_after": False}],
}


@pytest.mark.parametrize("fault", list(PATTERN_FAULTS))
def test_transient_faults_on_each_new_read_pattern_lose_nothing(fault):
    """Each fault is aimed at every new endpoint in turn (its scope), in one full sync of the new streams."""
    # Work items and sessions through their lists here: read by search, they use conversation times' range reader.
    lists = SearchLimits(routing_search={"work_item": "ignored", "work_session": "ignored"})
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, minute_seconds=1, search=lists)
    with running_simulator(server_settings=settings, scale=3000, seed=53) as sim:
        config = sim_config(sim, TEST_TOKEN, request_timeout_seconds=2)
        catalog = configured_catalog(run_connector("discover", config), set(NEW_PATTERNS))
        for scope in NEW_PATTERNS.values():
            for spec in PATTERN_FAULTS[fault]:
                sim.faults.add(Fault(**{**spec, "scope": scope}))
        clock = time.monotonic()
        run = run_connector("read", config, catalog)
        fired = sum(sim.faults.fired.values())
        lost, duplicates = lost_and_duplicates(sim, run, NEW_PATTERNS)
        outcome = "recovered" if run.returncode == 0 and not run.errors() else f"FAILED: {run.errors()[:1]}"
        record(
            f"{fault}, on each new endpoint", "full (new streams)", lost, duplicates, outcome, time.monotonic() - clock
        )
        assert fired >= len(NEW_PATTERNS) and run.returncode == 0 and (lost, duplicates) == (0, 0), run.errors()
