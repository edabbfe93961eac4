"""The stored form of a stream record's keys, images and size."""

from __future__ import annotations

import marshal
from typing import Any

import anyio
import pytest
from hypothesis import given, settings, strategies as st

import streamkit
from streamkit.errors import InternalServerError
from streamkit.model.attributes import item_size
from streamkit.storage import changes
from streamkit.storage.changes import (
    dump_record_data,
    items_equal,
    load_record_data,
    stored_items_equal,
)
from streamkit.storage.codec import dump_item
from streamkit.testing import ManualClock
from tests.strategies import items, key_values, reordered

KEYS = {"pk": {"S": "a"}}
OLD = {"pk": {"S": "a"}, "n": {"N": "1"}}
NEW: dict[str, Any] = {"pk": {"S": "a"}, "b": {"B": b"\x00"}}


def test_records_load() -> None:
    assert load_record_data(marshal.dumps((KEYS, OLD, NEW, 12))) == (KEYS, OLD, NEW, 12)


def test_records_written_before_sizes_were_stored() -> None:
    assert load_record_data(marshal.dumps((KEYS, None, NEW))) == (KEYS, None, NEW, None)


def test_records_are_json_joined_from_the_stored_images() -> None:
    old = dump_item(OLD)
    data = dump_record_data(KEYS, OLD, OLD, 20, blobs=(old, None))
    lengths = b",%d,%d]" % (len(b'{"pk":{"S":"a"}}'), len(old) - 1)  # keys', old image's
    assert data == b'[{"pk":{"S":"a"}},' + old[1:] + b"," + old[1:] + b",20" + lengths
    assert load_record_data(data) == (KEYS, OLD, OLD, 20)


def test_records_with_binary_values_stay_marshal() -> None:
    data = dump_record_data(KEYS, OLD, NEW, 12, blobs=(dump_item(OLD), dump_item(NEW)))
    assert data[:1] != b"["
    assert marshal.loads(data) == (KEYS, OLD, NEW, 12)
    binary_key = {"pk": {"B": b"\x01"}}
    assert marshal.loads(dump_record_data(binary_key, None, None, 3)) == (binary_key, None, None, 3)


@given(items(max_depth=3), items(max_depth=3), st.integers(0, 800_000), st.booleans())
def test_records_round_trip(
    old: dict[str, Any], new: dict[str, Any], size: int, blob: bool
) -> None:
    blobs: tuple[bytes | None, bytes | None] = (dump_item(old), dump_item(new))
    if not blob:
        blobs = (None, None)
    for first, second in ((old, new), (None, new), (old, None), (None, None)):
        data = dump_record_data(KEYS, first, second, size, blobs=blobs)
        assert load_record_data(data) == (KEYS, first, second, size)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[",
        b'[{"pk":{"S":"a"}},null]',
        b'[{"pk":{"S":"a"}},null,null,"12"]',
        b'[{"pk":{"S":"a"}},[],null,12]',
        b'[{"pk":{"S":"a"}},null,null,12,13]',
        b"\x00\x01",
        marshal.dumps([1, 2, 3]),
        marshal.dumps(({}, {}, {}, "x")),
        marshal.dumps(({}, None, None, 1, 2)),
        marshal.dumps("abcd"),
    ],
)
def test_corrupt_records(data: bytes) -> None:
    with pytest.raises(InternalServerError, match="Corrupt stream record"):
        load_record_data(data)


# Not st.binary(): five bytes of marshal can declare a list of 2**31 elements, which marshal
# allocates (16 GB) before it finds the data missing. Rows are only ever written by us, so the
# corruption to survive is a torn or truncated one.
@given(items(max_depth=2), st.data())
@pytest.mark.parametrize("dump", [marshal.dumps, lambda r: dump_record_data(*r)])
def test_truncated_records_fail_cleanly(
    dump: Any, item: dict[str, Any], data: st.DataObject
) -> None:
    blob = dump((KEYS, None, item, 1))
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(InternalServerError, match="Corrupt stream record"):
        load_record_data(blob[:cut])


# -- ChangeLog.append against the reference functions, on real SQLite -------------------------
#
# ``ChangeLog.append`` inlines ``stored_items_equal`` (no change, no record) and
# ``dump_record_data`` (the record's stored data) for speed; these two stay as the readable
# reference of both, and this test holds the inlined copies to them through the engine.

VIEWS = ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]
KEY_VALUES = st.one_of(key_values("S"), key_values("N"), key_values("B"))


async def _stored_change(
    view: str, key: dict[str, Any], old: dict[str, Any] | None, new: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, tuple[int, bytes] | None]:
    """Write ``old`` then ``new`` (None: delete) through an engine; return the items as
    stored before and after the second write, and the (kind, data) of its record, if any."""
    async with streamkit.open_engine(None, clock=ManualClock()) as engine:
        await engine.create_table(
            TableName="things",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": next(iter(key))}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
        )

        async def stored() -> dict[str, Any] | None:
            got = await engine.get_item(TableName="things", Key={"pk": key}, ConsistentRead=True)
            item: dict[str, Any] | None = got.get("Item")
            return item

        if old is not None:
            await engine.put_item(TableName="things", Item=old)
        before = await stored()
        if new is not None:
            await engine.put_item(TableName="things", Item=new)
        else:
            await engine.delete_item(TableName="things", Key={"pk": key})
        after = await stored()

        def records(conn: Any) -> list[changes.Record]:
            sids = [sid for (sid,) in conn.execute("SELECT DISTINCT sid FROM sk_records")]
            found = [r for sid in sids for r in changes.records_after(conn, sid, 0, 10)]
            return sorted(found)

        found = engine.store.read_now(records)
    assert len(found) <= (old is not None) + 1
    if len(found) == (old is not None):
        return before, after, None
    _, _, kind, data = found[-1]
    return before, after, (kind, data)


@settings(max_examples=150, deadline=None)
@given(
    view=st.sampled_from(VIEWS),
    key=KEY_VALUES,
    old=st.none() | items(max_depth=3),
    new=st.none() | items(max_depth=3),
    same=st.booleans(),
)
def test_append_stores_what_the_reference_functions_give(
    view: str,
    key: dict[str, Any],
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    same: bool,
) -> None:
    """Through the engine on SQLite, for every StreamViewType, random old and new items of
    every attribute type (an equal item in another order too) and keys of each type: a
    record exists exactly when ``stored_items_equal`` (and ``items_equal``) says the items
    differ, its data is ``dump_record_data``'s for the keys and kept images (byte for byte
    in JSON; as loaded in marshal, whose reference flags follow refcounts), with SizeBytes
    the keys' and kept images' sizes, and it loads back to them."""
    if old is not None:
        old = {**old, "pk": key}
    if new is not None:
        new = {**new, "pk": key}
    if same and old is not None:
        new = reordered(old)
    before, after, record = anyio.run(_stored_change, view, key, old, new)
    assert (before is None) == (old is None)
    assert (after is None) == (new is None)
    blobs = (
        None if before is None else dump_item(before),
        None if after is None else dump_item(after),
    )
    if before is None or after is None:
        unchanged = before is None and after is None
    else:
        unchanged = stored_items_equal(before, after, *blobs)
        assert unchanged == items_equal(before, after)
    if unchanged:
        assert record is None
        return
    assert record is not None
    kind, data = record
    assert kind == (
        changes.REMOVE if after is None else changes.INSERT if before is None else changes.MODIFY
    )
    keys = {"pk": key}
    kept_old = before if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") else None
    kept_new = after if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") else None
    size = sum(item_size(image) for image in (keys, kept_old, kept_new) if image is not None)
    expected = dump_record_data(keys, kept_old, kept_new, size, blobs)
    if expected[:1] == b"[":
        assert data == expected
    else:
        assert data[:1] != b"["
        assert marshal.loads(data) == marshal.loads(expected)
    assert load_record_data(data) == (keys, kept_old, kept_new, size)
