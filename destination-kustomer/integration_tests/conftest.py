"""A simulator per test module for the destination's integration tests (a small org, real budgets on a 3-second
'minute', bulk jobs that take 50 ms), and the destination image built from this checkout."""

import os
import subprocess
from typing import Iterator

import pytest

from integration_tests.harness import ROOT
from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import TEST_TOKEN, running_simulator
from kustomer_simulator.writes import WriteSettings

WRITE_LIMITED_TOKEN = "kst-destination-no-update-Jr5-not-a-secret"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """3,000 records; one more token lacks the customer update role. No agent edits records between the writes'
    lookups and their writes here (test_write_switch_matrix runs under both settings): these tests compare what a
    write leaves with what it wrote."""
    settings = ServerSettings(
        tokens={TEST_TOKEN: frozenset(), WRITE_LIMITED_TOKEN: frozenset({"org.permission.customer.update"})},
        minute_seconds=3,
        writes=WriteSettings(bulk_seconds=0.05, agent_edits="none"),
    )
    with running_simulator(server_settings=settings, scale=3000, seed=41) as simulator:
        yield simulator


IMAGE = "airbyte/destination-kustomer:dev"


@pytest.fixture(scope="session")
def destination_image() -> str:
    """The image, built from this checkout (skipped where no Docker-compatible engine answers; failed under CI)."""
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
        message = "No Docker-compatible engine answers; start one (or set DOCKER_HOST) to run the image tests."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    build = ["docker", "build", "-q", "-f", "destination-kustomer/Dockerfile", "-t", IMAGE, "."]
    built = subprocess.run(build, capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert built.returncode == 0, built.stderr[-3000:]
    return IMAGE
