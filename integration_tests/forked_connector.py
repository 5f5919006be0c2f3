"""``subprocess.run`` for the connectors' entrypoints, forked from a server that did their start-up imports once
(test support: a run costs a fork instead of loading airbyte-cdk, about a second of CPU).

``run`` takes and returns what ``subprocess.run(args, capture_output=True, …)`` does. Each run is still its own
process (pid, stdin/stdout/stderr, exit status) entering the real entrypoint (``fork_server.py``). A test
process starts one server per script on its first run of that script. A plain ``subprocess.run`` is used instead
when ``KUSTOMER_TESTS_NO_FORK=1``, for any other program, or when the run's environment differs from the server's
in what the interpreter reads at start-up (``PYTHON*``, the locale).
"""

import atexit
import json
import locale
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Dict, List, Mapping, Optional, Sequence, Union

ROOT = Path(__file__).resolve().parent.parent
SERVER = Path(__file__).resolve().parent / "fork_server.py"
NO_FORK = "KUSTOMER_TESTS_NO_FORK"
# What each entrypoint imports at start-up: main.py through source_kustomer.start.main, destination's main.py itself.
PRELOADS: Dict[str, List[str]] = {
    str(ROOT / "main.py"): ["source_kustomer.start", "source_kustomer.run"],
    str(ROOT / "destination-kustomer" / "main.py"): ["destination_kustomer.run"],
}
STARTUP_TIMEOUT_SECONDS = 120
REPLY_BYTES = 4096


def _startup_env(env: Mapping[str, str]) -> Dict[str, str]:
    """The part of an environment the interpreter reads as it starts (and the imports done then may read)."""
    return {k: v for k, v in env.items() if k.startswith(("PYTHON", "LC_")) or k in ("LANG", "LANGUAGE")}


class _Server:
    """One fork server process for one script, and the socket it listens on."""

    def __init__(self, script: str) -> None:
        self.folder = tempfile.mkdtemp(prefix="fork-server-")
        self.path = os.path.join(self.folder, "socket")
        self.env = dict(os.environ)
        args = [sys.executable, str(SERVER), self.path, script, *PRELOADS[script]]
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=self.env
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline() != b"ready\n":
            _, errors = self.process.communicate(timeout=STARTUP_TIMEOUT_SECONDS)
            raise RuntimeError(f"the fork server for {script} did not start: {errors.decode(errors='replace')}")

    def close(self) -> None:
        """Stop the server (it exits when its stdin closes) and remove its socket."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_servers: Dict[str, _Server] = {}
_servers_lock = threading.Lock()


def _server(script: str) -> _Server:
    with _servers_lock:
        server = _servers.get(script)
        if server is None or server.process.poll() is not None:
            if not _servers:
                atexit.register(_close_servers)
            server = _servers[script] = _Server(script)
        return server


def _close_servers() -> None:
    for server in _servers.values():
        server.close()
    _servers.clear()


def _forkable(args: Sequence[str], env: Mapping[str, str]) -> bool:
    if os.environ.get(NO_FORK) == "1" or len(args) < 2 or args[0] != sys.executable or args[1] not in PRELOADS:
        return False
    server = _servers.get(args[1])
    return _startup_env(env) == _startup_env(server.env if server else os.environ)


def _output(file: IO[bytes]) -> bytes:
    file.seek(0)
    return file.read()


def _text(data: bytes) -> str:
    """``data`` decoded as ``subprocess`` does with ``text=True``: the locale's encoding, universal newlines."""
    return data.decode(locale.getpreferredencoding(False)).replace("\r\n", "\n").replace("\r", "\n")


def _fork_run(
    args: Sequence[str], stdin: IO[bytes], cwd: str, env: Mapping[str, str], timeout: Optional[float]
) -> subprocess.CompletedProcess:
    """One run through the script's server, its output as bytes."""
    server = _server(args[1])
    request = json.dumps({"argv": list(args), "cwd": cwd, "env": dict(env)}).encode()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.connect(server.path)
            socket.send_fds(conn, [request], [stdin.fileno(), out.fileno(), err.fileno()])
            pid = json.loads(conn.recv(REPLY_BYTES))["pid"]
            conn.settimeout(timeout)
            try:
                reply = conn.recv(REPLY_BYTES)
            except socket.timeout:
                conn.settimeout(None)
                conn.send(b"kill")  # the intermediate kills its (unreaped) child: never a reused pid
                assert json.loads(conn.recv(REPLY_BYTES))["returncode"] == -signal.SIGKILL
                raise subprocess.TimeoutExpired(list(args), timeout, output=_output(out), stderr=_output(err)) from None
        if not reply:
            raise RuntimeError(f"the fork server lost run {pid} of {args[1]}")
        returncode = json.loads(reply)["returncode"]
        return subprocess.CompletedProcess(list(args), returncode, _output(out), _output(err))


def run(
    args: Sequence[str],
    *,
    input: Optional[Union[bytes, str]] = None,  # noqa: A002 - subprocess.run's name
    text: bool = False,
    timeout: Optional[float] = None,
    cwd: Union[str, Path, None] = None,
    env: Optional[Mapping[str, str]] = None,
    fork: bool = True,
) -> subprocess.CompletedProcess:
    """``subprocess.run(args, input=…, capture_output=True, text=…, timeout=…, cwd=…, env=…)``, forked when
    ``args`` runs a connector's ``main.py`` with the interpreter running the tests (and ``fork`` is left on)."""
    env = dict(os.environ if env is None else env)
    cwd = str(cwd or os.getcwd())
    if not (fork and _forkable(args, env)):
        return subprocess.run(
            list(args), input=input, capture_output=True, text=text, timeout=timeout, cwd=cwd, env=env
        )
    with tempfile.TemporaryFile() if input is not None else open(os.devnull, "rb") as stdin:
        if input is not None:
            stdin.write(input.encode(locale.getpreferredencoding(False)) if isinstance(input, str) else input)
            stdin.seek(0)
        done = _fork_run(args, stdin, cwd, env, timeout)
    if text:
        done.stdout, done.stderr = _text(done.stdout), _text(done.stderr)
    return done
