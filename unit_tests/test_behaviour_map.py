"""The behaviour map (``docs/architecture.md``, section 4) held against what it maps.

Every flag of ``python -m kustomer_simulator serve`` is either a Kustomer behaviour -- then it has one row in the
map, a row in ``docs/kustomer-api-model.md`` naming it, BEHAVIOR.md entries citing the test that proves it, the probe
question that settles it (where the probe asks one) and matrix tests that run it under every setting -- or it is
named in ``NOT_BEHAVIOURS`` below with the reason. A new flag fails here until it is classified, and each failure
says what to add where.
"""

import ast
import contextlib
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Set, Tuple

import pytest

from kustomer_simulator.__main__ import build_parser
from kustomer_simulator.org import KLASS_STATUSES
from kustomer_simulator.search import FIELD_BEHAVIOURS, ROUTING_BEHAVIOURS

ROOT = Path(__file__).resolve().parent.parent
MAP = ROOT / "docs" / "architecture.md"
API_MODEL = ROOT / "docs" / "kustomer-api-model.md"
BEHAVIOR = ROOT / "BEHAVIOR.md"
PROBE = ROOT / "source_kustomer" / "probe"
MAP_SECTION = "## 4. Where each Kustomer behaviour lives"
MAP_COLUMNS = ["flag", "behaviour", "api-model", "BEHAVIOR", "probe", "matrix"]
NONE = "—"
ROW_TO_ADD = (
    "| `{flag}` | what Kustomer leaves open | [api-model section](kustomer-api-model.md#its-anchor) | BEHAVIOR.md "
    "entry numbers | the probe's question, or — | `path/to/test_file.py::test_name` (running every setting) |"
)

# Flags that are not Kustomer behaviours: where the simulator listens, the org it generates, what tests do to it.
NOT_BEHAVIOURS: Mapping[str, str] = {
    "--host": "where the simulator listens",
    "--port": "where the simulator listens",
    "--tls-cert": "serves HTTPS (the Docker image and HTTPS tests)",
    "--tls-key": "serves HTTPS (the Docker image and HTTPS tests)",
    "--seed": "the generated org's data",
    "--scale": "the generated org's data",
    "--anchor": "the generated org's data",
    "--ties": "the generated org's data",
    "--deleted-fraction": "the generated org's data",
    "--history-days": "the generated org's data",
    "--count": "the generated org's data",
    "--token": "the API keys accepted and the roles each lacks; the role rules are api-model rows without a switch",
    "--minute-seconds": "the length of a rate-limit minute, shortened so tests run fast",
    "--mutate-every": "records changed while a sync runs (demo, tests)",
    "--mutate-count": "records changed while a sync runs (demo, tests)",
    "--fault": "what any server or network can do, not Kustomer behaviour (the fault matrix runs each)",
    "--prerender": "records serialized up front (benchmarks)",
}
# The settings of flags that take a parsed value instead of a choice; each must be run by the flag's matrix tests.
TYPED_SETTINGS: Mapping[str, Sequence[object]] = {
    "--created-at": FIELD_BEHAVIOURS,
    "--routing-search": ROUTING_BEHAVIOURS,
    "--klasses": KLASS_STATUSES,
    "--no-retry-after": (True, False),
}


@dataclass(frozen=True)
class Row:
    """One row of the map."""

    flag: str
    section: str  # the api-model section's heading
    anchor: str  # the link to it
    entries: Tuple[int, ...]  # BEHAVIOR.md entry numbers
    probe: str  # the probe's question, or NONE
    tests: Tuple[Tuple[str, str], ...]  # (path from the repository root, test function)


def _flag_name(flag: str) -> str:
    """``--no-retry-after`` -> ``retry_after``: the name tests and settings give the flag's value."""
    return flag[2:].removeprefix("no-").replace("-", "_")


@lru_cache(maxsize=1)
def serve_flags() -> Dict[str, Tuple[str, ...]]:
    """Every flag of ``serve`` (as its usage shows it) and the choices it offers (none for a free value)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    usage = out.getvalue().split("\n\n", 1)[0]
    found = re.findall(r"\[(--[a-z0-9-]+)(?: (\{[^}]*\}|[A-Z_]+))?\]", usage)
    return {flag: tuple(shown[1:-1].split(",")) if shown.startswith("{") else () for flag, shown in found}


def _cells(line: str) -> List[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _tables(text: str) -> List[Tuple[List[str], List[List[str]]]]:
    """The markdown tables of ``text``: (header cells, rows of cells)."""
    tables, lines = [], text.splitlines()
    for n, line in enumerate(lines):
        if line.startswith("|") and n + 1 < len(lines) and re.fullmatch(r"\|(\s*-+\s*\|)+", lines[n + 1].strip()):
            rows = []
            for row in lines[n + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(_cells(row))
            tables.append((_cells(line), rows))
    return tables


def _sections(text: str) -> Dict[str, str]:
    """The ``## `` sections of a markdown page, by heading."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {heading.strip(): body for heading, body in zip(parts[1::2], parts[2::2], strict=True)}


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


@lru_cache(maxsize=1)
def map_rows() -> Tuple[Row, ...]:
    """The rows of the map's table."""
    text = MAP.read_text()
    assert MAP_SECTION in text, f"{MAP.name} has no heading {MAP_SECTION!r}"
    section = _sections(text)[MAP_SECTION[3:]]
    tables = _tables(section)
    assert len(tables) == 1 and tables[0][0] == MAP_COLUMNS, f"section 4 needs one table with columns {MAP_COLUMNS}"
    rows = []
    for cells in tables[0][1]:
        flag, _, model, entries, probe, tests = cells
        link = re.fullmatch(r"\[(.+)\]\(kustomer-api-model\.md#([a-z0-9_-]+)\)", model)
        assert link, f"{flag}: the api-model cell must be a link [heading](kustomer-api-model.md#anchor), not {model!r}"
        rows.append(
            Row(
                flag=flag.strip("`"),
                section=link[1],
                anchor=link[2],
                entries=tuple(int(n) for n in re.findall(r"\d+", entries)),
                probe=probe.strip("`"),
                tests=tuple(re.findall(r"`([\w./-]+\.py)::(\w+)`", tests)),
            )
        )
    return tuple(rows)


def api_model_switches() -> Dict[str, Set[str]]:
    """The flags each section of the API model names in its tables' switch column."""
    named: Dict[str, Set[str]] = {}
    for heading, body in _sections(API_MODEL.read_text()).items():
        for header, rows in _tables(body):
            if "switch (default)" in header:
                column = header.index("switch (default)")
                for row in rows:
                    named.setdefault(heading, set()).update(re.findall(r"--[a-z][a-z0-9-]*", row[column]))
    return named


def behavior_entries() -> Dict[int, str]:
    """BEHAVIOR.md's numbered entries, by number."""
    parts = re.split(r"^(\d+)\. \*\*", BEHAVIOR.read_text(), flags=re.MULTILINE)
    return {int(number): text for number, text in zip(parts[1::2], parts[2::2], strict=True)}


def probe_flags() -> Set[str]:
    """The simulator flags the probe prints a setting of: every string of the probe that starts with ``--`` (but in
    ``cli.py``, the probe's own command line)."""
    flags = set()
    for source in sorted(set(PROBE.glob("*.py")) - {PROBE / "cli.py"}):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                flags.update(re.findall(r"^(--[a-z][a-z0-9-]*)", node.value))
    return flags


@lru_cache(maxsize=None)
def _module(path: str) -> Tuple[str, ast.Module]:
    source = (ROOT / path).read_text()
    return source, ast.parse(source)


def source_of_test(path: str, name: str) -> Tuple[str, Set[str]]:
    """The source of test ``name`` in ``path`` with its decorators and the module-level names it uses (the tables
    it is parametrized with, its helpers), and every literal in them; ("", set()) when there is no such test."""
    source, module = _module(path)
    defined: Dict[str, ast.stmt] = {}
    for node in module.body:
        if isinstance(node, ast.FunctionDef):
            defined[node.name] = node
        elif isinstance(node, ast.Assign):
            defined.update((target.id, node) for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined[node.target.id] = node
    test = defined.get(name)
    if not isinstance(test, ast.FunctionDef):
        return "", set()
    used = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)} & set(defined) - {name}
    nodes: List[ast.AST] = [test, *test.decorator_list, *(defined[n] for n in sorted(used))]
    code = "\n".join(ast.get_source_segment(source, node) or "" for node in nodes)
    literals = {
        str(n.value) for node in nodes for n in ast.walk(node) if isinstance(n, ast.Constant) and n.value is not None
    }
    return code, literals


def _spells(setting: object, literals: Set[str]) -> bool:
    """Whether a setting appears among a test's literals, alone or as a word of one (``"past-window error"``)."""
    word = re.compile(rf"(?<![\w-]){re.escape(str(setting))}(?![\w-])")
    return any(literal == str(setting) or word.search(literal) for literal in literals)


def test_every_serve_flag_is_in_the_map_or_named_as_not_a_behaviour():
    flags = set(serve_flags()) - {"--help"}
    mapped = [row.flag for row in map_rows()]
    twice = sorted({flag for flag in mapped if mapped.count(flag) > 1})
    assert not twice, f"docs/architecture.md section 4 has more than one row for {twice}: one row per flag"
    unknown = sorted(flags - set(mapped) - set(NOT_BEHAVIOURS))
    assert not unknown, (
        f"serve has flags the map does not classify: {unknown}. A Kustomer behaviour gets a row in the table of "
        f"docs/architecture.md section 4:\n{ROW_TO_ADD.format(flag=unknown[0])}\n"
        f"Anything else goes into NOT_BEHAVIOURS in unit_tests/{Path(__file__).name} with the reason."
    )
    gone = sorted((set(mapped) | set(NOT_BEHAVIOURS)) - flags)
    assert not gone, f"{gone} are not flags of serve any more: remove them from the map / NOT_BEHAVIOURS"
    both = sorted(set(mapped) & set(NOT_BEHAVIOURS))
    assert not both, f"{both} are in the map and in NOT_BEHAVIOURS: keep one"


def test_every_behaviour_flag_has_its_api_model_row_and_every_flag_the_api_model_names_exists():
    named, problems = api_model_switches(), []
    for row in map_rows():
        if row.section not in named:
            problems.append(
                f"{row.flag}: the map links section {row.section!r}; the switch tables are in {sorted(named)}"
            )
        elif row.anchor != slug(row.section):
            problems.append(f"{row.flag}: link section {row.section!r} as #{slug(row.section)}")
        elif row.flag not in named[row.section]:
            problems.append(
                f"{row.flag} has no row in docs/kustomer-api-model.md, section {row.section!r}: add | behaviour | "
                f"simulator | evidence | confidence | `{row.flag}` (default: why it is the strict reading) |"
            )
    flags = set(serve_flags())
    for section, switches in named.items():
        for flag in sorted(switches - flags):
            problems.append(
                f"docs/kustomer-api-model.md, section {section!r}, names {flag}, which serve does not have: add the "
                "flag as a row of kustomer_simulator/serve_flags.py (and its row to the map), or correct the row"
            )
    assert not problems, "\n".join(problems)


def test_every_behaviour_names_behavior_entries_that_cite_its_matrix_test():
    entries, problems = behavior_entries(), []
    for row in map_rows():
        unknown = [n for n in row.entries if n not in entries]
        if not row.entries or unknown:
            problems.append(f"{row.flag}: name BEHAVIOR.md entries that exist (not {list(row.entries)})")
            continue
        cited = " ".join(entries[n] for n in row.entries)
        if not any(name in cited for _, name in row.tests):
            problems.append(
                f"{row.flag}: BEHAVIOR.md entries {list(row.entries)} cite none of its matrix tests "
                f"{[name for _, name in row.tests]}: add one to an entry's *Tests:*"
            )
    assert not problems, "\n".join(problems)


def test_the_probe_column_names_exactly_the_switches_the_probe_settles():
    asked = {row.flag for row in map_rows() if row.probe != NONE}
    settled = probe_flags()
    assert settled <= set(serve_flags()), f"the probe prints {sorted(settled - set(serve_flags()))}: not flags of serve"
    unnamed = sorted(settled - asked)
    assert not unnamed, f"the probe settles {unnamed}: name its question in the map's probe cell"
    unsettled = sorted(asked - settled)
    assert not unsettled, (
        f"the map names a probe question for {unsettled}, but the probe never prints that switch: put {NONE} in the "
        "probe cell, or make the probe settle it"
    )


@pytest.mark.parametrize("row", map_rows(), ids=lambda row: row.flag)
def test_each_behaviour_names_matrix_tests_that_run_every_setting(row):
    assert row.tests, f"{row.flag}: name the matrix tests that run it (`path/to/test_file.py::test_name`)"
    code, literals = "", set()
    for path, name in row.tests:
        assert (ROOT / path).is_file(), f"{row.flag}: no test file {path}"
        test_source, test_literals = source_of_test(path, name)
        assert test_source, f"{row.flag}: {path} defines no test {name}"
        code, literals = code + test_source, literals | test_literals
    assert _flag_name(row.flag) in code or row.flag[2:] in code, (
        f"{row.flag}: none of {[name for _, name in row.tests]} sets it ({_flag_name(row.flag)}): name the test that "
        "does"
    )
    settings = serve_flags()[row.flag] or TYPED_SETTINGS.get(row.flag, ())
    unrun = [setting for setting in settings if not _spells(setting, literals)]
    assert not unrun, (
        f"{row.flag}: its matrix tests never spell the setting(s) {unrun}: add a case that runs each (or name the "
        "test that does)"
    )
