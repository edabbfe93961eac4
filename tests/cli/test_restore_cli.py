"""`streamkit tables update --pitr` and `streamkit restore`, locally and over HTTP.

Both on a manual clock, so restore times are a second apart without sleeping: locally the
CLI's engines get the test's clock (the CLI has no clock option: its ``open_engine`` is
swapped for one passing ``clock=``); remotely the CLI talks to the server's own HTTP code
serving an engine on that clock in process (``open_sync_endpoint``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import streamkit
from streamkit.cli import backends
from streamkit.server import open_sync_endpoint
from streamkit.testing import ManualClock
from tests.cli.helpers import run, run_json


@pytest.fixture(params=[False, True], ids=["local", "remote"])
def reach(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[list[str], ManualClock, Callable[[float], None]]]:
    """The CLI's ``--data`` or ``--endpoint-url`` options, the clock of the engine they
    reach, and how to move that clock forward."""
    clock = ManualClock()
    if not request.param:
        monkeypatch.setattr(
            backends, "open_engine", functools.partial(streamkit.open_engine, clock=clock)
        )
        yield ["--data", str(tmp_path / "data")], clock, clock.advance
        return
    with open_sync_endpoint(clock=clock) as h:
        assert h.url is not None
        yield ["--endpoint-url", h.url], clock, h.advance


def test_pitr_on_then_restore(
    capsys: pytest.CaptureFixture[str],
    reach: tuple[list[str], ManualClock, Callable[[float], None]],
) -> None:
    where, clock, advance = reach
    remote = where[0] == "--endpoint-url"
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
    advance(1.1)
    moment = datetime.fromtimestamp(clock.now(), UTC).isoformat()
    advance(1.1)
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
