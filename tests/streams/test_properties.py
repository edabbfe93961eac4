"""Properties: any interleaving of writes and TTL deletes gives exactly one record per effective
change, in per-key order across shards and their children, and replaying the stream rebuilds
the table; the iterator decoder rejects anything it did not issue."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

import streamkit
from streamkit.errors import ValidationException
from streamkit.streams.iterators import Position, decode_iterator, encode_iterator
from streamkit.testing import ManualClock
from streamkit.ttl import sweep_once
from tests.streams.helpers import read_shard, shards, stream_table

KEYS = [f"k{n}" for n in range(5)]
SECRET = b"s" * 32

ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(KEYS), st.integers(0, 3), st.booleans()),
        st.tuples(st.just("update"), st.sampled_from(KEYS), st.integers(0, 3), st.just(False)),
        st.tuples(st.just("delete"), st.sampled_from(KEYS), st.just(0), st.just(False)),
        st.tuples(st.just("sweep"), st.just(""), st.just(0), st.just(False)),
        st.tuples(st.just("tick"), st.just(""), st.just(0), st.just(False)),
    ),
    max_size=30,
)


def _item(key: str, value: int, expiring: bool, now: float) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": key}, "v": {"N": str(value)}}
    if expiring:
        item["exp"] = {"N": str(int(now) - 10)}
    return item


@settings(max_examples=40)
@given(ops=ops)
async def test_stream_is_the_exact_change_history(ops: list[tuple[str, str, int, bool]]) -> None:
    clock = ManualClock()
    async with streamkit.open_engine(
        None, clock=clock, stream_shards=2, shard_rollover_seconds=100
    ) as engine:
        arn = await stream_table(engine)
        await engine.update_time_to_live(
            TableName="orders", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
        )
        model: dict[str, dict[str, Any]] = {}
        expected: dict[str, list[tuple[str, Any, Any, bool]]] = {k: [] for k in KEYS}

        def change(key: str, new: dict[str, Any] | None, service: bool = False) -> None:
            old = model.get(key)
            if old == new:
                return
            name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
            expected[key].append((name, old, new, service))
            if new is None:
                del model[key]
            else:
                model[key] = new

        for op, key, value, expiring in ops:
            if op == "put":
                item = _item(key, value, expiring, clock.now())
                await engine.put_item(TableName="orders", Item=item)
                change(key, item)
            elif op == "update":
                await engine.update_item(
                    TableName="orders",
                    Key={"pk": {"S": key}},
                    UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": str(value)}},
                )
                base = dict(model.get(key) or {"pk": {"S": key}})
                base["v"] = {"N": str(value)}
                change(key, base)
            elif op == "delete":
                await engine.delete_item(TableName="orders", Key={"pk": {"S": key}})
                change(key, None)
            elif op == "sweep":
                await sweep_once(engine, clock=clock)
                for k in [k for k, item in model.items() if "exp" in item]:
                    change(k, None, service=True)
            else:
                clock.advance(60)

        got: dict[str, list[tuple[str, Any, Any, bool]]] = {k: [] for k in KEYS}
        seen: set[int] = set()
        replay: dict[str, dict[str, Any]] = {}
        found = await shards(engine, arn)
        ids = {s["ShardId"] for s in found}
        done: set[str] = set()
        while len(done) < len(found):
            for shard in found:
                parent = shard.get("ParentShardId")
                if shard["ShardId"] in done or (parent in ids and parent not in done):
                    continue
                records = await read_shard(engine, arn, shard["ShardId"])
                seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
                assert seqs == sorted(set(seqs))
                assert not seen & set(seqs)
                seen.update(seqs)
                for r in records:
                    body = r["dynamodb"]
                    key = body["Keys"]["pk"]["S"]
                    got[key].append(
                        (
                            r["eventName"],
                            body.get("OldImage"),
                            body.get("NewImage"),
                            "userIdentity" in r,
                        )
                    )
                    if r["eventName"] == "REMOVE":
                        replay.pop(key, None)
                    else:
                        replay[key] = body["NewImage"]
                done.add(shard["ShardId"])
        assert got == expected
        assert replay == model
        for key in KEYS:
            stored = (await engine.get_item(TableName="orders", Key={"pk": {"S": key}})).get("Item")
            assert stored == model.get(key)


@given(token=st.one_of(st.text(max_size=300), st.binary(max_size=100).map(repr)))
def test_decoder_rejects_garbage(token: str) -> None:
    with pytest.raises(ValidationException):
        decode_iterator(SECRET, token, now=0.0)


@given(
    sid=st.integers(0, 2**62),
    after=st.integers(0, 2**62),
    index=st.integers(0, 10_000),
    char=st.characters(codec="ascii"),
)
def test_decoder_rejects_altered_tokens(sid: int, after: int, index: int, char: str) -> None:
    arn = "arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2024-01-01T00:00:00.000"
    token = encode_iterator(SECRET, Position(arn, sid, after, False, 1.0))
    assert decode_iterator(SECRET, token, now=2.0) == Position(arn, sid, after, False, 1.0)
    i = index % len(token)
    altered = token[:i] + char + token[i + 1 :]
    if altered == token:
        return
    with pytest.raises(ValidationException):
        decode_iterator(SECRET, altered, now=2.0)
    with pytest.raises(ValidationException):
        decode_iterator(b"other" * 8, token, now=2.0)
