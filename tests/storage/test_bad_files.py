"""Database files streamkit refuses: corrupt, truncated, newer schema, not writable.

Each is refused at open with one line naming the file and the cause, and the file is left
byte for byte as it was; ``streamkit serve --data D`` exits 1 with that line, no traceback.

Tests run as root here, and root ignores permission bits: the permission cases run their
process under ``setpriv`` without CAP_DAC_OVERRIDE (then a 0o500 folder is really read-only
to it), and are skipped with the reason when neither that nor a non-root user is available.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import streamkit
from streamkit.errors import DatabaseFileError
from streamkit.storage.sqlite import check_database_file
from streamkit.storage.tables import SCHEMA_VERSION
from tests.server.serving import ROOT

REGION_FILE = "us-east-1.sqlite3"


def _real_database(path: Path) -> None:
    """A streamkit database with enough rows to span many pages."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE filler (x BLOB)")
    conn.executemany("INSERT INTO filler VALUES (?)", [(b"x" * 1000,)] * 200)
    conn.commit()
    conn.close()


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 500)


def _truncated(path: Path) -> None:
    _real_database(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _header_only(path: Path) -> None:
    _real_database(path)
    path.write_bytes(path.read_bytes()[:60])


def _newer_schema(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()


def _corrupt_catalog(path: Path) -> None:
    """A valid header over a garbage page 2 and beyond (the schema's pages)."""
    _real_database(path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page : page * 4] = b"\xff" * (page * 3)
    data[0 + 100 : page] = b"\xee" * (page - 100)  # page 1 (sqlite_master) too
    path.write_bytes(bytes(data))


BAD_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "garbage": (_garbage, "not a SQLite database file"),
    "truncated": (_truncated, "it is truncated"),
    "header_only": (_header_only, "it is truncated"),
    "newer_schema": (_newer_schema, "written by a newer streamkit"),
    "corrupt": (_corrupt_catalog, "corrupt|malformed|not a database"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
async def test_open_engine_refuses_and_changes_nothing(tmp_path: Path, case: str) -> None:
    make, cause = BAD_FILES[case]
    path = tmp_path / "db.sqlite3"
    make(path)
    before = path.read_bytes()
    with pytest.raises(DatabaseFileError, match=cause) as info:
        async with streamkit.open_engine(path):
            pytest.fail("opened a bad file")
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    assert path.read_bytes() == before  # never repaired, never overwritten
    assert not {"db.sqlite3-wal", "db.sqlite3-shm"} & set(os.listdir(tmp_path))  # not opened


@pytest.mark.parametrize("case", sorted(BAD_FILES))
async def test_a_read_only_open_refuses_the_same_way(tmp_path: Path, case: str) -> None:
    """Reads beside an owner (``open_engine(read_only=True)``) get the same one-line refusal.

    A read never runs the catalog, so the corrupt-catalog file is refused for its schema
    version (0: these files were never streamkit's) before SQLite meets the damage."""
    make, cause = BAD_FILES[case]
    cause += "|schema version 0" if case == "corrupt" else ""
    path = tmp_path / "db.sqlite3"
    make(path)
    before = path.read_bytes()
    with pytest.raises(DatabaseFileError, match=cause) as info:
        async with streamkit.open_engine(path, read_only=True):
            pytest.fail("opened a bad file")
    assert "\n" not in str(info.value)
    assert path.read_bytes() == before


@pytest.mark.parametrize("command", [["scan", "--table-name", "t"], ["tables", "list"]])
def test_a_cli_read_refuses_with_one_line(tmp_path: Path, command: list[str]) -> None:
    _garbage(tmp_path / REGION_FILE)
    done = subprocess.run(
        [sys.executable, "-m", "streamkit", *command, "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=60,
    )
    _assert_one_line_refusal(done, str(tmp_path / REGION_FILE))


def test_an_empty_file_is_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    path.touch()
    check_database_file(path)  # SQLite makes an empty file a new database: allowed


def _serve_once(data: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    """Run ``streamkit serve --data data`` expecting it to refuse at once."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "streamkit", "serve", "--port", "0", "--data", str(data)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=60,
    )


def _assert_one_line_refusal(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one line, no traceback
    assert lines[0].startswith("streamkit: ")
    for text in expected:
        assert text in lines[0]


@pytest.mark.parametrize("case", ["garbage", "truncated", "newer_schema"])
def test_serve_refuses_with_one_line(tmp_path: Path, case: str) -> None:
    make, _ = BAD_FILES[case]
    make(tmp_path / REGION_FILE)
    before = (tmp_path / REGION_FILE).read_bytes()
    done = _serve_once(tmp_path)
    _assert_one_line_refusal(done, str(tmp_path / REGION_FILE))
    assert (tmp_path / REGION_FILE).read_bytes() == before


# -- permissions ----------------------------------------------------------------------------


def _unprivileged() -> tuple[str, ...]:
    """A command prefix under which permission bits apply, or skip."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root (which ignores permission bits) and setpriv is missing")
    return (setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", "--")


def _read_only_folder(tmp_path: Path, with_database: bool) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    if with_database:
        async_free = sqlite3.connect(data / REGION_FILE)
        async_free.execute("PRAGMA user_version = 1")
        async_free.execute("CREATE TABLE sk_tables (name TEXT PRIMARY KEY, spec BLOB NOT NULL)")
        async_free.close()
    data.chmod(0o500)
    return data


@pytest.mark.parametrize("with_database", [False, True])
def test_serve_refuses_a_read_only_data_folder(tmp_path: Path, with_database: bool) -> None:
    prefix = _unprivileged()
    data = _read_only_folder(tmp_path, with_database)
    try:
        done = _serve_once(data, *prefix)
    finally:
        data.chmod(0o700)
    _assert_one_line_refusal(done, str(data), "not writable")


def test_open_engine_refuses_a_read_only_data_folder(tmp_path: Path) -> None:
    """The library path, in a process of its own for the same reason."""
    prefix = _unprivileged()
    data = _read_only_folder(tmp_path, with_database=True)
    script = (
        "import anyio, streamkit, sys\n"
        "from streamkit.errors import DatabaseFileError\n"
        "async def main():\n"
        f"    async with streamkit.open_engine({str(data / REGION_FILE)!r}):\n"
        "        pass\n"
        "try:\n"
        "    anyio.run(main)\n"
        "except DatabaseFileError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            timeout=60,
        )
    finally:
        data.chmod(0o700)
    assert done.returncode == 3, done.stderr
    assert "not writable" in done.stdout
    assert str(data) in done.stdout


def test_the_permission_message_without_privileges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message path itself, by injection (runs even where setpriv is missing)."""
    (tmp_path / "db.sqlite3").touch()
    monkeypatch.setattr(os, "access", lambda path, mode: os.fspath(path) != str(tmp_path))
    with pytest.raises(DatabaseFileError, match="is not writable"):
        check_database_file(tmp_path / "db.sqlite3")


def test_a_folder_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(DatabaseFileError, match="cannot create the data folder"):
        check_database_file(tmp_path / "file" / "sub" / "db.sqlite3")
