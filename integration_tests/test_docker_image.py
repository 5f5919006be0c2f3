"""The connector image, built and run as Airbyte runs it: config and catalog in a mounted folder."""

import json
from pathlib import Path

import pytest

from integration_tests.harness import START_DATE, secrets_folder, token_forms, truth
from kustomer_simulator.testing import TEST_TOKEN, running_simulator

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def image_sim():
    """A small org on loopback (the container joins the host network to reach it)."""
    with running_simulator(scale=4000, seed=31, tie_clusters=[700]) as sim:
        yield sim


def _run(docker_client, image, args, folder=None):
    """Run the image as Airbyte does (config in a mounted folder); its stdout, parsed.

    Run detached and read the logs after the exit: with Podman's Docker API, `run(remove=True)` sometimes
    returns before the last line (the CATALOG) reaches the log.
    """
    volumes = {str(folder): {"bind": "/secrets", "mode": "ro"}} if folder else None
    container = docker_client.containers.run(image, args, volumes=volumes, network_mode="host", detach=True)
    try:
        container.wait(timeout=600)
        output = container.logs(stdout=True, stderr=True)
    finally:
        container.remove(force=True)
    lines = output.decode().splitlines()
    assert all(form not in output.decode() for form in token_forms(TEST_TOKEN))
    return [json.loads(line) for line in lines if line.startswith("{")]


def _folder(tmp_path: Path, sim, catalog=None) -> Path:
    config = {"api_token": TEST_TOKEN, "api_url": sim.url, "start_date": START_DATE, "search_lag_seconds": 0}
    return secrets_folder(tmp_path, config, catalog)


def test_image_runs_as_a_non_root_user(docker_client, connector_image):
    user = docker_client.images.get(connector_image).attrs["Config"]["User"]
    assert user == "airbyte"


def test_image_spec_check_discover_and_read(docker_client, connector_image, image_sim, tmp_path):
    spec = [m for m in _run(docker_client, connector_image, ["spec"]) if m["type"] == "SPEC"]
    assert spec[0]["spec"]["connectionSpecification"]["properties"]["api_token"]["airbyte_secret"] is True

    folder = _folder(tmp_path, image_sim)
    check = _run(docker_client, connector_image, ["check", "--config", "/secrets/config.json"], folder)
    assert [m["connectionStatus"]["status"] for m in check if m["type"] == "CONNECTION_STATUS"] == ["SUCCEEDED"]

    discovered = _run(docker_client, connector_image, ["discover", "--config", "/secrets/config.json"], folder)
    streams = {s["name"]: s for s in next(m for m in discovered if m["type"] == "CATALOG")["catalog"]["streams"]}
    assert {"customers", "conversations", "kobjects_order", "users"} <= set(streams)

    chosen = ("customers", "conversations", "users", "kobjects_order")
    catalog = {
        "streams": [
            {
                "stream": streams[name],
                "sync_mode": "incremental"
                if "incremental" in streams[name]["supported_sync_modes"]
                else "full_refresh",
                "destination_sync_mode": "append",
                "cursor_field": ["updatedAt"] if "incremental" in streams[name]["supported_sync_modes"] else None,
            }
            for name in chosen
        ]
    }
    folder = _folder(tmp_path, image_sim, catalog)
    read = _run(
        docker_client,
        connector_image,
        ["read", "--config", "/secrets/config.json", "--catalog", "/secrets/catalog.json"],
        folder,
    )
    for name in chosen:
        emitted = {
            (m["record"]["data"]["id"], m["record"]["data"]["updatedAt"])
            for m in read
            if m["type"] == "RECORD" and m["record"]["stream"] == name
        }
        assert emitted == truth(image_sim, name), name
    assert any(m["type"] == "STATE" for m in read)
