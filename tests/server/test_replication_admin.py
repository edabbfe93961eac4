"""The server's replication: the runtime over serve's on-demand group replicates regions opened
later, and the streamkit-only ``Streamkit_20261206.*`` requests (socket-free, through the
dispatcher)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

import streamkit
from streamkit.mappings.replication import Replicator
from streamkit.runtime import Runtime, open_runtime
from streamkit.server.admin import ReplicationAdmin
from streamkit.server.protocol import Dispatcher
from streamkit.streams import Regions
from streamkit.streams.regions import open_region_group, region_path
from streamkit.testing import ManualClock
from tests.conftest import key_schema

US, EU = "us-east-1", "eu-west-1"
TARGET = "Streamkit_20261206"

Opener = Callable[[str], AbstractAsyncContextManager[streamkit.Engine]]


def _opener(clock: ManualClock, folder: Path | None = None) -> Opener:
    def opener(region: str) -> AbstractAsyncContextManager[streamkit.Engine]:
        path = None if folder is None else region_path(folder, region)
        return streamkit.open_engine(path, region=region, clock=clock)

    return opener


async def _until(replicator: Replicator, condition: Callable[[], Any]) -> None:
    """Wait (on the replicator's changes, at most 10 s) until ``await condition()`` is true."""
    with anyio.fail_after(10):
        while True:
            changed = replicator.changed.waiter()
            if await condition():
                return
            await changed.wait()


async def _statuses(engine: streamkit.Engine) -> dict[str, str]:
    table = (await engine.describe_table(TableName="orders"))["Table"]
    return {r["RegionName"]: r["ReplicaStatus"] for r in table.get("Replicas", [])}


async def _replicator(runtime: Runtime) -> Replicator:
    """The runtime's Replicator, once it has started (with the group's first global table)."""
    with anyio.fail_after(10):
        while True:
            added = runtime.activity.waiter()  # add_link fires it
            if runtime.replication is not None:
                return runtime.replication
            await added.wait()


async def _global_orders(group: Regions, runtime: Runtime) -> Replicator:
    us = await group.engine(US)
    await us.create_table(TableName="orders", **key_schema())
    await us.put_item(TableName="orders", Item={"pk": {"S": "before"}})
    await us.update_table(TableName="orders", ReplicaUpdates=[{"Create": {"RegionName": EU}}])
    replicator = await _replicator(runtime)

    async def active() -> bool:
        return await _statuses(us) == {US: "ACTIVE", EU: "ACTIVE"}

    await _until(replicator, active)
    return replicator


class TestOnDemandGroup:
    async def test_a_replica_region_opened_after_the_runtime_started_is_replicated(
        self, clock: ManualClock
    ) -> None:
        # serve starts the runtime before any region is open; the replica's region opens on
        # the control plane's demand: the Replicator must notice both.
        async with (
            open_region_group(_opener(clock), clock=clock, on_demand=True) as group,
            open_runtime(group) as runtime,
        ):
            assert runtime.replication is None  # no global table: no replication machinery
            replicator = await _global_orders(group, runtime)
            eu = group[EU]
            await _until(
                replicator,
                lambda: eu.get_item(TableName="orders", Key={"pk": {"S": "before"}}),
            )

    async def test_after_a_restart_the_replicas_open_and_ship_their_backlog(
        self, clock: ManualClock, tmp_path: Path
    ) -> None:
        async with (
            open_region_group(_opener(clock, tmp_path), clock=clock, on_demand=True) as group,
            open_runtime(group) as runtime,
        ):
            replicator = await _global_orders(group, runtime)
            replicator.pause("orders", EU, US)
            await group[EU].put_item(TableName="orders", Item={"pk": {"S": "piled"}})
        # restart with only us-east-1 asked for: eu-west-1's link to it runs all the same
        async with (
            open_region_group(_opener(clock, tmp_path), clock=clock, on_demand=True) as group,
            open_runtime(group) as runtime,
        ):
            us = await group.engine(US)
            await _until(
                await _replicator(runtime),
                lambda: us.get_item(TableName="orders", Key={"pk": {"S": "piled"}}),
            )
            assert set(group.engines) == {US, EU}


@asynccontextmanager
async def _served(clock: ManualClock) -> AsyncIterator[tuple[Dispatcher, Replicator, Regions]]:
    """A dispatcher with the admin over a runtime of two regions holding a global table (a
    context manager, not a fixture: the runtime's task group must exit in its own task)."""
    async with (
        open_region_group(_opener(clock), clock=clock, on_demand=True) as group,
        open_runtime(group) as runtime,
    ):
        replicator = await _global_orders(group, runtime)
        admin = ReplicationAdmin(group, lambda: runtime.replication)
        yield Dispatcher(group, admin=admin), replicator, group


async def _call(dispatcher: Dispatcher, operation: str, **params: Any) -> tuple[int, Any]:
    status, _, body = await dispatcher.dispatch(US, f"{TARGET}.{operation}", orjson.dumps(params))
    return status, orjson.loads(body)


LINK = {"TableName": "orders", "SourceRegion": US, "TargetRegion": EU}


class TestAdminRequests:
    async def test_describe_lists_every_link(self, clock: ManualClock) -> None:
        async with _served(clock) as (dispatcher, replicator, _):
            status, body = await _call(dispatcher, "DescribeReplication")
            assert status == 200
            assert [
                (x["TableName"], x["SourceRegion"], x["TargetRegion"]) for x in body["Links"]
            ] == [
                ("orders", EU, US),
                ("orders", US, EU),
            ]
            for link in body["Links"]:
                assert link["RecordsBehind"] == 0
                assert link["Paused"] is False
                assert link["Backfilling"] is False
            assert [s.records_behind for s in await replicator.status()] == [0, 0]

    async def test_pause_piles_up_and_resume_ships(self, clock: ManualClock) -> None:
        async with _served(clock) as (dispatcher, replicator, group):
            status, body = await _call(dispatcher, "PauseReplication", **LINK)
            assert status == 200
            assert body["Link"]["Paused"] is True
            assert replicator.link("orders", US, EU).paused
            await group[US].put_item(TableName="orders", Item={"pk": {"S": "later"}})

            async def piled() -> bool:
                _, described = await _call(dispatcher, "DescribeReplication")
                return [x["RecordsBehind"] for x in described["Links"]] == [0, 1]

            await _until(replicator, piled)
            assert await group[EU].get_item(TableName="orders", Key={"pk": {"S": "later"}}) == {}
            status, body = await _call(dispatcher, "ResumeReplication", **LINK)
            assert status == 200
            assert body["Link"]["Paused"] is False
            await _until(
                replicator,
                lambda: group[EU].get_item(TableName="orders", Key={"pk": {"S": "later"}}),
            )

    @pytest.mark.parametrize(
        ("params", "code", "message"),
        [
            ({}, "ValidationException", "TableName is required"),
            ({**LINK, "TableName": 5}, "ValidationException", "TableName is required"),
            ({**LINK, "Extra": 1}, "ValidationException", 'Unknown parameter in input: "Extra"'),
            ({**LINK, "TargetRegion": US}, "ValidationException", "must differ"),
            ({**LINK, "TableName": "nope"}, "ResourceNotFoundException", "No replication link"),
            ({**LINK, "TargetRegion": "ap-south-1"}, "ResourceNotFoundException", "No repl"),
        ],
    )
    async def test_bad_requests_change_nothing(
        self, clock: ManualClock, params: dict[str, Any], code: str, message: str
    ) -> None:
        async with _served(clock) as (dispatcher, replicator, _):
            status, body = await _call(dispatcher, "PauseReplication", **params)
            assert status == 400
            assert body["__type"].endswith(f"#{code}")
            assert message in body["message"]
            assert not any(s.paused for s in await replicator.status())

    async def test_describe_takes_no_members(self, clock: ManualClock) -> None:
        async with _served(clock) as (dispatcher, _, _):
            status, body = await _call(dispatcher, "DescribeReplication", TableName="orders")
            assert status == 400
            assert body["__type"].endswith("#ValidationException")

    async def test_unknown_admin_operations(self, clock: ManualClock) -> None:
        async with _served(clock) as (dispatcher, _, group):
            status, body = await _call(dispatcher, "DropEverything")
            assert status == 400
            assert body["__type"].endswith("#UnknownOperationException")
            # a dispatcher without an admin (a single engine) does not know the namespace at all
            status, _, raw = await Dispatcher(group).dispatch(
                US, f"{TARGET}.DescribeReplication", b""
            )
            assert status == 400
            assert orjson.loads(raw)["__type"].endswith("#UnknownOperationException")
