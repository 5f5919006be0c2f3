"""The key goes to the configured host and nowhere else; no server can hang, exhaust or fool the connector.

Every run is the real entrypoint in its own process, observed from inside (``process_probe``): every host name it
looks up and every address it connects to is recorded, as is its peak memory. A second server on loopback
plays the attacker's host and records whatever reaches it.
"""

import json
import math
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping

import pytest
from kustomer_http.connection import MAX_RESPONSE_BYTES
from kustomer_http.redaction import MIN_TOKEN_LENGTH
from kustomer_http.responses import MAX_RETRIES, WITHHELD_DETAIL

from integration_tests import forked_connector
from integration_tests.harness import ROOT, assert_no_key, configured_catalog, run_connector, sim_config, truth
from integration_tests.matrix import record
from kustomer_simulator.faults import Fault
from kustomer_simulator.org import OrgSettings
from kustomer_simulator.server import ServerSettings
from kustomer_simulator.testing import ECHO_TOKEN, TEST_ANCHOR_MS, TEST_TOKEN, running_simulator

MEMORY_LIMIT_MB = 500
LOOPED_LINK = "links back to a page already read (a link not quoted: it could carry the API key)"


class _Attacker(ThreadingHTTPServer):
    """Records every request that reaches it, with its Authorization header."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: List[Dict[str, str]] = []
        attacker = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                attacker.seen.append({"path": self.path, "authorization": self.headers.get("Authorization") or ""})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                return

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture(scope="module")
def attacker() -> Iterator[_Attacker]:
    server = _Attacker()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def sim():
    tokens = {TEST_TOKEN: frozenset(), ECHO_TOKEN: frozenset()}
    settings = ServerSettings(tokens=tokens, org_per_minute=0, search_per_minute=0)
    with running_simulator(server_settings=settings, scale=1500, seed=17) as simulator:
        yield simulator


@pytest.fixture
def clean(sim, attacker):
    sim.faults.clear()
    attacker.seen.clear()
    yield
    sim.faults.clear()


def _catalog(sim, config, *streams):
    return configured_catalog(run_connector("discover", config), set(streams), incremental=False)


def _only_the_simulator(run, sim) -> None:
    port = int(sim.url.rsplit(":", 1)[1])
    places = {(host, int(port_)) for kind, host, port_ in run.network if kind == "connect"}
    assert places <= {("127.0.0.1", port)}, places
    assert all(host in ("127.0.0.1", "localhost") for _, host, _ in run.network), run.network


def _no_token_anywhere(run) -> None:
    assert_no_key(run.stdout + "\n" + run.stderr, [TEST_TOKEN, ECHO_TOKEN])


def _error(run) -> str:
    errors = run.errors()
    assert run.returncode != 0 and len(errors) == 1, (run.returncode, errors)
    return errors[0]["message"]


def test_an_api_url_the_parsers_read_differently_is_refused_before_any_connection(sim, clean):
    config = sim_config(sim, TEST_TOKEN, api_url=f"http://evil.invalid\\@{sim.url.split('//')[1]}")
    run = run_connector("check", config, observe=True)
    status = run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "'api_url' contains a space, a backslash" in status["message"]
    assert run.network == []
    _no_token_anywhere(run)


@pytest.mark.parametrize("shape", ["scheme-relative path", "absolute URL on another port", "redirect"])
def test_a_link_off_the_origin_is_never_followed(sim, attacker, clean, shape):
    config = sim_config(sim, TEST_TOKEN)
    catalog = _catalog(sim, config, "tags")
    evil = f"http://127.0.0.1:{attacker.server_address[1]}/v1/tags?page=2&pageSize=7"
    fault = {
        "scheme-relative path": Fault("foreign_next", link="////evil.invalid/v1/tags?page=2", scope="/v1/tags"),
        "absolute URL on another port": Fault("foreign_next", link=evil, scope="/v1/tags"),
        "redirect": Fault("redirect", link=evil, scope="/v1/tags"),
    }[shape]
    sim.faults.add(fault)
    run = run_connector("read", config, catalog, observe=True)
    message = _error(run)
    assert ("Kustomer sent a link that" in message) or ("redirect" in message), message
    assert attacker.seen == []
    _only_the_simulator(run, sim)
    assert "evil" not in str(run.states())
    _no_token_anywhere(run)


@pytest.mark.parametrize("link", ["http://127.0.0.1:{port}/v1/tags?page=2", "//127.0.0.1:{port}/v1/tags", "////x/y"])
def test_a_saved_list_state_pointing_elsewhere_is_a_config_error(sim, attacker, clean, link):
    config = sim_config(sim, TEST_TOKEN)
    catalog = _catalog(sim, config, "tags")
    next_link = link.format(port=attacker.server_address[1])
    state = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "tags"}, "stream_state": {"next": next_link}}}]
    run = run_connector("read", config, catalog, state, observe=True)
    errors = run.errors()
    assert len(errors) == 1 and errors[0]["failure_type"] == "config_error"
    assert "The saved state of stream 'tags' has a next link" in errors[0]["message"]
    assert attacker.seen == [] and run.network == []


@pytest.mark.parametrize("kind", ["echo_auth", "echo_key"])
def test_a_refusal_that_echoes_the_key_is_never_quoted(sim, clean, kind):
    config = sim_config(sim, ECHO_TOKEN)
    catalog = _catalog(sim, config, "tags")
    sim.faults.add(Fault(kind, count=-1, scope="search"))
    check = run_connector("check", config)
    status = check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and WITHHELD_DETAIL in status["message"]
    sim.faults.clear()
    sim.faults.add(Fault(kind, count=-1, scope="/v1/tags"))
    read = run_connector("read", config, catalog)
    assert "Kustomer refused every selected stream" in _error(read) and WITHHELD_DETAIL in _error(read)
    _no_token_anywhere(check)
    _no_token_anywhere(read)
    record(
        "403 whose detail hands the key back (hostile.key_echoes)" if kind == "echo_key" else "403 quoting the header",
        "check; full (tags)",
        0,
        0,
        "one clear error; Kustomer's detail not quoted, no form of the key printed",
        check.seconds + read.seconds,
    )


def test_records_that_carry_the_key_in_every_form_are_read_whole_with_each_form_masked(sim, clean):
    config = sim_config(sim, ECHO_TOKEN, page_size=7)
    catalog = _catalog(sim, config, "tags")
    sim.faults.add(Fault("echo_key", variant="record", count=-1, scope="/v1/tags"))
    run = run_connector("read", config, catalog)  # the harness fails the test on any form of the key
    assert run.returncode == 0 and set(run.pairs("tags")) == truth(sim, "tags")
    echoed = [r for r in run.records("tags") if "****" in r["name"]]
    assert len(echoed) == math.ceil(len(truth(sim, "tags")) / 7)  # the first record of every page
    assert all(r["links"]["self"].startswith("/v1/tags/") and "echo_plain=****" in r["links"]["self"] for r in echoed)
    record("records carrying the key in every form", "full (tags)", 0, 0, "all read; each form masked", run.seconds)


def test_a_next_link_that_carries_the_key_is_followed_on_the_origin_and_never_printed(sim, clean):
    config = sim_config(sim, ECHO_TOKEN, page_size=7)
    catalog = _catalog(sim, config, "tags")
    sim.faults.add(Fault("echo_key", variant="link", count=-1, scope="/v1/tags"))
    run = run_connector("read", config, catalog, observe=True)  # its second page links to itself
    assert LOOPED_LINK in _error(run)
    _only_the_simulator(run, sim)
    record(
        "a next link carrying the key in its query", "full (tags)", 0, 0, f"one clear error: {LOOPED_LINK}", run.seconds
    )


def _probe(config: Mapping[str, Any]) -> subprocess.CompletedProcess:
    """``main.py probe`` with ``config``; its output, report included, holds no form of either key."""
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "config.json", Path(tmp) / "probe.json"
        path.write_text(json.dumps(config))
        args = [sys.executable, str(ROOT / "main.py"), "probe", "--config", str(path), "--out", str(out)]
        done = forked_connector.run(args, text=True, timeout=300, cwd=ROOT)
        report = out.read_text() if out.exists() else ""
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert_no_key(done.stdout + "\n" + done.stderr + "\n" + report, [TEST_TOKEN, ECHO_TOKEN])
    return done


def test_the_probe_never_prints_a_detail_that_hands_the_key_back(sim, clean):
    sim.faults.add(Fault("echo_key", count=-1, scope="/v1/routing/work-sessions"))
    done = _probe(sim_config(sim, ECHO_TOKEN))
    assert done.returncode == 0 and WITHHELD_DETAIL in done.stdout


PASTED = {
    "organization": "{key}",
    "start_date": "{key}",
    "region": "Bearer {key}",
    "api_url": "https://{key}.example.com",
    "page_size": "{key}",
}


@pytest.mark.parametrize("command", ["check", "discover", "read", "probe"])
@pytest.mark.parametrize("field", sorted(PASTED))
def test_a_key_pasted_into_another_field_is_named_never_sent_nor_printed(sim, clean, command, field):
    config = {**sim_config(sim, ECHO_TOKEN), field: PASTED[field].format(key=ECHO_TOKEN)}
    expected = f"'{field}' holds the API key; the key belongs in 'api_token' only"
    if command == "probe":
        done = _probe(config)
        assert done.returncode == 1 and expected in done.stderr
        return
    catalog = {"streams": []} if command == "read" else None
    run = run_connector(command, config, catalog, observe=True)
    if command == "check":
        assert expected in run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["message"]
    else:
        assert expected in _error(run)
    assert run.network == []  # not even a host name looked up


def test_a_key_that_is_a_protocol_word_is_refused_and_masks_nothing(sim, clean, tmp_path):
    """Run without the harness, whose scan would find the word 'type' in every message."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(sim_config(sim, "type")))
    args = [sys.executable, str(ROOT / "main.py"), "check", "--config", str(path)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)
    status = json.loads(done.stdout.splitlines()[-1])  # the protocol keys, "type" among them, printed unmasked
    assert status["type"] == "CONNECTION_STATUS" and status["connectionStatus"]["status"] == "FAILED"
    message = status["connectionStatus"]["message"]
    assert "'api_token' is 4 characters long: too short" in message and str(MIN_TOKEN_LENGTH) in message


def test_a_server_that_trickles_bytes_ends_with_one_clear_error_within_the_deadline_times_the_tries(sim, clean):
    timeout = 1
    config = sim_config(sim, TEST_TOKEN, request_timeout_seconds=timeout, rate_limit_window_seconds=1)
    catalog = _catalog(sim, config, "tags")
    sim.faults.add(Fault("trickle", count=-1, seconds=0.2, scope="/v1/tags"))
    run = run_connector("read", config, catalog, timeout=120, observe=True)
    assert "Kustomer kept failing requests for stream 'tags' after every retry" in _error(run)
    tries = MAX_RETRIES + 1
    bound = tries * timeout + MAX_RETRIES * (1 + 1) + 10  # deadlines + the CDK's second + backoff + start-up
    record(
        "a server trickling one byte every 0.2 s",
        "full (tags)",
        0,
        0,
        f"one clear error after {tries} tries of {timeout} s each, {run.seconds:.1f} s in all (bound {bound} s)",
        run.seconds,
    )
    assert run.seconds < bound, (run.seconds, bound)
    assert sim.faults.fired["trickle"] == tries


@pytest.mark.parametrize("kind", ["endless", "gzip_bomb"])
def test_an_endless_body_or_a_gzip_bomb_ends_with_one_clear_error_in_bounded_memory(sim, clean, kind):
    config = sim_config(sim, TEST_TOKEN, request_timeout_seconds=30)
    catalog = _catalog(sim, config, "tags")
    sim.faults.add(Fault(kind, count=-1, size_mb=1024, scope="/v1/tags"))
    run = run_connector("read", config, catalog, timeout=120, observe=True)
    assert "larger than the connector accepts (64 MiB" in _error(run)
    record(
        f"{'an endless body' if kind == 'endless' else 'a gzip bomb inflating to 1 GiB'}",
        "full (tags)",
        0,
        0,
        f"one clear error at 64 MiB; peak RSS {run.peak_rss_mb:.0f} MB (limit {MEMORY_LIMIT_MB})",
        run.seconds,
    )
    assert sim.faults.fired[kind] == 1  # not retried: it would only cost the same again
    assert run.peak_rss_mb is not None and run.peak_rss_mb < MEMORY_LIMIT_MB, run.peak_rss_mb
    assert MAX_RESPONSE_BYTES == 64 * 2**20


def test_a_list_whose_next_link_points_at_itself_stops_instead_of_looping(sim, clean):
    config = sim_config(sim, TEST_TOKEN, page_size=7)
    catalog = _catalog(sim, config, "tags")
    sim.faults.add(Fault("self_next", count=-1, scope="/v1/tags"))
    run = run_connector("read", config, catalog, timeout=60)
    assert "links back to a page already read" in _error(run)
    assert len(run.records("tags")) == 7 and sim.faults.fired["self_next"] == 1


def test_discover_lists_every_klass_past_the_first_hundred():
    klasses = tuple(f"klass_{n:03d}" for n in range(105))
    settings = ServerSettings(tokens={TEST_TOKEN: frozenset()}, org_per_minute=0, search_per_minute=0)
    org = OrgSettings(seed=3, scale=400, anchor_ms=TEST_ANCHOR_MS, klasses=klasses)
    with running_simulator(org, settings) as many:
        config = sim_config(many, TEST_TOKEN)
        discovered = run_connector("discover", config)
        names = {s["name"] for s in discovered.of_type("CATALOG")[0]["catalog"]["streams"]}
        assert {f"kobjects_{k}" for k in klasses} <= names
        catalog = configured_catalog(discovered, {"kobjects_klass_104"})
        read = run_connector("read", config, catalog)
        assert set(read.pairs("kobjects_klass_104")) == truth(many, "kobjects_klass_104")
