"""A simulator per test module for the integration tests."""

from typing import Iterator

import pytest

from integration_tests.harness import configured_catalog, run_connector, sim_config
from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import TEST_TOKEN, running_simulator

LIMITED_TOKEN = "kst-integration-limited-Hx2-not-a-secret-7"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """20k records, a tie cluster bigger than a search page, real budgets on a 3-second 'minute' (the org's large
    enough that per-conversation work-item reads do not dominate the module's time)."""
    settings = ServerSettings(
        tokens={
            TEST_TOKEN: frozenset(),
            LIMITED_TOKEN: frozenset({"org.permission.sla.read", "org.permission.note.read"}),
        },
        minute_seconds=3,
        org_per_minute=6000,
    )
    with running_simulator(server_settings=settings, scale=20_000, tie_clusters=[1200], seed=21) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def config(sim):
    """A config for the simulator."""
    return sim_config(sim, TEST_TOKEN)


@pytest.fixture(scope="module")
def catalog(sim, config):
    """Every discovered stream, incremental where possible."""
    discovered = run_connector("discover", config)
    assert discovered.returncode == 0, discovered.stderr[-2000:]
    return configured_catalog(discovered)


IMAGE_TAG = "airbyte/source-kustomer:dev"


@pytest.fixture(scope="session")
def docker_client():
    """A client of the Docker-compatible engine (.ci/run starts one); fails loudly in CI when none answers."""
    import os

    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:  # noqa: BLE001 - any failure means: no engine here
        message = (
            f"No Docker-compatible engine answers ({error.__class__.__name__}). Start Docker (or a compatible "
            "engine such as Podman serving the Docker API) and set DOCKER_HOST; ./test.sh does this where it can."
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return client


@pytest.fixture(scope="session")
def connector_image(docker_client) -> str:
    """The connector image, built from this checkout's Dockerfile."""
    from integration_tests.harness import ROOT

    image, _ = docker_client.images.build(path=str(ROOT), tag=IMAGE_TAG, rm=True)
    size_mb = image.attrs.get("Size", 0) / 1e6
    print(f"\nbuilt {IMAGE_TAG}: {size_mb:.0f} MB")
    return IMAGE_TAG


def pytest_sessionstart(session) -> None:
    """A new run starts a new fault matrix (in the main process only, not in each pytest-xdist worker)."""
    from integration_tests.matrix import start

    if not hasattr(session.config, "workerinput"):
        start()


def pytest_terminal_summary(terminalreporter) -> None:
    """Write and show the fault matrix (rows added by the matrix modules, in whichever worker ran them)."""
    from integration_tests.matrix import write_table

    table = write_table()
    if table:
        terminalreporter.write_sep("=", "fault matrix")
        terminalreporter.write_line(table)
