"""The ``streamkit`` command: exit codes, help, items in both JSON dialects, pagination, output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import streamkit
from streamkit.cli import main
from tests.server.serving import start_serve, stop


@pytest.fixture
def data(tmp_path: Path) -> str:
    return str(tmp_path / "data")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    parsed: dict[str, Any] = json.loads(out)
    return parsed


@pytest.fixture
def table(capsys: pytest.CaptureFixture[str], data: str) -> str:
    code, _, err = run(
        capsys, "tables", "create", "--table-name", "orders", "--hash-key", "pk:S",
        "--range-key", "sk:N", "--data", data,
    )  # fmt: skip
    assert code == 0, err
    return "orders"


class TestExitCodes:
    @pytest.mark.parametrize(
        "argv",
        [["--help"], ["serve", "--help"], ["tables", "create", "--help"], ["query", "--help"]],
    )
    def test_help_everywhere(self, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
        code, out, _ = run(capsys, *argv)
        assert code == 0
        assert "usage: streamkit" in out

    @pytest.mark.parametrize(
        "argv", [[], ["bogus"], ["tables"], ["put", "--table-name", "x"], ["serve", "--port", "x"]]
    )
    def test_usage_errors_exit_2(self, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
        assert run(capsys, *argv)[0] == 2

    def test_bad_json_is_a_usage_error(
        self, capsys: pytest.CaptureFixture[str], data: str, table: str
    ) -> None:
        code, _, err = run(capsys, "put", "--table-name", table, "--item", "{nope", "--data", data)
        assert code == 2
        assert "--item: not valid JSON" in err

    def test_service_error_exits_1_like_the_aws_cli(
        self, capsys: pytest.CaptureFixture[str], data: str, table: str
    ) -> None:
        item = '{"pk": "a"}'  # no sort key
        code, _, err = run(capsys, "put", "--table-name", table, "--item", item, "--data", data)
        assert code == 1
        assert err.startswith("An error occurred (ValidationException) when calling the PutItem")
        assert err.count("\n") == 1

    def test_missing_table_is_named_with_a_close_match(
        self, capsys: pytest.CaptureFixture[str], data: str, table: str
    ) -> None:
        code, _, err = run(capsys, "tables", "describe", "--table-name", "order", "--data", data)
        assert (code, err) == (1, "streamkit: Table order not found. Did you mean orders?\n")
        code, _, err = run(capsys, "get", "--table-name", "zzz", "--key", "{}", "--data", data)
        assert (code, err) == (1, "streamkit: Table zzz not found.\n")

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run(capsys, "version")
        assert code == 0
        assert out.strip() == f"streamkit {streamkit.__version__}"

    def test_serve_rejects_bad_auth(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run(capsys, "serve", "--memory", "--auth", "nocolon")
        assert code == 2
        assert "KEY:SECRET" in err


class TestItems:
    def test_put_plain_json_and_get_both_dialects(
        self, capsys: pytest.CaptureFixture[str], data: str, table: str
    ) -> None:
        item = '{"pk": "a", "sk": 1, "total": 9.5, "tags": ["x", "y"], "blob": null}'
        assert run(capsys, "put", "--table-name", table, "--item", item, "--data", data)[0] == 0
        key = '{"pk": {"S": "a"}, "sk": {"N": "1"}}'
        typed = run_json(capsys, "get", "--table-name", table, "--key", key, "--data", data)
        assert typed["Item"]["total"] == {"N": "9.5"}
        assert typed["Item"]["tags"] == {"L": [{"S": "x"}, {"S": "y"}]}
        native = run_json(
            capsys, "get", "--table-name", table, "--key", '{"pk": "a", "sk": 1}',
            "--output", "native", "--data", data,
        )  # fmt: skip
        assert native["Item"] == {
            "pk": "a",
            "sk": 1,
            "total": 9.5,
            "tags": ["x", "y"],
            "blob": None,
        }

    def test_put_dynamodb_json_with_binary(
        self, capsys: pytest.CaptureFixture[str], data: str, table: str
    ) -> None:
        item = '{"pk": {"S": "b"}, "sk": {"N": "2"}, "bin": {"B": "AAEC"}}'
        assert run(capsys, "put", "--table-name", table, "--item", item, "--data", data)[0] == 0
        got = run_json(
            capsys, "get", "--table-name", table, "--key", '{"pk": "b", "sk": 2}', "--data", data
        )
        assert got["Item"]["bin"] == {"B": "AAEC"}

    def test_conditional_update_and_delete(
        self, capsys: pytest.CaptureFixture[str], data: str, table: str
    ) -> None:
        key = '{"pk": "c", "sk": 1}'
        run(
            capsys,
            "put",
            "--table-name",
            table,
            "--item",
            '{"pk": "c", "sk": 1, "n": 1}',
            "--data",
            data,
        )
        updated = run_json(
            capsys, "update", "--table-name", table, "--key", key,
            "--update-expression", "ADD n :one", "--expression-attribute-values", '{":one": 2}',
            "--return-values", "UPDATED_NEW", "--data", data,
        )  # fmt: skip
        assert updated["Attributes"] == {"n": {"N": "3"}}
        code, _, err = run(
            capsys, "delete", "--table-name", table, "--key", key,
            "--condition-expression", "n > :big", "--expression-attribute-values", '{":big": 10}',
            "--data", data,
        )  # fmt: skip
        assert code == 1
        assert "ConditionalCheckFailedException" in err
        assert run(capsys, "delete", "--table-name", table, "--key", key, "--data", data)[0] == 0

    def test_file_argument(
        self, capsys: pytest.CaptureFixture[str], data: str, table: str, tmp_path: Path
    ) -> None:
        path = tmp_path / "item.json"
        path.write_text('{"pk": "f", "sk": 5}')
        code, _, err = run(
            capsys, "put", "--table-name", table, "--item", f"file://{path}", "--data", data
        )
        assert code == 0, err


class TestReads:
    @pytest.fixture
    def filled(self, capsys: pytest.CaptureFixture[str], data: str, table: str) -> str:
        for sk in range(12):
            item = json.dumps({"pk": "q", "sk": sk, "even": sk % 2 == 0})
            assert run(capsys, "put", "--table-name", table, "--item", item, "--data", data)[0] == 0
        return table

    def test_query_all_pages(
        self, capsys: pytest.CaptureFixture[str], data: str, filled: str
    ) -> None:
        if "Query" not in streamkit.Engine.OPERATIONS:
            pytest.skip("the engine has no Query yet")
        result = run_json(
            capsys, "query", "--table-name", filled, "--key-condition-expression", "pk = :p",
            "--expression-attribute-values", '{":p": "q"}', "--page-size", "5", "--data", data,
        )  # fmt: skip
        assert result["Count"] == 12
        assert "NextToken" not in result
        assert [int(i["sk"]["N"]) for i in result["Items"]] == list(range(12))

    def test_max_items_and_starting_token(
        self, capsys: pytest.CaptureFixture[str], data: str, filled: str
    ) -> None:
        if "Query" not in streamkit.Engine.OPERATIONS:
            pytest.skip("the engine has no Query yet")
        base = [
            "query", "--table-name", filled, "--key-condition-expression", "pk = :p",
            "--expression-attribute-values", '{":p": "q"}', "--output", "native", "--data", data,
        ]  # fmt: skip
        first = run_json(capsys, *base, "--max-items", "5")
        assert [i["sk"] for i in first["Items"]] == [0, 1, 2, 3, 4]
        rest = run_json(capsys, *base, "--starting-token", first["NextToken"], "--page-size", "4")
        assert [i["sk"] for i in rest["Items"]] == list(range(5, 12))
        code, _, _ = run(capsys, *base, "--starting-token", "garbage")
        assert code == 2

    def test_scan_with_filter_as_table(
        self, capsys: pytest.CaptureFixture[str], data: str, filled: str
    ) -> None:
        if "Scan" not in streamkit.Engine.OPERATIONS:
            pytest.skip("the engine has no Scan yet")
        code, out, err = run(
            capsys, "scan", "--table-name", filled, "--filter-expression", "even = :t",
            "--expression-attribute-values", '{":t": true}', "--output", "table", "--data", data,
        )  # fmt: skip
        assert code == 0, err
        assert out.splitlines()[1].split("|")[1:-1] == [" pk ", " sk ", " even "]
        assert "Count: 6" in out

    def test_tables_list_and_delete(
        self, capsys: pytest.CaptureFixture[str], data: str, table: str
    ) -> None:
        assert run_json(capsys, "tables", "list", "--data", data) == {"TableNames": ["orders"]}
        described = run_json(capsys, "tables", "describe", "--table-name", table, "--data", data)
        assert described["Table"]["TableName"] == table
        assert run(capsys, "tables", "delete", "--table-name", table, "--data", data)[0] == 0
        assert run_json(capsys, "tables", "list", "--data", data) == {"TableNames": []}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    process, url, _ = start_serve("--memory")
    yield url
    assert stop(process) == 0


def test_endpoint_url_goes_through_boto3(
    capsys: pytest.CaptureFixture[str], endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    remote = ["--endpoint-url", endpoint, "--region", "eu-west-1"]
    code, _, err = run(
        capsys, "tables", "create", "--table-name", "remote", "--hash-key", "pk:S", *remote
    )
    assert code == 0, err
    item = '{"pk": "r", "blob": {"B": "AAEC"}}'
    assert run(capsys, "put", "--table-name", "remote", "--item", item, *remote)[0] == 0
    got = run_json(capsys, "get", "--table-name", "remote", "--key", '{"pk": "r"}', *remote)
    assert got["Item"] == {"pk": {"S": "r"}, "blob": {"M": {"B": {"S": "AAEC"}}}}
    assert run_json(capsys, "tables", "list", *remote) == {"TableNames": ["remote"]}
    code, _, err = run(capsys, "tables", "describe", "--table-name", "nope", *remote)
    assert (code, err) == (1, "streamkit: Table nope not found.\n")
