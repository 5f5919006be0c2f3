"""docs/kustomer.md follows Airbyte's current source-documentation template and the QA checks on it: the heading
order, the in-app intro sentence, the Cloud set-up steps, the spec's required fields in Prerequisites, an
``## IP allow list`` section directly before ``## Changelog``, and the changelog table. The checks below are this
project's own implementation of those rules; the migration guide's shape is checked too."""

import re
from pathlib import Path
from typing import Dict, List, Optional

import yaml
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "kustomer.md"
MIGRATIONS = ROOT / "docs" / "kustomer-migrations.md"
ANY = object()  # a place where connector-specific headings may appear
CLOUD, OSS = "For Airbyte Cloud:", "For Airbyte Open Source:"
IP_ALLOW_LIST = "IP allow list"
IP_ALLOW_LIST_TEXT = (
    "If you use Airbyte Cloud and your organization restricts access to specific IPs, add the "
    "[Airbyte Cloud IP addresses](https://docs.airbyte.com/platform/operating-airbyte/ip-allowlist) to your allow list."
)
PULL_REQUEST = re.compile(r"^(—|\[(\d+)\]\(https://github\.com/airbytehq/airbyte/pull/\2\))$")


def template(name: str) -> List[object]:
    """The headings of Airbyte's source-docs template (airbyte-ci's QA check), in order."""
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


def headings(markdown: str, levels: str = "h1 h2 h3 h4") -> List[str]:
    """The text of every heading of ``levels``, in order."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [tokens[n + 1].content for n, t in enumerate(tokens) if t.type == "heading_open" and t.tag in levels]


def sections(markdown: str) -> Dict[str, List[str]]:
    """Each heading's text -> the text under it up to the next heading, once per occurrence."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    lines = markdown.splitlines(keepends=True)
    starts = [(tokens[n + 1].content, t.map[0]) for n, t in enumerate(tokens) if t.type == "heading_open"]
    found: Dict[str, List[str]] = {}
    for k, (title, start) in enumerate(starts):
        end = starts[k + 1][1] if k + 1 < len(starts) else len(lines)
        found.setdefault(title, []).append("".join(lines[start + 1 : end]))
    return found


def misplaced(found: List[str], name: str) -> Optional[str]:
    """Why ``found`` breaks the template's order, or lacks the IP allow list section directly before the
    changelog (None when it follows both)."""
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
        if missing:
            return f"missing headings {missing}"
    if found[-2:] != [IP_ALLOW_LIST, "Changelog"]:
        return f"the heading before 'Changelog' must be {IP_ALLOW_LIST!r}"
    return None


def intro_problem(markdown: str, name: str) -> Optional[str]:
    """Why the text under the H1 lacks the in-app intro: one sentence on its own line inside <HideInUI>, its link
    absolute (None when it has it)."""
    if headings(markdown, "h1") != [name]:
        return "the doc must have exactly one H1, the connector's name"
    text = re.sub(r"https?://[^\s)]+", "{docs_link}", sections(markdown)[name][0])
    sentence = (
        "This page contains the setup guide and reference information for the "
        f"[{name}]({{docs_link}}) source connector."
    )
    if f"\n<HideInUI>\n\n{sentence}\n\n</HideInUI>\n" not in text:
        return f"no '<HideInUI>' block holding the one-line sentence {sentence!r}"
    return None


def cloud_steps_problem(markdown: str, name: str) -> Optional[str]:
    """Why the connector's Cloud set-up does not open with the template's four steps, word for word."""
    steps = (
        "1. [Log into your Airbyte Cloud](https://cloud.airbyte.com/workspaces) account.\n"
        "2. Click Sources and then click + New source.\n"
        f"3. On the Set up the source page, select {name} from the Source type dropdown.\n"
        f"4. Enter a name for the {name} connector.\n"
    )
    cloud = sections(markdown).get(CLOUD, [])
    if len(cloud) < 2 or not cloud[1].lstrip("\n").startswith(steps):
        return f"the second {CLOUD!r} section must start with:\n{steps}"
    return None


def prerequisites_problem(markdown: str) -> Optional[str]:
    """Why Prerequisites does not name every required field of the spec (by its title) and the credential."""
    spec = yaml.safe_load((ROOT / "source_kustomer" / "spec.yaml").read_text())["connectionSpecification"]
    text = sections(markdown).get("Prerequisites", [""])[0].lower()
    missing = [
        spec["properties"][f]["title"] for f in spec["required"] if spec["properties"][f]["title"].lower() not in text
    ]
    if missing:
        return f"Prerequisites does not name {missing}"
    if not any(word in text for word in ("account", "auth", "credentials", "access", "client")):
        return "Prerequisites does not say which account or access is needed"
    return None


def _version(text: str) -> tuple:
    return tuple(int(part) for part in text.split("."))


def changelog_problem(markdown: str) -> Optional[str]:
    """Why the changelog is not one collapsed table, newest version first, one row per version."""
    found = sections(markdown).get("Changelog", [])
    if len(found) != 1:
        return "the doc must have one Changelog section"
    body = found[0].strip("\n").splitlines()
    if body[:2] != ["<details>", "  <summary>Expand to review</summary>"] or body[-1] != "</details>":
        return "the changelog must be inside <details> with '  <summary>Expand to review</summary>'"
    table = [line for line in body if line.startswith("|")]
    if not table or table[0] != "| Version | Date | Pull Request | Subject |":
        return "the changelog table must have the columns Version | Date | Pull Request | Subject"
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    for version, date, pull_request, subject in rows:
        if not re.fullmatch(r"\d+\.\d+\.\d+", version) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
            return f"row {version!r}: a version X.Y.Z and a date YYYY-MM-DD"
        if not PULL_REQUEST.match(pull_request) or not subject:
            return f"row {version!r}: a pull request link to airbytehq/airbyte (or —) and a subject"
    versions = [_version(row[0]) for row in rows]
    if versions != sorted(versions, reverse=True) or len(set(versions)) != len(versions):
        return "one row per version, newest first"
    return None


def _name() -> str:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]["name"]


def test_the_docs_follow_airbytes_heading_order_with_the_ip_allow_list_before_the_changelog():
    assert misplaced(headings(DOC.read_text()), _name()) is None


def test_the_heading_check_catches_a_doc_out_of_order():
    text = DOC.read_text()
    swapped = text.replace("## Supported sync modes", "## TEMP").replace(
        "## Supported Streams", "## Supported sync modes"
    )
    assert misplaced(headings(swapped.replace("## TEMP", "## Supported Streams")), _name())
    assert misplaced(headings(text.replace("## Changelog", "## History")), _name())
    without_ip_list = text.replace(f"## {IP_ALLOW_LIST}", "### Network access")
    assert "IP allow list" in misplaced(headings(without_ip_list), _name())
    # after Tutorials the template allows only the changelog, so the IP allow list cannot follow them
    tutorials_last = text.replace(f"## {IP_ALLOW_LIST}", f"### Tutorials\n\n## {IP_ALLOW_LIST}")
    assert misplaced(headings(tutorials_last), _name())


def test_the_docs_open_with_the_in_app_intro_as_one_sentence():
    text = DOC.read_text()
    assert intro_problem(text, _name()) is None
    sentence_start = "This page contains the setup guide"
    wrapped = text.replace(" source connector.\n", "\nsource connector.\n", 1)
    assert intro_problem(wrapped, _name())
    continued = text.replace(" source connector.\n", " source connector: customers and more.\n", 1)
    assert intro_problem(continued, _name())
    relative = text.replace("(https://docs.airbyte.com/integrations/sources/kustomer)", "(kustomer.md)", 1)
    assert sentence_start in relative and intro_problem(relative, _name())


def test_the_cloud_setup_opens_with_the_templates_steps():
    text = DOC.read_text()
    assert cloud_steps_problem(text, _name()) is None
    bold = text.replace("2. Click Sources and then click + New source.", "2. Click **Sources**, then **+ New source**.")
    assert cloud_steps_problem(bold, _name())


def test_prerequisites_name_the_specs_required_fields():
    text = DOC.read_text()
    assert prerequisites_problem(text) is None
    assert "API Token" in sections(text)["Prerequisites"][0]
    assert prerequisites_problem(text.replace("API Token", "key").replace("API token", "key"))


def test_the_ip_allow_list_section_says_what_airbyte_requires():
    text = sections(DOC.read_text())[IP_ALLOW_LIST][0]
    assert IP_ALLOW_LIST_TEXT in text.splitlines()
    assert "Kustomer" in text  # and why it matters for this connector


def test_the_changelog_is_one_collapsed_table_newest_first():
    text = DOC.read_text()
    assert changelog_problem(text) is None
    rows = re.findall(r"^\| (\d+\.\d+\.\d+) \|", text.split("## Changelog", 1)[1], re.M)
    older_first = text.replace(f"| {rows[0]} |", "| TEMP |").replace(f"| {rows[1]} |", f"| {rows[0]} |")
    assert changelog_problem(older_first.replace("| TEMP |", f"| {rows[1]} |"))
    assert changelog_problem(text.replace("  <summary>Expand to review</summary>\n", ""))


def test_the_migration_guide_has_one_upgrade_section_per_breaking_change_newest_first():
    text = MIGRATIONS.read_text()
    assert text.splitlines()[0] == f"# {_name()} Migration Guide"  # Airbyte's check reads the very first line
    found = headings(text, "h2 h3")
    upgrades = [heading[len("Upgrading to ") :] for heading in found if heading.startswith("Upgrading to ")]
    breaking = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]["releases"]["breakingChanges"]
    assert upgrades == sorted(breaking, reverse=True)  # as Airbyte's check orders them: by text, newest first
    for version in upgrades:
        at = found.index(f"Upgrading to {version}")
        assert found[at + 1 : at + 5] == ["What changed", "Why this changed", "Who is affected", "Required actions"]
