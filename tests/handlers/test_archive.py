"""streamkit_handlers.archive: expired items appended to JSON Lines as native JSON."""

from __future__ import annotations

import importlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import streamkit_handlers.archive
from streamkit.mappings.events import deserialize_event
from streamkit.testing import make_event, make_stream_record, open_harness
from streamkit_handlers._common import to_json, to_jsonable
from streamkit_handlers.archive import TTL_ONLY, is_ttl_removal, make_app, make_archive_handler
from tests.handlers.conftest import expire, put, stream_table


class TestToJson:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (Decimal("30"), 30),
            (Decimal("1E+2"), 100),
            (Decimal("-0"), 0),
            (Decimal("12.5"), 12.5),
            (Decimal("0.1"), 0.1),
            (Decimal("3.14159265358979323846264338"), "3.14159265358979323846264338"),
            (Decimal("123456789012345678901234567890"), 123456789012345678901234567890),
            (b"\x00\xff", "AP8="),
            ({"b", "a"}, ["a", "b"]),
            ({Decimal("2"), Decimal("1.5")}, [1.5, 2]),
            ({b"b", b"a"}, ["YQ==", "Yg=="]),
            ({"m": [True, None, Decimal("1")]}, {"m": [True, None, 1]}),
        ],
    )
    def test_native_values(self, value: Any, expected: Any) -> None:
        assert to_jsonable(value) == expected

    def test_not_a_dynamodb_value(self) -> None:
        with pytest.raises(TypeError, match="not a DynamoDB value"):
            to_jsonable(object())

    def test_json_text_is_sorted_and_compact(self) -> None:
        assert to_json({"b": Decimal("1"), "a": "é"}) == '{"a":"é","b":1}'


class TestUnit:
    def test_ttl_records_are_recognised(self) -> None:
        ttl = make_stream_record(event_name="REMOVE", keys={"pk": "a"}, old_image={}, ttl=True)
        user = make_stream_record(event_name="REMOVE", keys={"pk": "a"}, old_image={})
        assert is_ttl_removal(ttl)
        assert not is_ttl_removal(user)

    async def test_handler_alone(self, tmp_path: Path) -> None:
        path = tmp_path / "out" / "expired.jsonl"
        records = [
            make_stream_record(
                event_name="REMOVE",
                keys={"pk": "s1"},
                old_image={"pk": "s1", "n": Decimal("2.50"), "tags": {"x"}},
                ttl=True,
                table="sessions",
            ),
            make_stream_record(event_name="REMOVE", keys={"pk": "s2"}, old_image={"pk": "s2"}),
        ]
        event = deserialize_event(make_event(records))
        assert await make_archive_handler(path)(event, None) is None
        (line,) = [json.loads(x) for x in path.read_text().splitlines()]
        assert line["table"] == "sessions"
        assert line["keys"] == {"pk": "s1"}
        assert line["item"] == {"pk": "s1", "n": 2.5, "tags": ["x"]}
        assert line["eventID"] == records[0]["eventID"]
        assert line["sequenceNumber"] == records[0]["dynamodb"]["SequenceNumber"]
        # ttl_only=False archives user deletions too
        await make_archive_handler(path, ttl_only=False)(event, None)
        assert len(path.read_text().splitlines()) == 3

    async def test_keys_only_stream_has_null_item(self, tmp_path: Path) -> None:
        path = tmp_path / "expired.jsonl"
        record = make_stream_record(
            event_name="REMOVE", keys={"pk": "s1"}, ttl=True, stream_view_type="KEYS_ONLY"
        )
        await make_archive_handler(path)(deserialize_event(make_event([record])), None)
        assert json.loads(path.read_text())["item"] is None


class TestRunning:
    async def test_expired_items_are_archived_and_nothing_else(self, tmp_path: Path) -> None:
        path = tmp_path / "expired.jsonl"
        app = make_app("sessions", path)
        async with open_harness(app) as h:
            db = h.engine
            await db.create_table(TableName="sessions", **stream_table())
            await db.update_time_to_live(
                TableName="sessions",
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
            )
            now = int(h.clock.now())
            await put(
                db,
                "sessions",
                {
                    "pk": "s1",
                    "expires_at": now + 10,
                    "user": "ann",
                    "score": Decimal("0.75"),
                    "big": Decimal("1.000000000000000000001"),
                    "blob": b"\x01\x02",
                    "roles": {"admin", "dev"},
                    "prefs": {"dark": True, "langs": ["en", "fr"]},
                },
            )
            await put(db, "sessions", {"pk": "s2", "expires_at": now + 1000})
            await put(db, "sessions", {"pk": "s3", "expires_at": now + 10})
            await db.table("sessions").delete_item(Key={"pk": "s3"})  # a user's delete
            await h.drain()
            assert not path.exists()
            await expire(h, 11)
            metrics = h.runtime.mappings["archive_expired"].metrics()
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert [line["keys"] for line in lines] == [{"pk": "s1"}]
        assert lines[0]["item"] == {
            "pk": "s1",
            "expires_at": now + 10,
            "user": "ann",
            "score": 0.75,
            "big": "1.000000000000000000001",
            "blob": "AQI=",
            "roles": ["admin", "dev"],
            "prefs": {"dark": True, "langs": ["en", "fr"]},
        }
        assert lines[0]["table"] == "sessions"
        assert lines[0]["deleted_at"] == pytest.approx(now + 11, abs=1)
        assert metrics.records == 1
        assert metrics.filtered == 4  # three inserts and the user's delete

    def test_make_app_options(self, tmp_path: Path) -> None:
        (config,) = make_app("sessions", tmp_path / "x", batch_size=5, deserialize=False).mappings
        assert config.name == "archive_expired"
        assert config.batch_size == 5
        assert config.deserialize  # the handler needs native images
        assert config.starting_position == "TRIM_HORIZON"
        assert [dict(p) for p in config.filter_patterns] == [
            json.loads(f["Pattern"]) for f in TTL_ONLY["Filters"]
        ]

    def test_module_app_reads_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        (default,) = streamkit_handlers.archive.app.mappings
        assert default.table == "sessions"
        monkeypatch.setenv("STREAMKIT_ARCHIVE_TABLE", "carts")
        try:
            reloaded = importlib.reload(streamkit_handlers.archive)
            assert [m.table for m in reloaded.app.mappings] == ["carts"]
        finally:
            monkeypatch.undo()
            importlib.reload(streamkit_handlers.archive)
