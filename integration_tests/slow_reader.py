"""A platform that reads the connector's stdout slowly: the connector runs as Airbyte runs it, its stdout read at a
throttled rate for a while, its peak memory taken from the kernel, then it is stopped.

The memory tests use it to show that how fast the platform reads does not decide how much memory the connector
takes (``test_bounds.py``).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

from integration_tests.harness import ROOT, assert_no_key

CHUNK_BYTES = 64 * 1024


@dataclass
class SlowRead:
    """What a throttled read of the connector's output saw."""

    output: bytes  # what was read, in order (its last line may be cut)
    peak_rss_mb: float  # the connector's peak resident memory (VmHWM) while it was read
    seconds: float

    def records(self) -> List[Dict[str, Any]]:
        """The RECORD messages among the whole lines read."""
        lines = self.output.split(b"\n")[:-1]
        return [m for m in map(json.loads, lines) if m.get("type") == "RECORD"]


def _peak_rss_mb(pid: int, known: float) -> float:
    """The process's peak resident memory so far (``known`` once it has exited: its status no longer says)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            return int(next(line.split()[1] for line in status if line.startswith("VmHWM:"))) / 1024
    except (OSError, StopIteration):
        return known


def read_slowly(config: Dict[str, Any], catalog: Dict[str, Any], bytes_per_second: float, seconds: float) -> SlowRead:
    """Run ``read`` with ``config`` and ``catalog``, reading its stdout at ``bytes_per_second`` (``math.inf``: as
    fast as it is written) for ``seconds`` (or until it ends), then stop it; assert the key is not in what was read."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, str(ROOT / "main.py"), "read"]
        for flag, content in (("--config", config), ("--catalog", catalog)):
            path = Path(tmp) / f"{flag[2:]}.json"
            path.write_text(json.dumps(content))
            args += [flag, str(path)]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
        assert process.stdout is not None
        read, started = [], time.monotonic()
        total, peak = 0, 0.0
        try:
            while (elapsed := time.monotonic() - started) < seconds:
                peak = _peak_rss_mb(process.pid, peak)
                ahead = total - elapsed * bytes_per_second
                if ahead > 0:
                    time.sleep(min(ahead / bytes_per_second, seconds - elapsed))
                    continue
                chunk = os.read(process.stdout.fileno(), CHUNK_BYTES)
                if not chunk:
                    break
                read.append(chunk)
                total += len(chunk)
            peak = _peak_rss_mb(process.pid, peak)
        finally:
            process.kill()
            process.wait()
            process.stdout.close()
    output = b"".join(read)
    assert_no_key(output.decode("utf-8", "replace"), [config["api_token"]])
    return SlowRead(output, peak, time.monotonic() - started)
