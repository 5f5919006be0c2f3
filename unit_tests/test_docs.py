"""docs/kustomer.md follows Airbyte's source-documentation template: the heading order Airbyte's QA check enforces,
the in-app intro, the changelog table. The check below is this project's own implementation of that rule."""

import re
from pathlib import Path
from typing import List, Optional

import yaml
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "kustomer.md"
ANY = object()  # a place where connector-specific headings may appear
CLOUD, OSS = "For Airbyte Cloud:", "For Airbyte Open Source:"


def template(name: str) -> List[object]:
    """The headings of Airbyte's source-docs template, in order."""
    return [
        name,
        "Prerequisites",
        "Setup guide",
        f"Set up {name}",
        CLOUD,
        OSS,
        ANY,
        f"Set up the {name} connector in Airbyte",
        CLOUD,
        OSS,
        ANY,
        "Supported sync modes",
        "Supported Streams",
        ANY,
        "Performance considerations",
        "Data type map",
        "Limitations & Troubleshooting",
        ANY,
        "Tutorials",
        "Changelog",
    ]


def optional(name: str) -> set:
    """Template headings a doc may leave out."""
    return {f"Set up the {name} connector in Airbyte", CLOUD, OSS, ANY, "Performance considerations",
            "Data type map", "Limitations & Troubleshooting", "Tutorials"}  # fmt: skip


def headings(markdown: str) -> List[str]:
    """The text of every h1-h4 heading, in order."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [tokens[n + 1].content for n, t in enumerate(tokens) if t.type == "heading_open" and t.tag in "h1 h2 h3 h4"]


def misplaced(found: List[str], name: str) -> Optional[str]:
    """Why ``found`` breaks the template's order (None when it follows it)."""
    expected, skippable = template(name), optional(name)
    known = {heading for heading in expected if heading is not ANY}
    i = j = 0
    while i < len(found) and j < len(expected):
        if expected[j] is ANY:
            if found[i] in known:
                j += 1  # a template heading: the connector-specific part is over
            else:
                i += 1  # a connector-specific heading, allowed here
        elif found[i] == expected[j]:
            i, j = i + 1, j + 1
        elif expected[j] in skippable:
            j += 1
        else:
            return f"heading {found[i]!r} where {expected[j]!r} was expected"
    if j != len(expected):
        missing = [h for h in expected[j:] if h is not ANY and h not in skippable]
        return f"missing headings {missing}" if missing else None
    return None


def _name() -> str:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]["name"]


def test_the_docs_follow_airbytes_heading_order():
    assert misplaced(headings(DOC.read_text()), _name()) is None


def test_the_heading_check_catches_a_doc_out_of_order():
    text = DOC.read_text()
    swapped = text.replace("## Supported sync modes", "## TEMP").replace(
        "## Supported Streams", "## Supported sync modes"
    )
    assert misplaced(headings(swapped.replace("## TEMP", "## Supported Streams")), _name())
    assert misplaced(headings(text.replace("## Changelog", "## History")), _name())


def test_the_docs_open_with_the_in_app_intro_and_close_with_the_changelog_table():
    text = DOC.read_text()
    assert re.match(r"# Kustomer\n\n<HideInUI>\n", text)
    changelog = text.split("## Changelog", 1)[1]
    assert "<details>" in changelog and "</details>" in changelog
    assert re.search(r"^\| Version \| Date \| Pull Request \| Subject \|$", changelog, re.M)
    assert "api token" in text.split("## Setup guide")[0].lower()  # the spec's required field, in Prerequisites
