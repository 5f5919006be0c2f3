"""destination-kustomer installed alone from its wheel (built from its folder, as PyPI, Airbyte's registry and
PyAirbyte install it) answers ``spec`` and ``check``, with its own copy of kustomer_http and nothing from this
checkout."""

import tempfile
from pathlib import Path

import pytest
from destination_harness import destination_config

from integration_tests.wheels import checkout_copy, install_alone, run_installed, shared_package_folder
from kustomer_simulator.testing import TEST_TOKEN, running_simulator

pytestmark = pytest.mark.slow


def test_the_wheel_alone_answers_spec_and_check():
    with tempfile.TemporaryDirectory() as tmp, running_simulator(scale=200, seed=3) as sim:
        work = Path(tmp)
        bin_dir = install_alone(checkout_copy(work / "checkout") / "destination-kustomer", work)
        shared = shared_package_folder(bin_dir)
        assert shared.parent.name == "airbyte_destination_kustomer.bundled" and shared.is_relative_to(work / "venv")

        spec = run_installed(bin_dir / "destination-kustomer", "spec", work)
        assert spec.returncode == 0, spec.stderr[-2000:]
        assert "api_token" in spec.of_type("SPEC")[0]["spec"]["connectionSpecification"]["properties"]
        check = run_installed(bin_dir / "destination-kustomer", "check", work, destination_config(sim, TEST_TOKEN))
        assert check.returncode == 0, check.stderr[-2000:]
        assert check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"] == "SUCCEEDED"
