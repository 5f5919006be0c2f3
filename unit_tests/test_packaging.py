"""The files that describe the connector agree with each other and pass Airbyte's own metadata models."""

import datetime
import json
import re
import tomllib
import xml.etree.ElementTree as ElementTree
from importlib.metadata import entry_points, version
from pathlib import Path

import yaml
from airbyte_cdk.models.connector_metadata import ConnectorLanguage, MetadataFile
from airbyte_connector_models.metadata.v0.connector_metadata_definition_v0 import (
    ConnectorMetadataDefinitionV0,
    VersionBreakingChangeDeadlineAction,
)

from source_kustomer.streams import CONVERSATION_CHILD_STREAMS, INCLUDED_STREAMS, LIST_STREAMS, SEARCH_STREAMS
from source_kustomer.version import DISTRIBUTION, USER_AGENT, VERSION

ROOT = Path(__file__).resolve().parent.parent
SEMVER = re.compile(r"\d+\.\d+\.\d+")
ARCHIVED_DEFINITION_ID = "cd06e646-31bf-4dc8-af48-cbc6530fcad3"
# The streams of Airbyte's archived Kustomer connector (source-kustomer-singer 0.1.2, built on tap-kustomer).
ARCHIVED_STREAMS = (
    "conversations",
    "customers",
    "kobjects",
    "messages",
    "notes",
    "shortcuts",
    "tags",
    "teams",
    "users",
)
DIGEST_PINNED = re.compile(r"(?P<image>docker\.io/airbyte/python-connector-base:\d+\.\d+\.\d+)@sha256:[0-9a-f]{64}")


def _metadata() -> dict:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text())


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _version(text: str) -> tuple:
    return tuple(int(part) for part in text.split("."))


def changelog_rows() -> list:
    """(version, date) of each row of the docs' changelog table, in order."""
    changelog = (ROOT / "docs" / "kustomer.md").read_text().split("## Changelog", 1)[1]
    return re.findall(r"^\| *(\d+\.\d+\.\d+) *\| *(\d{4}-\d{2}-\d{2}) *\|", changelog, re.M)


def test_metadata_validates_with_airbytes_models_and_pins_the_base_image_by_digest():
    raw = _metadata()
    model = ConnectorMetadataDefinitionV0.model_validate(raw)  # Airbyte's registry model (airbyte-connector-models)
    assert MetadataFile.from_file(ROOT / "metadata.yaml").data.language == ConnectorLanguage.PYTHON  # the CDK's
    pinned = DIGEST_PINNED.fullmatch(model.data.connector_build_options.base_image)
    assert pinned, "metadata.yaml must name the base image by tag and digest"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={pinned['image']}\n" in dockerfile  # the same image and tag, so a local stand-in serves
    # The definition of Airbyte's archived Kustomer connector (source-kustomer-singer), which this one succeeds.
    assert raw["data"]["connectorType"] == "source" and raw["data"]["definitionId"] == ARCHIVED_DEFINITION_ID
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
    assert changelog_rows()[0][0] == project["version"]
    scripts = {script.name: script.value for script in entry_points(group="console_scripts")}
    assert scripts["source-kustomer"] == "source_kustomer.start:main"


def test_both_connectors_declare_the_license_as_spdx_with_its_file():
    for folder in (ROOT, ROOT / "destination-kustomer"):
        pyproject = tomllib.loads((folder / "pyproject.toml").read_text())
        project, build = pyproject["project"], pyproject["build-system"]
        raw = yaml.safe_load((folder / "metadata.yaml").read_text())["data"]
        assert project["license"] == raw["license"] == "MIT", folder  # an SPDX expression, not a {text = …} table
        assert project["license-files"], folder
        assert all((folder / name).read_text().startswith("MIT") for name in project["license-files"]), folder
        setuptools = next(r for r in build["requires"] if r.startswith("setuptools"))
        assert _version(setuptools.split(">=")[1]) >= (77,), folder  # the first setuptools that reads both


def test_the_major_version_declares_its_breaking_change_for_users_of_the_archived_connector():
    project, raw = _project(), _metadata()["data"]
    releases = ConnectorMetadataDefinitionV0.model_validate(_metadata()).data.releases
    changes = releases.breaking_changes
    # Airbyte's registry: every key a version, and a release N.0.0 (N > 0) has its entry
    assert changes and all(SEMVER.fullmatch(key) for key in changes)
    major = _version(project["version"])
    assert major[0] > 0 and major[1:] == (0, 0) and project["version"] in changes
    change = changes[project["version"]]
    released = dict(changelog_rows())[project["version"]]
    # Airbyte's QA rule: the deadline (midnight) later than 7 days after the moment of publication, on the release day
    assert change.upgrade_deadline > datetime.date.fromisoformat(released) + datetime.timedelta(days=7)
    # Stream names, fields and state all change: connections left on the old version pause, never move unasked
    assert change.deadline_action == VersionBreakingChangeDeadlineAction.disable
    assert change.scoped_impact is None  # every stream changed: names, fields and state
    assert str(releases.migration_documentation_url) == raw["documentationUrl"] + "-migrations"
    ours = {spec.name for spec in LIST_STREAMS + SEARCH_STREAMS}
    gone = [stream for stream in ARCHIVED_STREAMS if stream not in ours]
    assert gone and all(f"`{stream}`" in change.message for stream in gone)  # the message says what replaced them
    assert "`updatedAt`" in change.message and "`updated_at`" in change.message  # and how the fields changed


def test_configured_catalog_names_every_declared_stream():
    catalog = json.loads((ROOT / "integration_tests" / "configured_catalog.json").read_text())
    names = {s["stream"]["name"] for s in catalog["streams"]}
    declared = {spec.name for spec in LIST_STREAMS + SEARCH_STREAMS + INCLUDED_STREAMS + CONVERSATION_CHILD_STREAMS}
    assert declared <= names
