"""The remote stream source against real endpoints: streamkit serve and moto's server.

The worker runs in-process on a ManualClock (its polls and back-off wait for the clock);
the endpoints are real processes on loopback, with a fault-injecting proxy in front where a
test needs throttling, expired iterators or trimmed data.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio

import streamkit
from streamkit.backoff import Backoff
from streamkit.errors import ConfigurationError
from streamkit.mappings.remote import open_remote_source
from streamkit.mappings.source import MemoryCheckpoints, SqliteCheckpoints
from streamkit.runtime import RemoteRuntime, open_remote_runtime
from streamkit.testing import ManualClock
from tests.remote.conftest import SERVE_SHARDS
from tests.remote.servers import (
    create_table,
    fault_proxy,
    put_versions,
    streams_client,
)

REGION = "us-east-1"
Got = list[tuple[str, int]]


def table_name() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def collecting_app(table: str, got: Got, **options: Any) -> streamkit.App:
    """An app whose one mapping records (key, version) of every record it is given."""
    app = streamkit.App()

    @app.on_stream(table, name="collect", starting_position="TRIM_HORIZON", **options)
    def collect(event: dict[str, Any], context: object) -> None:
        for record in event["Records"]:
            body = record["dynamodb"]
            got.append((body["Keys"]["pk"]["S"], int(body["NewImage"]["v"]["N"])))

    return app


def check_delivery(got: Got, keys: int, versions: Sequence[int]) -> None:
    """Every (key, version) at least once; per key, first deliveries in write order."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for key, version in got:
        by_key[key].append(version)
    assert sorted(by_key) == sorted(f"k{k}" for k in range(keys))
    for key, delivered in by_key.items():
        first = list(dict.fromkeys(delivered))
        assert first == list(versions), (key, delivered)


async def drive(clock: ManualClock, done: Callable[[], bool], limit: float = 60.0) -> None:
    """Move the manual clock to each next wake-up (polls, back-off) until ``done()``.

    Between two moves the worker's HTTP calls are in flight: the loop waits for every task to
    block (on the clock or on a socket) before looking again; ``limit`` (real seconds)
    bounds it all.
    """
    with anyio.fail_after(limit):
        while not done():
            await anyio.wait_all_tasks_blocked()
            wake = clock.next_wake()
            if wake is not None:
                clock.advance(max(0.0, wake - clock.now()))
            else:  # every task waits on a socket: let the replies arrive
                await anyio.sleep(0.002)


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(functools.partial(fn, *args))


def idle_shards(runtime: RemoteRuntime, count: int) -> Callable[[], bool]:
    def check() -> bool:
        shards = runtime.mappings["collect"].shards.values()
        return len(shards) == count and all(s.phase == "idle" for s in shards)

    return check


# -- delivery ------------------------------------------------------------------------------


async def test_every_record_at_least_once_in_key_order(endpoint: str) -> None:
    table = table_name()
    await in_thread(create_table, endpoint, table)
    await in_thread(put_versions, endpoint, table, 12, 4)
    clock = ManualClock()
    got: Got = []
    app = collecting_app(table, got, batch_size=5)
    async with (
        open_remote_source(endpoint_url=endpoint, region=REGION, clock=clock) as source,
        open_remote_runtime(source, app) as runtime,
    ):
        await drive(clock, lambda: len(set(got)) == 48)
        await in_thread(put_versions, endpoint, table, 12, 3, 4)  # while it runs
        await drive(clock, lambda: len(set(got)) == 84)
        runner = runtime.mappings["collect"]
        assert runner.state == "Enabled"
    check_delivery(got, 12, range(7))
    assert len(got) == 84  # nothing failed: nothing delivered twice


async def test_records_have_the_lambda_shape(serve_url: str) -> None:
    table = table_name()
    arn = await in_thread(create_table, serve_url, table)
    await in_thread(put_versions, serve_url, table, 1, 2)
    clock = ManualClock()
    events: list[dict[str, Any]] = []
    app = streamkit.App()

    @app.on_stream(table, name="shape", starting_position="TRIM_HORIZON")
    def shape(event: dict[str, Any], context: Any) -> None:
        events.append(event)

    async with (
        open_remote_source(endpoint_url=serve_url, region=REGION, clock=clock) as source,
        open_remote_runtime(source, app),
    ):
        await drive(clock, lambda: sum(len(e["Records"]) for e in events) == 2)
    record = events[0]["Records"][0]
    assert record["eventSourceARN"] == arn
    assert record["awsRegion"] == REGION
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventName"] == "INSERT"
    body = record["dynamodb"]
    assert body["NewImage"]["b"] == {"B": "AP8="}  # binaries as base64 text, as Lambda sends
    assert isinstance(body["ApproximateCreationDateTime"], float)
    assert body["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert events[-1]["Records"][-1]["eventName"] == "MODIFY"


async def test_current_engine_is_not_there(serve_url: str) -> None:
    """As on Lambda: a handler on the remote source has no local engine."""
    table = table_name()
    await in_thread(create_table, serve_url, table)
    await in_thread(put_versions, serve_url, table, 1, 1)
    clock = ManualClock()
    seen: list[str] = []
    app = streamkit.App()

    @app.on_stream(table, name="engine", starting_position="TRIM_HORIZON")
    def engine(event: Any, context: Any) -> None:
        try:
            streamkit.current_engine()
        except ConfigurationError as exc:
            seen.append(str(exc))
            return
        seen.append("an engine")

    async with (
        open_remote_source(endpoint_url=serve_url, region=REGION, clock=clock) as source,
        open_remote_runtime(source, app),
    ):
        await drive(clock, lambda: bool(seen))
    assert seen == ["current_engine() is only available inside a handler"]


# -- paging, starting position, checkpoints -------------------------------------------------


async def test_describe_stream_pages_by_exclusive_start_shard_id(serve_url: str) -> None:
    table = table_name()
    arn = await in_thread(create_table, serve_url, table)
    async with (
        fault_proxy(serve_url) as proxy,
        open_remote_source(endpoint_url=proxy.url, region=REGION, describe_limit=1) as source,
    ):
        shards = await source.describe(arn)
    assert len(shards) == SERVE_SHARDS
    assert len({s["ShardId"] for s in shards}) == SERVE_SHARDS
    pages = proxy.requests("DescribeStream")
    assert all(p["Limit"] == 1 for p in pages)
    starts = [p.get("ExclusiveStartShardId") for p in pages]
    assert starts[0] is None
    assert starts[1:] == [s["ShardId"] for s in shards[: len(starts) - 1]]


async def test_latest_skips_what_was_there(endpoint: str) -> None:
    table = table_name()
    await in_thread(create_table, endpoint, table)
    await in_thread(put_versions, endpoint, table, 4, 2)  # before the worker: not delivered
    clock = ManualClock()
    got: Got = []
    app = streamkit.App()

    @app.on_stream(table, name="collect", starting_position="LATEST")
    def collect(event: dict[str, Any], context: object) -> None:
        got.extend(
            (r["dynamodb"]["Keys"]["pk"]["S"], int(r["dynamodb"]["NewImage"]["v"]["N"]))
            for r in event["Records"]
        )

    async with (
        open_remote_source(endpoint_url=endpoint, region=REGION, clock=clock) as source,
        open_remote_runtime(source, app) as runtime,
    ):
        arn = await source.current_stream(table)
        assert arn is not None
        shards = len(await source.describe(arn))
        await drive(clock, idle_shards(runtime, shards))
        await in_thread(put_versions, endpoint, table, 4, 2, 2)
        await drive(clock, lambda: len(got) == 8)
    check_delivery(got, 4, range(2, 4))


async def test_sqlite_checkpoints_resume_after_a_restart(serve_url: str, tmp_path: Path) -> None:
    table = table_name()
    await in_thread(create_table, serve_url, table)
    await in_thread(put_versions, serve_url, table, 6, 2)
    path = tmp_path / "checkpoints.sqlite3"
    first: Got = []
    second: Got = []
    for got, expected in ((first, 12), (second, 6)):
        clock = ManualClock()
        store = SqliteCheckpoints(path)
        try:
            async with (
                open_remote_source(endpoint_url=serve_url, region=REGION, clock=clock) as source,
                open_remote_runtime(source, collecting_app(table, got), checkpoints=store),
            ):
                await drive(clock, lambda got=got, n=expected: len(got) >= n)  # type: ignore[misc]
        finally:
            store.close()
        if got is first:
            await in_thread(put_versions, serve_url, table, 6, 1, 2)
    check_delivery(first, 6, range(2))
    assert sorted(second) == sorted((f"k{k}", 2) for k in range(6))  # no redelivery


# -- faults --------------------------------------------------------------------------------


async def test_throttling_backs_off_on_the_clock(endpoint: str) -> None:
    table = table_name()
    await in_thread(create_table, endpoint, table)
    await in_thread(put_versions, endpoint, table, 5, 2)
    clock = ManualClock()
    start = clock.now()
    got: Got = []
    delivered_at: list[float] = []
    app = collecting_app(table, got)
    backoff = Backoff(base=1.0, cap=4.0, jitter=False)
    async with fault_proxy(endpoint) as proxy:
        proxy.inject("ListStreams", "ThrottlingException")
        proxy.inject("DescribeStream", "ProvisionedThroughputExceededException", 2)
        proxy.inject("GetRecords", "LimitExceededException", 3)
        async with (
            open_remote_source(
                endpoint_url=proxy.url, region=REGION, clock=clock, backoff=backoff
            ) as source,
            open_remote_runtime(source, app),
        ):

            def done() -> bool:
                if got and not delivered_at:
                    delivered_at.append(clock.now())
                return len(got) == 10

            await drive(clock, done)
            assert source.metrics.throttled == 6
        # ListStreams waited 1 s, DescribeStream 1 + 2 s before any shard was read
        assert delivered_at[0] - start >= 4.0
    check_delivery(got, 5, range(2))


async def test_expired_iterator_reopens_at_the_position(endpoint: str) -> None:
    table = table_name()
    await in_thread(create_table, endpoint, table)
    await in_thread(put_versions, endpoint, table, 3, 6)
    clock = ManualClock()
    got: Got = []
    async with fault_proxy(endpoint) as proxy:
        reads = 0

        def second_read(body: dict[str, Any]) -> bool:
            nonlocal reads
            reads += 1
            return reads == 2

        proxy.when["GetRecords"] = second_read
        proxy.inject("GetRecords", "ExpiredIteratorException")
        async with (
            open_remote_source(endpoint_url=proxy.url, region=REGION, clock=clock) as source,
            open_remote_runtime(source, collecting_app(table, got, batch_size=4)),
        ):
            await drive(clock, lambda: len(got) == 18)
            assert source.metrics.expired == 1
        opened = proxy.requests("GetShardIterator")
    check_delivery(got, 3, range(6))
    assert len(got) == 18  # the new iterator starts after what was read: no redelivery
    assert len(opened) == len({b["ShardId"] for b in opened}) + 1  # one renewal


async def test_trimmed_checkpoint_reads_on_from_trim_horizon(endpoint: str) -> None:
    """As Lambda: a checkpoint older than retention makes the shard read from TRIM_HORIZON."""
    table = table_name()
    arn = await in_thread(create_table, endpoint, table)
    await in_thread(put_versions, endpoint, table, 1, 4)  # one key: one shard holds them all
    streams = streams_client(endpoint)
    shards = (await in_thread(lambda: streams.describe_stream(StreamArn=arn)))["StreamDescription"][
        "Shards"
    ]
    seqs: dict[str, list[str]] = {}
    for shard in shards:
        it = (
            await in_thread(
                lambda s=shard: streams.get_shard_iterator(
                    StreamArn=arn, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )
            )
        )["ShardIterator"]
        records = (await in_thread(lambda i=it: streams.get_records(ShardIterator=i)))["Records"]
        seqs[shard["ShardId"]] = [r["dynamodb"]["SequenceNumber"] for r in records]
    busy = next(sid for sid, found in seqs.items() if found)
    store = MemoryCheckpoints()
    await store.save("collect", arn, busy, seqs[busy][1])  # versions 0 and 1 were done
    clock = ManualClock()
    got: Got = []
    async with fault_proxy(endpoint) as proxy:
        proxy.when["GetShardIterator"] = lambda b: b["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER"
        proxy.inject("GetShardIterator", "TrimmedDataAccessException")
        async with (
            open_remote_source(endpoint_url=proxy.url, region=REGION, clock=clock) as source,
            open_remote_runtime(source, collecting_app(table, got), checkpoints=store),
        ):
            await drive(clock, lambda: len(got) == 4)
            assert source.trimmed == 1
    assert got == [("k0", v) for v in range(4)]  # from TRIM_HORIZON: versions 0 and 1 again


async def test_trimmed_while_reading_reports_and_reads_on(serve_url: str) -> None:
    table = table_name()
    await in_thread(create_table, serve_url, table)
    await in_thread(put_versions, serve_url, table, 4, 3)
    clock = ManualClock()
    got: Got = []
    async with fault_proxy(serve_url) as proxy:
        proxy.inject("GetRecords", "TrimmedDataAccessException")
        async with (
            open_remote_source(endpoint_url=proxy.url, region=REGION, clock=clock) as source,
            open_remote_runtime(source, collecting_app(table, got)),
        ):
            await drive(clock, lambda: len(set(got)) == 12)
            assert source.trimmed == 1
    check_delivery(got, 4, range(3))


# -- mapping options keep their meaning ------------------------------------------------------


async def test_partial_batch_failure_and_filters_on_the_remote_source(endpoint: str) -> None:
    table = table_name()
    await in_thread(create_table, endpoint, table)
    await in_thread(put_versions, endpoint, table, 2, 6)
    clock = ManualClock()
    got: list[tuple[str, int]] = []
    failed: set[tuple[str, int]] = set()
    app = streamkit.App()

    @app.on_stream(
        table,
        name="collect",
        starting_position="TRIM_HORIZON",
        batch_size=10,
        function_response_types=["ReportBatchItemFailures"],
        filter_criteria={
            "Filters": [
                {"Pattern": '{"dynamodb": {"NewImage": {"v": {"N": ["0", "2", "3", "4"]}}}}'}
            ]
        },
    )
    def collect(event: dict[str, Any], context: object) -> dict[str, Any]:
        failures: list[dict[str, str]] = []
        for record in event["Records"]:
            key = record["dynamodb"]["Keys"]["pk"]["S"]
            version = int(record["dynamodb"]["NewImage"]["v"]["N"])
            got.append((key, version))
            if version == 3 and (key, version) not in failed and not failures:
                failed.add((key, version))
                failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
        return {"batchItemFailures": failures}

    async with (
        open_remote_source(endpoint_url=endpoint, region=REGION, clock=clock) as source,
        open_remote_runtime(source, app) as runtime,
    ):
        await drive(clock, lambda: sum(1 for _, v in got if v == 4) == 4)
        metrics = runtime.mappings["collect"].metrics()
    check_delivery(got, 2, [0, 2, 3, 4])
    for key in ("k0", "k1"):
        mine = [v for k, v in got if k == key]
        assert mine.count(3) == 2  # the failed record came again, and what followed it
        assert mine.index(3) < mine.index(4)
    assert metrics.filtered >= 4  # versions 1 and 5 never reached the handler
    assert metrics.errors == 2


# -- shard lineage ---------------------------------------------------------------------------


def _shards(url: str, arn: str) -> list[dict[str, Any]]:
    shards: list[dict[str, Any]] = streams_client(url).describe_stream(StreamArn=arn)[
        "StreamDescription"
    ]["Shards"]
    return shards


def _write_across_rollovers(url: str, table: str, arn: str, keys: int, phases: int) -> None:
    """Write one version of every key per shard generation: each phase waits (on the server's
    own clock, bounded) for the open shards to roll over into children before the next."""
    for phase in range(phases):
        put_versions(url, table, keys, 1, phase)
        before = {s["ShardId"] for s in _shards(url, arn)}
        _wait_for_children(url, arn, before)


def _wait_for_children(url: str, arn: str, before: set[str]) -> None:
    """Wait (at most 30 s) for new shards: the server rolls them on its real clock, and
    another process's DescribeStream is the only way to see it."""
    deadline = time.monotonic() + 30
    while {s["ShardId"] for s in _shards(url, arn)} <= before:
        assert time.monotonic() < deadline, "the shards did not roll over"
        threading.Event().wait(0.05)


async def test_children_after_parents_across_rollovers() -> None:
    """A stream with 2 shards rolling over every second: 3 generations, read in key order."""
    from tests.remote.servers import serve_process

    with serve_process("--stream-shards", "2", "--shard-rollover-seconds", "1") as url:
        table = table_name()
        arn = await in_thread(create_table, url, table)
        await in_thread(_write_across_rollovers, url, table, arn, 8, 3)
        shards = await in_thread(_shards, url, arn)
        closed = {
            s["ShardId"] for s in shards if "EndingSequenceNumber" in s["SequenceNumberRange"]
        }
        children = [s for s in shards if s.get("ParentShardId")]
        assert len(closed) >= 4
        assert len(children) >= 4
        clock = ManualClock()
        got: Got = []
        store = MemoryCheckpoints()
        async with (
            open_remote_source(endpoint_url=url, region=REGION, clock=clock) as source,
            open_remote_runtime(
                source, collecting_app(table, got, batch_size=3), checkpoints=store
            ) as runtime,
        ):
            await drive(clock, lambda: len(set(got)) == 24)
            runner = runtime.mappings["collect"]

            def finished() -> bool:
                return all(
                    (arn, sid) in runner.shards and runner.shards[arn, sid].phase == "done"
                    for sid in closed
                )

            await drive(clock, finished)
    check_delivery(got, 8, range(3))
    rows = await store.load("collect", arn)
    assert {sid for sid, (_, done) in rows.items() if done} >= closed  # each marked done


async def test_a_shard_gone_from_the_stream_reads_as_finished(serve_url: str) -> None:
    """GetShardIterator's ResourceNotFoundException (retention dropped the shard): the shard is
    finished and marked done, the others go on."""
    table = table_name()
    arn = await in_thread(create_table, serve_url, table)
    await in_thread(put_versions, serve_url, table, 8, 1)
    clock = ManualClock()
    got: Got = []
    store = MemoryCheckpoints()
    async with fault_proxy(serve_url) as proxy:
        gone: list[str] = []

        def first_shard(body: dict[str, Any]) -> bool:
            if not gone:
                gone.append(body["ShardId"])
            return bool(body["ShardId"] == gone[0])

        proxy.when["GetShardIterator"] = first_shard
        proxy.inject("GetShardIterator", "ResourceNotFoundException")
        async with (
            open_remote_source(endpoint_url=proxy.url, region=REGION, clock=clock) as source,
            open_remote_runtime(source, collecting_app(table, got), checkpoints=store) as runtime,
        ):
            runner = runtime.mappings["collect"]
            await drive(clock, lambda: bool(gone) and (arn, gone[0]) in runner.shards)
            await drive(clock, lambda: runner.shards[arn, gone[0]].phase == "done")
            await drive(
                clock,
                lambda: sum(s.phase == "idle" for s in runner.shards.values()) == SERVE_SHARDS - 1,
            )
    rows = await store.load("collect", arn)
    assert rows[gone[0]][1] is True
    assert 0 < len(got) <= 8
    assert len(set(got)) == len(got)


async def test_an_idle_shard_is_polled_four_times_a_second_of_the_clock(serve_url: str) -> None:
    table = table_name()
    await in_thread(create_table, serve_url, table)
    clock = ManualClock()
    got: Got = []
    async with (
        fault_proxy(serve_url) as proxy,
        open_remote_source(endpoint_url=proxy.url, region=REGION, clock=clock) as source,
        open_remote_runtime(source, collecting_app(table, got)) as runtime,
    ):
        await drive(clock, idle_shards(runtime, SERVE_SHARDS))
        start = proxy.calls["GetRecords"]
        for step in range(1, 9):  # 2 seconds of the clock, a quarter at a time
            clock.advance(0.25)
            with anyio.fail_after(30):  # each shard's next poll is due: one GetRecords each
                while proxy.calls["GetRecords"] < start + step * SERVE_SHARDS or not (
                    idle_shards(runtime, SERVE_SHARDS)()
                ):
                    await anyio.wait_all_tasks_blocked()
                    await anyio.sleep(0.002)  # replies in flight
            assert proxy.calls["GetRecords"] == start + step * SERVE_SHARDS
        await anyio.wait_all_tasks_blocked()
        assert proxy.calls["GetRecords"] == start + 8 * SERVE_SHARDS  # 4 a second a shard
    assert got == []
