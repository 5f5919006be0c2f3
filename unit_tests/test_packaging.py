"""The Airbyte files that describe the connector agree with each other and with the CDK's models."""

import json
from pathlib import Path

import yaml
from airbyte_cdk.models.connector_metadata import ConnectorLanguage, MetadataFile

from source_kustomer.streams import LIST_STREAMS, SEARCH_STREAMS

ROOT = Path(__file__).resolve().parent.parent


def test_metadata_validates_with_the_cdk_model_and_matches_the_image():
    metadata = MetadataFile.from_file(ROOT / "metadata.yaml")
    data = metadata.data
    assert data.dockerRepository == "airbyte/source-kustomer"
    assert data.language == ConnectorLanguage.PYTHON
    raw = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]
    assert raw["connectorType"] == "source" and raw["definitionId"] == "01fe2592-ffd2-5aff-90da-e5f170922fe8"
    assert raw["remoteRegistries"]["pypi"]["enabled"] is True
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={data.connectorBuildOptions.baseImage}" in dockerfile
    assert f"io.airbyte.version={data.dockerImageTag}" in dockerfile
    setup = (ROOT / "setup.py").read_text()
    assert f'version="{data.dockerImageTag}"' in setup


def test_configured_catalog_names_every_declared_stream():
    catalog = json.loads((ROOT / "integration_tests" / "configured_catalog.json").read_text())
    names = {s["stream"]["name"] for s in catalog["streams"]}
    declared = {spec.name for spec in LIST_STREAMS + SEARCH_STREAMS}
    assert declared <= names
