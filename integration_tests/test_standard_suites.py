"""airbyte-cdk's standard source suite (in-process and Docker image), driven by acceptance-test-config.yml.

The configs there target the acceptance simulator, served on a fixed loopback port for this module. The
suite's image tests start containers with a plain `docker run`; so that those containers can reach the
simulator on this machine's loopback, the `docker` they find on PATH is a two-line wrapper that adds
`--network host` to `run` and hands everything else to the real CLI unchanged.
"""

import os
import shutil
import stat
from pathlib import Path
from typing import Iterator

import pytest
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from integration_tests.expected_records import EXPECTED, read_expected
from kustomer_simulator.server import Simulator
from kustomer_simulator.testing import acceptance_simulator
from source_kustomer import SourceKustomer


@pytest.fixture(scope="module", autouse=True)
def simulator() -> Iterator[Simulator]:
    """The org every acceptance config points at."""
    with acceptance_simulator() as sim:
        yield sim


@pytest.fixture(scope="module", autouse=True)
def host_network_docker(tmp_path_factory) -> Iterator[None]:
    """Put a `docker` on PATH that runs containers on the host network (see the module docstring)."""
    real = shutil.which("docker")
    if real is None:
        yield
        return
    folder: Path = tmp_path_factory.mktemp("host-network-docker")
    wrapper = folder / "docker"
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$1" = run ]; then shift; exec "{real}" run --network host "$@"; fi\nexec "{real}" "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
        yield


@pytest.fixture
def connector_image_override(connector_image) -> str:
    """The image under test is the one built from this checkout's Dockerfile (see conftest)."""
    return connector_image


@pytest.fixture
def read_from_streams() -> str:
    """The image read covers every stream of the configured catalog (the CDK's default reads none)."""
    return "all"


@pytest.fixture
def read_scenarios() -> str:
    """Every read scenario runs in the image (the CDK's default only knows names like 'config')."""
    return "all"


class TestSourceKustomer(SourceTestSuiteBase):
    """Spec, check, discover and read scenarios, in-process and (where an engine answers) in the image."""

    connector = SourceKustomer


def test_expected_records_match_a_fresh_read():
    """expected_records.jsonl is what the connector reads today (regenerate: see expected_records.py); streams are
    read concurrently, so only the order within each stream is fixed."""
    assert read_expected() == EXPECTED.read_text().splitlines()
