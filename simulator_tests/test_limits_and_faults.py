"""Budgets, their headers, and every injectable fault."""

import time

import pytest
import requests

from kustomer_simulator.faults import Fault
from kustomer_simulator.ratelimit import Budgets
from simulator_tests.conftest import search_body


def test_budgets_count_searches_against_both_and_reset_each_window():
    budgets = Budgets(org_per_minute=5, search_per_minute=2, minute_seconds=60)
    t = 60 * 16_000 + 20.0  # 20 s into a window
    assert [budgets.spend(True, t).allowed for _ in range(3)] == [True, True, False]
    assert [budgets.spend(False, t).allowed for _ in range(4)] == [True, True, True, False]
    assert budgets.spend(True, t + 40).allowed  # next window


def test_headers_announce_limit_remaining_and_reset(sim, http):
    sim.set_rate_limits(org_per_minute=10, search_per_minute=3, minute_seconds=6)
    listed = http.get(f"{sim.url}/v1/tags")
    assert listed.headers["x-ratelimit-limit"] == "10" and listed.headers["x-ratelimit-remaining"] == "9"
    reset = int(listed.headers["x-ratelimit-reset"])
    assert time.time() - 1 <= reset <= time.time() + 7
    searched = [http.post(f"{sim.url}/v1/customers/search", json=search_body()) for _ in range(4)]
    assert [r.status_code for r in searched] == [200, 200, 200, 429]
    assert searched[0].headers["x-ratelimit-limit"] == "3"
    assert searched[3].headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(searched[3].headers["Retry-After"]) <= 6
    # the org budget still has room for lists
    assert http.get(f"{sim.url}/v1/tags").status_code == 200


def test_reset_header_in_seconds_mode(sim, http):
    sim.settings.reset_mode = "seconds"
    sim.set_rate_limits(org_per_minute=10, search_per_minute=3, minute_seconds=6)
    assert 0 <= int(http.get(f"{sim.url}/v1/tags").headers["x-ratelimit-reset"]) <= 6


def test_org_budget_refuses_everything_once_spent(sim, http):
    sim.set_rate_limits(org_per_minute=2, search_per_minute=100, minute_seconds=30)
    statuses = [http.get(f"{sim.url}/v1/tags").status_code for _ in range(2)]
    statuses.append(http.post(f"{sim.url}/v1/customers/search", json=search_body()).status_code)
    assert statuses == [200, 200, 429]


def test_fault_status_burst_then_recovery(sim, http):
    sim.faults.add(Fault(kind="status", status=502, count=2, scope="search"))
    codes = [http.post(f"{sim.url}/v1/customers/search", json=search_body()).status_code for _ in range(3)]
    assert codes == [502, 502, 200]
    assert http.get(f"{sim.url}/v1/tags").status_code == 200


def test_fault_after_skips_requests_first(sim, http):
    sim.faults.add(Fault(kind="status", count=1, after=2))
    assert [http.get(f"{sim.url}/v1/tags").status_code for _ in range(4)] == [200, 200, 503, 200]


def test_fault_connection_reset(sim, http):
    sim.faults.add(Fault(kind="reset"))
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(f"{sim.url}/v1/tags")
    assert http.get(f"{sim.url}/v1/tags").status_code == 200


def test_fault_slow_response_beyond_a_timeout(sim, http):
    sim.faults.add(Fault(kind="slow", seconds=1.5))
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(f"{sim.url}/v1/tags", timeout=0.5)


def test_fault_truncated_body(sim, http):
    sim.faults.add(Fault(kind="truncated"))
    with pytest.raises(requests.exceptions.RequestException):
        http.get(f"{sim.url}/v1/tags", timeout=5)


def test_fault_invalid_json(sim, http):
    sim.faults.add(Fault(kind="invalid_json"))
    response = http.get(f"{sim.url}/v1/tags")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


@pytest.mark.parametrize(
    "reset, expected",
    [("normal", "int"), ("past", "int"), ("future", "int"), ("garbage", "soon-ish"), ("missing", None)],
)
def test_fault_rate_limit_storm_header_variants(sim, http, reset, expected):
    sim.faults.add(Fault(kind="rate_limit", count=2, reset=reset, retry_after=False))
    first = http.get(f"{sim.url}/v1/tags")
    assert first.status_code == 429 and "Retry-After" not in first.headers
    value = first.headers.get("x-ratelimit-reset")
    if expected == "int":
        assert value.isdigit()
    else:
        assert value == expected
    assert http.get(f"{sim.url}/v1/tags").status_code == 429
    assert http.get(f"{sim.url}/v1/tags").status_code == 200


def test_fault_unauthorized_mid_sync_persists_until_cleared(sim, http):
    sim.faults.add(Fault(kind="unauthorized", after=1))
    assert http.get(f"{sim.url}/v1/tags").status_code == 200
    assert http.get(f"{sim.url}/v1/tags").status_code == 401
    assert http.get(f"{sim.url}/v1/users").status_code == 401
    sim.faults.clear()
    sim.expired_tokens.clear()
    assert http.get(f"{sim.url}/v1/users").status_code == 200


def test_fault_empty_page_with_next_link(sim, http):
    sim.faults.add(Fault(kind="empty_next", scope="/v1/brands"))
    body = http.get(f"{sim.url}/v1/brands").json()
    assert body["data"] == [] and body["links"]["next"].startswith("/v1/brands?page=2")


def test_fault_large_records_pads_every_record_of_a_valid_page(sim, http):
    plain = http.get(f"{sim.url}/v1/tags?pageSize=20").json()
    sim.faults.add(Fault(kind="large_records", size_kb=3))
    padded = http.get(f"{sim.url}/v1/tags?pageSize=20").json()
    assert [r["id"] for r in padded["data"]] == [r["id"] for r in plain["data"]] and len(plain["data"]) == 20
    assert {r["attributes"]["padding"] for r in padded["data"]} == {"x" * 3072}
    assert padded["links"] == plain["links"]


def test_admin_endpoints_drive_faults_mutations_and_truth(sim):
    admin = requests.Session()
    assert admin.post(f"{sim.url}/__admin/faults", json=[{"kind": "status", "count": 1}]).json() == {"queued": 1}
    truth = admin.get(f"{sim.url}/__admin/truth", params={"stream": "companies"}).json()["records"]
    assert len(truth) == len(sim.org.truth("companies"))
    ids = admin.post(f"{sim.url}/__admin/mutate", json={"stream": "companies", "count": 2}).json()["ids"]
    assert len(ids) <= 2
    stats = admin.get(f"{sim.url}/__admin/stats").json()
    assert set(stats) == {
        "requests",
        "search_requests",
        "records_served",
        "by_status",
        "user_agents",
        "requests_by_route",
    }
    assert admin.post(f"{sim.url}/__admin/faults", json={"kind": "volcano"}).status_code == 400


def test_mutate_during_moves_records_while_requests_are_served(sim, http):
    sim.mutate_during = {"every": 1, "count": 2, "streams": ["customers"]}
    before = dict(sim.org.truth("customers"))
    for _ in range(3):
        http.get(f"{sim.url}/v1/tags")
    after = dict(sim.org.truth("customers"))
    moved = [rid for rid in after if after[rid] != before.get(rid)]
    assert 1 <= len(moved) <= 6
