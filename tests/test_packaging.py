"""What ``pip install`` ships: every package on disk, the ready-made handlers, the entry points."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

pytest.importorskip("setuptools")  # the build backend; not in every test environment

from setuptools.config.pyprojecttoml import apply_configuration
from setuptools.dist import Distribution

ROOT = Path(__file__).resolve().parents[1]


def _configured() -> Distribution:
    """Resolve pyproject.toml's setuptools configuration as a build would."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "[tool.setuptools] is still beta" on older setuptools
        return apply_configuration(Distribution(), ROOT / "pyproject.toml")


def _packages_on_disk(top: str) -> set[str]:
    return {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / top).rglob("__init__.py")
    }


def test_every_package_is_shipped() -> None:
    shipped = set(_configured().packages)
    on_disk = _packages_on_disk("streamkit") | _packages_on_disk("streamkit_handlers")
    assert on_disk <= shipped
    assert "streamkit_handlers" in shipped
    assert "handlers" not in shipped  # would shadow a user's own package of that name
    assert not any(name.startswith("tests") for name in shipped)


def test_pytest_plugin_entry_point() -> None:
    entry_points = _configured().entry_points
    assert "streamkit = streamkit.pytest_plugin" in entry_points["pytest11"]
    assert "streamkit = streamkit.cli:main" in entry_points["console_scripts"]
