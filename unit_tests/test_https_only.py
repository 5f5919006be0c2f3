"""Airbyte's HTTPS-only QA check, as this project reads it: outside test folders, no line of a shipped file
names a plain-http URL unless it is a comment, carries the ``# ignore-https-check`` marker, or is one of the
exempt prefixes (``http://localhost``, ``http://json-schema.org``)."""

import subprocess
from pathlib import Path, PurePosixPath
from typing import List

ROOT = Path(__file__).resolve().parent.parent
MARKER = "# ignore-https-check"
EXEMPT = ("http://json-schema.org", "http://localhost")
# The folders and files Airbyte's check does not read.
SKIPPED_FOLDERS = {".venv", "tests", "unit_tests", "integration_tests", "build", "source-file", ".pytest_cache",
                   "acceptance_tests_logs", ".hypothesis", ".ruff_cache", "htmlcov"}  # fmt: skip
SKIPPED_PATTERNS = ("*Test.java", "*.jar", "*.pyc", "*.gz", "*.svg", "expected_records.jsonl", "expected_records.json")
COMMENT = {".py": "#", ".yml": "#", ".yaml": "#", ".java": "//", ".md": "<!--"}


def flagged_line(line: str, suffix: str) -> bool:
    """Whether Airbyte's check would flag this line of a file ending in ``suffix``."""
    text = line.lower()
    comment = COMMENT.get(suffix)
    if (comment and text.lstrip().startswith(comment)) or MARKER in text:
        return False
    for prefix in EXEMPT:
        text = text.replace(prefix, "")
    return "http://" in text


def shipped_files() -> List[PurePosixPath]:
    """The repository's files as they would reach Airbyte: tracked or new, not ignored by .gitignore."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [
        PurePosixPath(name)
        for name in listed
        if (ROOT / name).is_file()
        and not any(_skipped_folder(folder) for folder in PurePosixPath(name).parts[:-1])
        and not any(PurePosixPath(name).match(pattern) for pattern in SKIPPED_PATTERNS)
    ]


def _skipped_folder(name: str) -> bool:
    # Any local virtualenv (.venv-pyairbyte, .venv-destination-kustomer, ...) is as unshipped as Airbyte's .venv.
    return name in SKIPPED_FOLDERS or name.startswith(".venv")


def flagged(path: PurePosixPath) -> List[str]:
    """``path:line: text`` for every line the check would flag (none for a file that is not UTF-8 text)."""
    try:
        lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        return []
    return [f"{path}:{n}: {line.strip()}" for n, line in enumerate(lines, 1) if flagged_line(line, path.suffix)]


def test_no_shipped_line_names_a_plain_http_url():
    files = shipped_files()
    assert any(path.suffix == ".py" and path.parts[0] == "source_kustomer" for path in files)  # the scan sees code
    problems = [problem for path in files for problem in flagged(path)]
    assert problems == [], "\n".join(problems)


def test_the_scan_flags_what_airbytes_check_flags():
    assert flagged_line('url = f"http://127.0.0.1:{port}"', ".py")  # loopback by address is not exempt
    assert flagged_line('    """Base URL, e.g. http://127.0.0.1:8099."""', ".py")  # a docstring is not a comment
    assert flagged_line('"api_url": "http://127.0.0.1:8099"', ".json")
    assert flagged_line("See http://example.com", ".md")
    assert not flagged_line('url = f"http://127.0.0.1:{port}"  # ignore-https-check', ".py")
    assert not flagged_line("    # an example: http://127.0.0.1:8099", ".py")
    assert not flagged_line('"api_url": "http://localhost:8099"', ".json")
    assert not flagged_line('"$schema": "http://json-schema.org/draft-07/schema#"', ".json")
    assert not flagged_line("<!-- http://example.com -->", ".md")
    assert not flagged_line('url = "https://api.kustomerapp.com"', ".py")
