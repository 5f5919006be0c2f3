"""Memory running out while a response is read or parsed is one clear error saying so (``OutOfMemory``, a
MemoryError), never "a body that is not JSON" and a retry. Each case runs in a child process whose address space is
capped just above what it holds (``RLIMIT_AS``), so the allocation really fails."""

import json
import re
import subprocess
import sys
from typing import Any, Dict

from kustomer_simulator.faults import Fault
from kustomer_simulator.testing import TEST_TOKEN, running_simulator

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

# A client reading a 60 MiB page (the simulator's oversized_page fault), memory capped 30 MiB above what it holds
# after a first page.
READ = """
import sys
from kustomer_http.connection import KustomerConnection
from kustomer_http.settings import ConnectionSettings

url, token = sys.argv[1:]
client = KustomerConnection(ConnectionSettings(token, url, 30, 1, 50, 100), "test").client("pages")
client.get(url + "/v1/tags")
cap(30)
report(lambda: client.get(url + "/v1/tags").status_code)
"""


def _child(script: str, *args: str) -> Dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", CAP + script, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_memory_running_out_while_a_body_is_parsed_is_said_and_not_retried():
    outcome = _child(PARSE)
    assert outcome.get("raised") == "OutOfMemory" and outcome["memory"], outcome
    assert re.match(
        r"The connector ran out of memory holding a response of 52,\d{3},\d{3} bytes from", outcome["message"]
    )


def test_memory_running_out_while_a_body_is_read_is_said_and_not_retried():
    with running_simulator(scale=500) as sim:
        sim.faults.add(Fault("oversized_page", variant="empty_objects", size_mb=60, after=1))
        outcome = _child(READ, sim.url, TEST_TOKEN)
    assert outcome.get("raised") == "OutOfMemory" and outcome["memory"], outcome
    assert outcome["message"].startswith("The connector ran out of memory holding a response from Kustomer")
