"""The audit log: ids minted at publish time, createdAt lagging, retention by kind, and its open questions' switches."""

import time
from typing import Iterator

import pytest
import requests

from kustomer_simulator.audit import LONG_TERM_DAYS, SHORT_TERM_DAYS, retention_days
from kustomer_simulator.faults import Fault
from kustomer_simulator.org import Org, OrgSettings
from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import TEST_ANCHOR_MS, TEST_TOKEN, running_simulator
from kustomer_simulator.timefmt import DAY_MS, iso_ms, now_ms, parse_iso_ms

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


def _org(**settings) -> Org:
    return Org(OrgSettings(seed=3, scale=400, anchor_ms=TEST_ANCHOR_MS, audit_history=0, **settings))


def _times(entry) -> tuple:
    attributes = entry.record["attributes"]
    return parse_iso_ms(attributes["publishedAt"]), parse_iso_ms(attributes["createdAt"])


@pytest.fixture
def log_sim() -> Iterator[Simulator]:
    """A small org whose audit log starts empty, served without rate limits."""
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, org_per_minute=0, search_per_minute=0)
    with running_simulator(server_settings=settings, scale=400, seed=3, audit_history=0) as simulator:
        yield simulator


def _get(sim: Simulator, query: str) -> dict:
    response = requests.get(f"{sim.url}/v1/audit-logs?{query}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("lag_seconds", [8.0, 0.0])
def test_created_at_lags_publication_and_ids_carry_the_publish_second(lag_seconds):
    org, at = _org(audit_publish_lag_seconds=lag_seconds), now_ms()
    org.audit_burst(3000, "customer", "update", per_second=100, at_ms=at)
    entries = org.audit.entries
    lags = [published - created for published, created in map(_times, entries)]
    assert all(0 <= lag <= lag_seconds * 1000 for lag in lags)
    if lag_seconds:
        assert max(lags) > 7000 and len(set(lags)) > 1000  # pseudo-random, to the millisecond
    else:
        assert set(lags) == {0}
    assert all(int(e.id[:8], 16) == _times(e)[0] // 1000 for e in entries)
    assert [e.id for e in entries] == sorted(e.id for e in entries)
    assert [int(e.id[8:], 16) for e in entries] == sorted(int(e.id[8:], 16) for e in entries)  # log order
    again = _org(audit_publish_lag_seconds=lag_seconds)
    again.audit_burst(3000, "customer", "update", per_second=100, at_ms=at)
    assert [e.record for e in again.audit.entries] == [e.record for e in entries]  # deterministic


def test_the_default_publish_lag_is_eight_seconds():
    assert OrgSettings().audit_publish_lag_seconds == 8.0
    org = _org()
    org.audit_burst(500, "customer", "update", per_second=50)
    assert max(p - c for p, c in map(_times, org.audit.entries)) > 7000


def test_within_one_second_ids_follow_log_order_not_milliseconds():
    org = _org()
    second = (TEST_ANCHOR_MS // 1000 + 5) * 1000
    late, early = org.mutate("customers", 1, at_ms=second + 900), org.mutate("customers", 1, at_ms=second + 100)
    before = org.mutate("customers", 1, at_ms=second - 1000)  # logged last, published a second earlier
    ordered = [e.record["attributes"]["objectId"] for e in org.audit.entries]
    assert ordered == before + late + early


def test_bursts_from_the_admin_route_are_dense_and_fast(log_sim):
    started = time.monotonic()
    payload = {"count": 30_000, "object_type": "customer", "verb": "merge", "per_second": 1000}
    answer = requests.post(f"{log_sim.url}/__admin/audit", json=payload).json()
    assert time.monotonic() - started < 10
    entries = log_sim.org.audit.entries
    assert answer == {"appended": 30_000, "first": entries[0].id, "last": entries[-1].id}
    seconds = {e.id[:8] for e in entries}
    assert len(seconds) == 30 and all(e.id[:8] < f"{now_ms() // 1000:08x}" for e in entries)
    customers = log_sim.org.collections["customers"]
    for entry in entries[:50]:
        changes = entry.record["attributes"]["changes"]["relationships"]["mergedCustomers"]
        assert entry.record["attributes"]["eventName"] == "kustomer.customer.merge"
        assert customers.index_of(changes["after"][0]) is not None  # names a customer; no record was changed
    page = _get(log_sim, "count=1000&filter[objectType]=customer")
    assert page["meta"] == {"count": 1000, "total": 30_000}
    bad = requests.post(f"{log_sim.url}/__admin/audit", json={"count": 3, "object_type": "company", "verb": "merge"})
    assert bad.status_code == 400


@pytest.mark.parametrize("links", ["bare", "filtered"])
def test_links_carry_only_count_and_cursor_unless_filtered(log_sim, links):
    log_sim.settings.audit_next_links = links
    now = now_ms()
    log_sim.org.audit_burst(4, "customer", "update", per_second=4, at_ms=now - 60_000)
    log_sim.org.audit_burst(3, "conversation", "update", per_second=3, at_ms=now - 120_000)
    log_sim.org.audit_burst(5, "customer", "update", per_second=5, at_ms=now - 180_000)
    start = iso_ms(now - DAY_MS)
    page = _get(log_sim, f"count=3&filter[objectType]=customer&filter[start]={start}")
    ids = [e["id"] for e in page["data"]]
    kept = f"&filter[objectType]=customer&filter[start]={start}" if links == "filtered" else ""
    assert page["links"] == {
        "self": f"/v1/audit-logs?count=3{kept}",
        "first": f"/v1/audit-logs?count=3{kept}",
        "prev": f"/v1/audit-logs?count=3{kept}&after={ids[0]}",
        "next": f"/v1/audit-logs?count=3{kept}&before={ids[-1]}",
    }
    following = requests.get(f"{log_sim.url}{page['links']['next']}", headers=AUTH).json()
    types = [e["attributes"]["objectType"] for e in following["data"]]
    assert types == (["customer"] * 3 if links == "filtered" else ["customer", "conversation", "conversation"])
    assert following["links"]["self"].endswith(f"&before={ids[-1]}")


@pytest.mark.parametrize("date_field", ["publishedAt", "createdAt"])
@pytest.mark.parametrize("bounds", ["inclusive", "exclusive"])
def test_date_filters_compare_the_chosen_field_with_the_chosen_bounds(log_sim, date_field, bounds):
    log_sim.settings.audit_date_field, log_sim.settings.audit_bounds = date_field, bounds
    log_sim.org.audit_burst(400, "customer", "update", per_second=20)
    entries = log_sim.org.audit.entries
    moment = {"publishedAt": 0, "createdAt": 1}[date_field]
    dated = [(_times(e)[moment], e.id) for e in entries]
    low, high = sorted(dated)[100][0], sorted(dated)[300][0]
    page = _get(log_sim, f"count=1000&filter[start]={iso_ms(low)}&filter[end]={iso_ms(high)}")
    if bounds == "inclusive":
        expected = [i for at, i in dated if low <= at <= high]
    else:
        expected = [i for at, i in dated if low < at < high]
    assert [e["id"] for e in page["data"]] == sorted(expected, reverse=True)  # newest id first
    other = [i for at, i in ((_times(e)[1 - moment], e.id) for e in entries) if low <= at <= high]
    assert set(other) != set(expected)  # the other field would have chosen other entries


def test_the_date_filters_default_to_publication_time_inclusive():
    settings = ServerSettings()
    assert (settings.audit_date_field, settings.audit_bounds, settings.audit_next_links) == (
        "publishedAt",
        "inclusive",
        "bare",
    )


@pytest.mark.parametrize(
    "object_type, verb, days",
    [
        ("conversation", "update", SHORT_TERM_DAYS),
        ("customer", "update", SHORT_TERM_DAYS),
        ("message", "update", SHORT_TERM_DAYS),
        ("work_item", "update", SHORT_TERM_DAYS),
        ("work_session", "create", SHORT_TERM_DAYS),
        ("user", "update", SHORT_TERM_DAYS),
        ("customer", "delete", SHORT_TERM_DAYS),  # not on the page: the short term
        ("conversation", "create", SHORT_TERM_DAYS),
        ("message", "delete", SHORT_TERM_DAYS),
        ("business_rule", "delete", LONG_TERM_DAYS),
        ("company", "update", LONG_TERM_DAYS),
        ("customer", "merge", LONG_TERM_DAYS),
        ("message", "create", LONG_TERM_DAYS),
        ("search", "update", LONG_TERM_DAYS),
        ("shortcut", "update", LONG_TERM_DAYS),
        ("bill_subscription", "update", LONG_TERM_DAYS),
    ],
)
def test_entries_expire_after_their_kinds_retention(object_type, verb, days):
    assert retention_days(object_type, verb) == days
    org = _org()
    now = now_ms()
    for age_days in (days - 1, days + 1):
        org.audit.write((verb, object_type, "5f8efdd5d3de932f344ca367", now - age_days * DAY_MS, None))
    young, old = sorted(org.audit.entries, key=lambda e: -e.published_ms)
    assert young.expires_ms == young.created_ms + days * DAY_MS
    assert young.record["attributes"]["expiresAt"] == iso_ms(young.created_ms + days * DAY_MS)
    assert [e["id"] for e in org.audit_log()] == [young.id]  # the expired one is not served


@pytest.mark.parametrize("include", ["honoured", "ignored"])
def test_filter_include_adds_object_types_unless_ignored(log_sim, include):
    log_sim.settings.audit_include = include
    for object_type in ("customer", "conversation", "message", "company"):
        log_sim.org.audit_burst(3, object_type, "update", per_second=3)

    def types(query: str) -> set:
        return {e["attributes"]["objectType"] for e in _get(log_sim, f"count=100&{query}")["data"]}

    with_include = types("filter[objectType]=customer&filter[include]=conversation,message")
    assert with_include == ({"customer", "conversation", "message"} if include == "honoured" else {"customer"})
    alone = types("filter[include]=company")
    assert alone == ({"company"} if include == "honoured" else {"customer", "conversation", "message", "company"})
    assert types("filter[objectType]=message") == {"message"}
    assert ServerSettings().audit_include == "honoured"


@pytest.mark.parametrize(
    "variant, dropped", [("no_created_at", {"createdAt"}), ("no_dates", {"createdAt", "publishedAt"})]
)
def test_sparse_audit_pages_lose_dates(log_sim, variant, dropped):
    log_sim.org.audit_burst(5, "customer", "update", per_second=5)
    log_sim.faults.add(Fault("sparse_audit", variant=variant, scope="/v1/audit-logs"))
    sparse = _get(log_sim, "count=5")["data"]
    assert len(sparse) == 5 and all(not dropped & set(e["attributes"]) for e in sparse)
    assert all({"org", "eventName", "eventVerb"} <= set(e["attributes"]) for e in sparse)
    assert all({"createdAt", "publishedAt"} <= set(e["attributes"]) for e in _get(log_sim, "count=5")["data"])
    assert Fault("sparse_audit").variant == "no_created_at"
    with pytest.raises(ValueError, match="sparse_audit variant"):
        Fault("sparse_audit", variant="no_id")


@pytest.mark.parametrize("merge_audit", ["delete", "merge-only"])
def test_a_merge_writes_a_merge_entry_and_a_delete_entry_unless_merge_only(merge_audit):
    org = _org(merge_audit=merge_audit)
    ((source, target),) = org.merge(1)
    entries = [e.record["attributes"] for e in org.audit.entries]
    merged = {"relationships": {"mergedCustomers": {"op": "add", "before": [], "after": [source]}}}
    expected = [("merge", target, merged)] + ([("delete", source, {})] if merge_audit == "delete" else [])
    assert [(e["eventVerb"], e["objectId"], e["changes"]) for e in entries] == expected
    assert OrgSettings().merge_audit == "delete"
