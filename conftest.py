"""Root pytest configuration: airbyte-cdk's standard-test hooks (scenarios from acceptance-test-config.yml), and the
order and grouping of tests that ./test.sh's workers share out (``-n 4 --dist loadgroup --no-loadscope-reorder``)."""

from pathlib import Path
from typing import List

import pytest

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]

# The slowest modules (measured with --durations=0), started first so that none of them starts last and ends the
# run alone; the rest keep pytest's order.
SLOWEST_FIRST = (
    "integration_tests/test_demo.py",
    "integration_tests/test_switch_matrix.py",
    "integration_tests/test_fault_matrix.py",
    "integration_tests/test_wheel_install.py",
    "integration_tests/test_standard_suites.py",
    "destination-kustomer/integration_tests/test_write_switch_matrix.py",
    "destination-kustomer/integration_tests/test_destination_wheel_install.py",
    "integration_tests/test_bounds.py",
    "integration_tests/test_deletes.py",
    "integration_tests/test_security.py",
)
# Modules whose tests each make their own simulator, or share only a module fixture that is cheap to make again: each
# test may run on any worker. Every other module's tests run on one worker, so its module fixtures are made once.
SPREAD = (
    "integration_tests/test_demo.py",
    "integration_tests/test_switch_matrix.py",
    "integration_tests/test_fault_matrix.py",
    "destination-kustomer/integration_tests/test_write_switch_matrix.py",
)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """Put the slowest modules first and group every test by its module, except in the ``SPREAD`` modules."""
    root = Path(str(config.rootpath))

    def module(item: pytest.Item) -> str:
        return Path(str(item.path)).relative_to(root).as_posix()

    items.sort(
        key=lambda item: SLOWEST_FIRST.index(module(item)) if module(item) in SLOWEST_FIRST else len(SLOWEST_FIRST)
    )
    for item in items:
        if module(item) not in SPREAD:
            item.add_marker(pytest.mark.xdist_group(module(item)))
