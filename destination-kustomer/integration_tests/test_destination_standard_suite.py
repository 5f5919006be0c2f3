"""airbyte-cdk's standard destination suite (in-process and in the image), driven by acceptance-test-config.yml.

Its configs target a simulator served on a fixed loopback port for this module; the suite's image tests reach it
through the project's host-network `docker` wrapper (integration_tests/test_standard_suites.py).
"""

from typing import Iterator

import pytest
from airbyte_cdk.test.standard_tests import DestinationTestSuiteBase
from destination_kustomer import DestinationKustomer

from integration_tests.test_standard_suites import host_network_docker  # noqa: F401 - an autouse fixture
from kustomer_simulator.org import Org, OrgSettings
from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import ACCEPTANCE_TOKEN, TEST_ANCHOR_MS

PORT = 18766  # the source's suite serves its own org on 18765, maybe at the same time


@pytest.fixture(scope="module", autouse=True)
def acceptance_org() -> Iterator[Simulator]:
    """The org sample_config.json and invalid_config.json point at."""
    settings = ServerSettings(tokens={ACCEPTANCE_TOKEN: frozenset()}, minute_seconds=3)
    with Simulator(Org(OrgSettings(seed=7, scale=1000, anchor_ms=TEST_ANCHOR_MS)), settings, port=PORT) as sim:
        yield sim


@pytest.fixture
def connector_image_override(destination_image) -> str:
    """The image under test is the one built from this checkout's Dockerfile (see conftest)."""
    return destination_image


class TestDestinationKustomer(DestinationTestSuiteBase):
    """Spec and check scenarios, in-process and (where an engine answers) in the image."""

    connector = DestinationKustomer
