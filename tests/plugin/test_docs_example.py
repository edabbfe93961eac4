"""docs/testing.md's plugin example is a test file: run it with pytest, as its reader would."""

from __future__ import annotations

import re
from pathlib import Path

from tests.plugin.test_modes import AUTO_INI, run_pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def example() -> str:
    """Return the first Python block of the plugin section."""
    section = DOC.read_text().split("## The pytest plugin", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1)


def test_the_example_passes_under_pytest(tmp_path: Path) -> None:
    code = example()
    assert code.startswith("# test_orders.py")
    (tmp_path / "test_orders.py").write_text(code)
    out = run_pytest(tmp_path, AUTO_INI)
    assert "3 passed" in out, out[-2000:]
