"""source-kustomer installed alone from its wheel (as PyPI, Airbyte's registry and PyAirbyte install it) answers
``spec`` and ``check``, with its own copy of kustomer_http and nothing from this checkout."""

import pytest

from integration_tests.harness import sim_config
from integration_tests.wheels import answers_spec_and_check_installed_alone
from kustomer_simulator.testing import TEST_TOKEN, running_simulator

pytestmark = pytest.mark.slow


def test_the_wheel_alone_answers_spec_and_check():
    with running_simulator(scale=200, seed=3) as sim:
        answers_spec_and_check_installed_alone(".", "source-kustomer", sim_config(sim, TEST_TOKEN))
