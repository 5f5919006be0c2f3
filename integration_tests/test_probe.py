"""``source-kustomer probe`` against the simulator set every way: it must name the setting of each switch, stay
read-only and within its request budget (every attempt counted, retries too), survive answers of any shape, encode
what it puts into URLs, and never print the key."""

import json
import re
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ContextManager, Dict, Iterator, List, Mapping
from urllib.parse import parse_qs, urlsplit

import pytest
from kustomer_http.connection import KustomerConnection
from kustomer_http.responses import WITHHELD_DETAIL

from integration_tests import forked_connector
from integration_tests.harness import ROOT, sim_config, token_forms
from kustomer_simulator.__main__ import build_parser
from kustomer_simulator.faults import Fault
from kustomer_simulator.org import KLASS_STATUSES, OrgSettings
from kustomer_simulator.search import FIELD_BEHAVIOURS, ROUTING_BEHAVIOURS, SearchLimits
from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import TEST_ANCHOR_MS, TEST_TOKEN, running_simulator
from kustomer_simulator.timefmt import now_ms
from source_kustomer.config import parse_config
from source_kustomer.probe import MAX_REQUESTS, NOT_ASKED, Probe
from source_kustomer.probe import budget as probe_budget
from source_kustomer.probe.budget import Question
from source_kustomer.probe.questions import AUDIT_IDS
from source_kustomer.probe.routing import ROUTING_CONTEXTS, SEARCH_REQUESTS, routing_search_question
from source_kustomer.version import USER_AGENT

FAST = ServerSettings(tokens={TEST_TOKEN: frozenset()}, minute_seconds=2)  # every role; a 2-second "minute"
FROM_WHAT_WAS_SEEN = (AUDIT_IDS, "x-ratelimit-reset", "timestamp precision")
SLA_ROLE, MERGE_ROLE = "org.permission.sla.read", "org.permission.customer_merge.read"
CONTEXTS = ("customer", "conversation", "message", "note", "company", "kobject")
SETTINGS: Dict[str, Dict[str, Any]] = {
    "A": {"created_at": "honoured", "routing_search": {"work_item": "honoured", "work_session": "filter-only"},
          "missing_role_status": 401, "reset_mode": "epoch", "past_window": "error", "total": "exact",
          "list_over_max": "clamp", "conversation_time_sort": "honoured",
          "audit_bounds": "exclusive", "audit_date_field": "publishedAt", "audit_publish_lag_seconds": 8,
          "audit_next_links": "bare", "audit_include": "honoured", "audit_paging": "both", "audit_ids": "insertion",
          "merge_audit_verb": "update", "merge_audit_about": "source",
          "klasses": {"order": "enabled", "subscription": "enabled"}, "disabled_klass_objects": "served",
          "work_session_defaults": "true", "users_default": "active",
          "denied": {SLA_ROLE}, "merges_listed_for": "source", "merged_lookup": 200},
    "B": {"created_at": "ignored", "routing_search": {"work_item": "no-updated-at", "work_session": "sort-rejected"},
          "missing_role_status": 403, "reset_mode": "seconds", "past_window": "empty", "total": "capped",
          "list_over_max": "error", "conversation_time_sort": "ignored",
          "audit_bounds": "inclusive", "audit_date_field": "createdAt", "audit_publish_lag_seconds": 10,
          "audit_next_links": "filtered", "audit_include": "ignored", "audit_paging": "either", "audit_ids": "publish",
          "merge_audit_verb": "merge", "merge_audit_about": "target",
          "klasses": {"order": "enabled", "legacy_case": "existing_only", "old_survey": "disabled"},
          "disabled_klass_objects": "served",
          "work_session_defaults": "false", "users_default": "all",
          "denied": {SLA_ROLE}, "merges_listed_for": "both", "merged_lookup": 404},
    "C": {"created_at": "rejected", "routing_search": {"work_item": "rejected", "work_session": "ignored"},
          "missing_role_status": 403, "reset_mode": "absent", "past_window": "error", "total": "exact",
          "list_over_max": "clamp", "conversation_time_sort": "rejected",
          "audit_bounds": "exclusive", "audit_date_field": "createdAt", "audit_publish_lag_seconds": 3,
          "audit_next_links": "filtered", "audit_include": "toplevel", "audit_paging": "alone",
          "audit_ids": "insertion", "merge_audit_verb": "update", "merge_audit_about": "target",
          "klasses": {"order": "enabled", "archived_survey": "disabled"}, "disabled_klass_objects": "refused",
          "work_session_defaults": "true", "users_default": "active",
          "denied": {SLA_ROLE, MERGE_ROLE}, "merges_listed_for": "both", "merged_lookup": 200},
}  # fmt: skip
PLAIN_SWITCHES = (
    "total",
    "past_window",
    "conversation_time_sort",
    "audit_bounds",
    "audit_date_field",
    "audit_publish_lag_seconds",
    "audit_next_links",
    "audit_include",
    "audit_paging",
    "audit_ids",
    "merge_audit_verb",
    "work_session_defaults",
    "users_default",
    "merged_lookup",
    "list_over_max",
    "missing_role_status",
    "reset_mode",
)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def expected_args(chosen: Mapping[str, Any]) -> Dict[str, str]:
    """The simulator arguments a probe of an org set up as ``chosen`` must print, by flag."""
    klasses = chosen["klasses"]
    expected = {_flag(name): str(chosen[name]) for name in PLAIN_SWITCHES}
    expected["--klasses"] = ",".join(
        name if status == "enabled" else f"{name}:{status}"
        for status in KLASS_STATUSES
        for name, of in klasses.items()
        if of == status
    )
    expected["--created-at"] = ",".join(f"{context}={chosen['created_at']}" for context in CONTEXTS)
    expected["--routing-search"] = ",".join(f"{c}={b}" for c, b in chosen["routing_search"].items())
    if "disabled" in klasses.values():
        expected["--disabled-klass-objects"] = chosen["disabled_klass_objects"]
    if MERGE_ROLE not in chosen["denied"]:
        expected["--merges-listed-for"] = chosen["merges_listed_for"]
        expected["--merge-audit-about"] = chosen["merge_audit_about"]
    return expected


def _simulator_of(chosen: Mapping[str, Any]) -> ContextManager[Simulator]:
    limits = SearchLimits(
        created_at={context: chosen["created_at"] for context in CONTEXTS},
        past_window=chosen["past_window"],
        total=chosen["total"],
        conversation_time_sort=chosen["conversation_time_sort"],
        routing_search=chosen["routing_search"],
    )
    settings = ServerSettings(
        tokens={TEST_TOKEN: frozenset(chosen["denied"])},
        minute_seconds=2,
        search=limits,
        **{
            name: chosen[name]
            for name in (
                "reset_mode",
                "missing_role_status",
                "list_over_max",
                "audit_bounds",
                "audit_date_field",
                "audit_next_links",
                "audit_include",
                "audit_paging",
                "work_session_defaults",
                "users_default",
                "disabled_klass_objects",
                "merges_listed_for",
                "merged_lookup",
            )
        },
    )
    klasses = chosen["klasses"]
    org = OrgSettings(
        seed=47,
        scale=2000,
        anchor_ms=TEST_ANCHOR_MS,
        counts={"customers": 10_500},
        klasses=tuple(klasses),
        klass_status={name: status for name, status in klasses.items() if status != "enabled"},
        audit_publish_lag_seconds=chosen["audit_publish_lag_seconds"],
        audit_ids=chosen["audit_ids"],
        merge_audit_verb=chosen["merge_audit_verb"],
        merge_audit_about=chosen["merge_audit_about"],
    )
    return running_simulator(org, settings)


def _recent_activity(sim: Simulator) -> None:
    """Audit entries of three object types published in the last half minute, customer merges among them (all
    stored by now, however long after publication the org stores them)."""
    published = now_ms() - 12_000
    sim.org.audit_burst(60, "conversation", "update", 5, published)
    sim.org.audit_burst(60, "company", "update", 5, published)
    sim.org.merge(2, published)


def _probe(config_json: Mapping[str, Any]) -> Dict[str, Any]:
    """Run ``main.py probe``; it must exit 0 without a traceback or any form of the token in what it writes."""
    with tempfile.TemporaryDirectory() as tmp:
        config, out = Path(tmp) / "config.json", Path(tmp) / "probe.json"
        config.write_text(json.dumps(config_json))
        args = [sys.executable, str(ROOT / "main.py"), "probe", "--config", str(config), "--out", str(out)]
        done = forked_connector.run(args, text=True, timeout=300, cwd=ROOT)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Traceback" not in done.stderr, done.stderr[-2000:]
        printed = done.stdout + done.stderr + out.read_text()
        assert not any(form in printed for form in token_forms(TEST_TOKEN))
        return {**json.loads(out.read_text()), "stdout": done.stdout}


def _answers(report: Mapping[str, Any]) -> Dict[str, List[str]]:
    answers: Dict[str, List[str]] = {}
    for finding in report["findings"]:
        answers.setdefault(finding["question"], []).append(finding["answer"])
    return answers


def _received(sim: Simulator, sent: int) -> Dict[str, Any]:
    """The simulator's stats once it counted ``sent`` requests (it counts each after its response went out)."""
    deadline = time.monotonic() + 2
    while sim.stats.snapshot()["requests"] < sent and time.monotonic() < deadline:
        time.sleep(0.01)
    return sim.stats.snapshot()


def _attempts_match(sim: Simulator, sent: int, budget: int = MAX_REQUESTS) -> None:
    """The simulator received exactly the requests the probe counted, every retry included, within the budget."""
    stats = _received(sim, sent)
    assert stats["requests"] == sent <= budget, (stats["requests"], sent)
    routes = stats["requests_by_route"]
    assert all(route.startswith("GET ") or route.endswith("/search") for route in routes), routes


def test_the_settings_cover_every_choice_of_every_switch():
    """Across A, B and C every value the simulator's CLI offers for each switch the probe settles appears."""
    parser = build_parser()
    serve = next(a for a in parser._actions if a.dest == "command").choices["serve"]
    choices = {action.option_strings[0]: action.choices for action in serve._actions if action.choices}
    seen: Dict[str, set] = {}
    for chosen in SETTINGS.values():
        for flag, value in expected_args(chosen).items():
            for part in value.split(","):
                seen.setdefault(flag, set()).add(part)
    for flag, offered in choices.items():
        if flag in seen:
            assert seen[flag] == {str(choice) for choice in offered}, flag
    for context in CONTEXTS:
        assert {f"{context}={b}" for b in FIELD_BEHAVIOURS} <= seen["--created-at"], context
    # Every routing setting in a whole probe; each for each context in the routing question's own test below.
    assert {part.partition("=")[2] for part in seen["--routing-search"]} == set(ROUTING_BEHAVIOURS)
    statuses = {part.partition(":")[2] or "enabled" for part in seen["--klasses"]}
    assert statuses == set(KLASS_STATUSES)
    assert len(seen["--audit-publish-lag-seconds"]) == len(SETTINGS)
    assert {"--disabled-klass-objects", "--merges-listed-for", "--merged-lookup"} <= set(seen) & set(choices)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_the_probe_names_every_switch_setting(name):
    chosen = SETTINGS[name]
    with _simulator_of(chosen) as sim:
        _recent_activity(sim)
        report = _probe(sim_config(sim, TEST_TOKEN))
        _attempts_match(sim, report["requests"])
    args = report["simulator_args"]
    assert dict(zip(args[::2], args[1::2], strict=True)) == expected_args(chosen)
    assert len(args) == 2 * len(expected_args(chosen))
    answers = _answers(report)
    assert not any(NOT_ASKED in a for answer in answers.values() for a in answer), answers
    merges = answers["customer merges (GET /v1/customers/{id}/merges)"]
    assert merges == (["refused (HTTP 403)"] if MERGE_ROLE in chosen["denied"] else ["available"])


def test_retries_count_against_the_budget_and_an_echoed_key_is_masked():
    """503s are retried and every attempt is counted; a 403 quoting the Authorization header prints no key."""
    with running_simulator(OrgSettings(seed=47, scale=2000, anchor_ms=TEST_ANCHOR_MS), FAST) as sim:
        _recent_activity(sim)
        sim.faults.add(Fault(kind="echo_auth", scope="/v1/routing/work-sessions"))
        for n in range(4):  # four requests, spaced out, fail once each and are retried
            sim.faults.add(Fault(kind="status", status=503, after=2 * n))
        report = _probe(sim_config(sim, TEST_TOKEN))
        _attempts_match(sim, report["requests"])
        assert sim.stats.snapshot()["by_status"]["503"] == sim.faults.fired["status"] == 4
    findings = {f["question"]: f for f in report["findings"]}
    assert findings["API key"]["answer"] == "valid"  # its first attempt failed; the retry answered
    sessions = findings["work sessions without user= and active="]
    assert sessions["answer"] == "not readable by this key"
    assert WITHHELD_DETAIL in sessions["evidence"]  # Kustomer's words are not quoted: they repeat the key


def _in_process(sim: Simulator, max_sends: int) -> Probe:
    config = parse_config(sim_config(sim, TEST_TOKEN))
    return Probe(KustomerConnection(config, USER_AGENT, max_sends=max_sends))


@pytest.fixture(scope="module")
def routing_sim() -> Iterator[Simulator]:
    with running_simulator(OrgSettings(seed=47, scale=2000, anchor_ms=TEST_ANCHOR_MS), FAST) as sim:
        yield sim


@pytest.mark.parametrize("behaviour", ROUTING_BEHAVIOURS)
def test_the_routing_question_names_every_routing_search_setting_of_each_context(routing_sim, behaviour):
    """The question asked of work items' and work sessions' search tells each --routing-search setting from the
    others within its three searches: the one it names is the one the simulator was set to."""
    routing_sim.settings.search.routing_search = {context: behaviour for context in ROUTING_CONTEXTS}
    probe = _in_process(routing_sim, max_sends=MAX_REQUESTS)
    for context in ROUTING_CONTEXTS:
        before = probe.connection.sends
        ask = lambda question, context=context: probe.routing.search_by_updated_at(question, context)  # noqa: E731
        [finding] = probe.client.ask(Question(routing_search_question(context), SEARCH_REQUESTS, ask))
        assert (finding.answer, finding.switch) == (behaviour, f"--routing-search {context}={behaviour}"), finding
        assert probe.connection.sends - before <= SEARCH_REQUESTS


def test_a_question_that_cannot_fit_is_not_asked(monkeypatch):
    """With a budget of 24 and three retried requests, the questions that would not fit are reported, not sent."""
    monkeypatch.setattr(probe_budget, "MAX_REQUESTS", 24)
    with running_simulator(OrgSettings(seed=47, scale=2000, anchor_ms=TEST_ANCHOR_MS), FAST) as sim:
        for n in range(3):
            sim.faults.add(Fault(kind="status", status=503, after=2 * n))
        probe = _in_process(sim, max_sends=24)
        findings = probe.run()
        _attempts_match(sim, probe.connection.sends, budget=24)
    need = re.compile(r"needs up to (\d+) requests with retries; (\d+) of 24 left")
    skipped = [need.fullmatch(f.evidence) for f in findings if f.answer == NOT_ASKED]
    assert skipped and all(match and int(match[1]) > int(match[2]) for match in skipped), skipped
    assert sum(1 for f in findings if f.answer != NOT_ASKED) > 5


def test_the_send_limit_ends_the_run_cleanly():
    """A transport that refuses the 11th request ends the run with what was found; nothing raises."""
    with running_simulator(OrgSettings(seed=47, scale=2000, anchor_ms=TEST_ANCHOR_MS), FAST) as sim:
        probe = _in_process(sim, max_sends=10)
        findings = probe.run()
        _attempts_match(sim, probe.connection.sends, budget=10)
        assert probe.connection.sends == 10
    stopped = [i for i, f in enumerate(findings) if f.answer == NOT_ASKED and f.evidence.startswith("stopped at")]
    assert len(stopped) == 1
    sending = [f for f in findings[stopped[0] + 1 :] if f.question not in FROM_WHAT_WAS_SEEN]
    assert sending and all(f.answer == NOT_ASKED for f in sending)
    assert findings[0].answer == "valid" and all(f.answer != NOT_ASKED for f in findings[: stopped[0]])
    seen = findings[-len(FROM_WHAT_WAS_SEEN) :]  # still answered: they send nothing
    assert [f.question for f in seen] == list(FROM_WHAT_WAS_SEEN) and all(f.answer != NOT_ASKED for f in seen)


# ---- a server answering in shapes Kustomer's never has ----------------------------------------------------------
ODD_TYPE = "x&debug=1"  # a server value that would add a query parameter if it were not encoded
ODD_CUSTOMER = "c&d=1/x"  # ... and one that would change the path
AUDIT_PAGE = {
    "data": [
        {"type": "audit_log", "id": "6b0ee2250000000000000003",
         "attributes": {"objectType": ODD_TYPE, "eventVerb": "update", "createdAt": "2026-12-01T10:00:00.000Z",
                        "publishedAt": "2026-12-01T10:00:05.000Z"}},
        {"type": "audit_log", "id": "6b0ee2250000000000000002",
         "attributes": {"objectType": "customer", "eventVerb": "merge", "objectId": ODD_CUSTOMER,
                        "createdAt": "2026-12-01T09:59:58.000Z", "publishedAt": "2026-12-01T09:59:59.000Z"}},
        {"type": "audit_log", "id": "6b0ee2250000000000000001",
         "attributes": {"objectType": ODD_TYPE, "eventVerb": "update", "createdAt": "2026-12-01T09:59:50.000Z",
                        "publishedAt": "2026-12-01T09:59:57.000Z"}},
    ],
    "links": {"next": 5},
}  # fmt: skip
ODD_ANSWERS = {
    "/v1/auth/tokens/current": {"data": {"attributes": {"roles": ["org.user.read"]}}},
    "/v1/klasses": {"data": {"name": "order"}},
    "/v1/customers/search": {"data": [{"id": 7, "attributes": "x"}]},
    "/v1/audit-logs": AUDIT_PAGE,
    "/v1/routing/work-sessions": {"data": [{"id": 5, "attributes": {}}]},
    "/v1/users": {"data": "x"},  # not a page at all: retried, then no answer
}


class _Odd(BaseHTTPRequestHandler):
    seen: List[str] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def _answer(self) -> None:
        self.seen.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(ODD_ANSWERS.get(urlsplit(self.path).path, {"data": [], "links": {"next": None}})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815 - stdlib naming


@pytest.fixture
def odd_server() -> Iterator[str]:
    """A loopback server answering every path with 200 and a body of an unexpected shape (or an empty page)."""
    _Odd.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Odd)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_answers_of_unexpected_shapes_are_findings_and_server_values_are_encoded(odd_server):
    report = _probe({"api_token": TEST_TOKEN, "api_url": odd_server, "rate_limit_window_seconds": 2})
    answers = {question: answer[0] for question, answer in _answers(report).items()}
    assert answers["klasses by status"] == "unexpected answer: data is an object, not a list"
    assert answers["customer_created_at: sort and filter"].startswith("unexpected answer: a record's attributes is")
    assert answers["audit-log links.next of a filtered request"] == (
        "unexpected answer: links.next is a number, not a string"
    )
    assert answers["work sessions without user= and active="] == (
        "unexpected answer: a session id is a number, not a string"
    )
    assert answers["users without deleted="] == "no answer"
    assert report["requests"] <= MAX_REQUESTS
    queries = [parse_qs(urlsplit(path).query) for path in _Odd.seen]
    filtered = [query for query in queries if query.get("filter[objectType]", ["customer"]) != ["customer"]]
    assert filtered and all(query["filter[objectType]"] == [ODD_TYPE] and "debug" not in query for query in filtered)
    assert any("=x%26debug%3D1" in path for path in _Odd.seen)  # as sent, '&' and '=' encoded
    assert "/v1/customers/c%26d%3D1%2Fx/merges?page=1&pageSize=100" in _Odd.seen
    assert answers["merges listed for the surviving customer"] == "source"  # its (empty) merges were read
