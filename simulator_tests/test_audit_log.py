"""The audit log: ids minted when an entry is stored (at publish, or later and out of publish order), createdAt
lagging, retention by kind, misdated entries, and its open questions' switches; customer merges' audit entries and
records."""

import time
from collections import Counter
from typing import Iterator

import pytest
import requests

from kustomer_simulator.audit import ID_MODES, LONG_TERM_DAYS, SHORT_TERM_DAYS, retention_days
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
    """A small org whose audit log starts empty, served without rate limits; ids minted at publish time and
    cursors accepted alone, so the tests of the other switches can page as the published links do."""
    settings = ServerSettings(
        tokens={TEST_TOKEN: frozenset()}, org_per_minute=0, search_per_minute=0, audit_paging="either"
    )
    with running_simulator(
        server_settings=settings, scale=400, seed=3, audit_history=0, audit_ids="publish"
    ) as simulator:
        yield simulator


def _get(sim: Simulator, query: str) -> dict:
    response = requests.get(f"{sim.url}/v1/audit-logs?{query}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("lag_seconds", [8.0, 0.0])
def test_created_at_lags_publication_and_ids_carry_the_publish_second(lag_seconds):
    org, at = _org(audit_publish_lag_seconds=lag_seconds, audit_ids="publish"), now_ms()
    org.audit_burst(3000, "customer", "update", per_second=100, at_ms=at)
    entries = org.audit.entries
    lags = [published - created for published, created in map(_times, entries)]
    assert all(0 <= lag <= lag_seconds * 1000 for lag in lags)
    if lag_seconds:
        assert max(lags) > 7000 and len(set(lags)) > 1000  # pseudo-random, to the millisecond
    else:
        assert set(lags) == {0}
    assert all(int(e.id[:8], 16) == _times(e)[0] // 1000 for e in entries)
    assert all(e.stored_ms == e.published_ms for e in entries)
    assert [e.id for e in entries] == sorted(e.id for e in entries)
    assert [int(e.id[8:], 16) for e in entries] == sorted(int(e.id[8:], 16) for e in entries)  # log order
    again = _org(audit_publish_lag_seconds=lag_seconds, audit_ids="publish")
    again.audit_burst(3000, "customer", "update", per_second=100, at_ms=at)
    assert [e.record for e in again.audit.entries] == [e.record for e in entries]  # deterministic


def test_by_default_ids_follow_insertion_and_a_lower_id_can_be_published_seconds_later():
    assert OrgSettings().audit_ids == ID_MODES[0] == "insertion"
    org, at = _org(), now_ms()
    org.audit_burst(3000, "customer", "update", per_second=100, at_ms=at)
    entries = org.audit.entries  # by id
    for entry in entries:
        published, created = _times(entry)
        assert published // 1000 <= int(entry.id[:8], 16) == entry.stored_ms // 1000
        assert published <= entry.stored_ms <= created + 8000  # stored within the publish lag of its creation
    newest_first = entries[::-1]
    inversions = [
        (newer, older)
        for newer, older in zip(newest_first, newest_first[1:], strict=False)
        if _times(older)[0] - _times(newer)[0] >= 1000
    ]
    assert len(inversions) > 10  # the entry after, by id, published a second or more later
    moment = at - 5000
    served = {e["id"] for e in org.audit_log(moment)}
    assert served == {e.id for e in entries if e.stored_ms <= moment}  # served once stored...
    assert any(e.published_ms <= moment < e.stored_ms for e in entries)  # ...which can be seconds after publication
    assert len(org.audit_log()) == 3000  # the ground truth: every entry logged


@pytest.mark.parametrize("misdating, moved", [("published_early", "publishedAt"), ("created_late", "createdAt")])
def test_a_misdated_entry_carries_dates_that_contradict_each_other_and_its_id(log_sim, misdating, moved):
    payload = {"count": 3, "object_type": "customer", "verb": "update", "misdated": 1, "misdating": misdating}
    answer = requests.post(f"{log_sim.url}/__admin/audit", json=payload).json()
    misdated, *fine = log_sim.org.audit.entries
    assert answer["first"] == misdated.id
    published, created = _times(misdated)
    second = int(misdated.id[:8], 16) * 1000
    if moved == "publishedAt":
        assert published == second - 30 * DAY_MS + published % 1000 and created > published
    else:
        assert created > published + DAY_MS - 10_000 and created > second + 1000
    assert all(_times(e)[1] <= _times(e)[0] < int(e.id[:8], 16) * 1000 + 1000 for e in fine)
    bad = requests.post(f"{log_sim.url}/__admin/audit", json={**payload, "misdating": "sideways"})
    assert bad.status_code == 400


def test_the_default_publish_lag_is_eight_seconds():
    assert OrgSettings().audit_publish_lag_seconds == 8.0
    org = _org()
    org.audit_burst(500, "customer", "update", per_second=50)
    assert max(p - c for p, c in map(_times, org.audit.entries)) > 7000


def test_within_one_second_ids_follow_log_order_not_milliseconds():
    org = _org(audit_ids="publish")
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


@pytest.mark.parametrize("include", ["toplevel", "honoured", "ignored"])
def test_filter_include_adds_object_types_as_the_switch_says(log_sim, include):
    log_sim.settings.audit_include = include
    now = now_ms()
    for object_type in ("customer", "conversation", "message", "company"):
        log_sim.org.audit_burst(3, object_type, "update", per_second=3, at_ms=now - 60_000)  # a minute ago
        log_sim.org.audit_burst(2, object_type, "update", per_second=2, at_ms=now - 3 * DAY_MS)  # days ago

    def types(query: str) -> Counter:
        return Counter(e["attributes"]["objectType"] for e in _get(log_sim, f"count=100&{query}")["data"])

    recent = f"filter[start]={iso_ms(now - DAY_MS)}"
    with_include = types(f"filter[objectType]=customer&filter[include]=conversation,message&{recent}")
    expected = {
        "toplevel": {"customer": 3, "conversation": 5, "message": 5},  # the included types skip the dates
        "honoured": {"customer": 3, "conversation": 3, "message": 3},
        "ignored": {"customer": 3},
    }[include]
    assert with_include == expected
    alone = types("filter[include]=company")
    assert set(alone) == ({"company"} if include != "ignored" else {"customer", "conversation", "message", "company"})
    assert types(f"filter[objectType]=message&{recent}") == {"message": 3}
    assert ServerSettings().audit_include == "toplevel"


@pytest.mark.parametrize("paging", ["both", "either", "alone"])
def test_before_and_after_are_accepted_as_the_paging_switch_says(log_sim, paging):
    log_sim.settings.audit_paging = paging
    log_sim.org.audit_burst(6, "customer", "update", per_second=6, at_ms=now_ms() - 60_000)
    ids = [e.id for e in log_sim.org.audit.entries]  # oldest first
    accepted = {
        "both": {"none", "both"},
        "either": {"none", "before", "after", "both"},
        "alone": {"none", "before", "after"},
    }
    for form, query in [
        ("none", "count=10"),
        ("before", f"count=10&before={ids[4]}"),
        ("after", f"count=10&after={ids[1]}"),
        ("both", f"count=10&before={ids[4]}&after={ids[1]}"),
    ]:
        response = requests.get(f"{log_sim.url}/v1/audit-logs?{query}", headers=AUTH)
        if form not in accepted[paging]:
            assert response.status_code == 400 and "requires" in response.text or "combined" in response.text
            continue
        got = [e["id"] for e in response.json()["data"]]
        low = ids.index(query.split("after=")[1].split("&")[0]) + 1 if "after=" in query else 0
        high = ids.index(query.split("before=")[1].split("&")[0]) if "before=" in query else len(ids)
        assert got == ids[low:high][::-1], form  # newest id first, strictly between the cursors
    assert ServerSettings().audit_paging == "both"


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


@pytest.mark.parametrize("merge_audit", ["merge-only", "delete"])
@pytest.mark.parametrize("verb", ["update", "merge"])
@pytest.mark.parametrize("about", ["source", "target"])
def test_a_merge_writes_one_entry_shaped_as_the_switches_say_and_a_delete_entry_unless_merge_only(
    merge_audit, verb, about
):
    org = _org(merge_audit=merge_audit, merge_audit_verb=verb, merge_audit_about=about, audit_ids="publish")
    ((source, target),) = org.merge(1)
    entries = [e.record["attributes"] for e in org.audit.entries]
    if about == "target":
        shape = (verb, target, {"relationships": {"mergedCustomers": {"op": "add", "before": [], "after": [source]}}})
    else:
        shape = (verb, source, {"relationships": {"mergedInto": {"op": "replace", "before": None, "after": target}}})
    expected = [shape] + ([("delete", source, {})] if merge_audit == "delete" else [])
    assert [(e["eventVerb"], e["objectId"], e["changes"]) for e in entries] == expected
    assert entries[0]["eventName"] == f"kustomer.customer.{verb}"


def test_the_merge_defaults_are_the_readings_furthest_from_a_first_guess():
    settings = OrgSettings()
    assert (settings.merge_audit, settings.merge_audit_verb, settings.merge_audit_about) == (
        "merge-only",
        "update",
        "source",
    )
    assert settings.merge_pending_seconds == 5.0
    with pytest.raises(ValueError, match="merge setting"):
        _org(merge_audit_verb="merged")


def test_a_merge_record_is_pending_then_succeeds(log_sim):
    log_sim.org.merges.pending_ms = 1500
    ((source, target),) = log_sim.org.merge(1)
    url = f"{log_sim.url}/v1/customers/{source}/merges"
    (pending,) = requests.get(url, headers=AUTH).json()["data"]
    assert pending["attributes"]["status"] == "pending"
    assert pending["attributes"]["updatedAt"] == pending["attributes"]["createdAt"]
    time.sleep(1.8)
    done = requests.get(f"{log_sim.url}/v1/customers/merges/{pending['id']}", headers=AUTH).json()["data"]
    assert (
        done["attributes"]["status"] == "success"
        and done["attributes"]["updatedAt"] > pending["attributes"]["createdAt"]
    )
    assert (
        done["relationships"]["source"]["data"]["id"] == source
        and done["relationships"]["target"]["data"]["id"] == target
    )
