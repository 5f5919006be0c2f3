"""The files describing the destination agree with each other, follow Airbyte's layout and pass its own models."""

import re
import tomllib
import uuid
import xml.etree.ElementTree as ElementTree
from importlib.metadata import entry_points, version
from pathlib import Path

import yaml
from airbyte_cdk.models.connector_metadata import ConnectorLanguage, MetadataFile
from airbyte_connector_models.metadata.v0.connector_metadata_definition_v0 import ConnectorMetadataDefinitionV0
from destination_kustomer.version import DISTRIBUTION, USER_AGENT, VERSION
from markdown_it import MarkdownIt

CONNECTOR = Path(__file__).resolve().parent.parent
ROOT = CONNECTOR.parent
DIGEST_PINNED = re.compile(r"(?P<image>docker\.io/airbyte/python-connector-base:\d+\.\d+\.\d+)@sha256:[0-9a-f]{64}")
# Airbyte's data-activation destination docs (hubspot.md, customer-io.md), in order.
DOC_HEADINGS = [
    "Kustomer Destination",
    "Prerequisites",
    "Setup guide",
    "Set up the Kustomer connector in Airbyte",
    "Supported sync modes",
    "Supported Objects",
    "Data type mapping",
    "Limitations & Troubleshooting",
    "Namespace support",
    "Changelog",
]


def _metadata() -> dict:
    return yaml.safe_load((CONNECTOR / "metadata.yaml").read_text())


def test_metadata_validates_with_airbytes_models_as_a_data_activation_destination():
    raw = _metadata()
    model = ConnectorMetadataDefinitionV0.model_validate(raw)
    assert MetadataFile.from_file(CONNECTOR / "metadata.yaml").data.language == ConnectorLanguage.PYTHON
    data = model.data
    assert data.connector_type.value == "destination" and data.supports_data_activation is True
    assert uuid.UUID(str(data.definition_id)).version == 4
    assert data.definition_id != yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]["definitionId"]
    assert data.docker_repository == "airbyte/destination-kustomer"
    source_hosts = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]["allowedHosts"]["hosts"]
    assert raw["data"]["allowedHosts"]["hosts"] == source_hosts
    pinned = DIGEST_PINNED.fullmatch(data.connector_build_options.base_image)
    assert pinned, "metadata.yaml must name the base image by tag and digest"
    assert f"ARG BASE_IMAGE={pinned['image']}\n" in (CONNECTOR / "Dockerfile").read_text()
    icon = CONNECTOR / raw["data"]["icon"]
    assert ElementTree.parse(icon).getroot().tag.endswith("svg")


def test_one_version_and_one_name_everywhere():
    project = tomllib.loads((CONNECTOR / "pyproject.toml").read_text())["project"]
    raw = _metadata()["data"]
    assert project["name"] == DISTRIBUTION == raw["remoteRegistries"]["pypi"]["packageName"]
    assert project["version"] == raw["dockerImageTag"] == version(DISTRIBUTION) == VERSION == "0.1.0"
    # kustomer_http is built into both connectors (setup.py), so both require what it requires, and nothing else
    source = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == source["dependencies"] and "airbyte-cdk==7.39.1" in project["dependencies"]
    assert f"io.airbyte.version={project['version']}" in (CONNECTOR / "Dockerfile").read_text()
    assert USER_AGENT == f"airbyte-destination-kustomer/{project['version']}"
    changelog = (CONNECTOR / "docs" / "kustomer.md").read_text().split("## Changelog", 1)[1]
    assert re.search(r"^\| *([0-9.]+) *\|", changelog, re.M).group(1) == project["version"]
    scripts = {script.name: script.value for script in entry_points(group="console_scripts")}
    assert scripts["destination-kustomer"] == "destination_kustomer.run:run"


def test_the_image_context_lets_in_what_the_dockerfile_copies():
    allowed = (ROOT / ".dockerignore").read_text().splitlines()
    copied = re.findall(r"^COPY (.+) \S+$", (CONNECTOR / "Dockerfile").read_text(), re.M)
    for source in " ".join(copied).split():
        assert any(line.lstrip("!").rstrip("/") in (source, source.rstrip("/")) for line in allowed), source


def test_the_docs_follow_airbytes_destination_layout():
    tokens = MarkdownIt().parse((CONNECTOR / "docs" / "kustomer.md").read_text())
    headings = [tokens[n + 1].content for n, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == DOC_HEADINGS
    text = (CONNECTOR / "docs" / "kustomer.md").read_text()
    assert "<summary>Expand to review</summary>" in text and "</details>" in text
    for role in ("org.permission.customer.update", "org.permission.bulk.read", "org.permission.metadata.read"):
        assert role in text
