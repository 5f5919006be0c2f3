"""The exact search reader against the simulator's search engine (no HTTP): ties, window, mutations."""

import json
import math
import random
from collections import Counter
from typing import Callable, List, Optional

import pytest

from kustomer_simulator.org import Org, OrgSettings
from kustomer_simulator.search import SearchLimits, past_window, run_search
from kustomer_simulator.testing import TEST_ANCHOR_MS
from kustomer_simulator.timefmt import iso_ms
from source_kustomer.keyset import KeysetReader, SearchPage, SortKey
from source_kustomer.streams.base import flatten

KEYS = [SortKey("customer_updated_at", "updatedAt"), SortKey("customer_created_at", "createdAt")]
LOWER = "2000-01-01T00:00:00.000Z"


def make_org(customers: int, ties: List[int], seed: int = 5) -> Org:
    return Org(
        OrgSettings(seed=seed, scale=1000, anchor_ms=TEST_ANCHOR_MS, tie_clusters=ties, counts={"customers": customers})
    )


def engine_fetch(org: Org, page_size: int, limits: SearchLimits, before_fetch: Optional[Callable] = None):
    calls = []

    def fetch(criteria, sort_field, page):
        if before_fetch:
            before_fetch(criteria, page, len(calls))
        assert not past_window(page, page_size, limits), "the reader asked for a page past the result window"
        body = {"and": criteria, "sort": [{sort_field: "asc"}], "queryContext": "customer"}
        indexes, meta, coll = run_search(org, body, page, page_size, limits)
        calls.append((criteria, page))
        records = [flatten(coll.render(i)) for i in indexes]
        return SearchPage(records, meta["total"], page < meta["totalPages"])

    return fetch, calls


def read_all(org: Org, page_size: int, upper: str, limits: Optional[SearchLimits] = None, before_fetch=None):
    limits = limits or SearchLimits()
    fetch, calls = engine_fetch(org, page_size, limits, before_fetch)
    reader = KeysetReader(fetch, KEYS, page_size, window_results=limits.window, max_pages=limits.max_pages)
    criteria = [{"customer_updated_at": {"gte": LOWER}}, {"customer_updated_at": {"lte": upper}}]
    records = list(reader.read(criteria))
    return records, reader.stats, calls


def test_reads_every_record_once_in_ascending_order_with_near_minimal_requests():
    org = make_org(2000, ties=[])
    upper = iso_ms(org.end_ms)
    records, stats, calls = read_all(org, 100, upper)
    assert [(r["id"], r["updatedAt"]) for r in records] == org.truth("customers")
    n = len(records)
    assert stats.requests == len(calls) <= math.ceil(n / 99) + 1
    assert all(page == 1 for _, page in calls)  # never pages a moving result set


def test_tie_cluster_three_pages_long_returned_in_non_id_order():
    org = make_org(1500, ties=[300])
    records, stats, _ = read_all(org, 100, iso_ms(org.end_ms))
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(rid for rid, _ in org.truth("customers"))
    assert stats.tie_clusters == 1
    tied = [r["id"] for r in records if list(r["updatedAt"] for r in records).count(r["updatedAt"]) > 100]
    assert tied != sorted(tied)  # Kustomer does not order ties by id; neither does the simulator


def test_tie_cluster_larger_than_the_result_window_is_read_by_created_at():
    org = make_org(2500, ties=[1200])
    limits = SearchLimits(window=500, max_pages=100)
    records, stats, calls = read_all(org, 100, iso_ms(org.end_ms), limits)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(rid for rid, _ in org.truth("customers"))
    assert stats.tie_clusters == 1
    assert any("customer_created_at" in json.dumps(criteria) for criteria, _ in calls)


def _same_created(org: Org) -> list:
    """Give every member of the largest tie cluster the same createdAt too (a bulk import)."""
    coll = org.collections["customers"]
    counts = Counter(coll.updated_ms)
    tied_ms = max(counts, key=counts.get)
    members = [i for i in range(coll.count) if coll.updated_ms[i] == tied_ms]
    for i in members:
        coll.created_ms[i] = coll.created_ms[members[0]]
    return [i for i in members if i not in coll.deleted]


def test_group_sharing_every_key_beyond_the_window_fails_loudly_instead_of_looping():
    org = make_org(1500, ties=[1200])
    _same_created(org)
    from airbyte_cdk.utils.traced_exception import AirbyteTracedException

    with pytest.raises(AirbyteTracedException, match="share the same updatedAt and createdAt"):
        read_all(org, 100, iso_ms(org.end_ms), SearchLimits(window=500))


def test_group_sharing_every_key_is_read_again_when_members_leave_mid_read():
    org = make_org(1500, ties=[400])
    members = _same_created(org)
    coll = org.collections["customers"]
    moved = []

    def leave(criteria, page, n):
        if page == 2 and not moved:  # while paging the group, its first members get updated
            for i in members[:30]:
                coll.touch(i, org.end_ms + 5000)
                moved.append(i)

    records, stats, _ = read_all(org, 100, iso_ms(org.end_ms), before_fetch=leave)
    emitted = {r["id"] for r in records}
    assert stats.group_rereads >= 1
    assert {rid for rid, _ in org.truth("customers", until_ms=org.end_ms)} <= emitted


def test_records_updated_while_reading_are_never_lost():
    org = make_org(3000, ties=[250])
    upper = iso_ms(org.end_ms)
    rng = random.Random(1)
    coll = org.collections["customers"]

    def mutate(criteria, page, n):
        for _ in range(5):  # updates land after the sync's upper bound, as real updates do
            coll.touch(rng.randrange(coll.count), org.end_ms + 1000 + n)

    records, _, _ = read_all(org, 100, upper, before_fetch=mutate)
    emitted = {r["id"] for r in records}
    still_in_window = {rid for rid, _ in org.truth("customers", until_ms=org.end_ms)}
    assert still_in_window <= emitted


def test_tie_cluster_members_updated_mid_read_shift_nothing():
    org = make_org(1500, ties=[400])
    coll = org.collections["customers"]
    counts = Counter(coll.updated_ms)
    tied_ms = max(counts, key=counts.get)
    members = [i for i in range(coll.count) if coll.updated_ms[i] == tied_ms and i not in coll.deleted]
    moved = []

    def leave(criteria, page, n):
        if "customer_created_at" in json.dumps(criteria) and not moved:
            for i in members[:30]:
                coll.touch(i, org.end_ms + 5000)
                moved.append(i)

    records, stats, _ = read_all(org, 100, iso_ms(org.end_ms), before_fetch=leave)
    assert moved and stats.group_rereads == 0
    assert {rid for rid, _ in org.truth("customers", until_ms=org.end_ms)} <= {r["id"] for r in records}


def test_naive_offset_paging_loses_records_in_the_same_scenario():
    """The scenario above is a real hazard: plain page=1..N over one query skips records."""
    org = make_org(3000, ties=[])
    coll = org.collections["customers"]
    rng = random.Random(1)
    limits = SearchLimits()
    body = {
        "and": [{"customer_updated_at": {"lte": iso_ms(org.end_ms)}}],
        "queryContext": "customer",
        "sort": [{"customer_updated_at": "asc"}],
    }
    seen, page = set(), 1
    while True:
        indexes, meta, _ = run_search(org, body, page, 100, limits)
        seen |= {coll.record_id(i) for i in indexes}
        for _ in range(5):
            coll.touch(rng.randrange(coll.count), org.end_ms + 1000 + page)
        if page >= meta["totalPages"]:
            break
        page += 1
    lost = {rid for rid, _ in org.truth("customers", until_ms=org.end_ms)} - seen
    assert lost
