"""Part 2's start-up figures: the process CPU of commands that read little or nothing -- ``spec``, ``check``
against the simulator, and an incremental ``read`` of every stream when nothing changed since the last sync -- as
the median of several runs (other work on a shared machine moves single runs), next to the CPU of importing
airbyte-cdk alone, and the import time of the connector's own modules (``python -X importtime``, ``spec``).

Each command runs as an installed connector does, with its modules' bytecode cached (``AS_INSTALLED``), after one
run that is not counted.

Usage: .venv/bin/python -m benchmarks.startup [--runs 5] [--scale 10000]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from benchmarks.processes import AS_INSTALLED, ROOT, WORK, our_catalog, simulator, unlimited

OWN_PACKAGES = ("source_kustomer", "kustomer_http")
CDK_IMPORT = [sys.executable, "-c", "import airbyte_cdk.entrypoint"]
CDK_IMPORT_NAME = "importing airbyte-cdk alone (python -c 'import airbyte_cdk.entrypoint'), for reference"


def process_cpu(command: List[str], stdout_path: Optional[Path] = None) -> Tuple[float, int]:
    """User + system CPU seconds of one process (from wait4) and its exit code; its stdout kept in ``stdout_path``."""
    with open(stdout_path or os.devnull, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, cwd=ROOT, env=AS_INSTALLED)
        _, status, usage = os.wait4(process.pid, 0)
    return usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def final_state(stdout_path: Path) -> List[Dict[str, Any]]:
    """The last STATE message of each stream a read printed: the state the next sync starts from."""
    latest: Dict[str, Dict[str, Any]] = {}
    for line in stdout_path.read_bytes().splitlines():
        if line.startswith(b'{"type":"STATE"'):
            state = json.loads(line)["state"]
            latest[state["stream"]["stream_descriptor"]["name"]] = state
    return list(latest.values())


def _median(name: str, command: List[str], runs: int) -> Dict[str, Any]:
    process_cpu(command)  # a first run, not counted: it writes the bytecode
    measured = []
    for _ in range(runs):
        cpu, code = process_cpu(command)
        if code != 0:
            raise RuntimeError(f"{name} exited {code}")
        measured.append(round(cpu, 3))
    return {"command": name, "cpu_s_median": round(statistics.median(measured), 2), "cpu_s_runs": measured}


def _connector(*args: str) -> List[str]:
    return [sys.executable, str(ROOT / "main.py"), *args]


def startup_cost(runs: int, scale: int, config_for: Callable[[str], Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per command (``config_for`` gives the config against a simulator's URL): the median process CPU of
    ``runs`` runs, and each run's."""
    WORK.mkdir(parents=True, exist_ok=True)
    rows = [
        _median(CDK_IMPORT_NAME, CDK_IMPORT, runs),
        _median("spec", _connector("spec"), runs),
    ]
    with simulator(scale, limits=False) as url:
        config_path, catalog_path, state_path = (WORK / f"startup-{n}.json" for n in ("config", "catalog", "state"))
        config = config_for(url)
        config_path.write_text(json.dumps(config))
        catalog_path.write_text(json.dumps(our_catalog(config, None)))
        rows.append(_median("check (simulator)", _connector("check", "--config", str(config_path)), runs))
        read = _connector("read", "--config", str(config_path), "--catalog", str(catalog_path))
        full_out = WORK / "startup-full.jsonl"
        _, code = process_cpu(read, full_out)
        if code != 0:
            raise RuntimeError(f"the full read exited {code}")
        state_path.write_text(json.dumps(final_state(full_out)))
        incremental = f"read, incremental, nothing changed ({scale:,}-record org, every stream)"
        rows.append(_median(incremental, [*read, "--state", str(state_path)], runs))
    return rows


def own_import_share() -> Dict[str, int]:
    """Microseconds ``spec`` spends importing (every module's self time added up) and, of it, the connector's own
    modules'."""
    command = [sys.executable, "-X", "importtime", str(ROOT / "main.py"), "spec"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=AS_INSTALLED, check=True)
    own = total = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = (part.strip() for part in line[len("import time:") :].split("|"))
        total += int(self_us)
        if name.split(".")[0] in OWN_PACKAGES:
            own += int(self_us)
    return {"spec_import_us": total, "spec_import_us_own_modules": own}


def main(argv: Optional[List[str]] = None) -> int:
    """Print the start-up rows and the import share."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=int, default=10_000)
    args = parser.parse_args(argv)
    for row in startup_cost(args.runs, args.scale, unlimited):
        print(json.dumps(row))
    print(json.dumps(own_import_share()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
