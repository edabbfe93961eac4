"""Layers import one way only, and touch only each other's public names.

Each package may import only from layers below it (or its own), relative imports and
``from streamkit import X`` included (``X`` counts at the layer where it is defined). A module
never touches another layer's private names: no ``from streamkit.storage.x import _name``, no
``engine._tables`` outside the engine layer. The check is syntactic (``ast``): an object's
layer is known from imports, from annotations (``engine: Engine``, ``self._store: Store``) and
from the conventional names in ``CONVENTIONAL``.
"""

from __future__ import annotations

import ast
import importlib
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "streamkit"

# Lower index = lower layer. A module may import from its own layer or any lower one.
LAYERS: list[set[str]] = [
    {"errors", "clock", "logs", "groups", "backoff"},
    {"model"},
    {"expressions"},
    {"storage"},
    {"engine"},
    {"streams"},
    {"ttl"},
    {"mappings"},  # issue 5: stream mappings sit between ttl and runtime
    {"runtime"},
    {"testing"},
    {"server"},
    {"cli", "__main__", "__init__", "pytest_plugin", "aws"},
]

# Names that, wherever they appear, hold an object of this package (``engine._x`` is the
# engine's private state whether or not the variable is annotated in that function).
CONVENTIONAL = {"engine": "engine", "_engine": "engine", "store": "storage", "_store": "storage"}

# Private names touched across layers, each with the reason it cannot be avoided yet (none
# today: issue 20 took engine.store / engine._tables / engine._x out of the layers above).
ALLOWED_PRIVATE: set[str] = set()


def _layer(part: str) -> int:
    for index, names in enumerate(LAYERS):
        if part in names:
            return index
    raise AssertionError(f"streamkit.{part} has no layer in tests/test_layers.py")


def _package(module: str) -> str:
    """``streamkit.engine.core`` -> ``engine``; ``streamkit`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(node: ast.ImportFrom, path: Path) -> str:
    """The module an ImportFrom names, relative imports resolved against ``path``."""
    if not node.level:
        return node.module or ""
    here = _module_name(path).split(".")
    if path.name != "__init__.py":
        here.pop()  # a module's relative imports start from its package
    base = here[: len(here) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _defined_in(module: str, name: str) -> str:
    """The package where ``from module import name`` really comes from."""
    target = getattr(importlib.import_module(module), name, None)
    if isinstance(target, types.ModuleType):
        return _package(target.__name__)
    defined = getattr(target, "__module__", None)
    if isinstance(defined, str) and defined.startswith("streamkit"):
        return _package(defined)
    return _package(module)  # a plain value (``__version__``): where it is written


@dataclass(frozen=True)
class Imported:
    line: int
    package: str  # where the imported thing lives
    local: str | None  # the name it is bound to, if any
    private: bool  # a private name (or a private module on the way)


def _imports(path: Path, source: str | None = None) -> Iterator[Imported]:
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("streamkit."):
                    private = any(p.startswith("_") for p in alias.name.split(".")[1:])
                    yield Imported(node.lineno, _package(alias.name), alias.asname, private)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, path)
            if module != "streamkit" and not module.startswith("streamkit."):
                continue
            for alias in node.names:
                package = _defined_in(module, alias.name) if module == "streamkit" else None
                names = [*module.split(".")[1:], alias.name]
                yield Imported(
                    node.lineno,
                    package or _package(module),
                    alias.asname or alias.name,
                    any(p.startswith("_") and not p.startswith("__") for p in names),
                )


def test_imports_point_downwards() -> None:
    wrong: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        own = relative.parts[0].removesuffix(".py")
        wrong.extend(
            f"{relative}:{found.line} imports streamkit.{found.package}"
            for found in _imports(path)
            if _layer(found.package) > _layer(own)
        )
    assert not wrong, "\n".join(wrong)


def _annotated_layers(tree: ast.AST, imported: dict[str, str]) -> dict[str, str]:
    """Names and attributes annotated with a class imported from another package."""
    bound: dict[str, str] = {}

    def package_of(annotation: ast.expr | None) -> str | None:
        if annotation is None:
            return None
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                annotation = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                return None
        for sub in ast.walk(annotation):
            if isinstance(sub, ast.Name) and sub.id in imported:
                return imported[sub.id]
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and (package := package_of(node.annotation)):
            bound[node.arg] = package
        elif isinstance(node, ast.AnnAssign) and (package := package_of(node.annotation)):
            target = node.target
            if isinstance(target, ast.Name):
                bound[target.id] = package
            elif isinstance(target, ast.Attribute):
                bound[target.attr] = package
    return bound


def _private_uses(path: Path, source: str | None = None) -> Iterator[str]:
    """Every private name of another layer this module touches, as ``file:line: what``."""
    source = path.read_text() if source is None else source
    relative = path.relative_to(PACKAGE)
    own = relative.parts[0].removesuffix(".py")
    tree = ast.parse(source)
    imported: dict[str, str] = {}
    for found in _imports(path, source):
        if _layer(found.package) == _layer(own):
            continue
        if found.private:
            yield f"{relative}:{found.line}: imports a private name of streamkit.{found.package}"
        if found.local is not None:
            imported[found.local] = found.package
    holders = {**CONVENTIONAL, **_annotated_layers(tree, imported), **imported}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")):
            continue
        if node.attr.startswith("__") and node.attr.endswith("__"):
            continue
        value = node.value
        name = value.id if isinstance(value, ast.Name) else getattr(value, "attr", None)
        package = holders.get(name) if name is not None else None
        if package is not None and _layer(package) != _layer(own):
            yield f"{relative}:{node.lineno}: {name}.{node.attr} (streamkit.{package})"


def _without_line(finding: str) -> str:
    """``engine.py:12: x._y`` -> ``engine.py: x._y``: the allow-list survives edits above."""
    where, _, what = finding.partition(": ")
    return f"{where.rsplit(':', 1)[0]}: {what}"


def test_no_private_names_across_layers() -> None:
    found = [finding for path in sorted(PACKAGE.rglob("*.py")) for finding in _private_uses(path)]
    wrong = [f for f in found if _without_line(f) not in ALLOWED_PRIVATE]
    assert not wrong, "\n".join(wrong)
    stale = ALLOWED_PRIVATE - {_without_line(f) for f in found}
    assert not stale, "no longer found, drop from ALLOWED_PRIVATE:\n" + "\n".join(sorted(stale))


def test_only_storage_imports_aiosqlite() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "import aiosqlite" in path.read_text()
        and path.relative_to(PACKAGE).parts[0] != "storage"
    ]
    assert offenders == []


def test_handlers_and_examples_use_only_the_public_api() -> None:
    """streamkit_handlers and examples import only ``streamkit`` (its ``__all__``) and testing."""
    import streamkit

    root = PACKAGE.parent
    public = set(streamkit.__all__) | {"testing"}
    wrong: list[str] = []
    for path in sorted([*root.glob("streamkit_handlers/**/*.py"), *root.glob("examples/**/*.py")]):
        where = path.relative_to(root)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                wrong.extend(
                    f"{where}: import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("streamkit.") and alias.name != "streamkit.testing"
                )
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                if node.module.startswith("streamkit.") and node.module != "streamkit.testing":
                    wrong.append(f"{where}: from {node.module} import ...")
                elif node.module == "streamkit":
                    wrong.extend(
                        f"{where}: from streamkit import {alias.name}"
                        for alias in node.names
                        if alias.name not in public
                    )
    assert not wrong, "\n".join(wrong)


def test_the_private_check_sees_each_form() -> None:
    """The checker itself: each way of reaching into another layer is reported."""
    source = """
from streamkit.engine.engine import Engine
from streamkit.storage import tables as sql
from streamkit.engine.core import _hidden
from ..storage.sqlite import _private
from . import _own_is_fine

def f(db: Engine, other: "Engine | None", engine) -> None:
    db._tables
    other._x
    engine._changes
    sql._helper
    db.public
    db.__class__

class Holder:
    keeper: Engine

    def g(self) -> None:
        self.keeper._y
        self._engine._z
"""
    found = [f.split(": ", 1)[1] for f in _private_uses(PACKAGE / "streams" / "x.py", source)]
    assert found == [
        "imports a private name of streamkit.engine",
        "imports a private name of streamkit.storage",
        "db._tables (streamkit.engine)",
        "other._x (streamkit.engine)",
        "engine._changes (streamkit.engine)",
        "sql._helper (streamkit.storage)",
        "keeper._y (streamkit.engine)",
        "_engine._z (streamkit.engine)",
    ]


def test_relative_and_package_imports_count_at_their_real_layer() -> None:
    source = "from ..runtime import open_runtime\nfrom streamkit import App\n"
    found = {i.package for i in _imports(PACKAGE / "engine" / "x.py", source)}
    assert found == {"runtime", "mappings"}
