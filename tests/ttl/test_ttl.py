"""UpdateTimeToLive / DescribeTimeToLive, and the sweeper's rules."""

from __future__ import annotations

import functools
from typing import Any

import anyio
import pytest

import streamkit
from streamkit.engine import ttl as engine_ttl
from streamkit.errors import (
    ResourceNotFoundException,
    SerializationException,
    ValidationException,
)
from streamkit.storage import ttl as ttl_sql
from streamkit.storage.tables import items_table
from streamkit.storage.ttl import TtlSetting
from streamkit.testing import ManualClock
from streamkit.ttl import sweep_once
from tests.conftest import key_schema
from tests.streams.helpers import read_stream, stream_table


def _spec(enabled: Any = True, name: Any = "exp") -> dict[str, Any]:
    return {"Enabled": enabled, "AttributeName": name}


class TestSettings:
    async def test_statuses(self, engine: streamkit.Engine) -> None:
        await engine.create_table(TableName="items", **key_schema())
        describe = engine.describe_time_to_live
        assert await describe(TableName="items") == {
            "TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}
        }
        out = await engine.update_time_to_live(TableName="items", TimeToLiveSpecification=_spec())
        assert out == {"TimeToLiveSpecification": {"Enabled": True, "AttributeName": "exp"}}
        assert (await describe(TableName="items"))["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "exp",
        }
        await engine.update_time_to_live(TableName="items", TimeToLiveSpecification=_spec(False))
        assert await describe(TableName="items") == {
            "TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}
        }

    async def test_not_idempotent(self, engine: streamkit.Engine) -> None:
        await engine.create_table(TableName="items", **key_schema())
        update = engine.update_time_to_live
        with pytest.raises(ValidationException, match="already disabled"):
            await update(TableName="items", TimeToLiveSpecification=_spec(False))
        await update(TableName="items", TimeToLiveSpecification=_spec())
        with pytest.raises(ValidationException, match="already enabled"):
            await update(TableName="items", TimeToLiveSpecification=_spec())
        with pytest.raises(ValidationException, match=r"different AttributeName.*is exp"):
            await update(TableName="items", TimeToLiveSpecification=_spec(True, "other"))
        with pytest.raises(ValidationException, match="different"):
            await update(TableName="items", TimeToLiveSpecification=_spec(False, "other"))

    @pytest.mark.parametrize(
        ("spec", "error"),
        [
            (None, ValidationException),
            ({"AttributeName": "exp"}, ValidationException),
            ({"Enabled": True}, ValidationException),
            (_spec(True, ""), ValidationException),
            (_spec(True, "x" * 256), ValidationException),
            (_spec("yes"), SerializationException),
        ],
    )
    async def test_validation(
        self, engine: streamkit.Engine, spec: Any, error: type[Exception]
    ) -> None:
        await engine.create_table(TableName="items", **key_schema())
        with pytest.raises(error):
            await engine.update_time_to_live(TableName="items", TimeToLiveSpecification=spec)

    async def test_unknown_table(self, engine: streamkit.Engine) -> None:
        with pytest.raises(ResourceNotFoundException):
            await engine.update_time_to_live(TableName="nothing", TimeToLiveSpecification=_spec())
        with pytest.raises(ResourceNotFoundException):
            await engine.describe_time_to_live(TableName="nothing")

    async def test_cooldown_after_content_errors(self, clock: ManualClock) -> None:
        async with streamkit.open_engine(None, clock=clock, ttl_cooldown_seconds=3600) as engine:
            await engine.create_table(TableName="items", **key_schema())
            await engine.update_time_to_live(TableName="items", TimeToLiveSpecification=_spec())
            with pytest.raises(ValidationException, match="already enabled"):
                await engine.update_time_to_live(TableName="items", TimeToLiveSpecification=_spec())
            with pytest.raises(ValidationException, match="multiple times"):
                await engine.update_time_to_live(
                    TableName="items", TimeToLiveSpecification=_spec(False)
                )
            clock.advance(3600)
            await engine.update_time_to_live(
                TableName="items", TimeToLiveSpecification=_spec(False)
            )

    def test_operations_listed(self) -> None:
        assert streamkit.Engine.OPERATIONS["UpdateTimeToLive"] == "update_time_to_live"
        assert streamkit.Engine.OPERATIONS["DescribeTimeToLive"] == "describe_time_to_live"


async def _keys(engine: streamkit.Engine, table: str = "orders") -> list[str]:
    out = []
    for n in range(20):
        got = await engine.get_item(TableName=table, Key={"pk": {"S": f"k{n}"}})
        if "Item" in got:
            out.append(got["Item"]["pk"]["S"])
    return out


class TestSweeper:
    async def test_rules_and_remove_record(
        self, engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        arn = await stream_table(engine)
        now = clock.now()
        five_years = 5 * 365 * 86400
        values = {
            "k0": {"N": str(now - 1)},  # expired
            "k1": {"N": f"{now - 100:.0f}e0"},  # expired, other number syntax
            "k2": {"N": str(now + 100)},  # future
            "k3": {"S": str(now - 1)},  # not a Number: ignored
            "k4": {"N": str(now - five_years - 10)},  # more than five years old: ignored
            "k5": None,  # no attribute
            "k6": {"N": str((now - 1) * 1000)},  # milliseconds: far future
        }
        for key, value in values.items():
            item = {"pk": {"S": key}}
            if value is not None:
                item["exp"] = value
            await engine.put_item(TableName="orders", Item=item)
        await engine.update_time_to_live(TableName="orders", TimeToLiveSpecification=_spec())
        # expired items stay readable until the sweeper runs
        assert "k0" in await _keys(engine)
        assert await sweep_once(engine, clock=clock) == 2
        assert await _keys(engine) == ["k2", "k3", "k4", "k5", "k6"]
        removes = [r for r in await read_stream(engine, arn) if r["eventName"] == "REMOVE"]
        assert len(removes) == 2
        for record in removes:
            assert record["userIdentity"] == {
                "Type": "Service",
                "PrincipalId": "dynamodb.amazonaws.com",
            }
            assert "OldImage" in record["dynamodb"]
        clock.advance(101)
        assert await sweep_once(engine, clock=clock) == 1  # k2 now

    async def test_update_that_extends_ttl_wins(
        self, engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        await engine.create_table(TableName="orders", **key_schema())
        await engine.update_time_to_live(TableName="orders", TimeToLiveSpecification=_spec())
        past, future = str(clock.now() - 5), str(clock.now() + 500)
        for n in range(3):
            await engine.put_item(
                TableName="orders", Item={"pk": {"S": f"k{n}"}, "exp": {"N": past}}
            )
        async with anyio.create_task_group() as tg:
            # queued together: the update commits first in the shared transaction
            tg.start_soon(
                lambda: engine.update_item(
                    TableName="orders",
                    Key={"pk": {"S": "k0"}},
                    UpdateExpression="SET exp = :f",
                    ExpressionAttributeValues={":f": {"N": future}},
                )
            )
            tg.start_soon(
                lambda: engine.update_item(
                    TableName="orders", Key={"pk": {"S": "k1"}}, UpdateExpression="REMOVE exp"
                )
            )
            tg.start_soon(lambda: sweep_once(engine, clock=clock))
        assert await _keys(engine) == ["k0", "k1"]

    async def test_uses_the_index(self, engine: streamkit.Engine) -> None:
        await engine.create_table(TableName="orders", **key_schema())
        spec = engine._tables["orders"]
        plan = await engine.store.read(
            lambda c: c.execute(
                f"EXPLAIN QUERY PLAN SELECT hk, rk FROM {items_table(spec)} "
                "WHERE ttl IS NOT NULL AND ttl < 1 AND ttl >= 0 ORDER BY ttl LIMIT 5"
            ).fetchall()
        )
        assert any("INDEX" in row[-1] and "ttl_" in row[-1] for row in plan), plan

    async def test_batches_are_bounded_and_paced(
        self, engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        await engine.create_table(TableName="orders", **key_schema())
        await engine.update_time_to_live(TableName="orders", TimeToLiveSpecification=_spec())
        past = {"N": str(clock.now() - 1)}
        for n in range(10):
            await engine.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}, "exp": past})
        start = clock.now()
        commits = engine.store.statistics().commits
        done: list[int] = []

        async def sweep() -> None:
            done.append(await sweep_once(engine, clock=clock, batch_size=4, max_rate=4.0))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(sweep)
                while not done:  # each full batch of 4 waits 1 s of clock time
                    await anyio.wait_all_tasks_blocked()
                    clock.advance(0.25)
        assert done == [10]
        assert clock.now() - start >= 2  # two full batches, 1 s each at 4 deletes/s
        assert engine.store.statistics().commits - commits == 3

    async def test_enabling_indexes_existing_items_in_steps(
        self, engine: streamkit.Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(engine_ttl, "FILL_STEP", 3)
        await engine.create_table(TableName="orders", **key_schema())
        past = {"N": str(clock.now() - 1)}
        for n in range(10):
            item = {"pk": {"S": f"k{n}"}, **({"exp": past} if n % 5 else {})}
            await engine.put_item(TableName="orders", Item=item)
        commits = engine.store.statistics().commits
        await engine.update_time_to_live(TableName="orders", TimeToLiveSpecification=_spec())
        assert engine.store.statistics().commits - commits == 1 + 4  # setting, 4 steps of 3
        assert await sweep_once(engine, clock=clock) == 8  # k0 and k5 have no TTL attribute

    async def test_a_disable_ends_the_fill(self, engine: streamkit.Engine) -> None:
        """A fill step after TTL was disabled (or moved to another attribute) writes nothing."""
        await engine.create_table(TableName="orders", **key_schema())
        await engine.put_item(TableName="orders", Item={"pk": {"S": "k"}, "exp": {"N": "1"}})
        spec = engine._tables["orders"]
        await engine.store.write(
            lambda c: ttl_sql.save_setting(c, "orders", TtlSetting("x", True, 0))
        )
        step = functools.partial(
            ttl_sql.fill_column, spec=spec, attribute="exp", after=None, limit=9
        )
        assert await engine.store.write(step) is None
        column = await engine.store.read(
            lambda c: c.execute(f"SELECT ttl FROM {items_table(spec)}").fetchall()
        )
        assert column == [(None,)]

    async def test_delay(self, clock: ManualClock) -> None:
        async with streamkit.open_engine(None, clock=clock, ttl_delay_seconds=60) as engine:
            await engine.create_table(TableName="orders", **key_schema())
            await engine.update_time_to_live(TableName="orders", TimeToLiveSpecification=_spec())
            exp = {"N": str(clock.now() - 1)}
            await engine.put_item(TableName="orders", Item={"pk": {"S": "k0"}, "exp": exp})
            assert await sweep_once(engine, clock=clock) == 0
            clock.advance(60)
            assert await sweep_once(engine, clock=clock) == 1

    async def test_disable_stops_expiry(self, engine: streamkit.Engine, clock: ManualClock) -> None:
        await engine.create_table(TableName="orders", **key_schema())
        await engine.update_time_to_live(TableName="orders", TimeToLiveSpecification=_spec())
        await engine.put_item(
            TableName="orders", Item={"pk": {"S": "k0"}, "exp": {"N": str(clock.now() - 1)}}
        )
        await engine.update_time_to_live(TableName="orders", TimeToLiveSpecification=_spec(False))
        assert await sweep_once(engine, clock=clock) == 0
        assert await _keys(engine) == ["k0"]
