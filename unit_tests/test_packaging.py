"""The files that describe the connector agree with each other and pass Airbyte's own metadata models."""

import json
import re
import tomllib
import xml.etree.ElementTree as ElementTree
from importlib.metadata import entry_points, version
from pathlib import Path

import yaml
from airbyte_cdk.models.connector_metadata import ConnectorLanguage, MetadataFile
from airbyte_connector_models.metadata.v0.connector_metadata_definition_v0 import ConnectorMetadataDefinitionV0

from source_kustomer.streams import LIST_STREAMS, SEARCH_STREAMS
from source_kustomer.version import DISTRIBUTION, USER_AGENT, VERSION

ROOT = Path(__file__).resolve().parent.parent
DIGEST_PINNED = re.compile(r"(?P<image>docker\.io/airbyte/python-connector-base:\d+\.\d+\.\d+)@sha256:[0-9a-f]{64}")


def _metadata() -> dict:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text())


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_metadata_validates_with_airbytes_models_and_pins_the_base_image_by_digest():
    raw = _metadata()
    model = ConnectorMetadataDefinitionV0.model_validate(raw)  # Airbyte's registry model (airbyte-connector-models)
    assert MetadataFile.from_file(ROOT / "metadata.yaml").data.language == ConnectorLanguage.PYTHON  # the CDK's
    pinned = DIGEST_PINNED.fullmatch(model.data.connector_build_options.base_image)
    assert pinned, "metadata.yaml must name the base image by tag and digest"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={pinned['image']}\n" in dockerfile  # the same image and tag, so a local stand-in serves
    assert (
        raw["data"]["connectorType"] == "source"
        and raw["data"]["definitionId"] == "01fe2592-ffd2-5aff-90da-e5f170922fe8"
    )
    icon = ROOT / raw["data"]["icon"]
    assert icon.name == "icon.svg" and ElementTree.parse(icon).getroot().tag.endswith("svg")


def test_one_version_and_one_name_everywhere():
    project, raw = _project(), _metadata()["data"]
    assert (
        project["name"] == DISTRIBUTION == raw["remoteRegistries"]["pypi"]["packageName"] == "airbyte-source-kustomer"
    )
    assert project["version"] == raw["dockerImageTag"] == version(DISTRIBUTION) == VERSION
    assert f"io.airbyte.version={project['version']}" in (ROOT / "Dockerfile").read_text()
    assert USER_AGENT == f"airbyte-source-kustomer/{project['version']}"
    assert project["license"]["text"] == raw["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT")
    changelog = (ROOT / "docs" / "kustomer.md").read_text().split("## Changelog", 1)[1]
    assert re.search(r"^\| *([0-9.]+) *\|", changelog, re.M).group(1) == project["version"]
    scripts = {script.name: script.value for script in entry_points(group="console_scripts")}
    assert scripts["source-kustomer"] == "source_kustomer.run:run"


def test_configured_catalog_names_every_declared_stream():
    catalog = json.loads((ROOT / "integration_tests" / "configured_catalog.json").read_text())
    names = {s["stream"]["name"] for s in catalog["streams"]}
    declared = {spec.name for spec in LIST_STREAMS + SEARCH_STREAMS}
    assert declared <= names


# What requests itself does to keep a body it has read, and the parsed body cached on a response: not the CDK's.
REQUESTS_RESPONSE_FIELDS = {"_content", "_content_consumed", "_kustomer_json"}


def _cdk_private_names() -> set:
    """Private names the CDK classes this connector subclasses define (methods, and attributes set on self)."""
    import inspect

    from airbyte_cdk.sources import AbstractSource
    from airbyte_cdk.sources.streams.call_rate import AbstractAPIBudget
    from airbyte_cdk.sources.streams.http import HttpStream
    from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, HttpStatusErrorHandler

    names = set()
    for base in (HttpStream, AbstractSource, AbstractAPIBudget, HttpStatusErrorHandler, BackoffStrategy):
        for klass in base.__mro__:
            if klass.__module__.startswith("airbyte_cdk"):
                names |= {n for n in vars(klass) if n.startswith("_") and not n.startswith("__")}
                names |= set(re.findall(r"self\.(_[a-z]\w*)\s*[:=]", inspect.getsource(klass)))
    return names


def test_no_private_member_of_the_cdk_is_used():
    import ast

    cdk_private = _cdk_private_names()
    assert {"_fetch_next_page", "_http_client", "_read_pages"} <= cdk_private
    for path in sorted((ROOT / "source_kustomer").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("airbyte_cdk"):
                assert not any(alias.name.startswith("_") for alias in node.names), (path, node.module)
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                own = isinstance(owner, ast.Name) and owner.id in ("self", "cls") and node.attr not in cdk_private
                assert own or node.attr in REQUESTS_RESPONSE_FIELDS, f"{path.name}:{node.lineno} uses .{node.attr}"
