"""ExportTableToPointInTime, ImportTable and friends: layout, formats, round trips, errors."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import itertools
from base64 import b64encode
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import streamkit
from streamkit.engine import exports
from streamkit.engine.s3files import decode_ion_line, decode_json_line, encode_ion_item
from streamkit.errors import (
    ExportConflictException,
    ExportNotFoundException,
    ImportConflictException,
    ImportNotFoundException,
    InvalidExportTimeException,
    PointInTimeRecoveryUnavailableException,
    ResourceInUseException,
    TableNotFoundException,
    ValidationException,
)
from streamkit.model.attributes import validate_item
from streamkit.storage import sqlite as sqlite_store
from streamkit.testing import ManualClock
from tests.conftest import key_schema
from tests.engine.attachments import most_attached
from tests.strategies import items, key_values

_names = itertools.count()


def _creation(name: str, **extra: Any) -> dict[str, Any]:
    return {"TableName": name, **key_schema("pk"), **extra}


async def _arn(db: streamkit.Engine, table: str) -> str:
    return str((await db.describe_table(TableName=table))["Table"]["TableArn"])


async def pitr_on(db: streamkit.Engine, table: str) -> None:
    """Turn point-in-time recovery on, which DynamoDB's exports need."""
    await db.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )


async def export(db: streamkit.Engine, table: str, **params: Any) -> dict[str, Any]:
    """Export on an engine alone, which runs the job inside the call; return the final
    description."""
    await pitr_on(db, table)
    params.setdefault("S3Bucket", "bucket")
    started = await db.export_table_to_point_in_time(TableArn=await _arn(db, table), **params)
    assert started["ExportDescription"]["ExportStatus"] == "IN_PROGRESS"  # as DynamoDB's reply
    arn = started["ExportDescription"]["ExportArn"]
    desc: dict[str, Any] = (await db.describe_export(ExportArn=arn))["ExportDescription"]
    assert desc["ExportStatus"] != "IN_PROGRESS"  # no runtime: ended before the call returned
    return desc


async def import_(db: streamkit.Engine, **params: Any) -> dict[str, Any]:
    """Import on an engine alone (the job runs inside the call); return the final
    description."""
    started = await db.import_table(**params)
    assert started["ImportTableDescription"]["ImportStatus"] == "IN_PROGRESS"
    arn = started["ImportTableDescription"]["ImportArn"]
    desc: dict[str, Any] = (await db.describe_import(ImportArn=arn))["ImportTableDescription"]
    assert desc["ImportStatus"] != "IN_PROGRESS"
    return desc


async def _all(db: streamkit.Engine, table: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TableName": table}
    while True:
        page = await db.scan(**params)
        found.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return sorted(found, key=repr)
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _folder(db: streamkit.Engine, desc: dict[str, Any]) -> Path:
    return db.s3_dir / str(desc["S3Bucket"]) / str(desc["ExportManifest"]).rsplit("/", 1)[0]


# -- formats --------------------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(items(max_depth=3))
def test_ion_line_round_trip(item: dict[str, Any]) -> None:
    line = encode_ion_item(item)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert validate_item(decode_ion_line(line.decode())) == item


def test_ion_reads_what_aws_writes() -> None:
    line = (
        '$ion_1_0 {Item:{Authors:$dynamodb_SS::["Author1","Author2"],Id:103.,'
        "InPublication:false,PageCount:6d2,Price:2d3,'odd name':{{aGk=}},n:null.string,"
        "big:-1.5d-3, s:'''a''' '''b''', l:[1, {x:true}], ns:$dynamodb_NS::[1.,2.5]}}"
    )
    item = validate_item(decode_ion_line(line))
    assert item == {
        "Authors": {"SS": ["Author1", "Author2"]},
        "Id": {"N": "103"},
        "InPublication": {"BOOL": False},
        "PageCount": {"N": "600"},
        "Price": {"N": "2000"},
        "odd name": {"B": b"hi"},
        "n": {"NULL": True},
        "big": {"N": "-0.0015"},
        "s": {"S": "ab"},
        "l": {"L": [{"N": "1"}, {"M": {"x": {"BOOL": True}}}]},
        "ns": {"NS": ["1", "2.5"]},
    }


@pytest.mark.parametrize(
    "line",
    [
        "$ion_1_0 {Item:{a:1e3}}",  # a float
        "$ion_1_0 {Item:{a:2020-01-01T}}",  # a timestamp
        "$ion_1_0 {Other:{a:1.}}",
        "$ion_1_0 {Item:{a:$dynamodb_SS::[1.]}}",
        '$ion_1_0 {Item:{a:"unterminated}}',
        "$ion_1_0 {Item:{a:1.}} trailing",
    ],
)
def test_ion_bad_lines(line: str) -> None:
    with pytest.raises(ValueError):
        decode_ion_line(line)


def test_json_line() -> None:
    assert decode_json_line(b'{"Item":{"b":{"B":"aGk="}}}') == {"b": {"B": b"hi"}}
    with pytest.raises(ValueError):
        decode_json_line(b'{"a":{"S":"x"}}')


# -- export -----------------------------------------------------------------------------------


async def test_export_layout_and_manifests(engine: streamkit.Engine) -> None:
    await engine.create_table(TableName="orders", **key_schema("pk"))
    for i in range(30):
        await engine.put_item(TableName="orders", Item={"pk": {"S": f"k{i}"}, "b": {"B": b"\x00"}})
    desc = await export(engine, "orders", S3Prefix="nightly", ClientToken="tok")
    assert desc["ExportStatus"] == "COMPLETED"
    assert desc["ItemCount"] == 30
    assert desc["ExportFormat"] == "DYNAMODB_JSON"
    assert desc["ExportType"] == "FULL_EXPORT"
    assert desc["ExportManifest"].startswith("nightly/AWSDynamoDB/")
    export_id = desc["ExportArn"].rsplit("/", 1)[1]
    assert desc["ExportArn"] == f"{await _arn(engine, 'orders')}/export/{export_id}"
    folder = _folder(engine, desc)
    assert folder == engine.s3_dir / "bucket" / "nightly" / "AWSDynamoDB" / export_id
    names = {p.name for p in folder.iterdir()}
    assert names == {
        "_started",
        "data",
        "manifest-summary.json",
        "manifest-summary.checksum",
        "manifest-files.json",
        "manifest-files.checksum",
    }
    summary = orjson.loads((folder / "manifest-summary.json").read_bytes())
    assert summary["version"] == "2020-06-30"
    assert summary["itemCount"] == 30
    assert summary["outputFormat"] == "DYNAMODB_JSON"
    assert summary["manifestFilesS3Key"] == f"nightly/AWSDynamoDB/{export_id}/manifest-files.json"
    assert summary["s3Bucket"] == "bucket"
    assert summary["s3Prefix"] == "nightly"
    assert summary["exportArn"] == desc["ExportArn"]
    assert summary["startTime"].endswith("Z")
    checksum = (folder / "manifest-summary.checksum").read_text()
    assert checksum == hashlib.md5((folder / "manifest-summary.json").read_bytes()).hexdigest()
    (entry,) = [orjson.loads(x) for x in (folder / "manifest-files.json").read_bytes().splitlines()]
    assert entry["itemCount"] == 30
    data = engine.s3_dir / "bucket" / entry["dataFileS3Key"]
    assert data.name.endswith(".json.gz")
    assert len(data.name) == 26 + len(".json.gz")
    raw = data.read_bytes()
    assert entry["md5Checksum"] == b64encode(hashlib.md5(raw).digest()).decode()
    assert entry["etag"] == hashlib.md5(raw).hexdigest()
    lines = [orjson.loads(x) for x in gzip.decompress(raw).splitlines()]
    assert {"Item": {"pk": {"S": "k0"}, "b": {"B": "AA=="}}} in lines
    # the same ClientToken and request: the same export; other parameters: a conflict
    again = await engine.export_table_to_point_in_time(
        TableArn=await _arn(engine, "orders"), S3Bucket="bucket", S3Prefix="nightly",
        ClientToken="tok",
    )  # fmt: skip
    assert again["ExportDescription"]["ExportArn"] == desc["ExportArn"]
    with pytest.raises(ExportConflictException):
        await engine.export_table_to_point_in_time(
            TableArn=await _arn(engine, "orders"), S3Bucket="other", ClientToken="tok"
        )


async def test_export_empty_table_writes_an_empty_file(memory_engine: streamkit.Engine) -> None:
    await memory_engine.create_table(TableName="empty", **key_schema("pk"))
    desc = await export(memory_engine, "empty", ExportFormat="ION")
    assert desc["ItemCount"] == 0
    folder = _folder(memory_engine, desc)
    (entry,) = [orjson.loads(x) for x in (folder / "manifest-files.json").read_bytes().splitlines()]
    assert entry["itemCount"] == 0
    assert entry["dataFileS3Key"].endswith(".ion.gz")


async def test_export_errors(engine: streamkit.Engine, clock: ManualClock) -> None:
    await engine.create_table(TableName="orders", **key_schema("pk"))
    arn = await _arn(engine, "orders")
    if "UpdateContinuousBackups" in engine.OPERATIONS:  # DynamoDB exports need PITR on
        with pytest.raises(PointInTimeRecoveryUnavailableException):
            await engine.export_table_to_point_in_time(TableArn=arn, S3Bucket="bucket")
    await pitr_on(engine, "orders")
    with pytest.raises(TableNotFoundException):
        await engine.export_table_to_point_in_time(TableArn=arn + "x", S3Bucket="bucket")
    with pytest.raises(ValidationException, match="regular expression"):
        await engine.export_table_to_point_in_time(TableArn=arn, S3Bucket="-bad-")
    with pytest.raises(ValidationException, match="exportFormat"):
        await engine.export_table_to_point_in_time(TableArn=arn, S3Bucket="b1", ExportFormat="X")
    with pytest.raises(InvalidExportTimeException):
        await engine.export_table_to_point_in_time(
            TableArn=arn, S3Bucket="b1", ExportTime=clock.now() + 3600
        )
    with pytest.raises(InvalidExportTimeException):
        await engine.export_table_to_point_in_time(
            TableArn=arn, S3Bucket="b1", ExportTime=clock.now() - 86400
        )
    with pytest.raises(ValidationException, match="ExportFromTime must be specified"):
        await engine.export_table_to_point_in_time(
            TableArn=arn, S3Bucket="b1", ExportType="INCREMENTAL_EXPORT"
        )
    with pytest.raises(ExportNotFoundException):
        await engine.describe_export(ExportArn=arn + "/export/01234567890123-abcdef01")


async def test_list_exports_pages(memory_engine: streamkit.Engine) -> None:
    db = memory_engine
    for table in ("one", "two"):
        await db.create_table(TableName=table, **key_schema("pk"))
    for table in ("one", "two", "one"):
        await export(db, table)
    everything = (await db.list_exports())["ExportSummaries"]
    assert len(everything) == 3
    assert set(everything[0]) == {"ExportArn", "ExportStatus", "ExportType"}
    ones = (await db.list_exports(TableArn=await _arn(db, "one")))["ExportSummaries"]
    assert len(ones) == 2
    first = await db.list_exports(MaxResults=2)
    assert len(first["ExportSummaries"]) == 2
    rest = await db.list_exports(MaxResults=2, NextToken=first["NextToken"])
    assert len(rest["ExportSummaries"]) == 1
    assert "NextToken" not in rest
    with pytest.raises(ValidationException):
        await db.list_exports(MaxResults=26)


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["DYNAMODB_JSON", "ION"])
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_export_import_round_trips_every_type(
    memory_engine: streamkit.Engine, fmt: str, data: st.DataObject
) -> None:
    db = memory_engine
    kind = data.draw(st.sampled_from(["S", "N", "B"]))
    source, target = f"src{next(_names)}", f"dst{next(_names)}"
    await db.create_table(TableName=source, **key_schema("pk", kind=kind))
    rows = data.draw(st.lists(st.tuples(key_values(kind), items()), max_size=12))
    for key, item in rows:
        await db.put_item(TableName=source, Item={**item, "pk": key})
    desc = await export(db, source, ExportFormat=fmt)
    prefix = desc["ExportManifest"].rsplit("/", 1)[0] + "/data/"
    done = await import_(
        db,
        S3BucketSource={"S3Bucket": "bucket", "S3KeyPrefix": prefix},
        InputFormat=fmt,
        InputCompressionType="GZIP",
        TableCreationParameters={"TableName": target, **key_schema("pk", kind=kind)},
    )
    assert done["ImportStatus"] == "COMPLETED", done
    assert done["ErrorCount"] == 0
    assert await _all(db, target) == await _all(db, source)


# -- import -------------------------------------------------------------------------------

_EVERY_TYPE = {
    "s": {"S": "é and ascii"},
    "n": {"N": "-12.50"},  # not canonical: stored as -12.5
    "i": {"N": "1000"},
    "b": {"B": b"\x00\xff"},
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "ss": {"SS": ["x", "y"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"1"]},
    "m": {"M": {"l": {"L": [{"S": ""}, {"N": "3"}, {"M": {}}]}}},
}


@pytest.mark.parametrize("indexed", [True, False], ids=["gsi", "plain"])
@pytest.mark.parametrize("fmt", ["DYNAMODB_JSON", "ION"])
async def test_an_import_in_worker_processes_is_the_same(
    engine: streamkit.Engine, fmt: str, indexed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker processes parse a large import; forced here on a small one, in blocks of 4 KB
    (dozens of them, both workers' scratch files interleaved), with a GSI (rows written
    through the index path) or none (copied with INSERT ... SELECT), duplicates in other
    blocks (the later wins) and bad lines."""
    monkeypatch.setattr(exports, "IMPORT_BLOCK", 4096)
    db = engine
    gsi: dict[str, Any] = (
        {}
        if not indexed
        else {
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "g", "AttributeType": "S"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "by_g",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        }
    )
    items = [{**_EVERY_TYPE, "pk": {"S": f"k{i % 1500}"}, "g": {"S": f"g{i}"}} for i in range(3000)]

    def encode(item: dict[str, Any]) -> bytes:
        if fmt == "ION":
            return encode_ion_item(validate_item(item))
        return b'{"Item":' + orjson.dumps(_wire(item)) + b"}\n"

    data = b"".join(encode(item) for item in items) + b"not a line\n"
    _write(db.s3_dir / "big", "part-1.gz", gzip.compress(data))
    results = []
    for processes in (0, 2):
        db.import_processes, db.import_processes_min_bytes = processes, 0
        table = f"imp{processes}"
        done = await import_(
            db,
            S3BucketSource={"S3Bucket": "big"},
            InputFormat=fmt,
            InputCompressionType="GZIP",
            TableCreationParameters={"TableName": table, **key_schema("pk"), **(gsi or {})},
        )
        assert done["ImportStatus"] == "COMPLETED", done
        assert (done["ImportedItemCount"], done["ErrorCount"]) == (3000, 1)
        assert done["ProcessedItemCount"] == 3001
        got = await _all(db, table)
        assert len(got) == 1500
        assert {i["g"]["S"] for i in got} == {f"g{i}" for i in range(1500, 3000)}
        if not indexed:
            results.append(got)
            continue
        by_g = await db.query(
            TableName=table,
            IndexName="by_g",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "g2999"}},
        )
        assert [i["pk"] for i in by_g["Items"]] == [{"S": "k1499"}]
        results.append(got)
    assert results[0] == results[1]
    assert results[0][0]["n"] == {"N": "-12.5"}


def _in_two_workers(db: streamkit.Engine, keys: list[str]) -> dict[str, Any]:
    """Make ``db`` import in two worker processes (a small file too), put a DYNAMODB_JSON file
    of ``_EVERY_TYPE`` items with those keys in bucket "bkt", and return the import's source
    parameters."""
    db.import_processes, db.import_processes_min_bytes = 2, 0
    lines = [
        b'{"Item":' + orjson.dumps(_wire({**_EVERY_TYPE, "pk": {"S": key}})) + b"}" for key in keys
    ]
    _write(db.s3_dir / "bkt", "d/1.json", b"\n".join(lines) + b"\n")
    return {"S3BucketSource": {"S3Bucket": "bkt"}, "InputFormat": "DYNAMODB_JSON"}


@pytest.mark.parametrize("where", ["memory", "full"])
async def test_worker_imports_on_every_kind_of_store(
    tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers' scratch files are attached to the writer's connection whatever it is: an
    in-memory database, or a file whose writes run on a thread (durability "full"); two
    imports at once attach theirs under names of their own; nothing is left attached."""
    monkeypatch.setattr(exports, "IMPORT_BLOCK", 2048)
    path = None if where == "memory" else tmp_path / "db.sqlite3"
    async with streamkit.open_engine(path, durability="full", s3_dir=tmp_path / "s3") as db:
        params = _in_two_workers(db, [f"k{i % 700}" for i in range(1000)])
        done = await asyncio.gather(
            import_(db, **params, TableCreationParameters=_creation("one")),
            import_(db, **params, TableCreationParameters=_creation("two")),
        )
        for desc in done:
            assert (desc["ImportStatus"], desc["ImportedItemCount"]) == ("COMPLETED", 1000)
        one, two = await _all(db, "one"), await _all(db, "two")
        assert len(one) == 700
        assert one == two
        attached = await db._store.run_between_writes(
            lambda conn: [row[1] for row in conn.execute("PRAGMA database_list")]
        )
        assert attached == ["main"]


async def test_imports_reserve_an_attachment_slot_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each worker's scratch file is attached to the writer's connection, which SQLite allows
    10 of (restores share them): an import reserves one slot a worker first, so with room
    for two, two imports of two workers each take turns and never hold four at once."""
    monkeypatch.setattr(exports, "IMPORT_BLOCK", 2048)
    monkeypatch.setattr(sqlite_store, "ATTACH_LIMIT", 2)
    async with streamkit.open_engine(tmp_path / "db.sqlite3", s3_dir=tmp_path / "s3") as db:
        params = _in_two_workers(db, [f"k{i}" for i in range(600)])
        async with most_attached(db.store) as most:
            done = await asyncio.gather(
                import_(db, **params, TableCreationParameters=_creation("one")),
                import_(db, **params, TableCreationParameters=_creation("two")),
            )
        assert [d["ImportedItemCount"] for d in done] == [600, 600]
        assert most[0] == 2


async def test_a_worker_that_dies_fails_the_import_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed while blocks are in flight (the reading and the copying run as two
    tasks): the import ends FAILED with the workers' message, the other worker is stopped,
    no scratch folder or attached file is left, and the engine imports again afterwards."""
    import tempfile

    from streamkit.engine import importworker

    monkeypatch.setattr(exports, "IMPORT_BLOCK", 2048)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    started = importworker.LinePool.start
    pools: list[importworker.LinePool] = []

    async def start_then_kill(pool: importworker.LinePool) -> None:
        await started(pool)
        pools.append(pool)
        pool._procs[1].kill()  # its blocks in flight never come back

    async with streamkit.open_engine(None, s3_dir=tmp_path / "s3") as db:
        params = _in_two_workers(db, [f"k{i}" for i in range(600)])
        monkeypatch.setattr(importworker.LinePool, "start", start_then_kill)
        failed = await import_(db, **params, TableCreationParameters=_creation("one"))
        assert failed["ImportStatus"] == "FAILED", failed
        assert failed["FailureMessage"] == "an import worker process ended unexpectedly"
        assert all(proc.returncode is not None for proc in pools[0]._procs)
        assert list((tmp_path / "tmp").iterdir()) == []
        attached = await db._store.run_between_writes(
            lambda conn: [row[1] for row in conn.execute("PRAGMA database_list")]
        )
        assert attached == ["main"]
        monkeypatch.setattr(importworker.LinePool, "start", started)
        done = await import_(db, **params, TableCreationParameters=_creation("two"))
        assert (done["ImportStatus"], done["ImportedItemCount"]) == ("COMPLETED", 600)


async def test_a_worker_gets_a_wide_pipe(tmp_path: Path) -> None:
    """A worker's input pipe holds its blocks in flight (Linux)."""
    import sys

    from streamkit.engine import importworker

    pool = importworker.LinePool(exports_spec(), "DYNAMODB_JSON", 1, str(tmp_path))
    await pool.start()
    try:
        if sys.platform == "linux":
            import fcntl

            pipe = pool._procs[0].stdin.transport.get_extra_info("pipe")  # type: ignore[union-attr]
            size = fcntl.fcntl(pipe.fileno(), fcntl.F_GETPIPE_SZ)
            assert size >= exports.IMPORT_IN_FLIGHT * exports.IMPORT_BLOCK
    finally:
        await pool.close()


def test_a_worker_imports_no_engine() -> None:
    """A worker imports only the modules it needs: not the engine (``streamkit.engine``'s
    ``__init__``)."""
    import os
    import subprocess
    import sys

    from streamkit.engine import importworker

    probe = (
        "import runpy, sys\n"
        f"found = runpy.run_path({importworker._WORKER_SCRIPT!r}, run_name='probe')\n"
        "found['_bare_engine_package']()\n"
        "import streamkit.engine.importworker\n"
        "print(sorted(m for m in ('streamkit.engine.engine', 'streamkit.engine.core') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-P", "-c", probe],
        check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": importworker._PACKAGE_ROOT},
    ).stdout  # fmt: skip
    assert out.strip() == "[]"


def exports_spec() -> Any:
    from streamkit.model.schema import KeySpec, TableSpec

    key = KeySpec.of("pk", "S")
    return TableSpec("tbl", "id", key, dict(key.types()), 0.0)


def _wire(item: dict[str, Any]) -> dict[str, Any]:
    """An item as DynamoDB JSON (binaries in base64)."""
    wire: dict[str, Any] = orjson.loads(orjson.dumps(item, default=lambda b: b64encode(b).decode()))
    return wire


def _write(root: Path, key: str, data: bytes) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.mark.parametrize("processes", [0, 2], ids=["thread", "processes"])
async def test_bad_lines_are_counted_and_logged(
    memory_engine: streamkit.Engine, caplog: pytest.LogCaptureFixture, processes: int
) -> None:
    db = memory_engine
    db.import_processes, db.import_processes_min_bytes = processes, 0
    lines = [
        b'{"Item":{"pk":{"S":"a"},"n":{"N":"1"}}}',
        b"not json",
        b'{"Item":{"n":{"N":"1"}}}',  # no key
        b'{"Item":{"pk":{"N":"1"}}}',  # key of the wrong type
        b"",
        b'{"Item":{"pk":{"S":"b"},"n":{"N":"x"}}}',  # not a number
        b'{"Item":{"pk":{"S":"c"},"bin":{"B":"***"}}}',  # bad base64
        b'{"Item":{"pk":{"S":"d"}}}',
    ]
    _write(db.s3_dir / "in", "batch/part-1.json", b"\n".join(lines) + b"\n")
    _write(db.s3_dir / "in", "batch/part-2.json.gz", gzip.compress(b"{broken\n"))
    with caplog.at_level("WARNING", logger="streamkit"):
        done = await import_(
            db,
            S3BucketSource={"S3Bucket": "in", "S3KeyPrefix": "batch/part-1"},
            InputFormat="DYNAMODB_JSON",
            TableCreationParameters=_creation("loaded"),
        )
    assert done["ImportStatus"] == "COMPLETED"
    assert done["ErrorCount"] == 5
    assert done["ImportedItemCount"] == 2
    assert done["ProcessedItemCount"] == 7
    assert [i["pk"]["S"] for i in await _all(db, "loaded")] == ["a", "d"]
    logged = [
        r
        for r in caplog.records
        if r.msg == "import_record_error" or "import_record_error" in str(r.msg)
    ]
    assert len(logged) == 5
    # a whole object that is not gzip: one error, the import still completes
    done = await import_(
        db,
        S3BucketSource={"S3Bucket": "in", "S3KeyPrefix": "batch/"},
        InputFormat="DYNAMODB_JSON",
        InputCompressionType="GZIP",
        TableCreationParameters=_creation("loaded2"),
    )
    assert done["ImportStatus"] == "COMPLETED"
    assert done["ErrorCount"] == 2


async def test_import_csv_with_gsi(memory_engine: streamkit.Engine) -> None:
    db = memory_engine
    csv = b"pk;score;city;note\nu1;10;Oslo;hello\nu2;x;Rome;\nu3;7;;plain\n"
    _write(db.s3_dir / "in", "users.csv", csv)
    done = await import_(
        db,
        S3BucketSource={"S3Bucket": "in", "S3KeyPrefix": "users"},
        InputFormat="CSV",
        InputFormatOptions={"Csv": {"Delimiter": ";"}},
        TableCreationParameters={
            "TableName": "users",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "score", "AttributeType": "N"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "by_score",
                    "KeySchema": [{"AttributeName": "score", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        },
    )
    assert done["ErrorCount"] == 1, done  # u2's score is not a number
    assert await _all(db, "users") == [
        {"pk": {"S": "u1"}, "score": {"N": "10"}, "city": {"S": "Oslo"}, "note": {"S": "hello"}},
        {"pk": {"S": "u3"}, "score": {"N": "7"}, "note": {"S": "plain"}},
    ]
    hits = await db.query(
        TableName="users",
        IndexName="by_score",
        KeyConditionExpression="score = :s",
        ExpressionAttributeValues={":s": {"N": "7"}},
    )
    assert [i["pk"]["S"] for i in hits["Items"]] == ["u3"]
    # HeaderList: the first line is data
    _write(db.s3_dir / "in2", "x.csv", b"a,1\nb,2\n")
    done = await import_(
        db,
        S3BucketSource={"S3Bucket": "in2"},
        InputFormat="CSV",
        InputFormatOptions={"Csv": {"HeaderList": ["pk", "v"]}},
        TableCreationParameters=_creation("headers"),
    )
    assert done["ImportedItemCount"] == 2


async def test_import_zstd(memory_engine: streamkit.Engine) -> None:
    from streamkit.engine.s3files import zstd_module

    zstd = zstd_module()
    if zstd is None:
        with pytest.raises(ValidationException, match="zstd"):
            await memory_engine.import_table(
                S3BucketSource={"S3Bucket": "in"},
                InputFormat="ION",
                InputCompressionType="ZSTD",
                TableCreationParameters=_creation("zzz"),
            )
        return
    _write(memory_engine.s3_dir / "in", "z.ion.zst", zstd.compress(b'$ion_1_0 {Item:{pk:"a"}}\n'))
    done = await import_(
        memory_engine,
        S3BucketSource={"S3Bucket": "in"},
        InputFormat="ION",
        InputCompressionType="ZSTD",
        TableCreationParameters=_creation("zzz"),
    )
    assert done["ImportedItemCount"] == 1
    assert done["ErrorCount"] == 0


async def test_import_errors_and_listing(memory_engine: streamkit.Engine) -> None:
    db = memory_engine
    await db.create_table(TableName="taken", **key_schema("pk"))
    _write(db.s3_dir / "in", "a.json", b'{"Item":{"pk":{"S":"a"}}}\n')
    source = {"S3Bucket": "in"}
    with pytest.raises(ResourceInUseException):
        await db.import_table(
            S3BucketSource=source, InputFormat="DYNAMODB_JSON",
            TableCreationParameters=_creation("taken"),
        )  # fmt: skip
    with pytest.raises(ValidationException):
        await db.import_table(S3BucketSource=source, TableCreationParameters=_creation("x1"))  # type: ignore[call-arg]
    with pytest.raises(ValidationException):
        await db.import_table(
            S3BucketSource=source, InputFormat="DYNAMODB_JSON",
            InputFormatOptions={"Csv": {"Delimiter": ","}},
            TableCreationParameters=_creation("x2"),
        )  # fmt: skip
    with pytest.raises(ImportNotFoundException):
        await db.describe_import(
            ImportArn="arn:aws:dynamodb:us-east-1:000000000000:table/x/import/1"
        )
    first = await db.import_table(
        ClientToken="t1", S3BucketSource=source, InputFormat="DYNAMODB_JSON",
        TableCreationParameters=_creation("new1"),
    )  # fmt: skip
    same = await db.import_table(
        ClientToken="t1", S3BucketSource=source, InputFormat="DYNAMODB_JSON",
        TableCreationParameters=_creation("new1"),
    )  # fmt: skip
    assert (
        same["ImportTableDescription"]["ImportArn"] == first["ImportTableDescription"]["ImportArn"]
    )
    with pytest.raises(ImportConflictException):
        await db.import_table(
            ClientToken="t1", S3BucketSource=source, InputFormat="ION",
            TableCreationParameters=_creation("new1"),
        )  # fmt: skip
    # no objects under the prefix: the import fails, the table stays (as AWS leaves it)
    failed = await import_(
        db, S3BucketSource={"S3Bucket": "in", "S3KeyPrefix": "nothing/"},
        InputFormat="DYNAMODB_JSON", TableCreationParameters=_creation("new2"),
    )  # fmt: skip
    assert failed["ImportStatus"] == "FAILED"
    assert "no objects" in failed["FailureMessage"]
    listed = (await db.list_imports())["ImportSummaryList"]
    assert [s["TableArn"].rsplit("/", 1)[1] for s in listed] == ["new1", "new2"]
    page = await db.list_imports(PageSize=1)
    assert len(page["NextToken"]) >= 112
    rest = await db.list_imports(PageSize=1, NextToken=page["NextToken"])
    assert len(rest["ImportSummaryList"]) == 1
    assert "NextToken" not in rest


async def test_s3_dir_defaults_and_option(tmp_path: Path) -> None:
    async with streamkit.open_engine(tmp_path / "data" / "db.sqlite3") as db:
        assert db.s3_dir == (tmp_path / "data" / "s3").resolve()
    async with streamkit.open_engine(None, s3_dir=tmp_path / "elsewhere") as db:
        assert db.s3_dir == tmp_path / "elsewhere"
    async with streamkit.open_engine(None) as db:
        temporary = db.s3_dir
        assert temporary.is_dir()
    assert not temporary.exists()  # removed at close


async def test_writers_of_other_tables_go_on_during_an_import(
    engine: streamkit.Engine,
) -> None:
    """With a runtime the import runs in its task group while the writer keeps writing."""
    lines = b"".join(
        b'{"Item":{"pk":{"S":"k%d"},"v":{"S":"%s"}}}\n' % (i, b"x" * 100) for i in range(20_000)
    )
    _write(engine.s3_dir / "in", "big.json", lines)
    await engine.create_table(TableName="busy", **key_schema("pk"))
    async with streamkit.open_runtime(engine):
        started = await engine.import_table(
            S3BucketSource={"S3Bucket": "in"},
            InputFormat="DYNAMODB_JSON",
            TableCreationParameters=_creation("big"),
        )
        arn = started["ImportTableDescription"]["ImportArn"]
        slowest, writes = 0.0, 0
        loop_clock = anyio.current_time
        with anyio.fail_after(60):
            while (await engine.describe_import(ImportArn=arn))["ImportTableDescription"][
                "ImportStatus"
            ] == "IN_PROGRESS":
                before = loop_clock()
                await engine.put_item(TableName="busy", Item={"pk": {"S": f"w{writes}"}})
                slowest = max(slowest, loop_clock() - before)
                writes += 1
    desc = (await engine.describe_import(ImportArn=arn))["ImportTableDescription"]
    assert desc["ImportedItemCount"] == 20_000
    assert writes > 5  # the writer was served while the import ran
    assert slowest < 1.0
