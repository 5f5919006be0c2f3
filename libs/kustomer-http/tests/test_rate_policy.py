"""The rate policy's pieces: header parsing, backoff choices, the two budgets."""

import threading
import time
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest
import requests
from kustomer_http.rate_policy import (
    KustomerAPIBudget,
    KustomerBackoffStrategy,
    RateStats,
    retry_after_seconds,
    seconds_until_reset,
    waits_counted_in,
)

NOW = 1_800_000_000.0


def _response(status: int, headers: dict) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    return response


@pytest.mark.parametrize(
    "value, expected",
    [(str(int(NOW) + 42), 42.0), ("42", 42.0), (str(int(NOW) - 10), -10.0), ("soon-ish", None), (None, None)],
)
def test_reset_header_is_read_as_epoch_or_seconds(value, expected):
    headers = {} if value is None else {"x-ratelimit-reset": value}
    assert seconds_until_reset(headers, now=NOW) == expected


def test_retry_after_as_seconds_or_http_date():
    when = "Fri, 15 Jan 2027 08:00:00 GMT"
    epoch = parsedate_to_datetime(when).timestamp()
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert retry_after_seconds({"Retry-After": when}, now=epoch - 30) == pytest.approx(30.0)
    assert retry_after_seconds({"Retry-After": "whenever"}) is None


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Retry-After": "3"}, 3.0),
        ({"x-ratelimit-reset": "5"}, 5.0),
        ({"x-ratelimit-reset": str(int(time.time()) + 10**8)}, 60.0),  # far future: at most one window
        ({"x-ratelimit-reset": str(int(time.time()) - 3600)}, 0.1),  # past: a token pause, then retry
        ({"x-ratelimit-reset": "garbage"}, 4.0),  # unknown: exponential (attempt 3: 1 s x 2^2)
        ({}, 4.0),
    ],
)
def test_backoff_for_429_follows_the_servers_hints_within_bounds(headers, expected):
    strategy = KustomerBackoffStrategy(window_seconds=60)
    assert strategy.backoff_time(_response(429, headers), attempt_count=3) == pytest.approx(expected, abs=1.5)


def test_backoff_for_other_failures_is_exponential_and_capped():
    strategy = KustomerBackoffStrategy(window_seconds=60)
    waits = [strategy.backoff_time(_response(503, {}), attempt) for attempt in (1, 2, 3, 10)]
    assert waits == [1.0, 2.0, 4.0, 60.0]
    assert strategy.backoff_time(requests.ConnectionError(), 2) == 2.0


def _prepared(method: str, path: str) -> requests.PreparedRequest:
    return requests.Request(method, f"https://api.kustomerapp.com{path}").prepare()


@pytest.mark.parametrize(
    "method, path, searching",
    [
        ("POST", "/v1/customers/search", True),
        ("POST", "/v1/customers/archive/search", True),
        ("POST", "/v1/customers/search?page=2&pageSize=100", True),
        ("POST", "/v1/customers/search/", True),
        ("GET", "/v1/customers/search", False),
        ("POST", "/v1/customers/searches", False),
        ("POST", "/v1/customers/search/saved", False),
        ("POST", "/v1/customers", False),
    ],
)
def test_one_test_says_which_requests_are_searches(method, path, searching):
    """The budget a request counts against and the search budget's own policy read "a search" the same way."""
    budget = KustomerAPIBudget(search_per_window=1, utilization_percent=50, window=timedelta(seconds=1))
    assert (budget.get_matching_policy(_prepared(method, path)) is not None) is searching  # no org budget yet


def test_searches_count_against_both_budgets_and_lists_only_against_the_org_one():
    budget = KustomerAPIBudget(search_per_window=2, utilization_percent=50, window=timedelta(seconds=1))
    search, listing = _prepared("POST", "/v1/customers/search"), _prepared("GET", "/v1/tags")
    budget.update_from_response(listing, _response(200, {"x-ratelimit-limit": "6"}))  # the org allows 6: share 3
    assert budget.org_limit == 6
    stats = RateStats()
    started = time.monotonic()
    with waits_counted_in(stats):
        budget.acquire_call(search)
        budget.acquire_call(search)
        budget.acquire_call(listing)  # the org budget (3) is now spent: 2 searches + 1 list
        assert time.monotonic() - started < 0.3
        budget.acquire_call(listing)  # waits for the window to move
    assert time.monotonic() - started >= 0.8
    assert stats.waits == 1


def test_requests_sent_before_the_org_limit_was_known_count_against_it_once_it_is():
    budget = KustomerAPIBudget(search_per_window=5, utilization_percent=100, window=timedelta(seconds=1))
    listing = _prepared("GET", "/v1/auth/tokens/current")
    budget.acquire_call(listing)  # the first request: no limit known yet
    budget.update_from_response(listing, _response(200, {"x-ratelimit-limit": "2"}))
    started = time.monotonic()
    budget.acquire_call(listing)  # the second of the window's two
    assert time.monotonic() - started < 0.3
    budget.acquire_call(listing)  # a third would have been one past the org's limit: it waits
    assert time.monotonic() - started >= 0.8


def test_the_archive_search_counts_as_a_search_and_an_unstated_org_limit_is_the_smallest_plans():
    budget = KustomerAPIBudget(search_per_window=1, utilization_percent=100, window=timedelta(seconds=1))
    budget.update_from_response(_prepared("GET", "/v1/tags"), _response(200, {}))
    assert budget.org_limit == 300
    archive = _prepared("POST", "/v1/customers/archive/search?page=1")
    started = time.monotonic()
    budget.acquire_call(archive)
    budget.acquire_call(_prepared("POST", "/v1/customers/search"))  # the second search waits for the window
    assert time.monotonic() - started >= 0.8


def test_a_response_saying_the_budget_is_spent_pauses_that_budget_until_its_reset():
    budget = KustomerAPIBudget(search_per_window=50, utilization_percent=80, window=timedelta(seconds=5))
    search, listing = _prepared("POST", "/v1/customers/search"), _prepared("GET", "/v1/tags")
    budget.update_from_response(search, _response(200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}))
    started = time.monotonic()
    budget.acquire_call(listing)  # the org budget is not paused
    assert time.monotonic() - started < 0.2
    budget.acquire_call(search)
    assert 0.8 <= time.monotonic() - started < 2.0


def test_a_wait_is_counted_for_the_stream_whose_request_waited():
    searching, listing = RateStats(), RateStats()
    budget = KustomerAPIBudget(search_per_window=1, utilization_percent=100, window=timedelta(seconds=1))
    budget.update_from_response(_prepared("GET", "/v1/tags"), _response(200, {"x-ratelimit-limit": "1000"}))

    def searches() -> None:
        with waits_counted_in(searching):
            budget.acquire_call(_prepared("POST", "/v1/customers/search"))
            budget.acquire_call(_prepared("POST", "/v1/customers/search"))  # waits for the search window

    def lists() -> None:
        with waits_counted_in(listing):
            for _ in range(3):
                budget.acquire_call(_prepared("GET", "/v1/tags"))  # room on the org budget: never waits

    threads = [threading.Thread(target=searches), threading.Thread(target=lists)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (searching.waits, listing.waits) == (1, 0)
    assert searching.wait_seconds >= 0.8


def test_requests_of_one_client_waiting_at_once_count_their_wall_time_once():
    """Four searches of one stream in flight on a budget of two a window: two go at once, two wait side by side
    for the window to move -- two waits of about one second together, never more than the time it all took."""
    stats = RateStats()
    budget = KustomerAPIBudget(search_per_window=2, utilization_percent=100, window=timedelta(seconds=1))
    budget.update_from_response(_prepared("GET", "/v1/tags"), _response(200, {"x-ratelimit-limit": "1000"}))

    def search() -> None:
        with waits_counted_in(stats):
            budget.acquire_call(_prepared("POST", "/v1/customers/search"))

    started = time.monotonic()
    threads = [threading.Thread(target=search) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert stats.waits == 2
    assert 0.8 <= stats.wait_seconds <= elapsed < 1.8
