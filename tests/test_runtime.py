"""The runtime owns the background workers: TTL sweeper and stream retention."""

from __future__ import annotations

import anyio

import streamkit
from streamkit.runtime import open_runtime
from streamkit.testing import ManualClock
from tests.conftest import key_schema


async def test_runtime_runs_sweeper_and_retention(clock: ManualClock) -> None:
    async with streamkit.open_engine(
        None,
        clock=clock,
        stream_shards=4,
        stream_retention_seconds=600,
        shard_rollover_seconds=300,
    ) as engine:
        await engine.create_table(
            TableName="orders",
            **key_schema(),
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )
        await engine.update_time_to_live(
            TableName="orders", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
        )
        exp = {"N": str(clock.now() + 5)}
        await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}, "exp": exp})
        arn = (await engine.describe_table(TableName="orders"))["Table"]["LatestStreamArn"]

        async def first_generation() -> int:
            desc = (await engine.streams.describe_stream(StreamArn=arn))["StreamDescription"]
            return sum("ParentShardId" not in s for s in desc["Shards"])

        async with open_runtime(engine) as runtime:
            assert runtime.workers == ["ttl_sweeper", "stream_retention", "transfers"]
            with anyio.fail_after(5):
                # a pass may be in flight when we start waiting, hence the loops
                while await engine.get_item(TableName="orders", Key={"pk": {"S": "a"}}):
                    swept = runtime.next_pass("ttl_sweeper")
                    clock.advance(10)
                    await swept.wait()
                assert await first_generation() == 4
                while await first_generation():
                    kept = runtime.next_pass("stream_retention")
                    clock.advance(700)
                    await kept.wait()
        # the records are trimmed, the shards closed longer than retention ago are gone, and
        # their children (rolled over every 300 s) carry on
        desc = (await engine.streams.describe_stream(StreamArn=arn))["StreamDescription"]
        open_ = [
            s for s in desc["Shards"] if "EndingSequenceNumber" not in s["SequenceNumberRange"]
        ]
        assert len(open_) == 4
        assert all("ParentShardId" in s for s in desc["Shards"])
