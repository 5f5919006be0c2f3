"""What the destination does when a write's outcome is not what it asked for, request by request: a create whose
answer is lost is looked up again and never sent blindly twice, a 409 turns into an update, a bulk job ending in
another status or never ending is settled by lookups, batch results are read across pages within a bound, ids
from answers stay one path segment, and two records of one object in a batch are written one after the other."""

from typing import Any

import pytest
import write_mocks as mocks
from airbyte_cdk.models import Type
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse
from destination_kustomer import bulk, following

BASE = mocks.BASE
MISS = mocks.answer({"data": {}})


def _found(n: int) -> HttpResponse:
    return mocks.answer({"data": mocks.resource("customer", f"c-{n}", externalId=f"crm-{n}")})


def _lookups(http: HttpMocker, n: int, *answers: HttpResponse) -> None:
    """The answers, in turn, to the lookups of crm-<n> (the last one repeats)."""
    http.get(HttpRequest(f"{BASE}/customers/externalId=crm-{n}"), list(answers))


def _creates(http: HttpMocker, n: int, *answers: HttpResponse, **attributes: Any) -> None:
    """The answers, in turn, to ``POST /v1/customers`` of crm-<n>."""
    http.post(HttpRequest(f"{BASE}/customers", body={"externalId": f"crm-{n}", **attributes}), list(answers))


def _bulk_creates(http: HttpMocker, count: int, answer: HttpResponse) -> None:
    """The answer to one bulk create of crm-0 … crm-<count - 1>."""
    body = mocks.bulk_body([{"externalId": f"crm-{n}"} for n in range(count)])
    http.post(HttpRequest(f"{BASE}/customers/bulk", body=body), answer)


def _write(http: HttpMocker, count: int, *then: Any, stops: bool = False, **attributes: Any) -> mocks.WriteRun:
    """Write crm-0 … crm-<count - 1> to the customers stream, then the messages ``then``."""
    inputs = [mocks.record("customers", externalId=f"crm-{n}", **attributes) for n in range(count)] + list(then)
    return mocks.run_write(http, mocks.config(), mocks.catalog({"name": "customers"}), inputs, stops=stops)


def _sent(http: HttpMocker, start: str) -> list:
    return [line for line in mocks.sent(http) if line.startswith(start)]


def _setup(http: HttpMocker) -> HttpMocker:
    mocks.mock_setup(http)
    return http


def test_a_create_answered_with_a_server_error_is_looked_up_again_and_not_sent_twice():
    with HttpMocker() as http:
        _setup(http)
        _lookups(http, 0, MISS, _found(0))
        _creates(http, 0, mocks.error(500, "boom"))
        run = _write(http, 1, mocks.state("customers", 1))
        posts = _sent(http, "POST")
    row = run.summary()["customers"]
    assert posts == ["POST /v1/customers"] and run.states() == [1]
    assert (row["created"], row["failed"], row["lookups"], row["retries"]) == (1, 0, 2, 0)


def test_a_create_still_missing_after_a_lost_answer_is_sent_once_more():
    with HttpMocker() as http:
        _setup(http)
        _lookups(http, 0, MISS)
        _creates(http, 0, mocks.error(502, "x"), mocks.answer({}, 201))
        run = _write(http, 1)
        posts = _sent(http, "POST")
    row = run.summary()["customers"]
    assert (len(posts), row["created"], row["lookups"]) == (2, 1, 3)  # one lookup, then two after the lost answer


def test_a_create_whose_answer_is_lost_twice_is_reported_failed_not_sent_a_third_time():
    with HttpMocker() as http:
        _setup(http)
        _lookups(http, 0, MISS)
        _creates(http, 0, mocks.error(503, "busy"))
        run = _write(http, 1, stops=True)  # the stream's only record was not written: the sync fails
        posts = _sent(http, "POST")
    row = run.summary()["customers"]
    assert (len(posts), row["created"], row["failed"], row["lookups"]) == (2, 0, 1, 5)
    assert "Kustomer did not say what came of 2 creates of it, and it is not found" in row["failures"][0]
    assert "all 1 of its records were refused" in run.error.message


def test_a_conflict_on_create_is_looked_up_and_updated_instead():
    with HttpMocker() as http:
        _setup(http)
        _lookups(http, 0, MISS, _found(0))
        _creates(http, 0, mocks.error(409, "exists"), name="A")
        http.patch(HttpRequest(f"{BASE}/customers/c-0", body={"externalId": "crm-0", "name": "A"}), mocks.answer({}))
        run = _write(http, 1, name="A")
    row = run.summary()["customers"]
    assert (row["created"], row["updated"], row["failed"], row["single_writes"]) == (0, 1, 0, 2)


def test_a_bulk_create_answered_with_a_server_error_creates_only_the_records_still_missing():
    with HttpMocker() as http:
        _setup(http)
        _lookups(http, 0, MISS, _found(0))
        _lookups(http, 1, MISS, _found(1))
        _lookups(http, 2, MISS)
        _bulk_creates(http, 3, mocks.error(504, "gateway"))
        _creates(http, 2, mocks.answer({}, 201))
        run = _write(http, 3)
        posts = _sent(http, "POST")
    row = run.summary()["customers"]
    assert (posts, row["created"], row["failed"]) == (["POST /v1/customers/bulk", "POST /v1/customers"], 3, 0)


def test_a_bulk_job_ending_in_another_status_is_settled_item_by_item_without_reading_results():
    with HttpMocker() as http:
        _setup(http)
        _lookups(http, 0, MISS, _found(0))
        _lookups(http, 1, MISS, MISS)
        _bulk_creates(http, 2, mocks.job("j-1", "queued"))
        http.get(HttpRequest(f"{BASE}/bulk/j-1"), [mocks.job("j-1", "running"), mocks.job("j-1", "failed")])
        _creates(http, 1, mocks.answer({}, 201))
        run = _write(http, 2)
        polls = _sent(http, "GET /v1/bulk/")
    row = run.summary()["customers"]
    assert polls == ["GET /v1/bulk/j-1", "GET /v1/bulk/j-1"]  # no batches: a failed job's counts say nothing
    assert (row["created"], row["single_writes"], row["bulk_follow_ups"]) == (2, 1, 2)


def _controls(run: mocks.WriteRun) -> list:
    """The configs the CONTROL messages of a run hand to the platform."""
    return [m.control.connectorConfig.config for m in run.messages if m.type == Type.CONTROL]


@pytest.mark.parametrize("verb", ["create", "update"])
def test_a_bulk_job_that_never_ends_stops_the_sync_sending_nothing_again_and_hands_the_job_on(verb):
    with HttpMocker() as http:
        _setup(http)
        if verb == "create":
            _lookups(http, 0, MISS)
            _lookups(http, 1, MISS)
            _bulk_creates(http, 2, mocks.job("j-2", "queued"))
        else:
            _updates_found(http, 3)
            items = [{"id": f"c-{n}", "externalId": f"crm-{n}"} for n in (1, 2)]
            http.put(HttpRequest(f"{BASE}/customers/bulk", body=mocks.bulk_body(items)), mocks.job("j-2", "queued"))
        http.get(HttpRequest(f"{BASE}/bulk/j-2"), mocks.job("j-2", "running"))
        run = _write(http, 2 if verb == "create" else 3, mocks.state("customers", 1), stops=True)
        polls = _sent(http, "GET /v1/bulk/j-2")
        after = mocks.sent(http)[mocks.sent(http).index("GET /v1/bulk/j-2") :]
    assert len(polls) == following.MAX_POLLS and set(after) == {"GET /v1/bulk/j-2"}  # nothing it carries sent again
    assert run.states() == []
    message = run.error.message
    assert "Kustomer's bulk job j-2 (2 customer records) was still 'running' after 80 checks over 12 seconds" in message
    assert "the next sync waits for it to end before it writes anything" in message
    (stored,) = _controls(run)  # the job, handed to the next sync in the destination's own config
    assert stored == {**mocks.config(), "api_token": "**********", "pending_bulk_jobs": ["j-2"]}
    assert run.messages[-1].type == Type.CONTROL


def _updates_found(http: HttpMocker, count: int) -> None:
    """crm-0 … crm-<count - 1> found as c-0 …; the first one's update checked alone."""
    found = [mocks.resource("customer", f"c-{n}", externalId=f"crm-{n}") for n in range(count)]
    for n in range(count):
        mocks.lookup(http, f"customers/externalId=crm-{n}", found[n])
    mocks.reads(http, "customers/c-0", found[0], found[0])
    http.patch(HttpRequest(f"{BASE}/customers/c-0", body={"externalId": "crm-0"}), mocks.answer({}))


def test_the_next_sync_waits_for_the_jobs_an_earlier_one_left_before_it_writes_anything():
    with HttpMocker() as http:
        _setup(http)
        http.get(HttpRequest(f"{BASE}/bulk/j-2"), [mocks.job("j-2", "running"), mocks.job("j-2", "complete")])
        http.get(HttpRequest(f"{BASE}/bulk/j-gone"), mocks.error(404, "no such bulk job"))
        _lookups(http, 0, _found(0))
        http.patch(HttpRequest(f"{BASE}/customers/c-0", body={"externalId": "crm-0"}), mocks.answer({}))
        mocks.reads(http, "customers/c-0", mocks.resource("customer", "c-0", externalId="crm-0"))
        carried = mocks.config(pending_bulk_jobs=["j-2", "j-gone"])
        inputs = [mocks.record("customers", externalId="crm-0"), mocks.state("customers", 1)]
        run = mocks.run_write(http, carried, mocks.catalog({"name": "customers"}), inputs)
        sent = mocks.sent(http)
    first_write = next(n for n, line in enumerate(sent) if "externalId=" in line)
    assert sent[:first_write][-3:] == ["GET /v1/bulk/j-2", "GET /v1/bulk/j-2", "GET /v1/bulk/j-gone"]
    (stored,) = _controls(run)
    assert stored["pending_bulk_jobs"] == [] and run.messages[0].type == Type.CONTROL  # said before anything else
    assert run.states() == [1] and run.summary()["customers"]["updated"] == 1
    assert any("Kustomer no longer knows bulk job j-gone of an earlier sync (404)" in line for line in run.logs)


def test_a_job_an_earlier_sync_left_that_still_runs_stops_the_next_sync_before_anything_is_written():
    with HttpMocker() as http:
        _setup(http)
        http.get(HttpRequest(f"{BASE}/bulk/j-2"), mocks.job("j-2", "queued"))
        http.get(HttpRequest(f"{BASE}/bulk/j-3"), mocks.job("j-3", "complete"))
        carried = mocks.config(pending_bulk_jobs=["j-2", "j-3"])
        inputs = [mocks.record("customers", externalId="crm-0"), mocks.state("customers", 1)]
        run = mocks.run_write(http, carried, mocks.catalog({"name": "customers"}), inputs, stops=True)
        sent = mocks.sent(http)
    assert not [line for line in sent if "externalId=" in line or not line.startswith("GET")]
    assert "bulk job(s) j-2 ('queued'), which an earlier sync could not follow to their end" in run.error.message
    assert "Nothing was written" in run.error.message and run.states() == []
    assert [stored["pending_bulk_jobs"] for stored in _controls(run)] == [["j-2"]]  # j-3 ended: no longer listed


@pytest.mark.parametrize("answer", ["no job", "not JSON"])
def test_a_bulk_update_that_may_have_queued_a_job_no_answer_named_stops_the_sync(answer):
    with HttpMocker() as http:
        _setup(http)
        _updates_found(http, 3)
        items = [{"id": f"c-{n}", "externalId": f"crm-{n}"} for n in (1, 2)]
        queued = mocks.answer({"data": {}}, 201) if answer == "no job" else HttpResponse("{cut", 201)
        http.put(HttpRequest(f"{BASE}/customers/bulk", body=mocks.bulk_body(items)), queued)
        run = _write(http, 3, mocks.state("customers", 1), stops=True)
        puts = _sent(http, "PUT") + _sent(http, "PATCH")
    assert puts == ["PUT /v1/customers/bulk", "PATCH /v1/customers/c-0"]  # sent once; none of its updates alone
    assert "A bulk update of 2 customer records got no answer naming its job" in run.error.message
    assert run.states() == [] and not _controls(run)


def test_a_bulk_update_answered_with_an_error_is_sent_again_one_record_at_a_time():
    with HttpMocker() as http:
        _setup(http)
        _updates_found(http, 3)
        items = [{"id": f"c-{n}", "externalId": f"crm-{n}"} for n in (1, 2)]
        http.put(HttpRequest(f"{BASE}/customers/bulk", body=mocks.bulk_body(items)), mocks.error(503, "busy"))
        for n in (1, 2):
            http.patch(HttpRequest(f"{BASE}/customers/c-{n}", body={"externalId": f"crm-{n}"}), mocks.answer({}))
        run = _write(http, 3, mocks.state("customers", 1))
        puts = _sent(http, "PUT")
    assert puts == ["PUT /v1/customers/bulk"]  # never resent blindly: its updates went alone
    assert run.states() == [1] and run.summary()["customers"]["updated"] == 3


def test_bulk_results_are_read_across_pages_and_past_the_bound_the_sync_stops(monkeypatch):
    def write(http: HttpMocker) -> mocks.WriteRun:
        for n in range(3):
            _lookups(_setup(http) if n == 0 else http, n, MISS)
        _bulk_creates(http, 3, mocks.job("j-3", "complete"))
        first = mocks.batches((2, 0), next_link="/v1/bulk/j-3/batches?page=2")
        http.get(HttpRequest(f"{BASE}/bulk/j-3/batches"), first)
        http.get(HttpRequest(f"{BASE}/bulk/j-3/batches", query_params={"page": "2"}), mocks.batches((1, 0)))
        return _write(http, 3, mocks.state("customers", 1), stops=bulk.MAX_BATCH_PAGES < 2)

    with HttpMocker() as http:
        run = write(http)
    row = run.summary()["customers"]
    assert (row["created"], row["bulk_follow_ups"], row["single_writes"], run.states()) == (3, 2, 0, [1])
    monkeypatch.setattr(bulk, "MAX_BATCH_PAGES", 1)
    with HttpMocker() as http:
        bounded = write(http)
    assert "Kustomer's list of results of bulk job j-3 is longer than 1 pages" in bounded.error.message
    assert bounded.states() == []


def test_ids_taken_from_answers_go_into_paths_as_one_segment():
    odd = mocks.resource("customer", "../companies/x", externalId="crm-0")
    with HttpMocker() as http:
        _setup(http)
        _lookups(http, 0, mocks.answer({"data": odd}))
        _lookups(http, 1, mocks.answer({"data": mocks.resource("customer", "..", externalId="crm-1")}))
        mocks.reads(http, "customers/..%2Fcompanies%2Fx", odd, odd)
        http.patch(HttpRequest(f"{BASE}/customers/..%2Fcompanies%2Fx", body={"externalId": "crm-0"}), mocks.answer({}))
        run = mocks.run_write(
            http,
            mocks.config(batch_size=1, max_failed_percent=50),
            mocks.catalog({"name": "customers"}),
            [mocks.record("customers", externalId=f"crm-{n}") for n in range(2)],
        )
        writes = _sent(http, "PATCH")
    assert writes == ["PATCH /v1/customers/..%2Fcompanies%2Fx"]
    row = run.summary()["customers"]
    assert (row["updated"], row["failed"]) == (1, 1) and "would not stay one segment of the path" in row["failures"][0]
    with HttpMocker() as http:
        _setup(http)
        for n in range(2):
            _lookups(http, n, MISS)
        _bulk_creates(http, 2, mocks.job("../customers/j", "queued"))
        http.get(HttpRequest(f"{BASE}/bulk/..%2Fcustomers%2Fj"), mocks.job("../customers/j", "complete"))
        http.get(HttpRequest(f"{BASE}/bulk/..%2Fcustomers%2Fj/batches"), mocks.batches((2, 0)))
        run = _write(http, 2)
        follows = _sent(http, "GET /v1/bulk")
    assert follows == ["GET /v1/bulk/..%2Fcustomers%2Fj", "GET /v1/bulk/..%2Fcustomers%2Fj/batches"]
    assert run.summary()["customers"]["created"] == 2


def test_two_records_of_one_customer_in_a_batch_are_written_one_after_the_other():
    both = mocks.resource("customer", "c-1", emails=[{"email": "a@x.test"}, {"email": "b@x.test"}])
    mapped = [{"stream": "people", "object": "customer", "matching_key": "email"}]
    with HttpMocker() as http:
        _setup(http)
        for address in ("a%40x.test", "b%40x.test"):
            mocks.lookup(http, f"customers/email={address}", both)
        mocks.reads(http, "customers/c-1", both, mocks.updated(both, name="A"))  # the first update, checked
        for name in ("A", "B"):
            http.patch(HttpRequest(f"{BASE}/customers/c-1", body={"name": name}), mocks.answer({}))
        run = mocks.run_write(
            http,
            mocks.config(stream_mappings=mapped),
            mocks.catalog({"name": "people"}),
            [mocks.record("people", email="a@x.test", name="A"), mocks.record("people", email="b@x.test", name="B")],
        )
        writes = [line for line in mocks.sent(http) if not line.startswith("GET")]
    assert writes == ["PATCH /v1/customers/c-1", "PATCH /v1/customers/c-1"]  # never both in one bulk request
    row = run.summary()["people"]
    assert (row["updated"], row["lookups"], row["bulk_requests"]) == (2, 5, 0)  # 3 lookups, 2 reads for the check
