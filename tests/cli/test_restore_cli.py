"""`streamkit tables update --pitr` and `streamkit restore`, locally and over a real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.cli.helpers import run, run_json
from tests.server.serving import start_serve, stop


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    process, url, _ = start_serve("--memory")
    yield url
    assert stop(process) == 0


@pytest.mark.parametrize("remote", [False, True])
def test_pitr_on_then_restore(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, endpoint: str, remote: bool
) -> None:
    where = ["--endpoint-url", endpoint] if remote else ["--data", str(tmp_path / "data")]
    source = f"orders_{int(remote)}"
    code, _, err = run(
        capsys, "tables", "create", "--table-name", source, "--hash-key", "pk:S", *where
    )
    assert code == 0, err
    run_json(capsys, "put", "--table-name", source, "--item", '{"pk": "a", "n": 1}', *where)
    on = run_json(
        capsys, "tables", "update", source, "--pitr", "on", "--recovery-period-days", "3", *where
    )
    description = on["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert description["PointInTimeRecoveryStatus"] == "ENABLED"
    assert description["RecoveryPeriodInDays"] == 3
    time.sleep(1.1)
    moment = datetime.now(UTC).isoformat()
    time.sleep(1.1)
    run_json(capsys, "put", "--table-name", source, "--item", '{"pk": "a", "n": 2}', *where)

    restored = run_json(
        capsys, "restore", "--table", source, "--to", f"{source}_then", "--time", moment, *where
    )
    assert restored["TableDescription"]["TableName"] == f"{source}_then"
    got = run_json(capsys, "get", "--table-name", f"{source}_then", "--key", '{"pk": "a"}', *where)
    assert got["Item"]["n"] == {"N": "1"}
    run_json(capsys, "restore", "--table", source, "--to", f"{source}_now", "--latest", *where)
    got = run_json(capsys, "get", "--table-name", f"{source}_now", "--key", '{"pk": "a"}', *where)
    assert got["Item"]["n"] == {"N": "2"}

    code, out, err = run(
        capsys, "restore", "--table", source, "--to", f"{source}_now", "--latest", *where
    )
    assert (code, out) == (1, "")
    assert "TableAlreadyExistsException" in err
    code, _, err = run(
        capsys, "restore", "--table", source, "--to", "x_y_z", "--time", "nope", *where
    )
    assert code == 2
    assert "--time" in err
    off = run_json(capsys, "tables", "update", source, "--pitr", "off", *where)
    assert off["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"] == {
        "PointInTimeRecoveryStatus": "DISABLED"
    }
    code, _, err = run(capsys, "restore", "--table", source, "--to", "x_y_z", "--latest", *where)
    assert code == 1
    assert "PointInTimeRecoveryUnavailableException" in err
