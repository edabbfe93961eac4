"""Point-in-time recovery: restoring to any moment gives exactly the table of that moment."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings, strategies as st

import streamkit
from streamkit.engine import pitr
from streamkit.errors import (
    InvalidRestoreTimeException,
    PointInTimeRecoveryUnavailableException,
    SerializationException,
    TableAlreadyExistsException,
    TableNotFoundException,
    ValidationException,
)
from streamkit.storage import history as storage_history
from streamkit.streams import maintain_once
from streamkit.testing import ManualClock
from tests.engine import test_stateful

DAY = 86400.0
KEYS = st.sampled_from(["a", "b", "c", "d", "e", "f"])
TABLE: dict[str, Any] = {**test_stateful.TABLE, "TableName": "source"}  # GSI by_grp
Model = dict[str, dict[str, Any]]


def _item(pk: str, n: int) -> dict[str, Any]:
    return {"pk": {"S": pk}, "grp": {"S": "g" + str(n % 2)}, "n": {"N": str(n)}}


OPS = st.one_of(
    st.tuples(st.just("put"), KEYS, st.integers(0, 9)),
    st.tuples(st.just("add"), KEYS, st.integers(1, 3)),
    st.tuples(st.just("delete"), KEYS),
    st.tuples(
        st.just("batch"),
        st.dictionaries(KEYS, st.one_of(st.none(), st.integers(0, 9)), min_size=1, max_size=4),
    ),
    st.tuples(
        st.just("transact"),
        st.dictionaries(KEYS, st.one_of(st.none(), st.integers(0, 9)), min_size=1, max_size=4),
    ),
)


async def _apply(db: streamkit.Engine, op: tuple[Any, ...], model: Model) -> None:
    kind = op[0]
    if kind == "put":
        model[op[1]] = _item(op[1], op[2])
        await db.put_item(TableName="source", Item=_item(op[1], op[2]))
    elif kind == "add":
        out = await db.update_item(
            TableName="source",
            Key={"pk": {"S": op[1]}},
            UpdateExpression="ADD n :n",
            ExpressionAttributeValues={":n": {"N": str(op[2])}},
            ReturnValues="ALL_NEW",
        )
        model[op[1]] = out["Attributes"]
    elif kind == "delete":
        model.pop(op[1], None)
        await db.delete_item(TableName="source", Key={"pk": {"S": op[1]}})
    else:
        writes = op[1]
        for key, n in writes.items():
            if n is None:
                model.pop(key, None)
            else:
                model[key] = _item(key, n)
        if kind == "batch":
            requests = [
                {"DeleteRequest": {"Key": {"pk": {"S": k}}}}
                if n is None
                else {"PutRequest": {"Item": _item(k, n)}}
                for k, n in writes.items()
            ]
            await db.batch_write_item(RequestItems={"source": requests})
        else:
            actions = [
                {"Delete": {"TableName": "source", "Key": {"pk": {"S": k}}}}
                if n is None
                else {"Put": {"TableName": "source", "Item": _item(k, n)}}
                for k, n in writes.items()
            ]
            await db.transact_write_items(TransactItems=actions)


async def _items(db: streamkit.Engine, table: str) -> Model:
    items = (await db.scan(TableName=table, ConsistentRead=True))["Items"]
    return {i["pk"]["S"]: i for i in items}


@settings(max_examples=40)
@given(
    before=st.lists(st.tuples(KEYS, st.integers(0, 9)), max_size=6),
    steps=st.lists(st.tuples(st.sampled_from([0.0, 0.5, 1.0, 7.0]), OPS), max_size=25),
    pick=st.floats(0, 1),
    trim=st.one_of(st.none(), st.floats(0, 1)),
    keys_a_step=st.sampled_from([1, 2, 3, pitr.RESTORE_STEP]),
    with_index=st.booleans(),
)
def test_restore_gives_the_table_as_it_was(
    before: list[tuple[str, int]],
    steps: list[tuple[float, tuple[Any, ...]]],
    pick: float,
    trim: float | None,
    keys_a_step: int,
    with_index: bool,
) -> None:
    """Random histories; restore to a random moment (after trimming before it, or not), a
    few keys a step or all at once, with the GSI (its rows made in Python) or without it
    (the rows copied in SQL alone)."""
    overrides: dict[str, Any] = {} if with_index else {"GlobalSecondaryIndexOverride": []}

    async def run() -> None:
        clock = ManualClock()
        async with streamkit.open_engine(None, clock=clock, max_attempts=1) as db:
            await db.create_table(**TABLE)
            model: Model = {}
            for key, n in before:  # present when PITR is enabled: the base rows
                await _apply(db, ("put", key, n), model)
            clock.advance(1)
            await db.update_continuous_backups(
                TableName="source",
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
            history = [(clock.now(), dict(model))]
            for advance, op in steps:
                clock.advance(advance)
                await _apply(db, op, model)
                history.append((clock.now(), dict(model)))
            start, end = history[0][0], clock.now()
            at = start + (end - start) * pick
            expected = [m for t, m in history if t <= at][-1]
            if trim is not None:  # what trimming keeps is enough for any time after its cutoff
                state = db._pitr["source"]
                cutoff = start + (at - start) * trim
                step = functools.partial(
                    storage_history.trim, table=state.table, cutoff=cutoff, low=0, high=10**9
                )
                await db.store.write(step)
            await db.restore_table_to_point_in_time(
                SourceTableName="source",
                TargetTableName="restored",
                RestoreDateTime=at,
                **overrides,
            )
            assert await _items(db, "restored") == expected
            if with_index:
                by_group = await db.query(
                    TableName="restored",
                    IndexName="by_grp",
                    KeyConditionExpression="grp = :g",
                    ExpressionAttributeValues={":g": {"S": "g0"}},
                )
                assert sorted(i["pk"]["S"] for i in by_group["Items"]) == sorted(
                    k for k, v in expected.items() if v.get("grp") == {"S": "g0"}
                )
            else:
                described = await db.describe_table(TableName="restored")
                assert "GlobalSecondaryIndexes" not in described["Table"]
            # the latest restorable time is now: the table as it is
            await db.restore_table_to_point_in_time(
                SourceTableName="source",
                TargetTableName="latest",
                UseLatestRestorableTime=True,
                **overrides,
            )
            assert await _items(db, "latest") == model

    saved = pitr.RESTORE_STEP
    pitr.RESTORE_STEP = keys_a_step
    try:
        asyncio.run(run())
    finally:
        pitr.RESTORE_STEP = saved


async def test_writes_while_enabling_keep_the_enable_time_picture(
    memory_engine: streamkit.Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The items present at enable time are recorded in steps; writes in between still leave
    the table of the enable time restorable."""
    db = memory_engine
    monkeypatch.setattr(pitr, "FILL_STEP", 3)
    await db.create_table(**TABLE)
    keys = [f"k{i:02d}" for i in range(30)]
    for i, key in enumerate(keys):
        await db.put_item(TableName="source", Item=_item(key, i))
    at_enable = await _items(db, "source")
    enabled_at = clock.now()
    spec = {"PointInTimeRecoveryEnabled": True}

    async def write() -> None:
        for i, key in enumerate(reversed(keys)):
            await anyio.lowlevel.checkpoint()
            clock.advance(1)
            if i % 3:
                await db.put_item(TableName="source", Item=_item(key, 100 + i))
            else:
                await db.delete_item(TableName="source", Key={"pk": {"S": key}})

    async with anyio.create_task_group() as tg:
        tg.start_soon(write)
        await db.update_continuous_backups(
            TableName="source", PointInTimeRecoverySpecification=spec
        )
    await db.restore_table_to_point_in_time(
        SourceTableName="source", TargetTableName="at_enable", RestoreDateTime=enabled_at
    )
    assert await _items(db, "at_enable") == at_enable
    await db.restore_table_to_point_in_time(
        SourceTableName="source", TargetTableName="now", UseLatestRestorableTime=True
    )
    assert await _items(db, "now") == await _items(db, "source")


async def test_window_period_lag_and_trimming(clock: ManualClock) -> None:
    async with streamkit.open_engine(None, clock=clock, pitr_lag_seconds=300) as db:
        await db.create_table(**TABLE)
        await db.put_item(TableName="source", Item=_item("a", 1))
        out = await db.update_continuous_backups(
            TableName="source",
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True,
                "RecoveryPeriodInDays": 2,
            },
        )
        enabled = clock.now()
        desc = out["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert desc["EarliestRestorableDateTime"] == enabled
        assert desc["LatestRestorableDateTime"] == enabled  # never before the earliest
        clock.advance(DAY)
        await db.put_item(TableName="source", Item=_item("a", 2))
        for n in range(3, 6):
            clock.advance(3600)
            await db.put_item(TableName="source", Item=_item("a", n))
        await db.delete_item(TableName="source", Key={"pk": {"S": "b"}})
        desc = (await db.describe_continuous_backups(TableName="source"))[
            "ContinuousBackupsDescription"
        ]["PointInTimeRecoveryDescription"]
        assert desc["RecoveryPeriodInDays"] == 2
        assert desc["LatestRestorableDateTime"] == clock.now() - 300
        with pytest.raises(InvalidRestoreTimeException):  # inside the lag
            await db.restore_table_to_point_in_time(
                SourceTableName="source", TargetTableName="late", RestoreDateTime=clock.now()
            )
        clock.advance(2 * DAY - 7200)  # the window now starts a day and an hour after enabling
        earliest = clock.now() - 2 * DAY
        assert await db.trim_point_in_time_history(clock.now()) == 2  # n=1 and n=2
        desc = (await db.describe_continuous_backups(TableName="source"))[
            "ContinuousBackupsDescription"
        ]["PointInTimeRecoveryDescription"]
        assert desc["EarliestRestorableDateTime"] == earliest
        with pytest.raises(InvalidRestoreTimeException):
            await db.restore_table_to_point_in_time(
                SourceTableName="source", TargetTableName="old", RestoreDateTime=enabled
            )
        when = datetime.fromtimestamp(earliest, UTC)  # a datetime, as boto3 callers pass
        await db.restore_table_to_point_in_time(
            SourceTableName="source", TargetTableName="first", RestoreDateTime=when
        )
        assert (await _items(db, "first"))["a"]["n"] == {"N": "3"}
        await db.restore_table_to_point_in_time(
            SourceTableName="source", TargetTableName="last", UseLatestRestorableTime=True
        )
        assert (await _items(db, "last"))["a"]["n"] == {"N": "5"}
        assert await db.trim_point_in_time_history(clock.now()) == 0


async def test_what_a_restore_carries_and_the_errors(
    memory_engine: streamkit.Engine, clock: ManualClock
) -> None:
    db = memory_engine
    table = {
        **TABLE,
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        "Tags": [{"Key": "team", "Value": "a"}],
    }
    await db.create_table(**table)
    await db.update_time_to_live(
        TableName="source", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
    )
    off = await db.describe_continuous_backups(TableName="source")
    assert off == {
        "ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
        }
    }
    with pytest.raises(PointInTimeRecoveryUnavailableException):
        await db.restore_table_to_point_in_time(
            SourceTableName="source", TargetTableName="target", UseLatestRestorableTime=True
        )
    spec = {"PointInTimeRecoveryEnabled": True}
    await db.update_continuous_backups(TableName="source", PointInTimeRecoverySpecification=spec)
    await db.put_item(TableName="source", Item=_item("a", 1))
    out = await db.restore_table_to_point_in_time(
        SourceTableArn="arn:aws:dynamodb:us-east-1:000000000000:table/source",
        TargetTableName="target",
        UseLatestRestorableTime=True,
        BillingModeOverride="PROVISIONED",
        ProvisionedThroughputOverride={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4},
        GlobalSecondaryIndexOverride=[],
    )
    description = out["TableDescription"]
    assert description["TableName"] == "target"
    assert description["RestoreSummary"] == {
        "SourceTableArn": "arn:aws:dynamodb:us-east-1:000000000000:table/source",
        "RestoreDateTime": clock.now(),
        "RestoreInProgress": False,
    }
    assert description["ProvisionedThroughput"]["ReadCapacityUnits"] == 3
    table_now = (await db.describe_table(TableName="target"))["Table"]
    assert "StreamSpecification" not in table_now
    assert "GlobalSecondaryIndexes" not in table_now
    assert table_now["ItemCount"] == 1
    ttl = await db.describe_time_to_live(TableName="target")
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
    assert (await db.list_tags_of_resource(ResourceArn=table_now["TableArn"]))["Tags"] == []
    pitr_off = await db.describe_continuous_backups(TableName="target")
    assert pitr_off["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"] == {
        "PointInTimeRecoveryStatus": "DISABLED"
    }
    with pytest.raises(TableAlreadyExistsException, match="Table already exists: target"):
        await db.restore_table_to_point_in_time(
            SourceTableName="source", TargetTableName="target", UseLatestRestorableTime=True
        )
    with pytest.raises(TableNotFoundException, match="Table not found: nope"):
        await db.restore_table_to_point_in_time(
            SourceTableName="nope", TargetTableName="other", UseLatestRestorableTime=True
        )
    with pytest.raises(TableNotFoundException):
        await db.describe_continuous_backups(TableName="nope")
    with pytest.raises(TableNotFoundException):
        await db.update_continuous_backups(TableName="nope", PointInTimeRecoverySpecification=spec)
    with pytest.raises(ValidationException, match="recoveryPeriodInDays"):
        await db.update_continuous_backups(
            TableName="source",
            PointInTimeRecoverySpecification={**spec, "RecoveryPeriodInDays": 36},
        )
    with pytest.raises(ValidationException, match="pointInTimeRecoveryEnabled"):
        await db.update_continuous_backups(TableName="source", PointInTimeRecoverySpecification={})
    with pytest.raises(SerializationException):
        await db.restore_table_to_point_in_time(
            SourceTableName="source", TargetTableName="other", RestoreDateTime="yesterday"
        )
    with pytest.raises(ValidationException):
        await db.restore_table_to_point_in_time(SourceTableName="source", TargetTableName="oth")
    with pytest.raises(ValidationException):
        await db.restore_table_to_point_in_time(
            SourceTableName="source",
            TargetTableName="other",
            GlobalSecondaryIndexOverride=[{"IndexName": "missing"}],
            UseLatestRestorableTime=True,
        )
    # disabling drops the history; re-enabling starts the window again
    clock.advance(60)
    await db.update_continuous_backups(
        TableName="source", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    on = await db.update_continuous_backups(
        TableName="source", PointInTimeRecoverySpecification=spec
    )
    window = on["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert window["EarliestRestorableDateTime"] == clock.now()
    await db.delete_table(TableName="source")
    await db.create_table(**TABLE)  # a new table of the same name starts with PITR off
    pitr_new = await db.describe_continuous_backups(TableName="source")
    assert pitr_new["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"] == {
        "PointInTimeRecoveryStatus": "DISABLED"
    }


async def test_settings_and_history_survive_reopening(tmp_path: Any, clock: ManualClock) -> None:
    path = tmp_path / "db.sqlite3"
    async with streamkit.open_engine(path, clock=clock) as db:
        await db.create_table(**TABLE)
        await db.put_item(TableName="source", Item=_item("a", 1))
        await db.update_continuous_backups(
            TableName="source",
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True,
                "RecoveryPeriodInDays": 7,
            },
        )
        before = clock.now()
        clock.advance(5)
        await db.put_item(TableName="source", Item=_item("a", 2))
    async with streamkit.open_engine(path, clock=clock) as db:
        desc = (await db.describe_continuous_backups(TableName="source"))[
            "ContinuousBackupsDescription"
        ]["PointInTimeRecoveryDescription"]
        assert desc["RecoveryPeriodInDays"] == 7
        assert desc["EarliestRestorableDateTime"] == before
        await db.restore_table_to_point_in_time(
            SourceTableName="source", TargetTableName="back", RestoreDateTime=before
        )
        assert (await _items(db, "back"))["a"]["n"] == {"N": "1"}


async def test_stream_upkeep_trims_the_histories(
    memory_engine: streamkit.Engine, clock: ManualClock
) -> None:
    db = memory_engine
    await db.create_table(**TABLE)
    await db.update_continuous_backups(
        TableName="source",
        PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True,
            "RecoveryPeriodInDays": 1,
        },
    )
    for n in range(3):
        clock.advance(60)
        await db.put_item(TableName="source", Item=_item("a", n))
    await db.delete_item(TableName="source", Key={"pk": {"S": "a"}})
    table = db._pitr["source"].table

    count = functools.partial(_count, table=table)
    assert await db.store.read(count) == 4
    clock.advance(2 * DAY)
    await maintain_once(db, clock.now())
    assert await db.store.read(count) == 0  # nothing left that a restore could need


def _count(conn: Any, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_deleting_a_pitr_table_leaves_its_system_backup(
    memory_engine: streamkit.Engine,
) -> None:
    db = memory_engine
    await db.create_table(**TABLE)
    await db.create_table(**{**TABLE, "TableName": "plain"})
    await db.put_item(TableName="source", Item=_item("a", 1))
    await db.update_continuous_backups(
        TableName="source", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    table = db._pitr["source"].table
    await db.delete_table(TableName="plain")
    await db.delete_table(TableName="source")
    backups = (await db.list_backups(BackupType="SYSTEM"))["BackupSummaries"]
    assert [b["BackupName"] for b in backups] == ["source$DeletedTableBackup"]
    await db.restore_table_from_backup(TargetTableName="revived", BackupArn=backups[0]["BackupArn"])
    assert (await _items(db, "revived")) == {"a": _item("a", 1)}  # taken before the drop
    gone = await db.store.read(
        lambda c: c.execute(
            "SELECT name FROM sqlite_master WHERE name = ?", (table[1:-1],)
        ).fetchall()
    )
    assert gone == []


async def _all_keys(db: streamkit.Engine, table: str) -> set[str]:
    """Every key of a table (every page of a scan)."""
    keys: set[str] = set()
    params: dict[str, Any] = {"TableName": table, "ProjectionExpression": "pk"}
    while True:
        page = await db.scan(**params)
        keys.update(i["pk"]["S"] for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            return keys
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


async def test_writers_keep_going_during_a_point_in_time_restore(tmp_path: Any) -> None:
    """A point-in-time restore of 20,000 items while 8 writers keep writing to its source:
    no PutItem waits longer than the bound docs/backups.md gives for restores, nothing the
    writers wrote is lost, and the copy is the table at one moment of the restore."""
    import time

    from tests.engine.test_backups import RESTORE_STALL_BOUND

    async with streamkit.open_engine(tmp_path / "db.sqlite3") as db:
        await db.create_table(**TABLE)
        await db.update_continuous_backups(
            TableName="source",
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
        filler = "x" * 200
        for start in range(0, 20_000, 25):
            requests = [
                {"PutRequest": {"Item": {**_item(f"k{i}", i), "f": {"S": filler}}}}
                for i in range(start, start + 25)
            ]
            await db.batch_write_item(RequestItems={"source": requests})
        stalls: list[float] = []
        written: dict[int, int] = {}
        done = anyio.Event()
        writing = anyio.Event()  # every writer has written a few items
        going: set[int] = set()

        async def writer(n: int) -> None:
            i = 0
            while not done.is_set():
                began = time.perf_counter()
                await db.put_item(TableName="source", Item=_item(f"w{n}-{i}", i))
                stalls.append(time.perf_counter() - began)
                i += 1
                if i == 5:
                    going.add(n)
                    if len(going) == 8:
                        writing.set()
                await anyio.sleep(0.001)  # a writer's pace, not a wait for the clock
            written[n] = i

        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(writer, n)
            await writing.wait()
            before = len(stalls)
            await db.restore_table_to_point_in_time(
                SourceTableName="source", TargetTableName="copy", UseLatestRestorableTime=True
            )
            during = stalls[before:]
            done.set()
        print(f"longest PutItem: {max(during) * 1000:.1f} ms during the restore ({len(during)})")
        assert during, "the writers wrote while the restore ran"
        assert max(stalls) < RESTORE_STALL_BOUND, max(stalls)
        items = await _all_keys(db, "source")
        for n, count in written.items():
            assert sum(k.startswith(f"w{n}-") for k in items) == count  # nothing lost
        copy = await _all_keys(db, "copy")
        assert sum(k.startswith("k") for k in copy) == 20_000
        theirs = {k for k in copy if k.startswith("w")}
        assert theirs <= set(items)
        for n in range(8):  # one moment: each writer's items in the copy are a prefix
            mine = sorted(int(k.rsplit("-", 1)[1]) for k in theirs if k.startswith(f"w{n}-"))
            assert mine == list(range(len(mine)))
