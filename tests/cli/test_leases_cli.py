"""``streamkit leases``: the lease table as workers left it, with how far behind each shard is."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import anyio
import pytest

import streamkit
from streamkit.mappings.leases import LeaseCoordinator, ShardInfo
from streamkit.testing import ManualClock
from tests.cli.helpers import run, run_json
from tests.server.serving import start_serve, stop

TABLE: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
}


async def _workers_ran(db: streamkit.Engine | Any, clock: ManualClock) -> dict[str, str]:
    """A worker takes the orders stream's shards and checkpoints after the 2nd record of the
    first. Return shard id -> owner."""
    await db.create_table(TableName="orders", **TABLE)
    for i in range(6):
        await db.put_item(TableName="orders", Item={"pk": {"S": f"k{i}"}})
    arn = (await db.describe_table(TableName="orders"))["Table"]["LatestStreamArn"]
    stream = db.streams if isinstance(db, streamkit.Engine) else db
    described = await stream.describe_stream(StreamArn=arn)
    shards = [ShardInfo(s["ShardId"]) for s in described["StreamDescription"]["Shards"]]
    a = LeaseCoordinator(db, clock=clock, worker_id="host:1:a", rng=random.Random(0))
    await a.ensure_table()
    await a.sync_shards("audit", arn, shards)
    await a.take_pass()
    (first,) = a.held()[:1]
    iterator = await stream.get_shard_iterator(
        StreamArn=arn, ShardId=first.shard_id, ShardIteratorType="TRIM_HORIZON"
    )
    records = (await stream.get_records(ShardIterator=iterator["ShardIterator"]))["Records"]
    await a.save("audit", arn, first.shard_id, records[1]["dynamodb"]["SequenceNumber"])
    return {held.shard_id: "host:1:a" for held in a.held()}


def test_local_data_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each lease's owner and checkpoint, and the records after the checkpoint (Behind)."""
    path = tmp_path / "data" / "us-east-1.sqlite3"
    path.parent.mkdir()
    records: list[Any] = []

    async def workers() -> None:
        clock = ManualClock()
        async with streamkit.open_engine(path, clock=clock) as db:
            owners = await _workers_ran(db, clock)
            arn = (await db.describe_table(TableName="orders"))["Table"]["LatestStreamArn"]
            for shard in owners:
                it = await db.streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
                )
                page = await db.streams.get_records(ShardIterator=it["ShardIterator"])
                records.extend(page["Records"])

    anyio.run(workers)
    shown = run_json(capsys, "leases", "--data", str(tmp_path / "data"), "--output", "native")
    assert shown["LeaseTable"] == "streamkit-leases"
    assert shown["Workers"] == ["host:1:a"]
    (row,) = shown["Leases"]
    assert row["Mapping"] == "audit"
    assert row["Owner"] == "host:1:a"
    assert row["Checkpoint"] == records[1]["dynamodb"]["SequenceNumber"]
    assert row["Behind"] == len(records) - 2 == 4
    assert row["IteratorAgeSeconds"] >= 0
    code, out, _ = run(capsys, "leases", "--data", str(tmp_path / "data"), "--output", "table")
    assert code == 0
    assert "host:1:a" in out
    assert "Behind" in out.splitlines()[1]


def test_no_lease_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder where nothing ran, or no worker: exit status 1, one line saying so."""
    code, out, err = run(capsys, "leases", "--data", str(tmp_path / "none"))
    assert (code, out) == (1, "")
    assert err.startswith("streamkit: no data in ")
    anyio.run(_empty_folder, tmp_path / "data" / "us-east-1.sqlite3")
    code, out, err = run(capsys, "leases", "--data", str(tmp_path / "data"))
    assert (code, out) == (1, "")
    assert err == "streamkit: no lease table streamkit-leases (no worker has run with it)\n"


async def _empty_folder(path: Path) -> None:
    path.parent.mkdir()
    async with streamkit.open_engine(path):
        pass


def test_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    """Over --endpoint-url (boto3 against streamkit serve), with another lease table name."""
    aiobotocore_session = pytest.importorskip("aiobotocore.session")
    process, url, _ = start_serve("--memory")

    async def worker() -> None:
        session = aiobotocore_session.get_session()
        keys = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
        async with session.create_client(
            "dynamodb", endpoint_url=url, region_name="us-east-1", **keys
        ) as dynamodb:
            clock = ManualClock()
            lease = LeaseCoordinator(dynamodb, clock=clock, table="mine", worker_id="w1")
            await lease.ensure_table()
            await lease.sync_shards("m", "arn:none", [ShardInfo("s0"), ShardInfo("s1", ("s0",))])
            await lease.take_pass()

    try:
        anyio.run(worker)
        shown = run_json(
            capsys, "leases", "--endpoint-url", url, "--lease-table", "mine", "--output", "native"
        )
        rows = {row["ShardId"]: row for row in shown["Leases"]}
        assert rows["s0"]["Owner"] == "w1"
        assert rows["s1"]["Owner"] is None
        assert rows["s1"]["Parents"] == "s0"
        assert rows["s0"]["Behind"] is None  # no such stream at the endpoint
        code, _, err = run(capsys, "leases", "--endpoint-url", url)
        assert code == 1
        assert "no lease table streamkit-leases" in err
    finally:
        stop(process)
