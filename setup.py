"""Builds a connector's wheel with its own copy of the Kustomer HTTP layer (``kustomer_http``) inside.

pyproject.toml describes the distribution; this file adds one build step, shared by both connectors
(destination-kustomer/setup.py is a link to this file, and destination-kustomer/kustomer_http a link to
libs/kustomer-http/kustomer_http, the package's one source).

Why not ship ``kustomer_http`` at the top level of both wheels: the two distributions would then own the same files,
and uninstalling either from a venv holding both would delete the package under the other. Instead a wheel puts it
under a folder of its own, ``<distribution>.bundled/kustomer_http``, which ``<distribution>.pth`` adds to sys.path
(a path line in a .pth file, as pywin32 does). Each connector owns its copy; with both installed (the same commit),
the first folder on sys.path serves. Python reads .pth files in site-packages (venvs, --user, the Docker images);
an install with ``pip install --target DIR`` also needs ``DIR/<distribution>.bundled`` on PYTHONPATH. Editable
installs are untouched: setuptools maps ``kustomer_http`` to the checkout's libs/kustomer-http/kustomer_http.
"""

import os
from typing import List, Sequence

from setuptools import setup
from setuptools.command.build_py import build_py

SHARED_PACKAGE = "kustomer_http"


class BuildPyBundlingTheSharedPackage(build_py):
    """setuptools' build_py, with the shared package moved under the distribution's own folder (not in editable
    mode), plus the .pth file that puts that folder on sys.path."""

    def _stem(self) -> str:
        return self.distribution.get_name().replace("-", "_")

    def _bundle_folder(self) -> str:
        return self._stem() + ".bundled"

    def _pth_file(self) -> str:
        return os.path.join(self.build_lib, self._stem() + ".pth")

    def get_module_outfile(self, build_dir: str, package: Sequence[str], module: str) -> str:
        if self.editable_mode or package[0] != SHARED_PACKAGE:
            return super().get_module_outfile(build_dir, package, module)
        return os.path.join(build_dir, self._bundle_folder(), *package, module + ".py")

    def get_outputs(self, include_bytecode: bool = True) -> List[str]:
        outputs = super().get_outputs(include_bytecode)
        return outputs if self.editable_mode else [*outputs, self._pth_file()]

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            with open(self._pth_file(), "w") as pth:
                pth.write(f"# {SHARED_PACKAGE}, as built into this distribution: see its setup.py\n")
                pth.write(self._bundle_folder() + "\n")


setup(cmdclass={"build_py": BuildPyBundlingTheSharedPackage})
