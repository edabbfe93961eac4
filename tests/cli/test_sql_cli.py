"""``streamkit sql``: PartiQL statements from the command line, on a folder or an endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import run, run_json
from tests.server.serving import start_serve, stop


@pytest.fixture
def data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    folder = str(tmp_path / "data")
    code, _, err = run(
        capsys, "tables", "create", "--table-name", "orders", "--hash-key", "pk:S",
        "--range-key", "sk:N", "--data", folder,
    )  # fmt: skip
    assert code == 0, err
    return folder


def test_sql_writes_reads_pages_and_formats(capsys: pytest.CaptureFixture[str], data: str) -> None:
    for sk in range(1, 6):
        out = run_json(
            capsys, "sql", "INSERT INTO orders VALUE {'pk': 'a', 'sk': ?, 'total': 2.5}",
            "--parameters", f"[{sk}]", "--data", data,
        )  # fmt: skip
        assert out == {"Items": []}
    typed = run_json(capsys, "sql", "SELECT * FROM orders WHERE pk = 'a'", "--data", data)
    assert [item["sk"] for item in typed["Items"]] == [{"N": str(n)} for n in range(1, 6)]
    native = run_json(
        capsys, "sql", "SELECT sk FROM orders WHERE pk = ? AND sk > 3", "--parameters",
        '[{"S": "a"}]', "--output", "native", "--data", data,
    )  # fmt: skip
    assert native["Items"] == [{"sk": 4}, {"sk": 5}]
    first = run_json(
        capsys, "sql", "SELECT * FROM orders", "--max-items", "2", "--page-size", "1",
        "--data", data,
    )  # fmt: skip
    assert len(first["Items"]) == 2
    rest = run_json(
        capsys, "sql", "SELECT * FROM orders", "--starting-token", first["NextToken"],
        "--data", data,
    )  # fmt: skip
    assert len(rest["Items"]) == 3
    code, out, _ = run(
        capsys, "sql", "SELECT pk, sk FROM orders WHERE pk = 'a' AND sk = 1", "--output",
        "table", "--data", data,
    )  # fmt: skip
    assert code == 0
    assert "pk" in out
    code, _, err = run(
        capsys, "sql", "INSERT INTO orders VALUE {'pk': 'a', 'sk': 1}", "--data", data
    )
    assert code == 1
    assert "DuplicateItemException" in err
    code, _, err = run(capsys, "sql", "SELEC nonsense", "--data", data)
    assert code == 1
    assert "ValidationException" in err


def test_sql_against_an_endpoint(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    process, url, _ = start_serve("--memory")
    try:
        code, _, err = run(
            capsys, "tables", "create", "--table-name", "tab", "--hash-key", "pk:S",
            "--endpoint-url", url,
        )  # fmt: skip
        assert code == 0, err
        run_json(capsys, "sql", "INSERT INTO tab VALUE {'pk': 'x'}", "--endpoint-url", url)
        got = run_json(capsys, "sql", 'SELECT * FROM "tab"', "--endpoint-url", url)
        assert got["Items"] == [{"pk": {"S": "x"}}]
    finally:
        assert stop(process) == 0
