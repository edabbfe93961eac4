"""Regions from Python: open_regions, the runtime over a group, and the harness with regions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

import streamkit
from streamkit.clock import Signal
from streamkit.errors import (
    ClosedError,
    LimitExceededException,
    ValidationException,
)
from streamkit.runtime import Runtime, open_runtime
from streamkit.streams import Regions
from streamkit.streams.regions import open_region_group, region_path
from streamkit.testing import ManualClock, open_harness, open_sync_harness
from tests.conftest import key_schema

REGIONS = ["us-east-1", "eu-west-1"]
STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def _app(seen: dict[str, list[str]]) -> streamkit.App:
    """An app recording, per region, the keys its handler saw."""
    app = streamkit.App()

    @app.on_stream("orders", name="collect", starting_position="TRIM_HORIZON")
    async def collect(event: dict[str, Any], context: Any) -> None:
        for record in event["Records"]:
            region = record["awsRegion"]
            seen.setdefault(region, []).append(record["dynamodb"]["Keys"]["pk"]["S"])

    return app


async def _orders(engine: streamkit.Engine) -> None:
    await engine.create_table(TableName="orders", **key_schema(), StreamSpecification=STREAM)


async def _replicated(runtime: Runtime) -> None:
    """Wait until the runtime's replication has started and shipped every change so far."""
    with anyio.fail_after(10):
        while True:
            waiters = [runtime.activity.waiter()]
            replication = runtime.replication
            if replication is not None:
                waiters.append(replication.changed.waiter())
                if await replication.caught_up():
                    return
            async with anyio.create_task_group() as tg:
                for waiter in waiters:

                    async def wake(event: anyio.Event = waiter) -> None:
                        await event.wait()
                        tg.cancel_scope.cancel()

                    tg.start_soon(wake)


def _databases(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.sqlite3"))


async def _keys(engine: streamkit.Engine) -> set[str]:
    found = await engine.scan(TableName="orders")
    return {item["pk"]["S"] for item in found["Items"]}


class TestOpenRegions:
    async def test_in_memory_regions_are_isolated_and_share_one_clock(
        self, clock: ManualClock
    ) -> None:
        async with streamkit.open_regions(None, regions=REGIONS, clock=clock) as group:
            assert isinstance(group, Regions)
            assert list(group) == REGIONS
            assert len(group) == 2
            east, west = group["us-east-1"], group["eu-west-1"]
            assert dict(group.engines) == {"us-east-1": east, "eu-west-1": west}
            assert (east.region, west.region) == ("us-east-1", "eu-west-1")
            assert east.group is group
            assert west.group is group
            assert {id(east.clock), id(west.clock), id(group.clock)} == {id(clock)}
            assert await group.engine("eu-west-1") is west
            await _orders(east)
            await east.put_item(TableName="orders", Item={"pk": {"S": "only-east"}})
            assert (await west.list_tables())["TableNames"] == []
            await _orders(west)
            await west.put_item(TableName="orders", Item={"pk": {"S": "only-west"}})
            assert await _keys(east) == {"only-east"}
            assert await _keys(west) == {"only-west"}
            arn = (await west.describe_table(TableName="orders"))["Table"]["TableArn"]
            assert arn.startswith("arn:aws:dynamodb:eu-west-1:")

    async def test_files_are_named_as_serve_names_them_and_persist(self, tmp_path: Path) -> None:
        async with streamkit.open_regions(tmp_path, regions=REGIONS) as group:
            for region in REGIONS:
                await _orders(group[region])
                await group[region].put_item(TableName="orders", Item={"pk": {"S": region}})
        assert _databases(tmp_path) == ["eu-west-1.sqlite3", "us-east-1.sqlite3"]
        # each file is a plain engine's database too
        async with streamkit.open_engine(tmp_path / "eu-west-1.sqlite3") as engine:
            assert await _keys(engine) == {"eu-west-1"}
        async with streamkit.open_regions(tmp_path, regions=["us-east-1"]) as group:
            assert await _keys(group["us-east-1"]) == {"us-east-1"}

    async def test_a_fixed_group_refuses_other_regions(self) -> None:
        async with streamkit.open_regions(None, regions=REGIONS) as group:
            with pytest.raises(ValidationException, match="ap-south-1 is not one of"):
                await group.engine("ap-south-1")
            with pytest.raises(ValidationException, match="Invalid region name"):
                await group.engine("../etc")
            with pytest.raises(KeyError):
                group["ap-south-1"]
            assert list(group) == REGIONS

    async def test_bad_arguments(self) -> None:
        with pytest.raises(ValidationException, match="at least one region"):
            async with streamkit.open_regions(None, regions=[]):
                pass
        with pytest.raises(ValidationException, match="Invalid region name"):
            async with streamkit.open_regions(None, regions=["Not A Region"]):
                pass
        with pytest.raises(TypeError, match="'region'"):
            async with streamkit.open_regions(None, regions=REGIONS, region="us-east-1"):
                pass

    async def test_after_exit_everything_is_closed(self) -> None:
        async with streamkit.open_regions(None, regions=REGIONS) as group:
            east = group["us-east-1"]
        assert group.closed
        assert east.closed
        with pytest.raises(ClosedError):
            await group.engine("us-east-1")
        with pytest.raises(ClosedError):
            group["us-east-1"]
        with pytest.raises(ClosedError):
            await east.list_tables()
        with pytest.raises(ClosedError):
            async with open_runtime(group):
                pass

    async def test_an_error_in_the_block_comes_out_as_itself(self) -> None:
        with pytest.raises(KeyError, match="mine"):
            async with streamkit.open_regions(None, regions=REGIONS):
                raise KeyError("mine")


class TestOnDemand:
    """The group ``streamkit serve`` uses: any region, opened on first use, at most N."""

    async def test_regions_open_on_first_use_up_to_the_limit(self, clock: ManualClock) -> None:
        opened: list[str] = []

        def opener(region: str) -> Any:
            opened.append(region)
            return streamkit.open_engine(None, region=region, clock=clock)

        async with open_region_group(opener, clock=clock, on_demand=True, max_regions=2) as group:
            assert list(group) == []
            watcher = group.opened.waiter()
            west = await group.engine("eu-west-1")
            assert watcher.is_set()  # a worker watching the group wakes
            assert await group.engine("eu-west-1") is west  # opened once
            async with anyio.create_task_group() as tg:  # concurrent first uses: one open
                for _ in range(3):
                    tg.start_soon(group.engine, "ap-east-1")
            assert opened == ["eu-west-1", "ap-east-1"]
            with pytest.raises(LimitExceededException, match="at most 2 regions"):
                await group.engine("us-east-1")
            assert group.open_regions == ["eu-west-1", "ap-east-1"]
            assert west.group is group

    async def test_a_failed_listener_closes_the_region_it_was_told_of(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        def opener(region: str) -> Any:
            return streamkit.open_engine(region_path(tmp_path, region), region=region)

        calls: list[str] = []

        async def fail_once(engine: streamkit.Engine) -> None:
            calls.append(engine.region)
            if len(calls) == 1:
                raise RuntimeError("listener failed")

        async with open_region_group(opener, clock=clock, on_demand=True) as group:
            stop = group.subscribe(fail_once)
            with pytest.raises(RuntimeError, match="listener failed"):
                await group.engine("eu-west-1")
            assert list(group) == []  # and its engine was closed before the error came out
            west = await group.engine("eu-west-1")  # opens again: no DatabaseInUseError
            assert calls == ["eu-west-1", "eu-west-1"]
            stop()
            await group.engine("ap-east-1")
            assert calls == ["eu-west-1", "eu-west-1"]
            assert not west.closed
        assert west.closed


class TestRuntimeOverAGroup:
    async def test_replication_starts_with_the_first_global_table(self) -> None:
        clock = ManualClock()
        async with (
            streamkit.open_regions(None, regions=REGIONS, clock=clock) as group,
            open_runtime(group) as runtime,
        ):
            east, west = group["us-east-1"], group["eu-west-1"]
            await _orders(east)
            await east.put_item(TableName="orders", Item={"pk": {"S": "before"}})
            assert runtime.replication is None  # no global table: nothing loaded or running
            await east.update_table(
                TableName="orders", ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}]
            )
            await _replicated(runtime)
            await west.put_item(TableName="orders", Item={"pk": {"S": "west"}})
            await _replicated(runtime)
            assert await _keys(east) == await _keys(west) == {"before", "west"}
            assert runtime.links == [runtime.replication]
            described = await west.describe_table(TableName="orders")
            assert {r["ReplicaStatus"] for r in described["Table"]["Replicas"]} == {"ACTIVE"}

    async def test_mappings_ttl_and_retention_run_in_every_region(self, clock: ManualClock) -> None:
        seen: dict[str, list[str]] = {}
        async with (
            streamkit.open_regions(None, regions=REGIONS, clock=clock) as group,
            open_runtime(group, _app(seen)) as runtime,
        ):
            assert runtime.group is group
            assert runtime.engine is group["us-east-1"]
            assert set(runtime.region_mappings) == set(REGIONS)
            assert runtime.mappings is runtime.region_mappings["us-east-1"]
            assert sorted(runtime.workers) == sorted(
                [
                    f"{worker}:{region}"
                    for worker in (
                        "ttl_sweeper",
                        "stream_retention",
                        "transfers",
                        "mapping:collect",
                    )
                    for region in REGIONS
                ]
                + ["replication"]  # the group's global tables, every region's
            )
            for region in REGIONS:
                engine = group[region]
                await _orders(engine)
                await engine.update_time_to_live(
                    TableName="orders",
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"},
                )
                exp = {"N": str(int(clock.now()) + 5)}
                await engine.put_item(
                    TableName="orders", Item={"pk": {"S": f"in-{region}"}, "exp": exp}
                )
            with anyio.fail_after(10):
                while {r: len(keys) for r, keys in seen.items()} != dict.fromkeys(REGIONS, 1):
                    waiter = runtime.activity.waiter()
                    await waiter.wait()
                # the sweeper of each region deletes that region's expired item
                while any([await _keys(group[r]) for r in REGIONS]):
                    swept = runtime.next_pass("ttl_sweeper")  # a pass in every region
                    clock.advance(10)
                    await swept.wait()
        # each region's handler saw its own region's item only (its TTL delete too, maybe)
        assert {region: set(keys) for region, keys in seen.items()} == {
            region: {f"in-{region}"} for region in REGIONS
        }

    async def test_a_region_opened_later_runs_its_workers(self, clock: ManualClock) -> None:
        seen: dict[str, list[str]] = {}

        def opener(region: str) -> Any:
            return streamkit.open_engine(None, region=region, clock=clock)

        async with (
            open_region_group(opener, clock=clock, on_demand=True) as group,
            open_runtime(group, _app(seen)) as runtime,
        ):
            assert runtime.workers == ["replication"]  # the group's, before any region
            assert runtime.links == []  # replication starts with the first global table
            assert runtime.replication is None
            with pytest.raises(LookupError):
                runtime.engine  # noqa: B018 - no region yet
            west = await group.engine("eu-west-1")
            assert runtime.engine is west
            assert runtime.workers == [
                "replication",
                "ttl_sweeper:eu-west-1",
                "stream_retention:eu-west-1",
                "transfers:eu-west-1",
                "mapping:collect:eu-west-1",
            ]
            await _orders(west)
            await west.put_item(TableName="orders", Item={"pk": {"S": "late"}})
            with anyio.fail_after(10):
                while not seen:
                    await runtime.activity.waiter().wait()
        assert seen == {"eu-west-1": ["late"]}

    async def test_a_single_engine_keeps_plain_worker_names(self, clock: ManualClock) -> None:
        async with (
            streamkit.open_engine(None, clock=clock) as engine,
            open_runtime(engine, _app({})) as runtime,
        ):
            assert runtime.group is None
            assert engine.group is None
            assert runtime.workers == [
                "ttl_sweeper",
                "stream_retention",
                "transfers",
                "mapping:collect",
            ]
            assert dict(runtime.engines) == {"us-east-1": engine}
            assert list(runtime.mappings) == ["collect"]


class FakeLink:
    """A drainable entry as a replication link is: caught up once ``done`` is set."""

    def __init__(self) -> None:
        self.changed = Signal()
        self.done = False
        self.checked = 0

    async def caught_up(self) -> bool:
        self.checked += 1
        return self.done

    def finish(self) -> None:
        self.done = True
        self.changed.fire()


class TestHarnessWithRegions:
    async def test_drain_waits_for_the_handlers_of_every_region(self) -> None:
        seen: dict[str, list[str]] = {}
        async with open_harness(_app(seen), regions=REGIONS) as h:
            assert h.engine is h.engines["us-east-1"]
            assert list(h.engines) == REGIONS
            assert h.group is not None
            assert h.group["eu-west-1"] is h.engines["eu-west-1"]
            for region, engine in h.engines.items():
                await _orders(engine)
                for n in range(3):
                    await engine.put_item(TableName="orders", Item={"pk": {"S": f"{region}{n}"}})
            await h.drain()
            assert seen == {region: [f"{region}{n}" for n in range(3)] for region in REGIONS}
        with pytest.raises(ClosedError):
            await h.drain()

    async def test_drain_waits_for_every_link(self) -> None:
        async with open_harness(streamkit.App(), regions=REGIONS) as h:
            first, second = FakeLink(), FakeLink()
            h.runtime.add_link(first)
            h.runtime.links.append(second)  # appending directly works too
            drained = anyio.Event()

            async def drain() -> None:
                await h.drain()
                drained.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(drain)
                await anyio.wait_all_tasks_blocked()
                assert not drained.is_set()
                assert first.checked == 1
                first.finish()  # wakes drain, which now waits on the second
                await anyio.wait_all_tasks_blocked()
                assert not drained.is_set()
                assert second.checked >= 1
                second.finish()
                with anyio.fail_after(5):
                    await drained.wait()
            h.runtime.remove_link(first)
            assert h.runtime.links == [h.replication, second]
            await h.drain()  # every link caught up: returns at once
        with pytest.raises(ClosedError):
            h.runtime.add_link(FakeLink())

    async def test_regions_on_files(self, tmp_path: Path) -> None:
        seen: dict[str, list[str]] = {}
        async with open_harness(_app(seen), regions=REGIONS, path=tmp_path) as h:
            for region, engine in h.engines.items():
                await _orders(engine)
                await engine.put_item(TableName="orders", Item={"pk": {"S": region}})
            await h.drain()
        assert seen == {region: [region] for region in REGIONS}
        assert _databases(tmp_path) == ["eu-west-1.sqlite3", "us-east-1.sqlite3"]

    async def test_a_harness_without_regions_is_unchanged(self) -> None:
        async with open_harness(_app({})) as h:
            assert h.group is None
            assert dict(h.engines) == {"us-east-1": h.engine}


def test_the_sync_harness_takes_regions() -> None:
    seen: dict[str, list[str]] = {}
    with open_sync_harness(_app(seen), regions=REGIONS) as h:
        assert list(h.engines) == REGIONS
        for region, engine in h.engines.items():
            engine.create_table(TableName="orders", **key_schema(), StreamSpecification=STREAM)
            engine.put_item(TableName="orders", Item={"pk": {"S": region}})
        h.drain()
        assert h.engines["eu-west-1"].get_item(TableName="orders", Key={"pk": {"S": "eu-west-1"}})
    assert seen == {region: [region] for region in REGIONS}
