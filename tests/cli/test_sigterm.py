"""SIGTERM mid-work: `streamkit serve` and `run` exit 0, keep every acknowledged write, resume.

Real processes on a real data folder: writers hammer the group commit over HTTP, the TTL
sweeper is deleting a backlog, a GSI backfill is half done and a mapping is working when the
signal lands. Afterwards every write the server acknowledged is on disk, the stream agrees with
the table, and a restarted server finishes the sweep and the backfill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import boto3
from botocore.config import Config

import streamkit
from tests.server.serving import start_serve, stderr_of, stop

BIG = 5_000  # items already in the table a GSI is added to: the backfill takes 3 steps
EXPIRED = 12_000  # expired items when the server starts: the sweep takes ~6 s at 2000/s, so
# it is still going when the signal lands even on a crowded machine (at 4,000 it was not always)
WRITERS = 6


def _table(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        **extra,
    }


def _seed(path: Path) -> None:
    async def seed() -> None:
        async with streamkit.open_engine(path) as db:
            stream = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
            await db.create_table(**_table("orders", StreamSpecification=stream))
            await db.create_table(**_table("mirror"))
            await db.create_table(**_table("big"))
            await db.create_table(**_table("ttl"))
            await db.update_time_to_live(
                TableName="ttl",
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
            )
            for start in range(0, BIG, 25):
                await db.batch_write_item(
                    RequestItems={
                        "big": [
                            {"PutRequest": {"Item": {"pk": {"S": f"b{n}"}, "g": {"S": "x"}}}}
                            for n in range(start, start + 25)
                        ]
                    }
                )
            past = str(int(time.time()) - 86_400)
            for start in range(0, EXPIRED, 25):
                await db.batch_write_item(
                    RequestItems={
                        "ttl": [
                            {"PutRequest": {"Item": {"pk": {"S": f"t{n}"}, "expires": {"N": past}}}}
                            for n in range(start, start + 25)
                        ]
                    }
                )

    anyio.run(seed)


def _client(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
    )


def _write_until_refused(url: str, writer: int, acknowledged: list[str]) -> None:
    client = _client(url)
    for n in range(1_000_000):
        key = f"w{writer}-{n}"
        try:
            client.put_item(TableName="orders", Item={"pk": {"S": key}})
        except Exception:
            return
        acknowledged.append(key)  # only after the 200: an acknowledged write


async def _state(path: Path) -> dict[str, Any]:
    """Read the data folder the way a restarted process would."""
    async with streamkit.open_engine(path) as db:
        orders = {i["pk"]["S"] for i in await _scan(db, "orders")}
        mirror = {i["pk"]["S"] for i in await _scan(db, "mirror")}
        ttl_left = len(await _scan(db, "ttl"))
        arn = db.stream_arn("orders")
        assert arn is not None
        inserted: list[str] = []
        shards = (await db.streams.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"]
        for shard in shards:
            it = (
                await db.streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )
            )["ShardIterator"]
            while it is not None:
                page = await db.streams.get_records(ShardIterator=it, Limit=1000)
                inserted += [r["dynamodb"]["Keys"]["pk"]["S"] for r in page["Records"]]
                if not page["Records"]:
                    break
                it = page.get("NextShardIterator")
    return {"orders": orders, "mirror": mirror, "ttl_left": ttl_left, "inserted": inserted}


async def _scan(db: streamkit.Engine, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TableName": table}
    while True:
        page = await db.scan(**params)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _index(client: Any) -> dict[str, Any]:
    table = client.describe_table(TableName="big")["Table"]
    return dict(table["GlobalSecondaryIndexes"][0])


def test_sigterm_mid_work_then_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _seed(data / "us-east-1.sqlite3")
    process, url, _ = start_serve("--data", str(data), "--app", "tests.cli.sigterm_app:app")
    client = _client(url)
    client.update_table(
        TableName="big",
        AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by_g",
                    "KeySchema": [
                        {"AttributeName": "g", "KeyType": "HASH"},
                        {"AttributeName": "pk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            }
        ],
    )
    assert _index(client)["IndexStatus"] == "CREATING"  # one backfill step done, not all
    acknowledged: list[list[str]] = [[] for _ in range(WRITERS)]
    writers = [
        threading.Thread(target=_write_until_refused, args=(url, w, acknowledged[w]))
        for w in range(WRITERS)
    ]
    for thread in writers:
        thread.start()
    deadline = time.monotonic() + 30
    while sum(map(len, acknowledged)) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)  # a real server: wait for real load
    try:
        status = stop(process)  # SIGTERM, with writers, sweeper, mapping and backfill mid-work
    finally:
        for thread in writers:
            thread.join(30)
    assert status == 0, stderr_of(process)[-3000:]
    assert '"event":"shutting_down"' in stderr_of(process)

    state = anyio.run(_state, data / "us-east-1.sqlite3")
    written = {key for keys in acknowledged for key in keys}
    assert len(written) >= 300
    assert written <= state["orders"]  # every acknowledged write is on disk
    assert sorted(state["inserted"]) == sorted(state["orders"])  # one INSERT per item, no more
    assert state["mirror"] <= state["orders"]
    assert state["ttl_left"] > 0, "the sweep finished before the signal: raise EXPIRED"

    process, url, _ = start_serve("--data", str(data))
    try:
        client = _client(url)
        index = _index(client)
        steps = 0
        while index["IndexStatus"] != "ACTIVE" and steps < 10:
            index = _index(client)  # each DescribeTable advances the backfill by one chunk
            steps += 1
        assert index["IndexStatus"] == "ACTIVE"
        assert steps >= 1  # the backfill resumed where it was, not from the start
        count = client.query(
            TableName="big",
            IndexName="by_g",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "x"}},
            Select="COUNT",
        )
        total = count["Count"]
        while "LastEvaluatedKey" in count:
            count = client.query(
                TableName="big",
                IndexName="by_g",
                KeyConditionExpression="g = :g",
                ExpressionAttributeValues={":g": {"S": "x"}},
                Select="COUNT",
                ExclusiveStartKey=count["LastEvaluatedKey"],
            )
            total += count["Count"]
        assert total == BIG
        deadline = time.monotonic() + 30
        while client.scan(TableName="ttl", Select="COUNT")["Count"] and time.monotonic() < deadline:
            time.sleep(0.1)  # the restarted sweeper deletes the rest
        assert client.scan(TableName="ttl", Select="COUNT")["Count"] == 0
    finally:
        assert stop(process) == 0


RUN_APP = textwrap.dedent(
    """
    import json, os, threading, time
    import streamkit

    app = streamkit.App()
    OUT = os.environ["STREAMKIT_TEST_OUT"]

    @app.on_stream("orders", name="record", starting_position="TRIM_HORIZON", batch_size=2,
                   timeout=900)
    def record(event, context):
        for r in event["Records"]:
            n = int(r["dynamodb"]["NewImage"]["n"]["N"])
            if n == 5:
                with open(OUT + ".stuck", "w"):
                    pass
                threading.Event().wait()  # never returns: Python cannot stop this thread
            with open(OUT, "a") as out:
                out.write(json.dumps(n) + "\\n")
    """
)


def test_sigterm_with_a_handler_stuck_in_a_thread_exits(tmp_path: Path) -> None:
    """`streamkit run` must not wait for a sync handler's thread that never returns."""
    (tmp_path / "stuckapp.py").write_text(RUN_APP)
    data = tmp_path / "data"

    async def seed() -> None:
        async with streamkit.open_engine(data / "us-east-1.sqlite3", stream_shards=1) as db:
            stream = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
            await db.create_table(**_table("orders", StreamSpecification=stream))
            for n in range(10):
                await db.put_item(TableName="orders", Item={"pk": {"S": "k"}, "n": {"N": str(n)}})

    anyio.run(seed)
    out = tmp_path / "out.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "STREAMKIT_TEST_OUT": str(out),
    }
    with (tmp_path / "run.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamkit", "run", "stuckapp:app", "--data", str(data)],
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 30
        while not Path(f"{out}.stuck").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # a real process: wait for it to reach the stuck record
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(20)  # the old code waited for the thread at exit, for ever
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = (tmp_path / "run.log").read_text()
    assert status == 0, text[-3000:]
    assert "still running (record): exiting without waiting" in text  # names the handler
    assert [json.loads(line) for line in out.read_text().splitlines()] == [0, 1, 2, 3, 4]

    async def checkpoint() -> list[Any]:
        async with streamkit.open_engine(data / "us-east-1.sqlite3") as db:
            rows = await db.store.read(
                lambda c: c.execute("SELECT * FROM sk_checkpoints").fetchall()
            )
        return list(rows)

    assert anyio.run(checkpoint)  # the position before the stuck batch was saved


REPLAY_APP = textwrap.dedent(
    """
    import json, os, time
    import streamkit

    app = streamkit.App()
    OUT = os.environ["STREAMKIT_TEST_OUT"]

    @app.on_stream("orders", name="slow", batch_size=2)
    def slow(event, context):
        time.sleep(0.05)  # a slow consumer: the signal lands mid-replay
        with open(OUT, "a") as out:
            for r in event["Records"]:
                out.write(json.dumps(int(r["dynamodb"]["NewImage"]["n"]["N"])) + "\\n")
    """
)


def test_sigterm_mid_replay_then_resume(tmp_path: Path) -> None:
    (tmp_path / "slowapp.py").write_text(REPLAY_APP)
    data = tmp_path / "data"
    count = 80

    async def seed() -> None:
        async with streamkit.open_engine(data / "us-east-1.sqlite3", stream_shards=2) as db:
            stream = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
            await db.create_table(**_table("orders", StreamSpecification=stream))
            for n in range(count):
                item = {"pk": {"S": f"k{n % 5}"}, "n": {"N": str(n)}}
                await db.put_item(TableName="orders", Item=item)

    anyio.run(seed)
    out, state = tmp_path / "out.jsonl", tmp_path / "replay.state"
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "STREAMKIT_TEST_OUT": str(out),
    }
    command = [
        *(sys.executable, "-m", "streamkit", "replay", "slowapp:app"),
        *("--data", str(data), "--state", str(state)),
    ]
    first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while (not out.exists() or len(out.read_text().splitlines()) < 10) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.02)  # a real process: wait until it is well into the replay
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=20)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 128 + signal.SIGTERM, err
    assert "replay interrupted by SIGTERM after" in err
    assert "run the same command again to resume" in err
    assert state.exists()
    before = [json.loads(line) for line in out.read_text().splitlines()]
    assert 10 <= len(before) < count

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert not state.exists()  # a completed replay leaves no state behind
    after = [json.loads(line) for line in out.read_text().splitlines()][len(before) :]
    assert set(before) | set(after) == set(range(count))  # every record, at least once
    assert len(after) <= count - len(before) + 2 * 2  # resumed: at most a batch per shard again
