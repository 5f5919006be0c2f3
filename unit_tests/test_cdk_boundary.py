"""The connector uses airbyte-cdk through its public surface only; the one module allowed to reach further is the
adapter named here (``source_kustomer/concurrency.py``, which currently needs nothing private either).

The scan reads the source of both connectors (``source_kustomer/``, ``destination-kustomer/destination_kustomer/``)
and of ``libs/kustomer-http/kustomer_http/``, and reports each place that touches a private CDK name:

* an import of a ``_``-prefixed name or module from ``airbyte_cdk``;
* ``x._name`` on anything but ``self`` or ``cls``: another object's private attribute, whoever's it is (a CDK object's
  attribute may share its name with one of ours), but for the fields of ``requests.Response`` named here;
* ``self._name`` in a class derived from a CDK class whose code uses ``_name`` (reading or shadowing its internals);
* any attribute of a CDK module-level object (such as ``PRINT_BUFFER``) other than a public method of its class.
"""

import ast
import importlib
import inspect
import re
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

ROOT = Path(__file__).resolve().parent.parent
SCANNED = (
    ROOT / "source_kustomer",
    ROOT / "libs" / "kustomer-http" / "kustomer_http",
    ROOT / "destination-kustomer" / "destination_kustomer",
)
ADAPTER = ROOT / "source_kustomer" / "concurrency.py"
# Private attributes touched on objects that are not the CDK's: (file, name) -> whose.
NOT_THE_CDKS = {
    ("libs/kustomer-http/kustomer_http/transport.py", "_content"): "requests.Response's body, set as requests does",
    ("libs/kustomer-http/kustomer_http/transport.py", "_content_consumed"): "requests.Response's, set with its body",
    ("libs/kustomer-http/kustomer_http/responses.py", "_kustomer_json"): "our parse of a requests.Response, cached",
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _receiver(node: ast.Attribute) -> Optional[str]:
    return node.value.id if isinstance(node.value, ast.Name) else None


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if ROOT in path.parents else str(path)


def _module_name(path: Path) -> Optional[str]:
    for root in SCANNED:
        if root in path.parents:
            parts = path.relative_to(root.parent).with_suffix("").parts
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return None


@lru_cache(maxsize=None)
def _cdk_class_uses(cls: type, name: str) -> bool:
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return False
    return re.search(rf"(\bself|\bcls)\.{name}\b|\bdef {name}\b|^\s*{name}\s*[:=]", source, re.M) is not None


def _cdk_bases(module: str, class_name: str) -> List[type]:
    cls = getattr(importlib.import_module(module), class_name, None)
    if not isinstance(cls, type):
        return []
    return [base for base in cls.__mro__ if base.__module__.split(".")[0] == "airbyte_cdk"]


def _imports(path: Path, tree: ast.Module, cdk_objects: Dict[str, object]) -> Iterator[str]:
    """Private names or modules imported from the CDK; the CDK's module-level objects imported go to ``cdk_objects``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "airbyte_cdk":
            module = node.module or ""
            if any(map(_private, module.split("."))):
                yield f"{path}:{node.lineno}: imports the private module {module}"
            for alias in node.names:
                if _private(alias.name):
                    yield f"{path}:{node.lineno}: imports the private {alias.name} from {module}"
                    continue
                value = getattr(importlib.import_module(module), alias.name, None)
                if value is not None and not inspect.ismodule(value) and not callable(value):
                    cdk_objects[alias.asname or alias.name] = value
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "airbyte_cdk" and any(map(_private, alias.name.split("."))):
                    yield f"{path}:{node.lineno}: imports the private module {alias.name}"


def _subclasses(path: Path, tree: ast.Module, module: Optional[str]) -> Iterator[str]:
    """``self._name`` in our classes derived from a CDK class whose code uses ``_name``."""
    for cls_node in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
        bases = _cdk_bases(module, cls_node.name) if module else []
        for node in ast.walk(cls_node) if bases else ():
            if (
                isinstance(node, ast.Attribute)
                and _receiver(node) in ("self", "cls")
                and _private(node.attr)
                and any(_cdk_class_uses(base, node.attr) for base in bases)
            ):
                yield f"{path}:{node.lineno}: self.{node.attr} is an internal of {bases[0].__name__}"


def _attributes(path: Path, tree: ast.Module, cdk_objects: Dict[str, object]) -> Iterator[str]:
    """``x._name`` on another object than ``self`` or ``cls``; anything but a public method of a CDK object."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        receiver = _receiver(node)
        if receiver not in ("self", "cls") and _private(node.attr) and (_relative(path), node.attr) not in NOT_THE_CDKS:
            yield f"{path}:{node.lineno}: .{node.attr} is another object's private attribute"
        if receiver in cdk_objects:
            member = getattr(type(cdk_objects[receiver]), node.attr, None)
            if _private(node.attr) or not callable(member):
                yield f"{path}:{node.lineno}: {receiver}.{node.attr} is not a public method of the CDK's object"


def violations(
    trees: Dict[Path, ast.Module], module_of: Callable[[Path], Optional[str]] = _module_name
) -> Iterator[str]:
    """Each place in ``trees`` that touches a private CDK name, as ``path:line: what``; ``module_of`` names the
    importable module of a path (its classes are inspected for CDK bases)."""
    for path, tree in trees.items():
        cdk_objects: Dict[str, object] = {}
        yield from _imports(path, tree, cdk_objects)
        yield from _subclasses(path, tree, module_of(path))
        yield from _attributes(path, tree, cdk_objects)


def _scanned_trees() -> Dict[Path, ast.Module]:
    return {
        path: ast.parse(path.read_text(encoding="utf-8"), str(path)) for root in SCANNED for path in root.rglob("*.py")
    }


def test_no_module_but_the_adapter_touches_a_private_cdk_name():
    trees = _scanned_trees()
    assert ADAPTER in trees
    found = [line for line in violations(trees) if not line.startswith(f"{ADAPTER}:")]
    assert found == []


def test_the_scan_finds_each_kind_of_private_use(tmp_path):
    """The scan is not vacuous: a module doing each forbidden thing is reported once per thing."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from airbyte_cdk.logger import PRINT_BUFFER\n"
        "from airbyte_cdk.sources.streams.http import HttpStream\n"
        "from airbyte_cdk.sources.streams.http.http_client import _TEST_ONLY\n"
        "def f(source, stream, reader):\n"
        "    PRINT_BUFFER.buffer.getvalue()\n"
        "    PRINT_BUFFER.flush()\n"
        "    return source._slice_logger, stream._http_client, reader._kept_by_us\n"
    )
    found = list(violations({sample: ast.parse(sample.read_text())}))
    assert len(found) == 5, found
    assert any("_TEST_ONLY" in line for line in found)
    assert any("PRINT_BUFFER.buffer" in line for line in found)
    assert any("._slice_logger" in line for line in found) and any("._http_client" in line for line in found)
    assert any("._kept_by_us is another object's private attribute" in line for line in found)


def test_the_scan_finds_a_subclass_reaching_into_its_cdk_base(tmp_path, monkeypatch):
    """``self._http_client`` in a class derived from the CDK's HttpStream is reported; ``self._own`` is not."""
    sample = tmp_path / "boundary_sample.py"
    sample.write_text(
        "from airbyte_cdk.sources.streams.http import HttpStream\n"
        "class Sample(HttpStream):\n"
        "    url_base = primary_key = None\n"
        "    def client(self):\n"
        "        self._own = 1\n"
        "        return self._http_client\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = list(violations({sample: ast.parse(sample.read_text())}, lambda path: "boundary_sample"))
    assert len(found) == 1 and "self._http_client is an internal of" in found[0], found
