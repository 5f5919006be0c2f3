"""The destination image, built from the repository root and run as Airbyte runs it (config and catalog in a mounted
folder, records on stdin): discover and write against the simulator (spec and check: the standard suite)."""

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from destination_harness import destination_config, input_lines, write_catalog, written

from integration_tests.harness import secrets_folder, token_forms
from kustomer_simulator.testing import TEST_TOKEN

pytestmark = pytest.mark.image


def _run(image: str, args: List[str], folder: Optional[Path] = None, stdin: str = "") -> List[Dict[str, Any]]:
    """Run the image on the host network (the simulator listens on loopback); its stdout, parsed."""
    mount = ["-v", f"{folder}:/secrets:ro"] if folder else []
    command = ["docker", "run", "--rm", "-i", "--network", "host", *mount, image, *args]
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=300)
    for form in token_forms(TEST_TOKEN):
        assert form not in done.stdout + done.stderr, "the API token leaked into the output"
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_the_image_runs_as_airbyte_discovers_and_writes(destination_image, sim, tmp_path):
    image = destination_image
    user = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Config.User}}", image], capture_output=True, text=True
    )
    assert user.stdout.strip() == "airbyte"
    config = destination_config(sim, TEST_TOKEN, batch_size=10)
    folder = secrets_folder(tmp_path, config, write_catalog({"name": "companies"}))
    # spec and check in the image: the standard suite (test_destination_standard_suite.py)
    discovered = _run(image, ["discover", "--config", "/secrets/config.json"], folder)
    operations = next(m for m in discovered if m["type"] == "DESTINATION_CATALOG")["destination_catalog"]["operations"]
    assert {"customer", "company", "kobject.order"} <= {op["object_name"] for op in operations}

    rows = [{"externalId": f"img-{n}", "name": f"Image Company {n}", "employeeCount": n} for n in range(25)]
    stdin = "".join(line + "\n" for line in input_lines("companies", rows, 10))
    wrote = _run(
        image, ["write", "--config", "/secrets/config.json", "--catalog", "/secrets/catalog.json"], folder, stdin
    )
    assert [m["state"]["stream"]["stream_state"]["position"] for m in wrote if m["type"] == "STATE"] == [10, 20, 25]
    for row in rows:
        (company,) = written(sim, "companies", "externalId", row["externalId"])
        assert (company["name"], company["employeeCount"]) == (row["name"], row["employeeCount"])
