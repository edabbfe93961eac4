"""Incremental exports and full exports at a past time, both read from the PITR history.

The hypothesis test drives random histories (puts, updates, deletes, batches, transactions)
on the manual clock against a model of the table: a full export at a past time T is the
model's table at T, and the incremental export of ``[T1, T2)`` lists every key written in the
period once, with its item before T1 (OldImage), its item just before T2 (NewImage) and the
time of its last write (WriteTimestampMicros); a key created and deleted inside the period is
left out.
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import streamkit
from streamkit.engine.s3files import decode_ion_line
from streamkit.errors import (
    InvalidExportTimeException,
    PointInTimeRecoveryUnavailableException,
    SerializationException,
    ValidationException,
)
from streamkit.testing import ManualClock
from tests.conftest import key_schema

KEYS = ["k0", "k1", "k2", "k3", "k4"]
MINUTE = 60.0


async def _arn(db: streamkit.Engine, table: str) -> str:
    return str((await db.describe_table(TableName=table))["Table"]["TableArn"])


async def _pitr_on(db: streamkit.Engine, table: str) -> None:
    await db.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )


async def _finish(db: streamkit.Engine, started: dict[str, Any]) -> dict[str, Any]:
    """The final description of an export on an engine alone (it ran inside the call)."""
    arn = started["ExportDescription"]["ExportArn"]
    desc: dict[str, Any] = (await db.describe_export(ExportArn=arn))["ExportDescription"]
    assert desc["ExportStatus"] == "COMPLETED", desc
    return desc


def _lines(db: streamkit.Engine, desc: dict[str, Any], fmt: str) -> list[dict[str, Any]]:
    """The data lines of a finished export, parsed (Ion lines as wire JSON)."""
    bucket = db.s3_dir / desc["S3Bucket"]
    folder = bucket / desc["ExportManifest"].removesuffix("manifest-summary.json")
    out: list[dict[str, Any]] = []
    for entry in (folder / "manifest-files.json").read_bytes().splitlines():
        data = gzip.decompress((bucket / orjson.loads(entry)["dataFileS3Key"]).read_bytes())
        for line in data.splitlines():
            if fmt == "ION":
                out.append(_ion_record(line.decode()))
            else:
                out.append(orjson.loads(line))
    return out


def _ion_record(line: str) -> dict[str, Any]:
    """An incremental ION line as its DYNAMODB_JSON twin (the timestamp an Ion int)."""
    body = line.removeprefix("$ion_1_0 ")
    record: dict[str, Any] = {}
    # decode each image through the item decoder: "{Item:<struct>}"
    for member in ("Keys", "OldImage", "NewImage"):
        start = body.find(f"{member}:{{")
        if start < 0:
            continue
        depth, i = 0, start + len(member) + 1
        for i in range(start + len(member) + 1, len(body)):
            depth += {"{": 1, "}": -1}.get(body[i], 0)
            if depth == 0:
                break
        struct = body[start + len(member) + 1 : i + 1]
        record[member] = dict(decode_ion_line("{Item:" + struct + "}"))
    micros = body.split("WriteTimestampMicros:", 1)[1].split("}", 1)[0]
    record["Metadata"] = {"WriteTimestampMicros": {"N": micros}}
    return record


# -- the model ---------------------------------------------------------------------------

Op = tuple[Any, ...]

ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(KEYS), st.integers(0, 9)),
        st.tuples(st.just("update"), st.sampled_from(KEYS)),
        st.tuples(st.just("delete"), st.sampled_from(KEYS)),
        st.tuples(
            st.just("batch"),
            st.lists(
                st.tuples(st.sampled_from(KEYS), st.none() | st.integers(0, 9)),
                min_size=1,
                max_size=4,
                unique_by=lambda kv: kv[0],
            ),
        ),
        st.tuples(
            st.just("transact"),
            st.lists(
                st.tuples(st.sampled_from(KEYS), st.none() | st.integers(0, 9)),
                min_size=1,
                max_size=4,
                unique_by=lambda kv: kv[0],
            ),
        ),
        st.tuples(st.just("advance"), st.sampled_from([0, 1, 5, 5 * MINUTE, 12 * MINUTE])),
    ),
    max_size=30,
)


def _item(key: str, value: int) -> dict[str, Any]:
    return {"pk": {"S": key}, "v": {"N": str(value)}}


async def _apply(
    db: streamkit.Engine, clock: ManualClock, op: Op, log: list[tuple[float, str, Any]]
) -> None:
    """Run one operation on the table ``hist`` and append its writes to ``log``."""
    kind = op[0]
    now = clock.now()
    current = _state(log, now, inclusive=True)
    # which writes keep a history row, as the engine writes them: a put always, a deletion
    # of an item that is there, an update or a transaction's write that changes the item
    if kind == "advance":
        clock.advance(op[1])
    elif kind == "put":
        await db.put_item(TableName="hist", Item=_item(op[1], op[2]))
        log.append((now, op[1], _item(op[1], op[2])))
    elif kind == "update":
        new = await db.update_item(
            TableName="hist",
            Key={"pk": {"S": op[1]}},
            UpdateExpression="SET v = if_not_exists(v, :z) + :one",
            ExpressionAttributeValues={":z": {"N": "0"}, ":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )
        if current.get(op[1]) != new["Attributes"]:
            log.append((now, op[1], new["Attributes"]))
    elif kind == "delete":
        await db.delete_item(TableName="hist", Key={"pk": {"S": op[1]}})
        if op[1] in current:
            log.append((now, op[1], None))
    elif kind == "batch":
        requests = [
            {"DeleteRequest": {"Key": {"pk": {"S": k}}}}
            if v is None
            else {"PutRequest": {"Item": _item(k, v)}}
            for k, v in op[1]
        ]
        await db.batch_write_item(RequestItems={"hist": requests})
        log.extend(
            (now, k, None if v is None else _item(k, v))
            for k, v in op[1]
            if v is not None or k in current
        )
    else:
        actions = [
            {"Delete": {"TableName": "hist", "Key": {"pk": {"S": k}}}}
            if v is None
            else {"Put": {"TableName": "hist", "Item": _item(k, v)}}
            for k, v in op[1]
        ]
        await db.transact_write_items(TransactItems=actions)
        log.extend(
            (now, k, None if v is None else _item(k, v))
            for k, v in op[1]
            if current.get(k) != (None if v is None else _item(k, v))
        )


def _state(
    log: list[tuple[float, str, Any]], before: float, *, inclusive: bool = False
) -> dict[str, Any]:
    """The model's table with the writes made before ``before`` (or at it: ``inclusive``)."""
    table: dict[str, Any] = {}
    for at, key, item in log:
        if at < before or (inclusive and at == before):
            if item is None:
                table.pop(key, None)
            else:
                table[key] = item
    return table


def _expected_changes(
    log: list[tuple[float, str, Any]], start: float, end: float, view: str
) -> dict[str, dict[str, Any]]:
    old, new = _state(log, start), _state(log, end)
    last = {key: at for at, key, _ in log if start <= at < end}  # the log is in time order
    out: dict[str, dict[str, Any]] = {}
    for key, at in last.items():
        if key not in old and key not in new:
            continue  # created and deleted inside the period
        record: dict[str, Any] = {
            "Metadata": {"WriteTimestampMicros": {"N": str(round(at * 1_000_000))}},
            "Keys": {"pk": {"S": key}},
        }
        if key in new:
            record["NewImage"] = new[key]
        if key in old and view == "NEW_AND_OLD_IMAGES":
            record["OldImage"] = old[key]
        out[key] = record
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    before=st.lists(st.tuples(st.sampled_from(KEYS), st.integers(0, 9)), max_size=4),
    history=ops,
    picks=st.tuples(st.integers(0, 10_000), st.integers(0, 10_000), st.floats(0, 1)),
    view=st.sampled_from(["NEW_AND_OLD_IMAGES", "NEW_IMAGE"]),
    fmt=st.sampled_from(["DYNAMODB_JSON", "ION"]),
    on_disk=st.booleans(),
)
def test_incremental_export_is_the_period_s_changes(
    before: list[tuple[str, int]],
    history: list[Op],
    picks: tuple[int, int, float],
    view: str,
    fmt: str,
    on_disk: bool,
) -> None:
    anyio.run(_check_history, before, history, picks, view, fmt, on_disk)


async def _check_history(
    before: list[tuple[str, int]],
    history: list[Op],
    picks: tuple[int, int, float],
    view: str,
    fmt: str,
    on_disk: bool,
) -> None:
    clock = ManualClock()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "db.sqlite3" if on_disk else None
        async with streamkit.open_engine(path, clock=clock) as db:
            await db.create_table(TableName="hist", **key_schema("pk"))
            log: list[tuple[float, str, Any]] = []
            for key, value in before:  # present when PITR is turned on: the base rows
                await db.put_item(TableName="hist", Item=_item(key, value))
                log.append((clock.now() - 1, key, _item(key, value)))
            await _pitr_on(db, "hist")
            enabled = clock.now()
            for op in history:
                await _apply(db, clock, op, log)
            clock.advance(20 * MINUTE)
            now = clock.now()
            # T1: the enable time or a write's time (boundaries), T2: 15 minutes to 24 hours on
            moments = sorted({enabled, *(at for at, _, _ in log if at >= enabled)})
            start = moments[picks[0] % len(moments)]
            ends = [t for t in moments if t - start >= 15 * MINUTE] + [now]
            end = ends[picks[1] % len(ends)]
            if picks[2] > 0.5:
                end = min(now, start + 15 * MINUTE + picks[2] * 3600)
            arn = await _arn(db, "hist")
            desc = await _finish(
                db,
                await db.export_table_to_point_in_time(
                    TableArn=arn,
                    S3Bucket="changes",
                    ExportFormat=fmt,
                    ExportType="INCREMENTAL_EXPORT",
                    IncrementalExportSpecification={
                        "ExportFromTime": start,
                        "ExportToTime": end,
                        "ExportViewType": view,
                    },
                ),
            )
            got = {r["Keys"]["pk"]["S"]: r for r in _lines(db, desc, fmt)}
            assert got == _expected_changes(log, start, end, view)
            assert desc["ItemCount"] == len(got)
            # a full export at a past time is the table as it was then
            at = moments[picks[1] % len(moments)]
            full = await _finish(
                db,
                await db.export_table_to_point_in_time(
                    TableArn=arn, S3Bucket="full", ExportFormat=fmt, ExportTime=at
                ),
            )
            if fmt == "ION":
                items = [dict(decode_ion_line(line)) for line in _raw_lines(db, full)]
            else:
                items = [orjson.loads(line)["Item"] for line in _raw_lines(db, full)]
            assert sorted(items, key=repr) == sorted(
                _state(log, at, inclusive=True).values(), key=repr
            )


def _raw_lines(db: streamkit.Engine, desc: dict[str, Any]) -> list[str]:
    bucket = db.s3_dir / desc["S3Bucket"]
    folder = bucket / desc["ExportManifest"].removesuffix("manifest-summary.json")
    out: list[str] = []
    for entry in (folder / "manifest-files.json").read_bytes().splitlines():
        key = orjson.loads(entry)["dataFileS3Key"]
        out += gzip.decompress((bucket / key).read_bytes()).decode().splitlines()
    return out


# -- layout and errors ---------------------------------------------------------------------


async def test_incremental_layout(engine: streamkit.Engine, clock: ManualClock) -> None:
    await engine.create_table(TableName="orders", **key_schema("pk"))
    await engine.put_item(TableName="orders", Item=_item("a", 1))
    await _pitr_on(engine, "orders")
    start = clock.now()
    clock.advance(MINUTE)
    await engine.put_item(TableName="orders", Item=_item("a", 2))
    clock.advance(30 * MINUTE)
    started = await engine.export_table_to_point_in_time(
        TableArn=await _arn(engine, "orders"),
        S3Bucket="bkt",
        S3Prefix="cdc",
        ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification={"ExportFromTime": start},
    )
    spec = started["ExportDescription"]["IncrementalExportSpecification"]
    # ExportToTime defaults to the latest restorable time; the view to NEW_AND_OLD_IMAGES
    assert spec == {
        "ExportFromTime": start,
        "ExportToTime": clock.now(),
        "ExportViewType": "NEW_AND_OLD_IMAGES",
    }
    assert "ExportTime" not in started["ExportDescription"]
    desc = await _finish(engine, started)
    folder = engine.s3_dir / "bkt" / desc["ExportManifest"].removesuffix("manifest-summary.json")
    summary = orjson.loads((folder / "manifest-summary.json").read_bytes())
    assert summary["version"] == "2023-08-01"
    assert summary["exportType"] == "INCREMENTAL_EXPORT"
    assert summary["outputView"] == "NEW_AND_OLD_IMAGES"
    assert summary["exportFromTime"].endswith("Z")
    assert "exportTime" not in summary
    (entry,) = [orjson.loads(x) for x in (folder / "manifest-files.json").read_bytes().split()]
    # the data files of incremental exports share <prefix>/AWSDynamoDB/data/
    assert entry["dataFileS3Key"].startswith("cdc/AWSDynamoDB/data/")
    assert (engine.s3_dir / "bkt" / entry["dataFileS3Key"]).is_file()
    assert not (folder / "data").exists()
    (line,) = gzip.decompress((engine.s3_dir / "bkt" / entry["dataFileS3Key"]).read_bytes()).split()
    assert orjson.loads(line) == {
        "Metadata": {"WriteTimestampMicros": {"N": str(round((start + MINUTE) * 1e6))}},
        "Keys": {"pk": {"S": "a"}},
        "OldImage": _item("a", 1),
        "NewImage": _item("a", 2),
    }
    listed = await engine.list_exports(TableArn=await _arn(engine, "orders"))
    assert listed["ExportSummaries"][-1]["ExportType"] == "INCREMENTAL_EXPORT"


async def test_an_import_of_an_incremental_export_counts_every_line_as_an_error(
    memory_engine: streamkit.Engine, clock: ManualClock
) -> None:
    db = memory_engine
    await db.create_table(TableName="orders", **key_schema("pk"))
    await _pitr_on(db, "orders")
    start = clock.now()
    await db.put_item(TableName="orders", Item=_item("a", 1))
    clock.advance(20 * MINUTE)
    desc = await _finish(
        db,
        await db.export_table_to_point_in_time(
            TableArn=await _arn(db, "orders"),
            S3Bucket="bkt",
            ExportType="INCREMENTAL_EXPORT",
            IncrementalExportSpecification={"ExportFromTime": start},
        ),
    )
    assert desc["ItemCount"] == 1
    job = (
        await db.import_table(
            S3BucketSource={"S3Bucket": "bkt", "S3KeyPrefix": "AWSDynamoDB/data/"},
            InputFormat="DYNAMODB_JSON",
            InputCompressionType="GZIP",
            TableCreationParameters={"TableName": "copy", **key_schema("pk")},
        )
    )["ImportTableDescription"]
    job = (await db.describe_import(ImportArn=job["ImportArn"]))["ImportTableDescription"]
    assert (job["ErrorCount"], job["ImportedItemCount"]) == (1, 0)


async def test_errors(engine: streamkit.Engine, clock: ManualClock) -> None:
    await engine.create_table(TableName="orders", **key_schema("pk"))
    arn = await _arn(engine, "orders")

    async def export(**params: Any) -> None:
        await engine.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt", **params)

    def incremental(**spec: Any) -> dict[str, Any]:
        return {"ExportType": "INCREMENTAL_EXPORT", "IncrementalExportSpecification": spec}

    enabled = clock.now()
    with pytest.raises(PointInTimeRecoveryUnavailableException):
        await export(**incremental(ExportFromTime=enabled))
    await _pitr_on(engine, "orders")
    clock.advance(2 * 86400)
    now = clock.now()
    with pytest.raises(ValidationException, match="ExportFromTime must be specified"):
        await export(**incremental(ExportToTime=now))
    with pytest.raises(ValidationException, match="at least 15 minutes"):
        await export(**incremental(ExportFromTime=now - 14 * MINUTE))
    with pytest.raises(ValidationException, match="at most 24 hours"):
        await export(**incremental(ExportFromTime=now - 86400 - 1))
    with pytest.raises(ValidationException, match="before ExportToTime"):
        await export(**incremental(ExportFromTime=now - 3600, ExportToTime=now - 7200))
    with pytest.raises(InvalidExportTimeException, match="future"):
        await export(**incremental(ExportFromTime=now - 3600, ExportToTime=now + 3600))
    with pytest.raises(InvalidExportTimeException, match="window"):
        await export(**incremental(ExportFromTime=enabled - 3600, ExportToTime=enabled))
    with pytest.raises(ValidationException, match="exportViewType"):
        await export(**incremental(ExportFromTime=now - 3600, ExportViewType="OLD_IMAGE"))
    with pytest.raises(SerializationException):
        await export(**incremental(ExportFromTime=now - 3600, Extra=1))
    with pytest.raises(ValidationException, match="ExportTime cannot be specified"):
        await export(ExportTime=now, **incremental(ExportFromTime=now - 3600))
    with pytest.raises(ValidationException, match="only be given with ExportType"):
        await export(IncrementalExportSpecification={"ExportFromTime": now - 3600})
    # full exports at a past time: inside the window, not in the future
    with pytest.raises(InvalidExportTimeException, match="window"):
        await export(ExportTime=enabled - 1)
    with pytest.raises(InvalidExportTimeException, match="future"):
        await export(ExportTime=now + 60)
    assert (await engine.list_exports())["ExportSummaries"] == []  # nothing started
    # the window's start is fine for both
    await export(ExportTime=enabled)
    await export(**incremental(ExportFromTime=enabled, ExportToTime=enabled + 86400))
