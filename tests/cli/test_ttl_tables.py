"""`streamkit ttl ...` and `streamkit tables update`, locally and over a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import run, run_json
from tests.server.serving import start_serve, stop


@pytest.fixture
def where(tmp_path: Path) -> list[str]:
    return ["--data", str(tmp_path / "data")]


@pytest.fixture
def table(capsys: pytest.CaptureFixture[str], where: list[str]) -> str:
    code, _, err = run(
        capsys, "tables", "create", "--table-name", "orders", "--hash-key", "pk:S", *where
    )
    assert code == 0, err
    return "orders"


class TestTtl:
    def test_enable_describe_disable_without_naming_the_attribute(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str
    ) -> None:
        enabled = run_json(capsys, "ttl", "enable", table, "--attribute", "expires", *where)
        assert enabled == {"TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires"}}
        described = run_json(capsys, "ttl", "describe", table, *where)
        assert described["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
        assert described["TimeToLiveDescription"]["AttributeName"] == "expires"
        disabled = run_json(capsys, "ttl", "disable", table, *where)
        assert disabled["TimeToLiveSpecification"] == {
            "Enabled": False,
            "AttributeName": "expires",
        }
        described = run_json(capsys, "ttl", "describe", table, *where)
        assert described["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"

    def test_disable_when_off_is_one_line(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str
    ) -> None:
        code, out, err = run(capsys, "ttl", "disable", table, *where)
        assert (code, out) == (1, "")
        assert err == "streamkit: TTL is not enabled on table orders: nothing to disable\n"

    def test_enable_needs_the_attribute(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str
    ) -> None:
        assert run(capsys, "ttl", "enable", table, *where)[0] == 2

    def test_missing_table_suggests_a_close_name(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str
    ) -> None:
        code, _, err = run(capsys, "ttl", "describe", "order", *where)
        assert code == 1
        assert err == "streamkit: Table order not found. Did you mean orders?\n"

    def test_table_output(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str
    ) -> None:
        run(capsys, "ttl", "enable", table, "--attribute", "exp", *where)
        code, out, _ = run(capsys, "ttl", "describe", table, "--output", "table", *where)
        assert code == 0
        assert "| TimeToLiveStatus | ENABLED" in out


class TestTablesUpdate:
    def test_stream_billing_and_gsi(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str
    ) -> None:
        updated = run_json(
            capsys, "tables", "update", table, "--stream-view-type", "NEW_IMAGE", *where
        )
        spec = updated["TableDescription"]["StreamSpecification"]
        assert spec == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        updated = run_json(
            capsys, "tables", "update", table, "--billing-mode", "PROVISIONED",
            "--provisioned-throughput", "ReadCapacityUnits=3,WriteCapacityUnits=4", *where,
        )  # fmt: skip
        throughput = updated["TableDescription"]["ProvisionedThroughput"]
        assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (3, 4)
        run_json(
            capsys, "tables", "update", table, "--create-gsi", "by_email", "email:S", "at:N",
            "--gsi-provisioned-throughput", "ReadCapacityUnits=1,WriteCapacityUnits=1", *where,
        )  # fmt: skip
        described = run_json(capsys, "tables", "describe", "--table-name", table, *where)
        (index,) = described["Table"]["GlobalSecondaryIndexes"]
        assert index["IndexName"] == "by_email"
        assert index["IndexStatus"] == "ACTIVE"  # describing advanced the (tiny) backfill
        assert [k["AttributeName"] for k in index["KeySchema"]] == ["email", "at"]
        names = {d["AttributeName"] for d in described["Table"]["AttributeDefinitions"]}
        assert names == {"pk", "email", "at"}
        run_json(capsys, "tables", "update", table, "--delete-gsi", "by_email", *where)
        described = run_json(capsys, "tables", "describe", "--table-name", table, *where)
        assert "GlobalSecondaryIndexes" not in described["Table"] or all(
            i["IndexStatus"] == "DELETING" for i in described["Table"]["GlobalSecondaryIndexes"]
        )
        updated = run_json(capsys, "tables", "update", table, "--disable-stream", *where)
        assert updated["TableDescription"].get("StreamSpecification", {}).get("StreamEnabled") in (
            None,
            False,
        )

    def test_nothing_to_change_is_a_usage_error(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str
    ) -> None:
        code, out, err = run(capsys, "tables", "update", table, *where)
        assert (code, out) == (2, "")
        assert "nothing to change" in err

    def test_bad_gsi_key_is_a_usage_error(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str
    ) -> None:
        code, _, err = run(capsys, "tables", "update", table, "--create-gsi", "ix", "a:X", *where)
        assert code == 2
        assert "--create-gsi" in err

    def test_service_refusal_exits_1(
        self, capsys: pytest.CaptureFixture[str], where: list[str], table: str
    ) -> None:
        code, _, err = run(capsys, "tables", "update", table, "--delete-gsi", "nope", *where)
        assert code == 1
        assert err.startswith("An error occurred (")
        assert err.count("\n") == 1


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    process, url, _ = start_serve("--memory")
    yield url
    assert stop(process) == 0


def test_over_a_real_server(capsys: pytest.CaptureFixture[str], endpoint: str) -> None:
    remote = ["--endpoint-url", endpoint, "--region", "eu-west-2"]
    code, _, err = run(
        capsys, "tables", "create", "--table-name", "remote", "--hash-key", "pk:S", *remote
    )
    assert code == 0, err
    run_json(capsys, "ttl", "enable", "remote", "--attribute", "exp", *remote)
    disabled = run_json(capsys, "ttl", "disable", "remote", *remote)
    assert disabled["TimeToLiveSpecification"]["AttributeName"] == "exp"
    updated = run_json(
        capsys, "tables", "update", "remote", "--stream-view-type", "KEYS_ONLY", *remote
    )
    assert updated["TableDescription"]["StreamSpecification"]["StreamViewType"] == "KEYS_ONLY"
    code, _, err = run(capsys, "ttl", "describe", "remot", *remote)
    assert (code, err) == (1, "streamkit: Table remot not found. Did you mean remote?\n")
