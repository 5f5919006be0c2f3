"""Memory running out while a response is read or parsed is one clear error saying so (``OutOfMemory``, a
MemoryError), never "a body that is not JSON" and a retry. Each case runs in a child process whose address space is
capped just above what it holds (``RLIMIT_AS``), so the allocation really fails."""

import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator

import pytest

CAP = """
import json, logging, resource

def cap(margin_mib):
    with open("/proc/self/status") as status:
        size_kib = int(next(line.split()[1] for line in status if line.startswith("VmSize:")))
    resource.setrlimit(resource.RLIMIT_AS, ((size_kib << 10) + (margin_mib << 20), resource.RLIM_INFINITY))

def report(call):
    try:
        print(json.dumps({"returned": str(call())}))
    except BaseException as error:
        message = getattr(error, "message", None) or str(error)
        memory = isinstance(error, MemoryError)
        print(json.dumps({"raised": type(error).__name__, "memory": memory, "message": message}))
"""

# The error handler judging a 200 of 50 MiB of records, memory capped 100 MiB above: orjson's parse buffer (about
# 2.7 times the body) cannot be had, and orjson says so as a JSONDecodeError.
PARSE = """
import requests
from kustomer_http.rate_policy import RateStats
from kustomer_http.responses import KustomerErrorHandler

record = b'{"id":"5c6f00000000000000000000","attributes":{"name":"' + b"y" * 200 + b'"}}'
response = requests.Response()
response.status_code = 200
response._content = b'{"data":[' + b",".join([record] * ((50 << 20) // len(record))) + b']}'
handler = KustomerErrorHandler(logging.getLogger("test"), 60, RateStats())
cap(100)
report(lambda: handler.interpret_response(response).response_action)
"""

# A client reading a 60 MiB page, memory capped 30 MiB above what it holds after a first small request.
READ = """
import sys
from kustomer_http.connection import KustomerConnection
from kustomer_http.settings import ConnectionSettings

url = sys.argv[1]
settings = ConnectionSettings("kst-out-of-memory-test-" + "x" * 20, url, 30, 1, 50, 100)
client = KustomerConnection(settings, "test").client("pages")
client.get(url + "/v1/small")
cap(30)
report(lambda: client.get(url + "/v1/large").status_code)
"""


def _child(script: str, *args: str) -> Dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", CAP + script, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"data":[]}' if self.path.endswith("/small") else b'{"data":["' + b"z" * (60 << 20) + b'"]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    pages = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{pages.server_address[1]}"
    pages.shutdown()


def test_memory_running_out_while_a_body_is_parsed_is_said_and_not_retried():
    outcome = _child(PARSE)
    assert outcome.get("raised") == "OutOfMemory" and outcome["memory"], outcome
    assert re.match(
        r"The connector ran out of memory holding a response of 52,\d{3},\d{3} bytes from", outcome["message"]
    )


def test_memory_running_out_while_a_body_is_read_is_said_and_not_retried(server):
    outcome = _child(READ, server)
    assert outcome.get("raised") == "OutOfMemory" and outcome["memory"], outcome
    assert outcome["message"].startswith("The connector ran out of memory holding a response from Kustomer")
