"""The exact search reader against the simulator's search engine (no HTTP): ties, window, mutations, and a
server that does not do what it was asked. Every request body is checked against Kustomer's published schema."""

import json
import math
import random
import weakref
from collections import Counter
from pathlib import Path
from typing import Callable, List, Optional

import pytest
import yaml
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.timestamps import instant

from kustomer_simulator.contract import search_body_violation
from kustomer_simulator.org import Org, OrgSettings
from kustomer_simulator.search import SearchError, SearchLimits, past_window, run_search
from kustomer_simulator.testing import TEST_ANCHOR_MS
from kustomer_simulator.timefmt import iso_ms
from source_kustomer import keyset
from source_kustomer.keyset import RANGE_DONE, KeysetReader
from source_kustomer.offset_read import MAX_GROUP_PASSES
from source_kustomer.search_ranges import Bound, KeyRange, SearchPage, SearchRejected, SortKey
from source_kustomer.streams.base import flatten

KEYS = [SortKey("customer_updated_at", "updatedAt"), SortKey("customer_created_at", "createdAt")]
LOWER = "2000-01-01T00:00:00.000Z"


def make_org(customers: int, ties: List[int], seed: int = 5) -> Org:
    return Org(
        OrgSettings(seed=seed, scale=1000, anchor_ms=TEST_ANCHOR_MS, tie_clusters=ties, counts={"customers": customers})
    )


def engine_fetch(
    org: Org,
    page_size: int,
    limits: SearchLimits,
    before_fetch: Optional[Callable] = None,
    spoil: Optional[Callable] = None,
):
    """The simulator's search engine as the reader's fetch; records every request; checks every body."""
    calls = []

    def fetch(criteria, sort_field, page):
        if before_fetch:
            before_fetch(criteria, page, len(calls))
        assert not past_window(page, page_size, limits), "the reader asked for a page past the result window"
        body = {"and": criteria, "sort": [{sort_field: "asc"}], "queryContext": "customer"}
        assert search_body_violation(body) is None, search_body_violation(body)
        calls.append((criteria, sort_field, page))
        try:
            targets, meta = run_search(org, body, page, page_size, limits)
        except SearchError as error:
            raise SearchRejected(f"HTTP 400: {error}") from None
        records = [flatten(coll.render(i)) for coll, i in targets]
        if spoil:
            records = spoil(records, len(calls))
        return SearchPage(records, meta["total"], page < meta["totalPages"])

    return fetch, calls


def reader_for(org, page_size, limits=None, before_fetch=None, spoil=None, malformed=None):
    limits = limits or SearchLimits()
    fetch, calls = engine_fetch(org, page_size, limits, before_fetch, spoil)
    reports = malformed if malformed is not None else []
    reader = KeysetReader(
        fetch,
        KEYS,
        page_size,
        stream="customers",
        window_results=limits.window,
        max_pages=limits.max_pages,
        on_malformed=lambda record, reason: reports.append((record, reason)),
    )
    return reader, calls


def window(upper: str, lower: str = LOWER) -> KeyRange:
    return KeyRange(KEYS[0], Bound(lower), Bound(upper))


def read_all(org: Org, page_size: int, upper: str, limits: Optional[SearchLimits] = None, **kwargs):
    reader, calls = reader_for(org, page_size, limits, **kwargs)
    records = list(reader.read(window(upper)))
    return records, reader.stats, calls


def honoured(**settings) -> SearchLimits:
    return SearchLimits(created_at={"customer": "honoured"}, **settings)


def uses_created_at(calls) -> bool:
    return any(
        "customer_created_at" in json.dumps(criteria) or sort == "customer_created_at" for criteria, sort, _ in calls
    )


def test_reads_every_record_once_in_ascending_order_with_near_minimal_requests():
    org = make_org(2000, ties=[])
    upper = iso_ms(org.end_ms)
    records, stats, calls = read_all(org, 100, upper)
    assert [(r["id"], r["updatedAt"]) for r in records] == org.truth("customers")
    assert stats.requests == len(calls) <= math.ceil(len(records) / 99) + 1
    assert all(page == 1 for _, _, page in calls)  # never pages a moving result set


@pytest.mark.parametrize("created_at", ["honoured", "ignored", "rejected"])
def test_tie_groups_inside_the_window_are_read_by_offset_without_any_second_sort(created_at):
    org = make_org(1500, ties=[300, 150])
    limits = SearchLimits(created_at={"customer": created_at})
    records, stats, calls = read_all(org, 100, iso_ms(org.end_ms), limits)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(rid for rid, _ in org.truth("customers"))
    assert stats.tie_groups >= 1 and not uses_created_at(calls)
    tied = [r["id"] for r in records if Counter(x["updatedAt"] for x in records)[r["updatedAt"]] > 100]
    assert tied != sorted(tied)  # Kustomer does not order ties by id; neither does the simulator


def test_a_tie_group_larger_than_the_window_is_read_by_created_at_where_honoured():
    org = make_org(2500, ties=[1200])
    limits = honoured(window=500)
    records, stats, calls = read_all(org, 100, iso_ms(org.end_ms), limits)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(rid for rid, _ in org.truth("customers"))
    assert stats.second_key_groups == 1 and uses_created_at(calls)


@pytest.mark.parametrize("created_at", ["ignored", "rejected"])
def test_a_tie_group_beyond_the_window_stops_with_one_clear_error_where_created_at_is_not_honoured(created_at):
    org = make_org(2500, ties=[1200])
    limits = SearchLimits(window=500, created_at={"customer": created_at})
    reader, calls = reader_for(org, 100, limits)
    emitted = []
    with pytest.raises(AirbyteTracedException) as raised:
        for record in reader.read(window(iso_ms(org.end_ms))):
            emitted.append(record)
    message = raised.value.message
    tied = iso_ms(Counter(org.collections["customers"].updated_ms).most_common(1)[0][0])
    assert f"records share updatedAt={tied}, more than the 500" in message and "customer_created_at" in message
    # every record before the group was emitted, in order; the error came within two requests of the group
    before = [(rid, u) for rid, u in org.truth("customers") if u < tied]
    assert [(r["id"], r["updatedAt"]) for r in emitted if r["updatedAt"] < tied] == before
    pinned = [{"customer_updated_at": {"gte": tied}}, {"customer_updated_at": {"lte": tied}}]
    first_group_call = next(n for n, (criteria, _, _) in enumerate(calls) if criteria[:2] == pinned)
    assert len(calls) - first_group_call <= 2


def _same_created(org: Org) -> list:
    """Give every member of the largest tie cluster the same createdAt too (a bulk import)."""
    coll = org.collections["customers"]
    counts = Counter(coll.updated_ms)
    tied_ms = max(counts, key=counts.get)
    members = [i for i in range(coll.count) if coll.updated_ms[i] == tied_ms]
    for i in members:
        coll.created_ms[i] = coll.created_ms[members[0]]
    coll.reindex()
    return [i for i in members if i not in coll.deleted]


def test_a_group_sharing_every_key_beyond_the_window_fails_loudly_instead_of_looping():
    org = make_org(1500, ties=[1200])
    _same_created(org)
    with pytest.raises(AirbyteTracedException, match="no further sort key can split them"):
        read_all(org, 100, iso_ms(org.end_ms), honoured(window=500))


def test_a_page_is_read_again_when_group_members_leave_while_the_group_is_paged():
    org = make_org(1500, ties=[400])
    coll = org.collections["customers"]
    tied_ms = Counter(coll.updated_ms).most_common(1)[0][0]
    members = [i for i in range(coll.count) if coll.updated_ms[i] == tied_ms and i not in coll.deleted]
    moved = []

    def leave(criteria, page, n):
        if page == 2 and not moved:  # while paging the group by offset, its first members get updated
            for i in members[:30]:
                coll.touch(i, org.end_ms + 5000)
                moved.append(i)

    records, stats, _ = read_all(org, 100, iso_ms(org.end_ms), before_fetch=leave)
    assert moved and stats.page_rereads >= 1
    assert {rid for rid, _ in org.truth("customers", until_ms=org.end_ms)} <= {r["id"] for r in records}


def test_a_group_under_constant_churn_is_still_read_exactly():
    org = make_org(3000, ties=[1000])
    coll = org.collections["customers"]
    tied_ms = Counter(coll.updated_ms).most_common(1)[0][0]
    members = [i for i in range(coll.count) if coll.updated_ms[i] == tied_ms and i not in coll.deleted]
    rng = random.Random(9)

    def churn(criteria, page, n):  # two members leave the group before almost every request
        for i in rng.sample(members, 2):
            coll.touch(i, org.end_ms + 1000 + n)

    records, stats, _ = read_all(org, 100, iso_ms(org.end_ms), before_fetch=churn)
    assert stats.page_rereads >= 5
    assert {rid for rid, _ in org.truth("customers", until_ms=org.end_ms)} <= {r["id"] for r in records}


def test_records_updated_while_reading_are_never_lost():
    org = make_org(3000, ties=[250])
    rng = random.Random(1)
    coll = org.collections["customers"]

    def mutate(criteria, page, n):
        for _ in range(5):  # updates land after the sync's upper bound, as real updates do
            coll.touch(rng.randrange(coll.count), org.end_ms + 1000 + n)

    records, _, _ = read_all(org, 100, iso_ms(org.end_ms), before_fetch=mutate)
    assert {rid for rid, _ in org.truth("customers", until_ms=org.end_ms)} <= {r["id"] for r in records}


@pytest.mark.parametrize("cluster", [200, 1000])
def test_resuming_from_a_cursor_on_a_tied_value_reads_the_whole_group_with_valid_bodies(cluster):
    org = make_org(3000, ties=[cluster])
    coll = org.collections["customers"]
    tied = iso_ms(Counter(coll.updated_ms).most_common(1)[0][0])
    reader, calls = reader_for(org, 100)
    records = list(reader.read(window(iso_ms(org.end_ms), lower=tied)))
    assert {(r["id"], r["updatedAt"]) for r in records} == {(i, u) for i, u in org.truth("customers") if u >= tied}
    assert all(
        len(criteria) == len({json.dumps(item, sort_keys=True) for item in criteria}) for criteria, _, _ in calls
    )


def test_without_a_usable_total_a_group_is_complete_when_two_passes_agree():
    org = make_org(1500, ties=[300])

    def no_total(records, n):
        return records

    limits = SearchLimits(created_at={"customer": "rejected"})
    fetch, calls = engine_fetch(org, 100, limits, spoil=no_total)

    def totalless(criteria, sort, page):
        page_of = fetch(criteria, sort, page)
        return SearchPage(page_of.records, None, page_of.has_next)

    reader = KeysetReader(totalless, KEYS, 100, stream="customers")
    records = list(reader.read(window(iso_ms(org.end_ms))))
    assert sorted(r["id"] for r in records) == sorted(rid for rid, _ in org.truth("customers"))
    assert reader.stats.group_rereads >= 1  # the second, confirming pass


def test_a_capped_total_sends_a_large_group_to_the_second_key():
    org = make_org(12_500, ties=[11_000])
    limits = honoured(total="capped")
    records, stats, _ = read_all(org, 500, iso_ms(org.end_ms), limits)
    assert stats.second_key_groups == 1
    assert sorted(r["id"] for r in records) == sorted(rid for rid, _ in org.truth("customers"))


def test_an_unsorted_page_stops_the_read_before_emitting_anything_unverified():
    org = make_org(2000, ties=[])

    def reverse_third_page(records, n):
        return records[::-1] if n == 3 else records

    reader, calls = reader_for(org, 100, spoil=reverse_third_page)
    emitted = []
    with pytest.raises(AirbyteTracedException, match="asked for ascending updatedAt"):
        for record in reader.read(window(iso_ms(org.end_ms))):
            emitted.append(record)
    truth = org.truth("customers")
    assert [(r["id"], r["updatedAt"]) for r in emitted] == truth[: len(emitted)]
    assert len(calls) == 3


def test_a_record_past_the_requested_upper_bound_stops_the_read():
    org = make_org(800, ties=[])

    def far_future(records, n):
        if n == 2:
            records[-1]["updatedAt"] = "2999-01-01T00:00:00.000Z"
        return records

    with pytest.raises(AirbyteTracedException, match="got a record with 2999-01-01"):
        read_all(org, 100, iso_ms(org.end_ms), spoil=far_future)


@pytest.mark.parametrize("transient", [True, False])
@pytest.mark.parametrize("request_no", [2, 6])  # request 2 links on; request 6, the last, is short of meta.total
def test_a_page_holding_fewer_records_than_it_says_is_asked_again_then_stops_the_read(request_no, transient):
    """A search that drops a record from an answer -- a page shorter than asked that links on, or a last page short
    of what meta.total leaves for it -- is asked again twice; if it persists, one error: records were dropped."""
    org = make_org(550, ties=[])
    upper = iso_ms(org.end_ms)

    def drop_one(records, n):  # n counts requests: the keyset asks page 1 of a moving range each time
        broken = n == request_no or (not transient and n > request_no)
        return records[1:] if broken else records

    reader, calls = reader_for(org, 100, spoil=drop_one)
    emitted = []
    if transient:
        emitted = list(reader.read(window(upper)))
        assert [(r["id"], r["updatedAt"]) for r in emitted] == org.truth("customers")
        assert calls[request_no - 1] == calls[request_no]  # the same page asked again
        return
    with pytest.raises(AirbyteTracedException, match="records were dropped") as stopped:
        for record in reader.read(window(upper)):
            emitted.append(record)
    assert ("linked to a further page" if request_no == 2 else "where its meta.total") in str(stopped.value)
    assert [(r["id"], r["updatedAt"]) for r in emitted] == org.truth("customers")[: len(emitted)]
    assert len(emitted) < 550 and len(calls) == request_no + 2


def test_a_page_with_a_malformed_record_is_asked_for_again_and_a_transient_fault_loses_nothing():
    org = make_org(600, ties=[])

    def spoil_once(records, n):
        if n == 1:
            records[5].pop("id")
        return records

    records, stats, calls = read_all(org, 100, iso_ms(org.end_ms), spoil=spoil_once)
    assert stats.malformed == 0 and calls[0] == calls[1]
    assert [(r["id"], r["updatedAt"]) for r in records] == org.truth("customers")


def test_a_page_is_let_go_before_the_next_is_asked_for():
    """The keyset, tie groups read by offset and a page asked for again alike: no page is still held when the next
    request goes out (a page held meanwhile took four streams of large records to 517 MB)."""
    org = make_org(1500, ties=[300, 150])

    def spoil_once(records, n):
        if n == 1:
            records[5].pop("id")
        return records

    fetch, calls = engine_fetch(org, 100, SearchLimits(), spoil=spoil_once)
    served: List[weakref.ref] = []

    def watched(criteria, sort_field, page):
        held = sum(ref() is not None for ref in served)
        assert held == 0, f"{held} earlier page(s) still held when request {len(served) + 1} went out"
        answer = fetch(criteria, sort_field, page)
        served.append(weakref.ref(answer))
        return answer

    reader = KeysetReader(watched, KEYS, 100, stream="customers")
    records = list(reader.read(window(iso_ms(org.end_ms))))
    assert sorted(r["id"] for r in records) == sorted(rid for rid, _ in org.truth("customers"))
    assert reader.stats.tie_groups >= 1 and calls[0] == calls[1]  # a tie group read, and a page asked for again


def test_records_that_stay_malformed_are_skipped_and_reported_never_emitted():
    org = make_org(600, ties=[])
    truth = org.truth("customers")
    no_id, bad_cursor = truth[5][0], truth[9][0]
    broken = []

    def spoil(records, n):
        for record in records:
            if record["id"] == no_id:
                record.pop("id")
            elif record.get("id") == bad_cursor:
                record["updatedAt"] = "soon"
        return records

    records, stats, _ = read_all(org, 100, iso_ms(org.end_ms), spoil=spoil, malformed=broken)
    assert stats.malformed == 2 and [reason for _, reason in broken] == [
        "it has no id",
        "its updatedAt is missing or not a timestamp",
    ]
    assert [r["id"] for r in records] == [rid for rid, _ in truth if rid not in (no_id, bad_cursor)]


def test_a_group_whose_order_is_unstable_is_read_again_then_stops_if_it_never_settles():
    org = make_org(1500, ties=[300])
    shuffle = random.Random(3)

    def unstable(records, n):  # a different member order on every request: offset pages overlap
        if len({r["updatedAt"] for r in records}) == 1:
            shuffle.shuffle(records)
            records[-1] = dict(records[0])
        return records

    with pytest.raises(AirbyteTracedException, match=f"came back differently on each of {MAX_GROUP_PASSES} reads"):
        read_all(org, 100, iso_ms(org.end_ms), SearchLimits(created_at={"customer": "rejected"}), spoil=unstable)


def test_naive_offset_paging_loses_records_in_the_same_scenario():
    """The mutation scenario above is a real hazard: plain page=1..N over one query skips records."""
    org = make_org(3000, ties=[])
    coll = org.collections["customers"]
    rng = random.Random(1)
    body = {
        "and": [{"customer_updated_at": {"lte": iso_ms(org.end_ms)}}],
        "queryContext": "customer",
        "sort": [{"customer_updated_at": "asc"}],
    }
    seen, page = set(), 1
    while True:
        targets, meta = run_search(org, body, page, 100, SearchLimits())
        seen |= {c.record_id(i) for c, i in targets}
        for _ in range(5):
            coll.touch(rng.randrange(coll.count), org.end_ms + 1000 + page)
        if page >= meta["totalPages"]:
            break
        page += 1
    assert {rid for rid, _ in org.truth("customers", until_ms=org.end_ms)} - seen


TIME_KEY = SortKey("conversation_time_created_at", "createdAt")


def _times_reader(org: Org, page_size: int, limits: SearchLimits, before_fetch=None):
    calls = []

    def fetch(criteria, sort_field, page):
        if before_fetch:
            before_fetch(len(calls))
        assert not past_window(page, page_size, limits), "the reader asked for a page past the result window"
        body = {"and": criteria, "sort": [{sort_field: "asc"}], "queryContext": "conversation_time"}
        assert search_body_violation(body) is None
        calls.append((criteria, page))
        targets, meta = run_search(org, body, page, page_size, limits)
        records = [flatten(coll.render(i)) for coll, i in targets]
        return SearchPage(records, meta["total"], page < meta["totalPages"])

    reader = KeysetReader(fetch, [TIME_KEY], page_size, window_results=limits.window, max_pages=limits.max_pages)
    return reader, calls


@pytest.mark.parametrize("sort", ["honoured", "ignored"])
def test_ranges_read_an_unsorted_window_exactly_splitting_what_one_search_cannot_page(sort):
    org = Org(
        OrgSettings(
            seed=8, scale=1000, anchor_ms=TEST_ANCHOR_MS, tie_clusters=[300], counts={"conversation_times": 4000}
        )
    )
    limits = SearchLimits(window=1000, conversation_time_sort=sort)
    reader, calls = _times_reader(org, 100, limits)
    upper = iso_ms(org.end_ms)
    read = list(reader.read_by_ranges(KeyRange(TIME_KEY, Bound(LOWER), Bound(upper))))
    records = [r for r in read if r is not RANGE_DONE]
    assert sum(r is RANGE_DONE for r in read) > reader.stats.range_splits  # a mark per range read in full
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) and set(ids) == {rid for rid, _ in org.truth("conversation_times")}
    assert reader.stats.range_splits >= 4 and reader.checkpoint == upper
    assert len(calls) <= 4000 / 100 * 1.5 + reader.stats.range_splits  # each split costs the one page it sized


def test_a_range_reader_checkpoint_only_covers_ranges_read_in_full():
    org = Org(OrgSettings(seed=9, scale=1000, anchor_ms=TEST_ANCHOR_MS, counts={"conversation_times": 3000}))
    reader, _ = _times_reader(org, 100, SearchLimits(window=1000))
    times = org.collections["conversation_times"]
    dated = sorted((iso_ms(times.created_ms[i]), times.record_id(i)) for i in range(times.count))
    emitted, checkpoints = set(), 0
    for record in reader.read_by_ranges(KeyRange(TIME_KEY, Bound(LOWER), Bound(iso_ms(org.end_ms)))):
        if record is not RANGE_DONE:
            emitted.add(record["id"])
        if reader.checkpoint is not None:  # every record dated at or before the checkpoint is already out
            checkpoints += 1
            assert {rid for moment, rid in dated if moment <= reader.checkpoint} <= emitted
            dated = [(moment, rid) for moment, rid in dated if moment > reader.checkpoint]
    assert checkpoints and reader.checkpoint == iso_ms(org.end_ms) and {rid for _, rid in dated} <= emitted


def test_more_records_at_one_millisecond_than_one_search_can_page_stop_with_one_error():
    org = Org(
        OrgSettings(
            seed=10, scale=1000, anchor_ms=TEST_ANCHOR_MS, tie_clusters=[1500], counts={"conversation_times": 2000}
        )
    )
    reader, calls = _times_reader(org, 100, SearchLimits(window=1000))
    with pytest.raises(AirbyteTracedException, match="cannot be split further"):
        list(reader.read_by_ranges(KeyRange(TIME_KEY, Bound(LOWER), Bound(iso_ms(org.end_ms)))))
    assert len(calls) < 200


def test_a_range_read_stops_at_its_stated_number_of_searches_once_split_after_saving_every_range_read_in_full(
    monkeypatch,
):
    monkeypatch.setattr(keyset, "MAX_SPLIT_SEARCHES", 12)
    org = Org(OrgSettings(seed=9, scale=1000, anchor_ms=TEST_ANCHOR_MS, counts={"conversation_times": 3000}))
    reader, calls = _times_reader(org, 100, SearchLimits(window=1000))
    read = []
    with pytest.raises(AirbyteTracedException, match="took more than 12 searches in this sync once it was split"):
        for record in reader.read_by_ranges(KeyRange(TIME_KEY, Bound(LOWER), Bound(iso_ms(org.end_ms)))):
            read.append(record)
    assert any(r is RANGE_DONE for r in read) and reader.checkpoint is not None
    assert len(calls) == 1 + 12  # the search that sized the window, then exactly the cap


def test_a_range_read_of_a_server_claiming_huge_ranges_spends_exactly_its_split_searches():
    """Every range wider than an hour said to hold a billion records, every narrower one a single record: the read
    splits down to 262,144 ranges of 52 minutes -- 266,305 searches uncapped -- yet sends exactly the stated cap
    after its first split, the bound SECURITY.md gives in searches and minutes."""
    sent = []

    def claimed(criteria, sort_field, page):
        sent.append(criteria)
        (low,), (high,) = (list(c.values())[0].values() for c in criteria)
        if instant(high) - instant(low) > 3_600_000_000:  # microseconds
            return SearchPage([{"id": f"r{len(sent)}-{n}", "createdAt": high} for n in range(100)], 10**9, True)
        return SearchPage([{"id": f"r{len(sent)}", "createdAt": high}], 1, False)

    reader = KeysetReader(claimed, [TIME_KEY], 100)
    read = []
    with pytest.raises(AirbyteTracedException, match="took more than 5,400 searches in this sync once it was split"):
        for record in reader.read_by_ranges(KeyRange(TIME_KEY, Bound(LOWER), Bound("2026-01-01T00:00:00.000Z"))):
            read.append(record)
    assert len(sent) == 1 + keyset.MAX_SPLIT_SEARCHES == 5_401
    assert any(r is RANGE_DONE for r in read) and reader.checkpoint is not None


def test_the_split_cap_is_stated_in_minutes_at_the_specs_default_search_share():
    spec = yaml.safe_load((Path(keyset.__file__).parent / "spec.yaml").read_text())
    share = spec["connectionSpecification"]["properties"]["search_requests_per_minute"]["default"]
    assert share == keyset.DEFAULT_SEARCHES_PER_MINUTE and keyset.MAX_SPLIT_SEARCHES / share == 60
