"""A forked run (``forked_connector.run``) is what ``subprocess.run`` gives: same output, exit status and process
semantics, for the connectors' real entrypoints and for a script that shows what reached its process."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List

import pytest

from integration_tests import forked_connector
from integration_tests.harness import ROOT

SOURCE = str(ROOT / "main.py")
DESTINATION = str(ROOT / "destination-kustomer" / "main.py")
ECHO = """
import json, os, sys, time
from pathlib import Path
command = sys.argv[1]
if command == "show":
    print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "pid": os.getpid(), "ppid": os.getppid(),
                      "value": os.environ.get("FORK_VALUE"),
                      "stdin": sys.stdin.read(), "fds": sorted(os.listdir("/proc/self/fd"))}))
    print("to stderr\\r\\nline", file=sys.stderr)
    sys.exit(int(sys.argv[2]))
if command == "raise":
    raise ValueError("from the script")
if command == "signal":
    os.kill(os.getpid(), int(sys.argv[2]))
    time.sleep(60)
if command == "sleep":
    print(os.getpid(), flush=True)
    time.sleep(600)
if command == "meet":  # create my marker, then wait for the other run's: only runs at the same time both meet
    Path(sys.argv[2]).touch()
    deadline = time.monotonic() + 60
    while not Path(sys.argv[3]).exists():
        if time.monotonic() > deadline:
            sys.exit("the other run never started")
        time.sleep(0.01)
    print("met")
"""


def _both(args: List[str], **options) -> Dict[str, subprocess.CompletedProcess]:
    """The run forked and the same run as a plain subprocess."""
    plain = subprocess.run(args, capture_output=True, **options)
    return {"forked": forked_connector.run(args, **options), "plain": plain}


def _without_times(stdout: str) -> str:
    return re.sub(r'"emitted_at":\s*[0-9.]+', '"emitted_at":0', stdout)


@pytest.fixture()
def echo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A script that the fork server may run (nothing preloaded), for what a connector run cannot show."""
    script = tmp_path / "echo.py"
    script.write_text(ECHO)
    monkeypatch.setitem(forked_connector.PRELOADS, str(script), [])
    monkeypatch.delenv(forked_connector.NO_FORK, raising=False)
    return str(script)


@pytest.mark.parametrize("script", [SOURCE, DESTINATION])
def test_spec_forked_prints_what_a_fresh_process_prints(script, monkeypatch):
    monkeypatch.delenv(forked_connector.NO_FORK, raising=False)
    runs = _both([sys.executable, script, "spec"], text=True, cwd=ROOT, timeout=120)
    assert runs["forked"].returncode == runs["plain"].returncode == 0
    assert runs["forked"].stdout == runs["plain"].stdout and '"type":"SPEC"' in runs["forked"].stdout
    assert runs["forked"].stderr == runs["plain"].stderr


@pytest.mark.parametrize("command", ["discover", "read"])
def test_a_config_error_forked_is_the_same_error_and_exit_code(tmp_path, monkeypatch, command):
    monkeypatch.delenv(forked_connector.NO_FORK, raising=False)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api_token": "short", "start_date": "yesterday"}))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"streams": []}))
    args = [sys.executable, SOURCE, command, "--config", str(config)]
    args += ["--catalog", str(catalog)] if command == "read" else []
    runs = _both(args, text=True, cwd=ROOT, timeout=120)
    assert runs["forked"].returncode == runs["plain"].returncode == 1
    assert _without_times(runs["forked"].stdout) == _without_times(runs["plain"].stdout)
    assert "config_error" in runs["forked"].stdout and runs["forked"].stderr == runs["plain"].stderr


def test_argv_cwd_env_and_stdin_reach_the_run_and_its_exit_code_comes_back(echo, tmp_path, monkeypatch):
    monkeypatch.setenv("FORK_VALUE", "from the test")
    env = {**os.environ, "FORK_VALUE": "from the request"}
    runs = _both([sys.executable, echo, "show", "3"], input=b"on stdin", cwd=tmp_path, env=env, timeout=60)
    shown = {name: json.loads(run.stdout) for name, run in runs.items()}
    assert shown["forked"]["pid"] not in (os.getpid(), shown["plain"]["pid"])
    assert shown["forked"]["fds"] == ["0", "1", "2", "3"]  # stdio, and the listing's own
    assert {**shown["forked"], "pid": 0, "ppid": 0} == {**shown["plain"], "pid": 0, "ppid": 0}
    assert shown["forked"]["cwd"] == str(tmp_path) and shown["forked"]["value"] == "from the request"
    assert shown["forked"]["argv"] == [echo, "show", "3"] and shown["forked"]["stdin"] == "on stdin"
    assert runs["forked"].returncode == runs["plain"].returncode == 3
    assert runs["forked"].stderr == runs["plain"].stderr == b"to stderr\r\nline\n"
    text = forked_connector.run([sys.executable, echo, "show", "0"], text=True, cwd=tmp_path, env=env, timeout=60)
    assert text.returncode == 0 and text.stderr == "to stderr\nline\n"  # decoded as subprocess does


def test_an_uncaught_exception_and_a_signal_end_the_run_as_they_end_a_process(echo):
    raised = _both([sys.executable, echo, "raise"], text=True, timeout=60)
    assert raised["forked"].returncode == raised["plain"].returncode == 1
    assert raised["forked"].stderr == raised["plain"].stderr and "ValueError: from the script" in raised["plain"].stderr
    killed = _both([sys.executable, echo, "signal", str(int(signal.SIGTERM))], timeout=60)
    assert killed["forked"].returncode == killed["plain"].returncode == -signal.SIGTERM


def test_a_run_past_its_timeout_is_killed_and_raises_timeout_expired(echo):
    with pytest.raises(subprocess.TimeoutExpired) as expired:
        forked_connector.run([sys.executable, echo, "sleep"], timeout=1)
    assert expired.value.timeout == 1 and expired.value.cmd == [sys.executable, echo, "sleep"]
    pid = int(expired.value.output)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped before the error was raised


def test_two_runs_at_once_both_complete(echo, tmp_path):
    markers = [str(tmp_path / "first"), str(tmp_path / "second")]
    results: Dict[int, subprocess.CompletedProcess] = {}

    def meet(n: int) -> None:
        results[n] = forked_connector.run([sys.executable, echo, "meet", markers[n], markers[1 - n]], timeout=120)

    threads = [threading.Thread(target=meet, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [(results[n].returncode, results[n].stdout) for n in (0, 1)] == [(0, b"met\n")] * 2


def test_the_escape_hatch_and_an_other_interpreter_setting_run_a_plain_process(echo, monkeypatch):
    def parent() -> int:
        return json.loads(forked_connector.run([sys.executable, echo, "show", "0"], timeout=60).stdout)["ppid"]

    forked = parent()  # the server's intermediate process
    monkeypatch.setenv(forked_connector.NO_FORK, "1")
    hatch = parent()
    monkeypatch.delenv(forked_connector.NO_FORK)
    monkeypatch.setenv("PYTHONWARNINGS", "error")
    assert (forked != os.getpid(), hatch, parent()) == (True, os.getpid(), os.getpid())
