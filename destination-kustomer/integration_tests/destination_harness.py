"""Run the real destination entrypoint (``python destination-kustomer/main.py …``) against a simulator, feed it
records and states on stdin, read what it says, and check what it wrote into the org.

Every run is scanned for every form of the API token (the project harness's own list): a leak fails the test.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from airbyte_cdk.models import AirbyteMessageSerializer, ConfiguredAirbyteCatalogSerializer
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from destination_kustomer.destination import DestinationKustomer
from destination_kustomer.jobs_in_flight import PLATFORM_SECRET_MASK

from integration_tests import forked_connector
from integration_tests.harness import PROCESS_PROBE, ROOT, Run, assert_no_key
from kustomer_simulator.collection import Collection
from kustomer_simulator.server import Simulator

MAIN = ROOT / "destination-kustomer" / "main.py"


def destination_config(sim: Simulator, token: str, **overrides: Any) -> Dict[str, Any]:
    """A config aimed at the simulator, with its shrunk rate-limit window."""
    return {
        "api_token": token,
        "api_url": sim.url,
        "rate_limit_window_seconds": sim.budgets.minute_seconds,
        **overrides,
    }


def write_catalog(*streams: Mapping[str, Any]) -> Dict[str, Any]:
    """A configured catalog as PyAirbyte sends one (no object names; append_dedup unless told)."""
    return {
        "streams": [
            {
                "stream": {
                    "name": s["name"],
                    "json_schema": {"type": "object"},
                    "supported_sync_modes": ["full_refresh"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": s.get("mode", "append_dedup"),
                **({"destination_object_name": s["object"]} if "object" in s else {}),
                **({"primary_key": s["primary_key"]} if "primary_key" in s else {}),
            }
            for s in streams
        ]
    }


def record_line(stream: str, data: Mapping[str, Any]) -> str:
    """A RECORD message line."""
    return json.dumps({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 0}})


def state_line(stream: str, value: Any) -> str:
    """A per-stream STATE message line."""
    state = {"type": "STREAM", "stream": {"stream_descriptor": {"name": stream}, "stream_state": {"position": value}}}
    return json.dumps({"type": "STATE", "state": state})


def input_lines(stream: str, rows: Sequence[Mapping[str, Any]], state_every: int) -> List[str]:
    """The rows as RECORD lines, with a STATE (its value: rows so far) after every ``state_every`` rows."""
    lines: List[str] = []
    for n, row in enumerate(rows, 1):
        lines.append(record_line(stream, row))
        if n % state_every == 0 or n == len(rows):
            lines.append(state_line(stream, n))
    return lines


def _parse(stdout: str) -> List[Dict[str, Any]]:
    messages = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            try:
                messages.append(json.loads(line))
            except ValueError:
                pass
    return messages


def _files(folder: Path, config: Mapping[str, Any], catalog: Optional[Mapping[str, Any]]) -> List[str]:
    args = ["--config", str(folder / "config.json")]
    (folder / "config.json").write_text(json.dumps(config))
    if catalog is not None:
        (folder / "catalog.json").write_text(json.dumps(catalog))
        args += ["--catalog", str(folder / "catalog.json")]
    return args


def run_destination(
    command: str,
    config: Mapping[str, Any],
    catalog: Optional[Mapping[str, Any]] = None,
    lines: Sequence[str] = (),
    timeout: float = 300,
    raw: Optional[bytes] = None,
    observe: bool = False,
) -> Run:
    """Run ``python destination-kustomer/main.py <command>`` with ``lines`` (or the bytes ``raw``) on stdin, as
    Airbyte would; with ``observe``, the process's peak memory is recorded too."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, str(MAIN), command, *_files(Path(tmp), config, catalog)]
        rss_log = Path(tmp) / "rss.log"
        if observe:
            env["PYTHONPATH"] = os.pathsep.join([str(PROCESS_PROBE), env.get("PYTHONPATH", "")])
            env["KUSTOMER_RSS_LOG"] = str(rss_log)
        started = time.monotonic()
        stdin = raw if raw is not None else "".join(line + "\n" for line in lines).encode()
        # an observed run loads the probe's sitecustomize as the interpreter starts: a fresh process
        done = forked_connector.run(args, input=stdin, timeout=timeout, cwd=ROOT, env=env, fork=not observe)
        peak = int(rss_log.read_text()) / 1024 if rss_log.exists() else None
    stdout, stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    assert_no_key(stdout + "\n" + stderr, [config.get("api_token", "")])
    return Run(done.returncode, stdout, stderr, _parse(stdout), peak_rss_mb=peak, seconds=time.monotonic() - started)


def run_until_states(
    config: Mapping[str, Any], catalog: Mapping[str, Any], lines: Sequence[str], states: int, timeout: float = 120
) -> Run:
    """Start a write, feed it every line, and SIGKILL it as soon as it has passed on ``states`` states."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, str(MAIN), "write", *_files(Path(tmp), config, catalog)]
        process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
        )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("".join(line + "\n" for line in lines))
        process.stdin.flush()
        output: List[str] = []
        deadline = time.monotonic() + timeout
        seen = 0
        while seen < states and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            seen += '"type":"STATE"' in line
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    stdout = "".join(output)
    assert_no_key(stdout, [config.get("api_token", "")])
    return Run(process.returncode, stdout, "", _parse(stdout))


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def write_in_process(
    config: Mapping[str, Any],
    catalog: Mapping[str, Any],
    lines: Sequence[str],
    stops: bool = False,
    on_state: Optional[Callable[[str, Any], None]] = None,
) -> Run:
    """The same write, in this process (for the switch matrix: many short writes without a process start each);
    with ``stops``, it must end in an error, kept as the ERROR trace the entrypoint would print (exit code 1).
    ``on_state(stream, value)`` runs as each STATE comes out, before the write goes on: what it finds in the org
    then is what the state vouches for."""
    captured = _Lines()
    logger = logging.getLogger("airbyte")
    logger.addHandler(captured)
    messages: List[Any] = []
    stopped: List[str] = []
    try:
        for message in DestinationKustomer().write(
            config,
            ConfiguredAirbyteCatalogSerializer.load(catalog),
            (AirbyteMessageSerializer.load(json.loads(line)) for line in lines),
        ):
            messages.append(message)
            if on_state is not None and message.state is not None:
                descriptor = message.state.stream.stream_descriptor.name if message.state.stream else ""
                on_state(descriptor, getattr(message.state.stream.stream_state, "position", None))
    except AirbyteTracedException as error:
        if not stops:
            raise
        failure = {"message": error.message, "failure_type": error.failure_type.value}
        stopped.append(json.dumps({"type": "TRACE", "trace": {"type": "ERROR", "error": failure}}))
    finally:
        logger.removeHandler(captured)
    assert bool(stopped) == stops, "the write was expected to stop with an error"
    out = [json.dumps(AirbyteMessageSerializer.dump(m)) for m in messages] + stopped
    out += [json.dumps({"type": "LOG", "log": {"level": "INFO", "message": line}}) for line in captured.lines]
    stdout = "\n".join(out)
    assert_no_key(stdout, [config.get("api_token", "")])
    return Run(int(stops), stdout, "", _parse(stdout))


def stored_config(config: Mapping[str, Any], run: Run) -> Dict[str, Any]:
    """The config the Airbyte platform keeps for the destination's next run: the last CONTROL message's, where the
    write sent one -- its masked secrets restored from ``config``, as the platform's config update does -- else
    ``config`` as it was."""
    controls = [m["control"]["connectorConfig"]["config"] for m in run.of_type("CONTROL")]
    if not controls:
        return dict(config)
    stored = dict(controls[-1])
    return {**stored, **{name: config[name] for name, value in stored.items() if value == PLATFORM_SECRET_MASK}}


def written(sim: Simulator, collection: str, key: str, value: str, exact_case: bool = False) -> List[Dict[str, Any]]:
    """Every existing record of ``collection`` whose ``key`` (externalId or email: in any case unless
    ``exact_case``) is ``value``, as the API renders it (more than one is a duplicate)."""
    org = sim.org
    with org.lock:
        coll: Collection = org.collections[collection]
        holders = org.store.holders(coll, key, value, exact_case)
        return [{"id": coll.record_id(i), **coll.render(i)["attributes"]} for i in holders]
