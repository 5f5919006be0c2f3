"""A connector as Airbyte's registry and PyAirbyte install it: its wheel alone in a fresh venv.

The wheel is built from a copy of this checkout through its sdist (``python -m build``: the sdist first, the wheel
from it), so a file the sdist leaves out fails here too, and nothing an earlier build left behind gets in. The venv
gets the wheel and its dependencies from PyPI, nothing from this checkout; pip's cache is reused.
"""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

from integration_tests.harness import ROOT, Run, token_forms


def checkout_copy(folder: Path) -> Path:
    """The checkout's files as a commit of it would hold them (tracked and new, not ignored; links kept as links),
    copied to ``folder``: a build there sees no build/ or egg-info of an earlier one, and leaves none here."""
    listed = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    names = subprocess.run(listed, cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        source, target = ROOT / name, folder / name
        if source.is_symlink() or source.exists():  # not a file deleted since the last commit
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
    return folder


def install_alone(project: Path, work: Path) -> Path:
    """Build ``project``'s wheel into ``work`` and install it alone into a fresh venv there; the venv's bin folder."""
    dist, venv = work / "dist", work / "venv"
    build = [sys.executable, "-m", "build", "--outdir", str(dist), str(project)]
    built = subprocess.run(build, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = dist.glob("*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # --no-compile: the byte code of every dependency is 40% of pip's CPU here; spec and check compile what they use
    install = [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "--no-compile", str(wheel)]
    installed = subprocess.run(install, capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    return venv / "bin"


def run_installed(program: Path, command: str, folder: Path, config: Optional[Dict[str, Any]] = None) -> Run:
    """``program command [--config …]`` run outside the checkout; fails if the API token shows in its output."""
    args, secrets = [str(program), command], []
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
        args, secrets = [*args, "--config", str(folder / "config.json")], token_forms(config["api_token"])
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=folder)
    for form in secrets:
        assert form not in done.stdout and form not in done.stderr, "the API token leaked into the output"
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return Run(done.returncode, done.stdout, done.stderr, messages)


def shared_package_folder(bin_dir: Path) -> Path:
    """Where the venv's python imports kustomer_http from (run outside the checkout)."""
    probe = "import kustomer_http.connection as module; print(module.__file__)"
    done = subprocess.run([str(bin_dir / "python"), "-c", probe], capture_output=True, text=True, cwd=bin_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    return Path(done.stdout.strip()).parent


def answers_spec_and_check_installed_alone(project: str, program: str, config: Dict[str, Any]) -> None:
    """The checkout's folder ``project`` installed alone from its wheel: ``program`` imports its own bundled copy of
    kustomer_http from the venv, and answers ``spec`` and a successful ``check`` with ``config``."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bin_dir = install_alone(checkout_copy(work / "checkout") / project, work)
        shared = shared_package_folder(bin_dir)
        assert shared.is_relative_to(work / "venv"), shared
        assert shared.parent.name == f"airbyte_{program.replace('-', '_')}.bundled", shared

        spec = run_installed(bin_dir / program, "spec", work)
        assert spec.returncode == 0, spec.stderr[-2000:]
        assert "api_token" in spec.of_type("SPEC")[0]["spec"]["connectionSpecification"]["properties"]
        check = run_installed(bin_dir / program, "check", work, config)
        assert check.returncode == 0, check.stderr[-2000:]
        assert check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"] == "SUCCEEDED"
