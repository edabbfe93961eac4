"""streamkit_handlers.totals: per-customer totals, idempotent under redelivery."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import streamkit
import streamkit_handlers.totals
from streamkit.mappings.events import deserialize_record
from streamkit.mappings.replay import replay
from streamkit.testing import Harness, make_stream_record, open_harness
from streamkit_handlers.totals import (
    Totals,
    changes,
    create_totals_table,
    make_app,
    make_totals_handler,
)
from tests.handlers.conftest import put, settle, stream_table


def _record(event_name: str, **images: Any) -> dict[str, Any]:
    record = make_stream_record(event_name=event_name, keys={"pk": "o1"}, **images)
    return deserialize_record(record)


class TestChanges:
    spec = Totals()

    def test_insert_modify_remove(self) -> None:
        insert = _record("INSERT", new_image={"customer_id": "c1", "total": Decimal("30")})
        assert changes(insert, self.spec) == {"c1": (Decimal("30"), 1)}
        modify = _record(
            "MODIFY",
            old_image={"customer_id": "c1", "total": Decimal("30")},
            new_image={"customer_id": "c1", "total": Decimal("35.5")},
        )
        assert changes(modify, self.spec) == {"c1": (Decimal("5.5"), 0)}
        remove = _record("REMOVE", old_image={"customer_id": "c1", "total": Decimal("35.5")})
        assert changes(remove, self.spec) == {"c1": (Decimal("-35.5"), -1)}

    def test_moving_an_order_between_customers(self) -> None:
        moved = _record(
            "MODIFY",
            old_image={"customer_id": "c1", "total": Decimal("30")},
            new_image={"customer_id": "c2", "total": Decimal("30")},
        )
        assert changes(moved, self.spec) == {"c1": (Decimal("-30"), -1), "c2": (Decimal("30"), 1)}

    def test_unrelated_changes_and_missing_values(self) -> None:
        same = _record(
            "MODIFY",
            old_image={"customer_id": "c1", "total": Decimal("30"), "note": "a"},
            new_image={"customer_id": "c1", "total": Decimal("30"), "note": "b"},
        )
        assert changes(same, self.spec) == {}
        assert changes(_record("INSERT", new_image={"total": Decimal("3")}), self.spec) == {}
        no_amount = _record("INSERT", new_image={"customer_id": "c1"})
        assert changes(no_amount, self.spec) == {"c1": (Decimal("0"), 1)}

    def test_bad_values(self) -> None:
        with pytest.raises(TypeError, match="total must be a number"):
            changes(_record("INSERT", new_image={"customer_id": "c", "total": "lots"}), self.spec)
        with pytest.raises(TypeError, match="customer_id must be"):
            changes(_record("INSERT", new_image={"customer_id": True}), self.spec)
        # an old image with bad values was never counted: correcting it counts it once
        fixed = _record(
            "MODIFY",
            old_image={"customer_id": "c", "total": "lots"},
            new_image={"customer_id": "c", "total": Decimal("3")},
        )
        assert changes(fixed, self.spec) == {"c": (Decimal("3"), 1)}
        gone = _record("REMOVE", old_image={"customer_id": True, "total": Decimal("3")})
        assert changes(gone, self.spec) == {}
        keys_only = make_stream_record(
            event_name="MODIFY", keys={"pk": "o1"}, stream_view_type="NEW_IMAGE", new_image={}
        )
        with pytest.raises(ValueError, match="NEW_AND_OLD_IMAGES"):
            changes(deserialize_record(keys_only), self.spec)


async def _tables(h: Harness) -> None:
    await h.engine.create_table(TableName="orders", **stream_table())
    await create_totals_table(h.engine)
    await create_totals_table(h.engine)  # a second call is a no-op


async def _totals(h: Harness) -> dict[str, tuple[Any, Any]]:
    items = (await h.engine.table("customer_totals").scan())["Items"]
    return {i["customer_id"]: (i["total"], i["orders"]) for i in items}


class TestRunning:
    async def test_totals_follow_inserts_updates_and_deletes(self) -> None:
        async with open_harness(make_app()) as h:
            await _tables(h)
            orders = h.engine.table("orders")
            await put(h.engine, "orders", {"pk": "o1", "customer_id": "c1", "total": 30})
            await put(
                h.engine, "orders", {"pk": "o2", "customer_id": "c1", "total": Decimal("12.5")}
            )
            await put(h.engine, "orders", {"pk": "o3", "customer_id": "c2", "total": 7})
            await orders.update_item(
                Key={"pk": "o1"},
                UpdateExpression="SET #t = :t",
                ExpressionAttributeNames={"#t": "total"},
                ExpressionAttributeValues={":t": 35},
            )
            await orders.update_item(
                Key={"pk": "o2"},
                UpdateExpression="SET customer_id = :c",
                ExpressionAttributeValues={":c": "c2"},
            )
            await orders.delete_item(Key={"pk": "o3"})
            await h.drain()
            assert await _totals(h) == {"c1": (35, 1), "c2": (Decimal("12.5"), 1)}

            # Redelivering the whole stream (a replay, or retries) changes nothing.
            (config,) = make_app().mappings
            result = await replay(h.engine, config, table="orders", clock=h.clock)
            assert result.records == 6
            assert await _totals(h) == {"c1": (35, 1), "c2": (Decimal("12.5"), 1)}

    async def test_poison_order_is_isolated_and_sent_to_on_failure(self, tmp_path: Path) -> None:
        failures = tmp_path / "failures.jsonl"
        app = make_app(batch_size=10, maximum_retry_attempts=1, on_failure=failures)
        async with open_harness(app, stream_shards=1) as h:
            await _tables(h)
            for n in range(1, 6):
                total: Any = "lots" if n == 3 else n
                await put(h.engine, "orders", {"pk": f"o{n}", "customer_id": "c1", "total": total})
            await settle(h)
            # good orders before and after the poison counted once, in spite of the retries
            assert await _totals(h) == {"c1": (1 + 2 + 4 + 5, 4)}
            metrics = h.runtime.mappings["customer_totals"].metrics()
            await h.engine.table("orders").update_item(  # correct the bad order
                Key={"pk": "o3"},
                UpdateExpression="SET #t = :t",
                ExpressionAttributeNames={"#t": "total"},
                ExpressionAttributeValues={":t": 3},
            )
            await h.drain()
            assert await _totals(h) == {"c1": (15, 5)}
        assert metrics.failures_sent == 1
        (line,) = [json.loads(x) for x in failures.read_text().splitlines()]
        assert line["DDBStreamBatchInfo"]["batchSize"] == 1
        assert line["requestContext"]["condition"] == "RetryAttemptsExhausted"

    async def test_stream_reenabled_later_is_still_applied(self) -> None:
        """Sequence numbers restart with a new stream: positions compare by stream label too."""
        async with open_harness(make_app(), stream_shards=1) as h:
            await _tables(h)
            await put(h.engine, "orders", {"pk": "o1", "customer_id": "c1", "total": 1})
            for n in range(2, 6):  # push the old stream's sequence numbers up
                await put(h.engine, "orders", {"pk": "o1", "customer_id": "c1", "total": n})
            await h.drain()
            assert await _totals(h) == {"c1": (5, 1)}
            await h.engine.update_table(
                TableName="orders", StreamSpecification={"StreamEnabled": False}
            )
            h.clock.advance(1)
            await h.engine.update_table(
                TableName="orders",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )
            await put(h.engine, "orders", {"pk": "o1", "customer_id": "c1", "total": 9})
            await h.drain()
            assert await _totals(h) == {"c1": (9, 1)}

    async def test_custom_attributes_and_numeric_customers(self) -> None:
        spec = Totals(table="spend", customer="account", amount="price", total="sum", count="n")
        app = make_app("orders", spec, name="spend")
        async with open_harness(app) as h:
            await h.engine.create_table(TableName="orders", **stream_table())
            await create_totals_table(h.engine, "spend", customer="account", attribute_type="N")
            await put(h.engine, "orders", {"pk": "o1", "account": 7, "price": Decimal("0.1")})
            await put(h.engine, "orders", {"pk": "o2", "account": 7, "price": Decimal("0.2")})
            await h.drain()
            got = await h.engine.table("spend").get_item(Key={"account": 7})
        assert got["Item"]["sum"] == Decimal("0.3")  # exact: Decimal arithmetic in the engine
        assert got["Item"]["n"] == 2

    async def test_missing_totals_table_blocks_until_created(self) -> None:
        async with open_harness(make_app(), stream_shards=1) as h:
            await h.engine.create_table(TableName="orders", **stream_table())
            await put(h.engine, "orders", {"pk": "o1", "customer_id": "c1", "total": 3})
            await h.drain()
            assert h.runtime.mappings["customer_totals"].metrics().errors == 1
            await create_totals_table(h.engine)
            await settle(h, rounds=2)
            assert await _totals(h) == {"c1": (3, 1)}

    async def test_handler_outside_a_mapping_needs_an_engine(self) -> None:
        handler = make_totals_handler()
        event = {"Records": [_record("INSERT", new_image={"customer_id": "c"})]}
        with pytest.raises(streamkit.errors.ConfigurationError, match="only available inside"):
            await handler(event, None)

    def test_module_app(self) -> None:
        (config,) = streamkit_handlers.totals.app.mappings
        assert (config.name, config.table) == ("customer_totals", "orders")
        assert config.deserialize
        assert config.bisect_batch_on_function_error
