"""Mappings running end to end: engine, streams, runtime, pollers, processor, harness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

import streamkit
from streamkit.mappings.filters import Pattern
from streamkit.testing import ManualClock, open_harness

TABLE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
}


def _app(seen: list[dict[str, Any]], **options: Any) -> streamkit.App:
    app = streamkit.App()

    @app.on_stream("orders", name="collect", starting_position="TRIM_HORIZON", **options)
    async def collect(event: dict[str, Any], context: Any) -> None:
        seen.extend(event["Records"])

    return app


async def _put(db: streamkit.Engine, pk: str, **attrs: str) -> None:
    item = {"pk": {"S": pk}, **{k: {"S": v} for k, v in attrs.items()}}
    await db.put_item(TableName="orders", Item=item)


class TestDelivery:
    async def test_records_reach_the_handler_in_order_per_key(self) -> None:
        seen: list[dict[str, Any]] = []
        async with open_harness(_app(seen)) as h:
            await h.engine.create_table(TableName="orders", **TABLE)
            for n in range(5):
                await _put(h.engine, f"k{n % 2}", v=str(n))
            await h.engine.delete_item(TableName="orders", Key={"pk": {"S": "k0"}})
            await h.drain()
        assert len(seen) == 6
        per_key: dict[str, list[str]] = {}
        for record in seen:
            key = record["dynamodb"]["Keys"]["pk"]["S"]
            per_key.setdefault(key, []).append(record["eventName"])
            assert record["eventSource"] == "aws:dynamodb"
            assert record["eventSourceARN"].startswith(
                "arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/"
            )
        assert per_key == {
            "k0": ["INSERT", "MODIFY", "MODIFY", "REMOVE"],
            "k1": ["INSERT", "MODIFY"],
        }

    async def test_busy_writers_make_bigger_batches(self) -> None:
        """A caught-up worker lets commits land while writers are busy: batches span commits."""
        batches: list[list[str]] = []
        app = streamkit.App()

        @app.on_stream("orders", name="collect", starting_position="TRIM_HORIZON")
        async def collect(event: dict[str, Any], context: Any) -> None:
            batches.append([r["dynamodb"]["NewImage"]["n"]["S"] for r in event["Records"]])

        async with open_harness(app, stream_shards=1) as h:
            await h.engine.create_table(TableName="orders", **TABLE)
            await _put(h.engine, "w0", n="-1")
            await h.drain()  # the worker is caught up and idle

            async def writer(w: int) -> None:
                for n in range(25):
                    await _put(h.engine, f"w{w}", n=str(n))

            async with anyio.create_task_group() as tg:
                for w in range(4):
                    tg.start_soon(writer, w)
            await h.drain()
            stats = h.engine.store.statistics()
        delivered = [n for batch in batches for n in batch]
        assert len(delivered) == 101
        assert stats.commits >= 25  # four writers: at most four writes a commit
        assert max(len(b) for b in batches[1:]) > 8  # so a batch spans several commits

    async def test_table_created_after_start_and_stream_reenabled(self) -> None:
        seen: list[dict[str, Any]] = []
        async with open_harness(_app(seen)) as h:
            await h.drain()  # no table yet: nothing to do
            await h.engine.create_table(TableName="orders", **TABLE)
            await _put(h.engine, "a")
            await h.drain()
            await h.engine.update_table(
                TableName="orders", StreamSpecification={"StreamEnabled": False}
            )
            await _put(h.engine, "b")  # no stream: no record
            await h.engine.update_table(
                TableName="orders",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
            )
            await _put(h.engine, "c")
            await h.drain()
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in seen] == ["a", "c"]
        assert seen[0]["eventSourceARN"] != seen[1]["eventSourceARN"]
        assert "NewImage" not in seen[1]["dynamodb"]  # the new stream is KEYS_ONLY

    async def test_latest_skips_older_records(self) -> None:
        seen: list[dict[str, Any]] = []
        app = streamkit.App()

        @app.on_stream("orders", starting_position="LATEST")
        async def collect(event: dict[str, Any], context: Any) -> None:
            seen.extend(event["Records"])

        clock = ManualClock()
        async with streamkit.open_engine(None, clock=clock) as db:
            await db.create_table(TableName="orders", **TABLE)
            await _put(db, "before")
            clock.advance(1)
            async with streamkit.runtime.open_runtime(db, app) as runtime:
                harness = streamkit.testing.Harness(db, runtime, clock)
                await harness.drain()
                await _put(db, "after")
                await harness.drain()
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in seen] == ["after"]

    async def test_filtered_records_are_checkpointed_not_delivered(self) -> None:
        seen: list[dict[str, Any]] = []
        pattern = {"dynamodb": {"NewImage": {"status": {"S": ["paid"]}}}}
        app = _app(seen, filter_criteria={"Filters": [{"Pattern": json.dumps(pattern)}]})
        async with open_harness(app) as h:
            await h.engine.create_table(TableName="orders", **TABLE)
            await _put(h.engine, "a", status="new")
            await _put(h.engine, "b", status="paid")
            await h.drain()
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in seen] == ["b"]


class TestFailures:
    async def test_poison_record_bisected_to_destination(self, tmp_path: Path) -> None:
        delivered: list[str] = []
        failures = tmp_path / "failures.jsonl"
        app = streamkit.App()

        @app.on_stream(
            "orders",
            starting_position="TRIM_HORIZON",
            batch_size=10,
            maximum_retry_attempts=1,
            bisect_batch_on_function_error=True,
            on_failure=failures,
        )
        async def project(event: dict[str, Any], context: Any) -> None:
            keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]
            if "poison" in keys:
                raise ValueError("cannot handle poison")
            delivered.extend(keys)

        async with open_harness(app, stream_shards=1) as h:
            await h.engine.create_table(TableName="orders", **TABLE)
            for pk in ("a", "b", "poison", "c", "d"):
                await _put(h.engine, pk)
            for _ in range(30):  # let every back-off come due
                await h.drain()
                h.clock.advance(10)
            await h.drain()
            await _put(h.engine, "e")  # the shard is not blocked any more
            await h.drain()
        assert sorted(set(delivered)) == ["a", "b", "c", "d", "e"]
        lines = [json.loads(line) for line in failures.read_text().splitlines()]
        assert len(lines) == 1
        info = lines[0]["DDBStreamBatchInfo"]
        assert info["batchSize"] == 1
        assert info["startSequenceNumber"] == info["endSequenceNumber"]
        assert lines[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert lines[0]["responseContext"]["functionError"] == "Unhandled"

    async def test_error_blocks_the_shard_until_the_retry_succeeds(self) -> None:
        calls: list[int] = []
        app = streamkit.App()

        @app.on_stream("orders", name="flaky", starting_position="TRIM_HORIZON")
        async def flaky(event: dict[str, Any], context: Any) -> None:
            calls.append(len(event["Records"]))
            if len(calls) == 1:
                raise RuntimeError("first call fails")

        async with open_harness(app, stream_shards=1) as h:
            await h.engine.create_table(TableName="orders", **TABLE)
            await _put(h.engine, "a")
            await h.drain()
            assert calls == [1]  # failed; the retry waits on the clock
            runner = h.runtime.mappings["flaky"]
            assert runner.metrics().errors == 1
            h.clock.advance(60)
            await h.drain()
        assert calls[-1] == 1
        assert len(calls) == 2


class TestBatchingWindow:
    async def test_records_wait_for_the_window_then_come_together(self) -> None:
        batches: list[int] = []
        app = streamkit.App()

        @app.on_stream(
            "orders",
            name="windowed",
            starting_position="TRIM_HORIZON",
            batch_size=10,
            maximum_batching_window_in_seconds=5,
        )
        async def gather(event: dict[str, Any], context: Any) -> None:
            batches.append(len(event["Records"]))

        async with open_harness(app, stream_shards=1) as h:
            await h.engine.create_table(TableName="orders", **TABLE)
            for pk in "abc":
                await _put(h.engine, pk)
            await h.drain()
            assert batches == []  # waiting out the window on the clock
            h.clock.advance(5)
            await h.drain()
        assert batches == [3]


class TestWindows:
    async def test_tumbling_window_state_and_final_invoke(self) -> None:
        events: list[dict[str, Any]] = []
        app = streamkit.App()

        @app.on_stream(
            "orders",
            name="counter",
            starting_position="TRIM_HORIZON",
            tumbling_window_in_seconds=60,
        )
        async def count(event: dict[str, Any], context: Any) -> dict[str, Any]:
            events.append(event)
            seen = int(event["state"].get("count", "0")) + len(event["Records"])
            return {"state": {"count": str(seen)}}

        async with open_harness(app, stream_shards=1) as h:
            h.clock.advance(60 - h.clock.now() % 60)  # start at a window boundary
            await h.engine.create_table(TableName="orders", **TABLE)
            await _put(h.engine, "a")
            await h.drain()
            await _put(h.engine, "b")
            await h.drain()
            assert not any(e["isFinalInvokeForWindow"] for e in events)
            h.clock.advance(61)  # the window closes
            await h.drain()
        final = [e for e in events if e["isFinalInvokeForWindow"]]
        assert len(final) == 1
        assert final[0]["state"] == {"count": "2"}
        assert events[1]["state"] == {"count": "1"}  # state passed between invocations


class TestControl:
    async def test_disable_keeps_position(self) -> None:
        seen: list[dict[str, Any]] = []
        async with open_harness(_app(seen)) as h:
            await h.engine.create_table(TableName="orders", **TABLE)
            await _put(h.engine, "a")
            await h.drain()
            runner = h.runtime.mappings["collect"]
            runner.disable()
            await h.drain()
            assert runner.state == "Disabled"
            await _put(h.engine, "b")
            await h.drain()
            assert len(seen) == 1
            runner.enable()
            await h.drain()
            assert runner.state == "Enabled"
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in seen] == ["a", "b"]

    async def test_update_validates_options(self) -> None:
        async with open_harness(_app([])) as h:
            runner = h.runtime.mappings["collect"]
            with pytest.raises(streamkit.errors.ConfigurationError, match="batchSize"):
                runner.update(batch_size=0)
            assert runner.config.batch_size == 100
            runner.update(batch_size=10)
            await h.drain()
            assert runner.config.batch_size == 10
            assert runner.state == "Enabled"

    async def test_update_takes_on_streams_options(self) -> None:
        """Filters as filter_criteria (compiled); other options kept; unknown names refused."""
        async with open_harness(_app([])) as h:
            runner = h.runtime.mappings["collect"]
            pattern = '{"eventName": ["INSERT"]}'
            runner.update(filter_criteria={"Filters": [{"Pattern": pattern}]}, batch_size=7)
            runner.update(maximum_retry_attempts=2)
            (compiled,) = runner.config.filter_patterns
            assert isinstance(compiled, Pattern)
            assert compiled.text == pattern
            assert (runner.config.batch_size, runner.config.maximum_retry_attempts) == (7, 2)
            with pytest.raises(streamkit.errors.ConfigurationError, match="Unknown mapping option"):
                runner.update(filter_patterns=())  # type: ignore[call-arg]
            await h.drain()
            assert runner.state == "Enabled"

    async def test_restart_resumes_from_checkpoint(self, tmp_path: Path) -> None:
        """Stopping mid-batch and starting again: no record skipped, order kept per key."""
        path = tmp_path / "db.sqlite3"
        seen: list[str] = []
        gate = anyio.Event()
        app = streamkit.App()

        @app.on_stream("orders", starting_position="TRIM_HORIZON", batch_size=2)
        async def slow(event: dict[str, Any], context: Any) -> None:
            keys = [r["dynamodb"]["NewImage"]["v"]["S"] for r in event["Records"]]
            if "3" in keys and not gate.is_set():
                gate.set()
                await anyio.sleep_forever()  # the process "dies" inside this batch
            seen.extend(keys)

        clock = ManualClock()
        async with streamkit.open_engine(path, clock=clock, stream_shards=1) as db:
            await db.create_table(TableName="orders", **TABLE)
            for n in range(6):
                await _put(db, "k", v=str(n))
            async with streamkit.runtime.open_runtime(db, app):
                await gate.wait()
        assert seen == ["0", "1"]
        async with (
            streamkit.open_engine(path, clock=clock, stream_shards=1) as db,
            streamkit.runtime.open_runtime(db, app) as runtime,
        ):
            await streamkit.testing.Harness(db, runtime, clock).drain()
        assert seen == ["0", "1", "2", "3", "4", "5"]


async def test_handlers_write_through_current_engine() -> None:
    """A derived table maintained by a handler, through streamkit.current_engine()."""
    app = streamkit.App()

    @app.on_stream("orders", name="totals", starting_position="TRIM_HORIZON")
    async def totals(event: dict[str, Any], context: Any) -> None:
        db = streamkit.current_engine()
        for record in event["Records"]:
            if record["eventName"] == "INSERT":
                await db.update_item(
                    TableName="totals",
                    Key={"pk": {"S": "all"}},
                    UpdateExpression="ADD n :one",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                )

    with pytest.raises(streamkit.errors.ConfigurationError, match="only available inside"):
        streamkit.current_engine()
    async with open_harness(app) as h:
        await h.engine.create_table(TableName="orders", **TABLE)
        await h.engine.create_table(
            TableName="totals", **{k: v for k, v in TABLE.items() if k != "StreamSpecification"}
        )
        for pk in "abc":
            await _put(h.engine, pk)
        await h.drain()
        got = await h.engine.get_item(TableName="totals", Key={"pk": {"S": "all"}})
    assert got["Item"]["n"] == {"N": "3"}
