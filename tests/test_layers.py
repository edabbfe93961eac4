"""Layers import one way only: each package may import only from layers below it."""

from __future__ import annotations

import ast
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
    {"cli", "__main__", "__init__", "pytest_plugin"},
]


def _layer(part: str) -> int:
    for index, names in enumerate(LAYERS):
        if part in names:
            return index
    raise AssertionError(f"streamkit.{part} has no layer in tests/test_layers.py")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("streamkit.")
        ):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("streamkit."):
                    found.add(alias.name.split(".")[1])
    return found


def test_imports_point_downwards() -> None:
    wrong: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        own = relative.parts[0].removesuffix(".py")
        wrong.extend(
            f"{relative} imports streamkit.{target}"
            for target in _imports(path)
            if _layer(target) > _layer(own)
        )
    assert not wrong, "\n".join(wrong)


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
