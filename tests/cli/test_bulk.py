"""`streamkit batch-write`, `load`, `dump` and `transact`, locally and over a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings, strategies as st

from streamkit.cli import bulk
from streamkit.cli.common import CommandError
from tests.cli.helpers import run, run_json
from tests.server.serving import start_serve, stop


@pytest.fixture
def where(tmp_path: Path) -> list[str]:
    return ["--data", str(tmp_path / "data")]


@pytest.fixture
def table(capsys: pytest.CaptureFixture[str], where: list[str]) -> str:
    code, _, err = run(
        capsys, "tables", "create", "--table-name", "orders", "--hash-key", "pk:S",
        "--range-key", "sk:N", *where,
    )  # fmt: skip
    assert code == 0, err
    return "orders"


def _scan(capsys: pytest.CaptureFixture[str], table: str, where: list[str]) -> list[Any]:
    items: list[Any] = run_json(
        capsys, "scan", "--table-name", table, "--output", "native", *where
    )["Items"]
    return sorted(items, key=lambda i: (i["pk"], i["sk"]))


class TestLoadAndDump:
    def test_three_formats_and_duplicate_keys_round_trip(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str, tmp_path: Path
    ) -> None:
        lines = [json.dumps({"pk": "a", "sk": n, "v": n}) for n in range(60)]
        # the same key again within the first 25: BatchWriteItem would refuse the call
        lines.insert(10, json.dumps({"pk": "a", "sk": 3, "v": "last wins"}))
        lines.append(json.dumps({"pk": {"S": "b"}, "sk": {"N": "1"}, "bin": {"B": "AAEC"}}))
        lines.append(json.dumps({"Item": {"pk": {"S": "c"}, "sk": {"N": "2"}}}))
        lines.append("")
        source = tmp_path / "in.jsonl"
        source.write_text("\n".join(lines) + "\n")
        assert run_json(capsys, "load", table, str(source), *where) == {"Written": 63}
        items = _scan(capsys, table, where)
        assert len(items) == 62
        assert next(i for i in items if i["pk"] == "a" and i["sk"] == 3)["v"] == "last wins"
        dumped = tmp_path / "dump.jsonl"
        assert run(capsys, "dump", table, "--out", str(dumped), *where)[0] == 0
        rows = [json.loads(line) for line in dumped.read_text().splitlines()]
        assert len(rows) == 62
        assert all(set(row) == {"Item"} for row in rows)
        assert {"pk": {"S": "b"}, "sk": {"N": "1"}, "bin": {"B": "AAEC"}} in [
            row["Item"] for row in rows
        ]
        # round trip into a second table gives the same items
        run(capsys, "tables", "create", "--table-name", "copy", "--hash-key", "pk:S",
            "--range-key", "sk:N", *where)  # fmt: skip
        assert run(capsys, "load", "copy", str(dumped), *where)[0] == 0
        assert _scan(capsys, "copy", where) == items

    def test_dump_to_stdout(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str
    ) -> None:
        run(capsys, "put", "--table-name", table, "--item", '{"pk": "x", "sk": 1}', *where)
        code, out, _ = run(capsys, "dump", table, *where)
        assert code == 0
        assert json.loads(out) == {"Item": {"pk": {"S": "x"}, "sk": {"N": "1"}}}

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ("{nope", "in.jsonl:2: not valid JSON"),
            ('{"pk": "x"}', "in.jsonl:2: the item has no key attribute 'sk'"),
            ("[1, 2]", "in.jsonl:2: expected a JSON object"),
        ],
    )
    def test_a_bad_line_writes_nothing(
        self,
        capsys: pytest.CaptureFixture[str],
        where: list[str],
        table: str,
        tmp_path: Path,
        line: str,
        message: str,
    ) -> None:
        source = tmp_path / "in.jsonl"
        source.write_text('{"pk": "ok", "sk": 1}\n' + line + "\n")
        code, _, err = run(capsys, "load", table, str(source), *where)
        assert code == 1
        assert message in err
        assert err.count("\n") == 1
        assert _scan(capsys, table, where) == []

    def test_missing_table_is_named(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str, tmp_path: Path
    ) -> None:
        source = tmp_path / "in.jsonl"
        source.write_text('{"pk": "ok", "sk": 1}\n')
        code, _, err = run(capsys, "load", "order", str(source), *where)
        assert (code, err) == (1, "streamkit: Table order not found. Did you mean orders?\n")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=5))
def test_read_items_garbage_fails_in_one_clean_error(lines: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "g.jsonl"
        path.write_text("\n".join(lines))
        try:
            items = bulk.read_items(path, ["pk"], "auto")
        except CommandError as exc:
            message = str(exc)
            items = []
        else:
            message = ""
        assert "\n" not in message
        assert all("pk" in item for item in items)


class TestBatchWrite:
    def test_puts_and_deletes_in_calls_of_25(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str, tmp_path: Path
    ) -> None:
        puts = [{"PutRequest": {"Item": {"pk": "p", "sk": n}}} for n in range(30)]
        deletes = [{"DeleteRequest": {"Key": {"pk": {"S": "p"}, "sk": {"N": "0"}}}}]
        source = tmp_path / "req.json"
        source.write_text(json.dumps({table: puts + deletes}))
        code, _, err = run(capsys, "batch-write", "--file", str(source), *where)
        assert code == 0, err
        assert [i["sk"] for i in _scan(capsys, table, where)] == list(range(1, 30))

    def test_bad_document_is_a_usage_error(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str, tmp_path: Path
    ) -> None:
        source = tmp_path / "req.json"
        source.write_text(json.dumps({table: [{"Put": {}}]}))
        code, _, err = run(capsys, "batch-write", "--file", str(source), *where)
        assert code == 2
        assert "PutRequest" in err


class _Throttling:
    """A backend that leaves the first ``stuck`` requests of each call unprocessed."""

    def __init__(self, stuck_calls: int) -> None:
        self.calls: list[int] = []
        self.stuck_calls = stuck_calls

    def supports(self, operation: str) -> bool:
        return True

    async def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        requests = params["RequestItems"]["t"]
        self.calls.append(len(requests))
        if len(self.calls) <= self.stuck_calls:
            return {"UnprocessedItems": {"t": requests[:1]}}
        return {"UnprocessedItems": {}}


def _requests(count: int) -> list[bulk.Request]:
    return [("t", {"PutRequest": {"Item": {"k": {"N": str(n)}}}}) for n in range(count)]


def test_unprocessed_items_are_resent_with_growing_delays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(bulk, "sleep", record)
    backend = _Throttling(stuck_calls=3)
    left = anyio.run(bulk.write_all, backend, _requests(30), {"t": ["k"]})
    assert left == []
    assert backend.calls == [25, 1, 1, 1, 5]
    assert delays == [0.05, 0.1, 0.2]


def test_unprocessed_items_that_never_go_are_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_wait(seconds: float) -> None:
        return None

    monkeypatch.setattr(bulk, "sleep", no_wait)
    backend = _Throttling(stuck_calls=100)
    left = anyio.run(bulk.write_all, backend, _requests(3), {"t": ["k"]})
    assert len(left) == 1
    assert len(backend.calls) == bulk.MAX_ATTEMPTS
    with pytest.raises(CommandError, match="1 of 3 writes still unprocessed"):
        bulk._report(3, left)


class TestTransact:
    def test_writes_then_gets(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str, tmp_path: Path
    ) -> None:
        writes = tmp_path / "w.json"
        writes.write_text(
            json.dumps(
                [
                    {"Put": {"TableName": table, "Item": {"pk": "t", "sk": 1, "n": 1}}},
                    {
                        "Update": {
                            "TableName": table,
                            "Key": {"pk": "t", "sk": 2},
                            "UpdateExpression": "SET n = :v",
                            "ExpressionAttributeValues": {":v": 5},
                        }
                    },
                ]
            )
        )
        code, _, err = run(
            capsys, "transact", "--file", str(writes), "--client-request-token", "tok-1", *where
        )
        assert code == 0, err
        gets = tmp_path / "g.json"
        gets.write_text(
            json.dumps(
                {
                    "TransactItems": [
                        {"Get": {"TableName": table, "Key": {"pk": "t", "sk": sk}}} for sk in (1, 2)
                    ]
                }
            )
        )
        got = run_json(capsys, "transact", "--file", str(gets), *where)
        assert [r["Item"]["n"] for r in got["Responses"]] == [{"N": "1"}, {"N": "5"}]
        code, _, err = run(
            capsys, "transact", "--file", str(gets), "--client-request-token", "x", *where
        )
        assert code == 2

    def test_a_failed_condition_changes_nothing(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str, tmp_path: Path
    ) -> None:
        writes = tmp_path / "w.json"
        writes.write_text(
            json.dumps(
                [
                    {"Put": {"TableName": table, "Item": {"pk": "u", "sk": 1}}},
                    {
                        "ConditionCheck": {
                            "TableName": table,
                            "Key": {"pk": "u", "sk": 9},
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                ]
            )
        )
        code, _, err = run(capsys, "transact", "--file", str(writes), *where)
        assert code == 1
        assert "TransactionCanceledException" in err
        assert _scan(capsys, table, where) == []


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    process, url, _ = start_serve("--memory")
    yield url
    assert stop(process) == 0


def test_load_dump_transact_over_a_real_server(
    capsys: pytest.CaptureFixture[str], endpoint: str, tmp_path: Path
) -> None:
    remote = ["--endpoint-url", endpoint, "--region", "ap-south-1"]
    run(capsys, "tables", "create", "--table-name", "remote", "--hash-key", "pk:S", *remote)
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"pk": {"S": f"k{n}"}, "b": {"B": "AAEC"}}) + "\n" for n in range(40))
    )
    code, _, err = run(capsys, "load", "remote", str(source), *remote)
    assert code == 0, err
    code, out, _ = run(capsys, "dump", "remote", *remote)
    assert code == 0
    assert len(out.splitlines()) == 40
    assert json.loads(out.splitlines()[0])["Item"]["b"] == {"B": "AAEC"}
    gets = tmp_path / "g.json"
    gets.write_text(json.dumps([{"Get": {"TableName": "remote", "Key": {"pk": "k1"}}}]))
    got = run_json(capsys, "transact", "--file", str(gets), *remote)
    assert got["Responses"][0]["Item"]["pk"] == {"S": "k1"}
