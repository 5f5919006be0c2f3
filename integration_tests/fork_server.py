"""A fork server for the tests: one connector's start-up imports done once, then each run a fork (test support).

``python integration_tests/fork_server.py SOCKET SCRIPT MODULE...`` imports MODULE... the way SCRIPT's start-up does
(the cyclic collector off, ``sys.path[0]`` the script's folder), then serves runs of ``python SCRIPT <args>`` on the
Unix socket SOCKET until its stdin closes. A request is one packet: JSON ``{"argv", "cwd", "env"}`` with three file
descriptors for the run's stdin, stdout and stderr. For each, the server forks an intermediate process that forks
the run, sends ``{"pid"}``, kills the run (SIGKILL) if asked or if the client goes away, reaps it and sends
``{"returncode"}`` as ``subprocess`` gives it (minus the signal number when killed), then exits.

The run itself is a separate process as the client sees it (own pid, stdio, exit status) and it enters the real
entrypoint: the script runs as ``__main__`` (``runpy.run_path``), so the source's ``main.py`` calls
``source_kustomer.start.main`` as ``python main.py`` does. The server starts no thread (forking a threaded process
is unsafe) and holds no file but its stdio and its sockets: both are checked before it serves.
"""

import atexit
import gc
import importlib
import json
import os
import random
import runpy
import select
import signal
import socket
import sys
import threading
import traceback
from typing import Any, Dict, List, NoReturn, Optional

MAX_REQUEST_BYTES = 1 << 20  # argv, cwd and the whole environment, as JSON
LIVENESS_POLL_SECONDS = 1.0  # how often the server reaps finished intermediates when no request comes


def _prepare(script: str, modules: List[str]) -> None:
    """Import ``modules`` as ``python script`` would at start-up, and check the server is safe to fork."""
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    sys.argv = [script]
    gc.disable()  # as source_kustomer.start.main imports; the run turns it back on as a fresh process has it
    for module in modules:
        importlib.import_module(module)
    assert threading.active_count() == 1, f"importing {modules} started threads: {threading.enumerate()}"
    open_fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    assert open_fds[:3] == [0, 1, 2] and len(open_fds) <= 4, f"the imports left files open: {open_fds}"


def _become_run(request: Dict[str, Any], fds: List[int]) -> None:
    """In the run's process: its stdio, directory, environment and arguments, as ``exec`` would have set them.

    ``sys.stdin``/``stdout``/``stderr`` stay the objects the imports saw (logging's stderr handler holds one): the
    server flushed them and never read through them, they were made over pipes as a captured run's are, and the
    files of the run now sit beneath them.
    """
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"][1:])
    random.seed()  # the module's own generator reseeds at fork too; this says so where it matters
    gc.enable()  # a fresh interpreter's state: main.py's start-up turns it off itself


def _supervise(conn: socket.socket, pid: int) -> NoReturn:
    """In the intermediate process: report the run's pid, kill it when asked (or when the client is gone), report
    its exit status and exit (never returning into the server's loop)."""
    try:
        conn.send(json.dumps({"pid": pid}).encode())
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.register(conn, select.POLLIN)
        while not any(fd == pidfd for fd, _ in poller.poll()):
            conn.recv(MAX_REQUEST_BYTES)  # a kill request, or the client closed: either way the run ends now
            poller.unregister(conn)
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        conn.send(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode())
    except BaseException:  # noqa: BLE001 - said on the server's stderr; the client finds the run lost
        traceback.print_exc()
    finally:
        os._exit(0)


def _serve(listener: socket.socket) -> None:
    """Serve requests until stdin closes (then exit); returns only in a run's process, set up as the run."""
    intermediates = set()
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [], LIVENESS_POLL_SECONDS)
        for pid in list(intermediates):
            if os.waitpid(pid, os.WNOHANG)[0]:
                intermediates.discard(pid)
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1):
            sys.exit(0)
        if listener not in ready:
            continue
        conn, _ = listener.accept()
        message, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST_BYTES, 3)
        assert threading.active_count() == 1, "the fork server must stay single-threaded"
        sys.stdout.flush()
        sys.stderr.flush()
        intermediate = os.fork()
        if intermediate:
            intermediates.add(intermediate)
            conn.close()
            for fd in fds:
                os.close(fd)
            continue
        listener.close()
        run = os.fork()
        if run:
            for fd in fds:
                os.close(fd)
            _supervise(conn, run)
        conn.close()
        _become_run(json.loads(message), fds)
        return


def _run_script(script: str) -> int:
    """Run ``script`` as ``__main__``; the exit code the interpreter would give (an uncaught exception printed as
    it prints one, from the script's frame on)."""
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    except BaseException as error:  # noqa: BLE001 - printed as the interpreter prints an uncaught one
        tb: Optional[Any] = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != script:
            tb = tb.tb_next
        error.with_traceback(tb or error.__traceback__)  # the hook prints the exception's own traceback
        sys.excepthook(type(error), error, error.__traceback__)
        return 1
    return 0


def _exit(code: int) -> NoReturn:
    """End the run as the interpreter ends a process, without tearing down the server's million objects: wait for
    its threads and run its exit hooks (the two steps ``Py_FinalizeEx`` takes through these very functions), flush
    stdio (exit code 120 if that fails, as the interpreter's), exit."""
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - the interpreter reports it the same way
        traceback.print_exc()
        code = 120
    os._exit(code)


def main() -> NoReturn:
    """Prepare, serve, and in each run's process run the script and exit with its code."""
    path, script, *modules = sys.argv[1:]
    _prepare(script, modules)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    print("ready", flush=True)
    _serve(listener)
    _exit(_run_script(script))


if __name__ == "__main__":
    main()
