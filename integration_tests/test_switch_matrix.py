"""The connector under every setting of every simulator switch (the behaviours Kustomer's evidence leaves open).

Each run is the real entrypoint against a simulator set one way; the outcome is compared with ground truth and
added to the fault matrix: 0 records lost wherever exactness is possible, one clear error within a stated number
of requests where it is not. See docs/kustomer-api-model.md for the switches and their evidence.
"""

import threading
import time
from collections import Counter
from typing import Any, Dict, Iterator, Sequence, Tuple

import pytest

from integration_tests.harness import (
    START_DATE,
    Run,
    configured_catalog,
    lost_and_duplicates,
    run_connector,
    sim_config,
    truth,
)
from integration_tests.matrix import record
from kustomer_simulator.org import OrgSettings
from kustomer_simulator.search import SearchLimits
from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import TEST_ANCHOR_MS, TEST_TOKEN, running_simulator
from kustomer_simulator.timefmt import iso_ms, now_ms, parse_iso_ms
from source_kustomer.deletions import DELETED_AT

BIG_TIE = 12_000  # records sharing one updatedAt: more than one search can page (10,000)
SMALL_TIE = 300  # a tie group that fits the window
SEARCH = ["customers", "conversations", "messages", "notes", "companies", "kobjects_order", "kobjects_subscription"]
ERROR_WITHIN_REQUESTS = 2  # from the group's first page to the stream's error, when createdAt cannot split it


def _org() -> OrgSettings:
    return OrgSettings(
        seed=29, scale=2000, anchor_ms=TEST_ANCHOR_MS, tie_clusters=[BIG_TIE, SMALL_TIE], counts={"customers": 15_000}
    )


def _unlimited(**settings) -> ServerSettings:
    settings.setdefault("minute_seconds", 1.0)  # the connector paces itself on this window even when unlimited
    return ServerSettings(tokens={TEST_TOKEN: frozenset()}, org_per_minute=0, search_per_minute=0, **settings)


@pytest.fixture(scope="module")
def big() -> Iterator[Simulator]:
    """15,000 customers, 12,000 of them sharing one updatedAt; a small tie in every search stream."""
    with running_simulator(_org(), _unlimited()) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def big_config(big) -> Dict:
    return sim_config(big, TEST_TOKEN, page_size=500)


@pytest.fixture(scope="module")
def big_catalogs(big_config) -> Dict[str, Dict]:
    discovered = run_connector("discover", big_config)
    return {
        "customers": configured_catalog(discovered, {"customers"}),
        "others": configured_catalog(discovered, set(SEARCH) - {"customers"} | {"tags"}),
    }


def _tied(sim: Simulator) -> str:
    return iso_ms(Counter(sim.org.collections["customers"].updated_ms).most_common(1)[0][0])


@pytest.mark.parametrize("behaviour", ["honoured", "ignored", "rejected"])
def test_created_at_switch(big, big_config, big_catalogs, behaviour):
    big.settings.search = SearchLimits(created_at={context: behaviour for context in SearchLimits().created_at})
    big.search_log.clear()
    clock = time.monotonic()
    others = run_connector("read", big_config, big_catalogs["others"])
    lost, duplicates = lost_and_duplicates(big, others, set(SEARCH) - {"customers"} | {"tags"})
    record(
        f"created_at {behaviour}: tie groups of {SMALL_TIE} (inside the window)",
        "full",
        lost,
        duplicates,
        "completed, no request sorted or filtered by createdAt",
        time.monotonic() - clock,
    )
    assert others.returncode == 0 and (lost, duplicates) == (0, 0)
    assert not any("created_at" in str(entry["body"]) for entry in big.search_log)

    big.search_log.clear()
    clock = time.monotonic()
    run = run_connector("read", big_config, big_catalogs["customers"])
    tied = _tied(big)
    before_group = {pair for pair in truth(big, "customers") if pair[1] < tied}
    missing_before = len(before_group - set(run.pairs("customers")))
    if behaviour == "honoured":
        lost, duplicates = lost_and_duplicates(big, run, ["customers"])
        outcome = "completed, the group read by createdAt (each page checked)"
        assert run.returncode == 0 and (lost, duplicates) == (0, 0)
    else:
        errors = run.errors()
        first_group_request = next(
            n for n, entry in enumerate(big.search_log) if f"'lte': '{tied}'" in str(entry["body"]["and"][:2])
        )
        after = len(big.search_log) - first_group_request - 1
        lost, duplicates = missing_before, 0
        outcome = f"stopped with one error {after} request(s) after reaching the group; nothing before it lost"
        assert run.returncode != 0 and len(errors) == 1 and f"share updatedAt={tied}" in errors[0]["message"]
        assert after <= ERROR_WITHIN_REQUESTS and missing_before == 0
        assert all(s["stream"]["stream_state"]["updatedAt"] <= tied for s in run.states())
    record(
        f"created_at {behaviour}: {BIG_TIE:,}-record tie (beyond the window)",
        "full",
        lost,
        duplicates,
        outcome,
        time.monotonic() - clock,
    )


@pytest.mark.parametrize("setting", ["past-window error", "past-window empty", "total exact", "total capped"])
def test_window_and_total_switches(big, big_config, big_catalogs, setting):
    name, value = setting.split()
    limits = {"past-window": {"past_window": value}, "total": {"total": value}}[name]
    big.settings.search = SearchLimits(**limits)
    big.stats.reset()
    big.search_log.clear()
    clock = time.monotonic()
    run = run_connector("read", big_config, big_catalogs["customers"])
    lost, duplicates = lost_and_duplicates(big, run, ["customers"])
    past = sum(1 for entry in big.search_log if entry["page"] * entry["pageSize"] > 10_000)
    record(
        f"{name} {value}, with a {BIG_TIE:,}-record tie",
        "full",
        lost,
        duplicates,
        f"completed; {past} requests past the window",
        time.monotonic() - clock,
    )
    assert run.returncode == 0 and (lost, duplicates, past) == (0, 0, 0)
    assert big.stats.by_status.get(400, 0) == 0


@pytest.mark.parametrize("status", [401, 403])
def test_missing_role_switch(status):
    tokens = {
        TEST_TOKEN: frozenset({"org.permission.note.read", "org.permission.sla.read"}),
        "kst-no-search-not-a-secret-7Kq2Vx9Lm4Pz8Rb": frozenset({"org.user.search.read"}),
    }
    settings = ServerSettings(tokens=tokens, org_per_minute=0, search_per_minute=0, missing_role_status=status)
    with running_simulator(server_settings=settings, scale=2000, seed=31) as sim:
        config = sim_config(sim, TEST_TOKEN)
        clock = time.monotonic()
        catalog = configured_catalog(run_connector("discover", config), {"notes", "slas", "tags", "companies"})
        run = run_connector("read", config, catalog)
        lost, duplicates = lost_and_duplicates(sim, run, ["tags", "companies"])
        warnings = [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"]
        skipped = sorted(row["stream"] for row in run.summary().values() if row["skipped"])
        record(
            f"missing role answered {status}",
            "full",
            lost,
            duplicates,
            f"skipped {', '.join(skipped)} naming the role; the rest synced",
            time.monotonic() - clock,
        )
        assert run.returncode == 0 and not run.errors() and (lost, duplicates) == (0, 0)
        assert skipped == ["notes", "slas"]
        assert any(f"HTTP {status}" in w and "org.permission.note.read" in w for w in warnings)
        check = run_connector("check", sim_config(sim, "kst-no-search-not-a-secret-7Kq2Vx9Lm4Pz8Rb"))
        status_message = check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
        assert status_message["status"] == "FAILED" and "org.user.search.read" in status_message["message"]


def _read_under_the_search_budget(streams: Sequence[str], told: int, **server: Any) -> Tuple[Run, int, int, float]:
    """A full read of ``streams`` from an org allowing 200 requests and 12 searches a (2-second) minute, set up
    further by ``server``; the connector is told ``told`` searches a minute. Returns the run, records lost,
    duplicates and seconds; the 429s the simulator sent must be those the run counted."""
    settings = ServerSettings(
        tokens={TEST_TOKEN: frozenset()}, org_per_minute=200, search_per_minute=12, minute_seconds=2, **server
    )
    with running_simulator(server_settings=settings, scale=4000, seed=37) as sim:
        config = sim_config(sim, TEST_TOKEN, page_size=100, search_requests_per_minute=told)
        catalog = configured_catalog(run_connector("discover", config), set(streams))
        clock = time.monotonic()
        run = run_connector("read", config, catalog)
        lost, duplicates = lost_and_duplicates(sim, run, streams)
        assert sim.stats.snapshot()["by_status"].get("429", 0) == _throttled(run)
        return run, lost, duplicates, time.monotonic() - clock


def _throttled(run: Run) -> int:
    return sum(row["http_429"] for row in run.summary().values())


@pytest.mark.parametrize("mode", ["epoch", "seconds", "absent"])
def test_rate_limit_reset_header_switch(mode):
    run, lost, duplicates, seconds = _read_under_the_search_budget(
        ["customers", "messages", "tags"], 12, reset_mode=mode
    )
    record(
        f"x-ratelimit-reset as {mode}, search budget spent every window",
        "full",
        lost,
        duplicates,
        f"completed; {_throttled(run)} x 429",
        seconds,
    )
    assert run.returncode == 0 and (lost, duplicates) == (0, 0)


@pytest.mark.parametrize("retry_after", [True, False])
def test_retry_after_switch_on_the_servers_own_429s(retry_after):
    """A connector told the search budget is larger than the org's (100 a minute; the org allows 12) and reading
    four search streams at once meets Kustomer's own 429s (the searches in flight when the budget runs out), with
    Retry-After or (--no-retry-after) with only x-ratelimit-reset to go by: every 429 is waited out and retried, and
    nothing is lost."""
    run, lost, duplicates, seconds = _read_under_the_search_budget(SEARCH, 100, retry_after=retry_after)
    record(
        f"the search budget overrun: Kustomer's own 429s {'with' if retry_after else 'without'} Retry-After",
        "full",
        lost,
        duplicates,
        f"completed; {_throttled(run)} x 429 waited out",
        seconds,
    )
    assert run.returncode == 0 and (lost, duplicates) == (0, 0) and _throttled(run) > 0


@pytest.mark.parametrize("lag_seconds", [3, 0])
def test_index_lag_switch(lag_seconds):
    """Writes become searchable out of order within 2 s. A sync that starts while records keep changing must not
    move its cursor past a write the index has not shown yet: search_lag_seconds=3 keeps every one; 0 shows that
    the hazard is real (records the cursor passed before they were searchable are never read)."""
    settings = _unlimited(search=SearchLimits(index_lag_seconds=2.0))
    with running_simulator(server_settings=settings, scale=3000, seed=41) as sim:
        config = sim_config(sim, TEST_TOKEN, page_size=50, search_lag_seconds=lag_seconds)
        catalog = configured_catalog(run_connector("discover", config), {"customers", "notes"})
        first = run_connector("read", config, catalog)
        clock, started = time.monotonic(), int(time.time() * 1000)
        stop = threading.Event()

        def keep_changing() -> None:
            while not stop.wait(0.05):
                for stream in ("customers", "notes"):
                    sim.org.mutate(stream, 2)

        changer = threading.Thread(target=keep_changing, daemon=True)
        changer.start()
        time.sleep(2.5)
        second = run_connector("read", config, catalog, first.final_state())
        stop.set()
        changer.join()
        time.sleep(lag_seconds + 2.5)
        third = run_connector("read", config, catalog, second.final_state())
        caught = {(s, p) for run in (second, third) for s in ("customers", "notes") for p in run.pairs(s)}
        moved = {
            (s, p)
            for s in ("customers", "notes")
            for p in sim.org.truth(s, since_ms=parse_iso_ms(START_DATE))
            if parse_iso_ms(p[1]) >= started
        }
        lost = len(moved - caught)
        record(
            f"index lag up to 2 s (writes searchable out of order), search_lag_seconds {lag_seconds}",
            "incremental while records change, then the next incremental",
            lost,
            0,
            f"{len(moved)} records changed around the sync; "
            + ("each read by this or the next sync" if lost == 0 else "lost for good: the hazard search_lag guards"),
            time.monotonic() - clock,
        )
        assert moved and second.returncode == 0 and third.returncode == 0
        if lag_seconds >= 2:
            assert lost == 0


@pytest.mark.parametrize("sort", ["honoured", "ignored", "rejected"])
def test_conversation_time_sort_switch(sort):
    """Conversation times are read as time ranges, split until each fits the 10,000-result window; no sort is asked
    for and no page is expected in time order, so every setting reads the same records."""
    org = OrgSettings(seed=43, scale=2000, anchor_ms=TEST_ANCHOR_MS, counts={"conversation_times": 24_000})
    with running_simulator(org, _unlimited(search=SearchLimits(conversation_time_sort=sort))) as sim:
        config = sim_config(sim, TEST_TOKEN, page_size=500)
        catalog = configured_catalog(run_connector("discover", config), {"conversation_times"})
        clock = time.monotonic()
        run = run_connector("read", config, catalog)
        lost, duplicates = lost_and_duplicates(sim, run, ["conversation_times"])
        requests = run.summary()["conversation_times"]["requests"]
        record(
            f"conversation_time sort {sort}, 24,000 records (more than one search can page)",
            "full",
            lost,
            duplicates,
            f"completed in time ranges; {requests} requests for {len(run.records('conversation_times')):,} records",
            time.monotonic() - clock,
        )
        assert run.returncode == 0 and (lost, duplicates) == (0, 0)
        assert requests <= 24_000 / 500 * 1.5


# How each --routing-search setting is read: the path the sync proves, as the stream's summary names it.
ROUTING_PATHS = {
    "honoured": "by search, in order of",
    "filter-only": "by search, in time ranges of",
    "sort-rejected": "by search, in time ranges of",
    "ignored": "{fallback} (search refused: it did not filter by",
    "rejected": "{fallback} (search refused: it rejected a search by",
    "no-updated-at": "{fallback} (search refused: its records carry no updatedAt",
}


def _routing_versions(run_pairs, routing: str) -> set:
    """What a routing run is compared by: (id, updatedAt), or the id alone where the records carry no updatedAt."""
    return {pair[0] if routing == "no-updated-at" else pair for pair in run_pairs}


def _routing_loss(sim: Simulator, run: Run, stream: str, routing: str) -> Tuple[int, int]:
    """(records of ground truth the run did not emit, ids emitted more than once)."""
    emitted = run.pairs(stream)
    lost = len(_routing_versions(truth(sim, stream), routing) - _routing_versions(emitted, routing))
    return lost, sum(n - 1 for n in Counter(rid for rid, _ in emitted).values())


def _read_path(run: Run, stream: str, routing: str, fallback: str) -> str:
    path = run.summary()[stream]["read_path"]
    assert path.startswith(ROUTING_PATHS[routing].format(fallback=fallback)), (routing, path)
    return path.split(" (")[0]


@pytest.mark.parametrize(
    "routing, updates",
    [
        ("honoured", "silent"),
        ("filter-only", "silent"),
        ("sort-rejected", "touch"),
        ("ignored", "touch"),
        ("ignored", "silent"),
        ("rejected", "touch"),
        ("no-updated-at", "silent"),
    ],
)
def test_work_item_updates_and_routing_search_switches(routing, updates):
    """Where Kustomer's search honours the work_item_updated_at filter (sorted or not), work items are read by it and
    every change arrives; where it ignores or rejects it, or the items carry no updatedAt to check it against, they
    are listed per changed conversation: then an item change that does not update its conversation stays stale until
    the conversation changes or a full refresh (measured, documented)."""
    org = OrgSettings(seed=47, scale=1500, anchor_ms=TEST_ANCHOR_MS, work_item_updates=updates)
    limits = SearchLimits(routing_search={"work_item": routing, "work_session": routing})
    with running_simulator(org, _unlimited(minute_seconds=0.5, search=limits)) as sim:
        config = sim_config(
            sim, TEST_TOKEN, page_size=100
        )  # several pages: enough to prove an order where there is one
        catalog = configured_catalog(run_connector("discover", config), {"work_items"})
        first = run_connector("read", config, catalog)
        first_lost, _ = _routing_loss(sim, first, "work_items", routing)
        changed = set(sim.org.mutate("work_items", 20))
        clock = time.monotonic()
        second = run_connector("read", config, catalog, first.final_state())
        fresh = {pair for pair in truth(sim, "work_items") if pair[0] in changed}
        stale = len(_routing_versions(fresh, routing) - _routing_versions(second.pairs("work_items"), routing))
        full = run_connector(
            "read", config, configured_catalog(run_connector("discover", config), {"work_items"}, False)
        )
        lost_in_full, duplicates = _routing_loss(sim, full, "work_items", routing)
        path = _read_path(first, "work_items", routing, "per conversation")
        by_search = path.startswith("by search")
        record(
            f"work items, routing search {routing}; item changes "
            f"{'update' if updates == 'touch' else 'do not update'} their conversation",
            "full, incremental after 20 work items changed, then a full refresh",
            first_lost + stale,
            duplicates,
            f"read {path}; {len(changed) - stale} of {len(changed)} changes in the incremental sync"
            + ("" if stale == 0 else " (documented limit)")
            + f"; full refresh: {lost_in_full} lost",
            time.monotonic() - clock,
        )
        assert first.returncode == second.returncode == full.returncode == 0
        assert (first_lost, lost_in_full, duplicates) == (0, 0, 0)
        assert stale == (0 if by_search or updates == "touch" else len(changed))
        warnings = [line for line in first.logs() if "cannot be trusted in this sync" in line]
        assert len(warnings) == (0 if by_search else 1)
        # (an incremental sync of one page reads it in a range whatever the order: the same one request)
        assert second.summary()["work_items"]["read_path"].startswith("by search") == by_search


@pytest.mark.parametrize(
    "routing, defaults",
    [
        ("honoured", "true"),
        ("filter-only", "true"),
        ("sort-rejected", "false"),
        ("ignored", "true"),
        ("rejected", "false"),
        ("ignored", "false"),
        ("no-updated-at", "true"),
    ],
)
def test_work_sessions_under_the_routing_search_and_list_default_switches(routing, defaults):
    """Work sessions of every agent, ended ones too: by search where its filter is honoured (then incrementally),
    else from the list asked with user=false&active=false, whatever the list's own defaults."""
    org = OrgSettings(seed=53, scale=4000, anchor_ms=TEST_ANCHOR_MS)
    limits = SearchLimits(routing_search={"work_item": routing, "work_session": routing})
    with running_simulator(org, _unlimited(search=limits, work_session_defaults=defaults)) as sim:
        config = sim_config(sim, TEST_TOKEN, page_size=5)  # 20 sessions: pages enough to prove an order
        catalog = configured_catalog(run_connector("discover", config), {"work_sessions"})
        clock = time.monotonic()
        first = run_connector("read", config, catalog)
        lost, duplicates = _routing_loss(sim, first, "work_sessions", routing)
        changed = set(sim.org.mutate("work_sessions", 10))
        second = run_connector("read", config, catalog, first.final_state())
        fresh = {pair for pair in truth(sim, "work_sessions") if pair[0] in changed}
        missed = len(_routing_versions(fresh, routing) - _routing_versions(second.pairs("work_sessions"), routing))
        sessions = len(truth(sim, "work_sessions"))
        path = _read_path(first, "work_sessions", routing, "from the list")
        record(
            f"work sessions, routing search {routing}, list defaults user/active={defaults}",
            "full, then incremental after 10 sessions changed",
            lost + missed,
            duplicates,
            f"{sessions} sessions of every agent read {path}"
            + ("" if path.startswith("by search") else " (user=false&active=false)"),
            time.monotonic() - clock,
        )
        assert first.returncode == second.returncode == 0 and (lost, duplicates, missed) == (0, 0, 0)


@pytest.mark.parametrize("default", ["active", "all"])
def test_users_default_switch(default):
    """Deactivated users are listed by Kustomer only with deleted=true: the users stream asks for both, whatever
    the list shows by default."""
    org = OrgSettings(seed=57, scale=40_000, anchor_ms=TEST_ANCHOR_MS)
    with running_simulator(org, _unlimited(users_default=default)) as sim:
        config = sim_config(sim, TEST_TOKEN)
        catalog = configured_catalog(run_connector("discover", config), {"users"})
        clock = time.monotonic()
        run = run_connector("read", config, catalog)
        lost, duplicates = lost_and_duplicates(sim, run, ["users"])
        deactivated = sum(1 for record in run.records("users") if record.get("deletedAt"))
        record(
            f"users listed by default: {default}",
            "full",
            lost,
            duplicates,
            f"{len(run.records('users'))} users, {deactivated} of them deactivated",
            time.monotonic() - clock,
        )
        assert run.returncode == 0 and (lost, duplicates) == (0, 0) and deactivated > 0


LISTS = (
    "users teams tags shortcuts brands queues klasses satisfaction slas business_schedules snoozes cards "
    "team_routing_settings routing_statuses queue_rules sla_versions business_holidays"
).split()


@pytest.mark.parametrize("over_max", ["clamp", "error"])
def test_list_over_max_switch(over_max):
    """Asked for pages of 500 (the most search serves), every list is still read at no more than its own maximum
    (100; users and teams 500), so a Kustomer that refuses a larger pageSize (400) and one that clamps it read the
    same."""
    with running_simulator(server_settings=_unlimited(list_over_max=over_max), scale=3000, seed=71) as sim:
        config = sim_config(sim, TEST_TOKEN, page_size=500)
        catalog = configured_catalog(run_connector("discover", config), set(LISTS))
        clock = time.monotonic()
        run = run_connector("read", config, catalog)
        lost, duplicates = lost_and_duplicates(sim, run, LISTS)
        refused = sim.stats.snapshot()["by_status"].get("400", 0)
        record(
            f"a list pageSize above its maximum: {over_max}",
            "full",
            lost,
            duplicates,
            f"{len(LISTS)} lists read; {refused} requests refused",
            time.monotonic() - clock,
        )
        assert run.returncode == 0 and (lost, duplicates, refused) == (0, 0, 0)


@pytest.mark.parametrize("disabled", ["served", "refused"])
def test_klass_statuses_and_disabled_klass_objects_switch(disabled):
    """Custom objects of every klass Kustomer still serves are synced, whatever its status; a disabled klass whose
    objects are refused is skipped with a warning naming it, and the rest sync."""
    statuses = {"legacy_case": "existing_only", "old_survey": "disabled"}
    org = OrgSettings(
        seed=67, scale=2000, anchor_ms=TEST_ANCHOR_MS, klasses=("order", *statuses), klass_status=statuses
    )
    with running_simulator(org, _unlimited(disabled_klass_objects=disabled)) as sim:
        config = sim_config(sim, TEST_TOKEN)
        discovered = run_connector("discover", config)
        streams = {s["name"]: s for s in discovered.of_type("CATALOG")[0]["catalog"]["streams"]}
        kobjects = {name for name in streams if name.startswith("kobjects_")}
        catalog = configured_catalog(discovered, kobjects)
        clock = time.monotonic()
        run = run_connector("read", config, catalog)
        served = kobjects - ({"kobjects_old_survey"} if disabled == "refused" else set())
        lost, duplicates = lost_and_duplicates(sim, run, sorted(served))
        record(
            f"klasses enabled, existing_only and disabled; disabled klass objects {disabled}",
            "full",
            lost,
            duplicates,
            f"{len(kobjects)} kobjects streams discovered; "
            + ("every one synced" if disabled == "served" else "the disabled one skipped, naming it"),
            time.monotonic() - clock,
        )
        assert kobjects == {"kobjects_order", "kobjects_legacy_case", "kobjects_old_survey"}
        assert "existing_only" in streams["kobjects_legacy_case"]["json_schema"]["description"]
        assert run.returncode == 0 and (lost, duplicates) == (0, 0)
        if disabled == "refused":
            assert run.summary()["kobjects_old_survey"]["skipped"]


AUDIT_SETTINGS = [
    # (date field filtered on, bounds, next links, publish lag in seconds, when ids are minted, cursors accepted)
    ("publishedAt", "inclusive", "bare", 4, "insertion", "both"),  # every switch at its default but the lag
    ("createdAt", "exclusive", "filtered", 0, "publish", "either"),
    ("publishedAt", "exclusive", "filtered", 6, "insertion", "alone"),
    ("createdAt", "inclusive", "bare", 3, "publish", "both"),
    ("createdAt", "inclusive", "bare", 8, "insertion", "alone"),
]


@pytest.mark.parametrize("date_field, bounds, links, lag, ids, paging", AUDIT_SETTINGS)
def test_audit_log_switches(date_field, bounds, links, lag, ids, paging):
    """Every entry of the audit log read exactly once, over two syncs, with a dense burst (hundreds of entries a
    second, createdAt lagging publishedAt, ids out of publish order where they are minted when stored) and entries
    exactly at a week's edge, however the date filters, cursors and next links behave -- and one misdated entry
    in each burst, reported and skipped without costing its neighbours."""
    now = now_ms()
    start = now - 20 * 86_400_000
    org = OrgSettings(seed=59, scale=1500, anchor_ms=TEST_ANCHOR_MS, audit_publish_lag_seconds=lag, audit_ids=ids)
    server = _unlimited(audit_date_field=date_field, audit_bounds=bounds, audit_next_links=links, audit_paging=paging)
    with running_simulator(org, server) as sim:
        edge = start + 7 * 86_400_000  # where the first sync's first week ends
        for at in (start, edge, edge + 1):
            sim.org.mutate("customers", 1, at_ms=at)
        misdated = [_audit_burst(sim, 3000, per_second=500, at_ms=edge + 60_000, misdating="published_early")]
        config = sim_config(sim, TEST_TOKEN, start_date=iso_ms(start)[:-5] + "Z")
        catalog = configured_catalog(run_connector("discover", config), {"audit_logs"})
        clock = time.monotonic()
        first = run_connector("read", config, catalog)
        # Published from the next second on (after the first sync read the log), over about three seconds.
        published_by = now_ms() + 3500
        misdated.append(_audit_burst(sim, 2000, per_second=800, at_ms=published_by, misdating="created_late"))
        time.sleep((published_by - now_ms()) / 1000 + config["audit_publish_lag_seconds"] + 0.5)
        second = run_connector("read", config, catalog, first.final_state())
        emitted = Counter(first.pairs("audit_logs") + second.pairs("audit_logs"))
        expected = {
            pair
            for pair in truth(sim, "audit_logs", iso_ms(start), second.position("audit_logs"))
            if pair[0] not in misdated
        }
        lost = len(expected - set(emitted))
        duplicates = sum(n - 1 for n in emitted.values())
        reported = [line for line in first.logs() + second.logs() if "own times contradict" in line]
        record(
            f"audit log: filters on {date_field}, bounds {bounds}, next links {links}, publish lag up to {lag} s, "
            f"ids minted at {ids}, cursors {paging}",
            "full, then incremental, with bursts of 500-800 entries a second and a misdated entry in each",
            lost,
            duplicates,
            f"{len(expected):,} entries read once each over two syncs; the misdated ones reported and skipped",
            time.monotonic() - clock,
        )
        assert first.returncode == second.returncode == 0 and (lost, duplicates) == (0, 0)
        # a misdated entry the filters serve is reported (one dated outside every window asked is never served)
        assert not set(emitted) - expected and any(entry in " ".join(reported) for entry in misdated)


def _audit_burst(sim: Simulator, count: int, per_second: int, at_ms: int, misdating: str) -> str:
    """Log a burst of conversation updates, the first of them misdated; returns its id."""
    first, _ = sim.org.audit_burst(count, "conversation", "update", per_second, at_ms, 1, misdating)
    return first


DELETION_SETTINGS = [
    # (how filter[include] combines, cursors accepted, when ids are minted, date field filtered on)
    ("toplevel", "both", "insertion", "publishedAt"),  # every switch at its default
    ("honoured", "either", "publish", "createdAt"),
    ("ignored", "alone", "insertion", "createdAt"),
    ("toplevel", "alone", "publish", "publishedAt"),
    ("honoured", "both", "insertion", "publishedAt"),
]
HARD_DELETES = {"customers": 3, "conversations": 3, "messages": 2, "companies": 2}


@pytest.mark.parametrize("include, paging, ids, date_field", DELETION_SETTINGS)
def test_deletions_read_every_entry_once_under_the_audit_log_switches(include, paging, ids, date_field):
    """Hard deletes of the four object types the audit log covers, between two syncs, each become exactly one
    marker in one combined pass (or one pass per type where filter[include] is not honoured on type and date),
    however cursors are accepted and ids minted; a misdated delete entry logged after them is reported, not
    marked, and costs none of them."""
    org = OrgSettings(seed=67, scale=1500, anchor_ms=TEST_ANCHOR_MS, audit_publish_lag_seconds=2, audit_ids=ids)
    server = _unlimited(audit_include=include, audit_paging=paging, audit_date_field=date_field)
    with running_simulator(org, server) as sim:
        config = sim_config(sim, TEST_TOKEN, sync_deletes=True)
        catalog = configured_catalog(run_connector("discover", config), set(HARD_DELETES))
        first = run_connector("read", config, catalog)
        gone = {stream: set(sim.org.delete(stream, n, hard=True)) for stream, n in HARD_DELETES.items()}
        # misdated in the date the filters do not compare, so it is served (and must be skipped, and reported)
        misdating = "published_early" if date_field == "createdAt" else "created_late"
        (misdated, _) = sim.org.audit_burst(1, "customer", "delete", 1, now_ms() + 1000, 1, misdating)
        named = next(e for e in sim.org.audit_log() if e["id"] == misdated)["attributes"]["objectId"]
        time.sleep(1 + config["audit_publish_lag_seconds"] + 0.5)
        clock = time.monotonic()
        second = run_connector("read", config, catalog, first.final_state())
        markers = {s: Counter(r["id"] for r in second.records(s) if r.get(DELETED_AT)) for s in HARD_DELETES}
        lost = sum(len(gone[s] - set(markers[s])) for s in HARD_DELETES)
        duplicates = sum(n - 1 for counted in markers.values() for n in counted.values())
        record(
            f"deletions: filter[include] {include}, cursors {paging}, ids minted at {ids}, filters on {date_field}",
            "incremental with sync_deletes, a misdated delete entry newest",
            lost,
            duplicates,
            f"{sum(len(g) for g in gone.values())} hard deletes, each one marker; the misdated entry reported",
            time.monotonic() - clock,
        )
        live = {s: {rid for rid, _ in sim.org.truth(s)} for s in HARD_DELETES}
        assert second.returncode == 0 and (lost, duplicates) == (0, 0)
        assert not any(set(markers[s]) & live[s] for s in HARD_DELETES)  # the rest: soft deletes found by search
        assert named not in markers["customers"]
        assert any(misdated in line and "own times contradict" in line for line in second.logs())
