"""streamkit_handlers.notify: one notification per new item, through a pluggable sender."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import streamkit_handlers.notify
from streamkit.mappings.events import deserialize_event
from streamkit.testing import make_event, make_stream_record, open_harness
from streamkit_handlers.notify import FileSender, LogSender, Sender, make_app, make_notify_handler
from tests.handlers.conftest import put, settle, stream_table


class Recorder:
    """A sender that remembers what it sent and fails on demand."""

    def __init__(self, fail_on: set[str] | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self.attempts: list[str] = []
        self.fail_on = fail_on or set()

    async def send(self, subject: str, body: str) -> None:
        self.attempts.append(subject)
        if subject in self.fail_on:
            self.fail_on.discard(subject)  # fail once
            raise ConnectionError("mail server down")
        self.sent.append((subject, body))


def _welcome(item: Mapping[str, Any], table: str, event_id: str) -> tuple[str, str]:
    return str(item["pk"]), f"welcome to {table}"


class TestRunning:
    async def test_file_sender_gets_one_line_per_new_item(self, tmp_path: Path) -> None:
        outbox = tmp_path / "mail" / "outbox.jsonl"
        async with open_harness(make_app("users", FileSender(outbox))) as h:
            await h.engine.create_table(TableName="users", **stream_table())
            users = h.engine.table("users")
            await put(h.engine, "users", {"pk": "u1", "name": "Ann"})
            await put(h.engine, "users", {"pk": "u2", "name": "Bob"})
            await users.update_item(
                Key={"pk": "u1"},
                UpdateExpression="SET #n = :n",
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={":n": "Anne"},
            )
            await users.delete_item(Key={"pk": "u2"})
            await h.drain()
        lines = [json.loads(line) for line in outbox.read_text().splitlines()]
        assert [line["subject"] for line in lines] == ["New item in users"] * 2
        bodies = sorted((json.loads(line["body"]) for line in lines), key=lambda b: b["pk"])
        assert bodies == [  # across shards, in any order
            {"pk": "u1", "name": "Ann"},
            {"pk": "u2", "name": "Bob"},
        ]

    async def test_a_failed_send_is_retried_without_resending_the_others(self) -> None:
        sender = Recorder(fail_on={"u2"})
        app = make_app("users", sender, message=_welcome, batch_size=10)
        async with open_harness(app, stream_shards=1) as h:
            await h.engine.create_table(TableName="users", **stream_table())
            runner = h.runtime.mappings["notify_new_items"]
            runner.disable()  # gather the three inserts into one batch
            await h.drain()
            for pk in ("u1", "u2", "u3"):
                await put(h.engine, "users", {"pk": pk})
            runner.enable()
            await h.drain()
            assert [s for s, _ in sender.sent] == ["u1"]
            await settle(h, rounds=2)
            metrics = runner.metrics()
        assert sender.attempts == ["u1", "u2", "u2", "u3"]
        assert sender.sent == [(pk, "welcome to users") for pk in ("u1", "u2", "u3")]
        assert metrics.errors == 1

    async def test_log_sender(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO, logger="streamkit_handlers")
        async with open_harness(make_app("users")) as h:
            await h.engine.create_table(TableName="users", **stream_table())
            await put(h.engine, "users", {"pk": "u1"})
            await h.drain()
        (entry,) = [r for r in caplog.records if r.getMessage().startswith("notification ")]
        assert entry.name == "streamkit_handlers.notify"
        assert entry.subject == "New item in users"  # type: ignore[attr-defined]
        assert json.loads(entry.body) == {"pk": "u1"}  # type: ignore[attr-defined]


class TestUnit:
    async def test_handler_alone_reports_the_failed_record(self) -> None:
        records = [
            make_stream_record(keys={"pk": pk}, new_image={"pk": pk}, table="users")
            for pk in ("u1", "u2", "u3")
        ]
        sender = Recorder(fail_on={"u2"})
        handler = make_notify_handler(sender, message=_welcome)
        response = await handler(deserialize_event(make_event(records)), None)
        assert response == {
            "batchItemFailures": [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]
        }
        assert sender.sent == [("u1", "welcome to users")]

    async def test_only_inserts_are_notified(self) -> None:
        records = [
            make_stream_record(event_name="MODIFY", keys={"pk": "u1"}, old_image={}, new_image={}),
            make_stream_record(event_name="REMOVE", keys={"pk": "u1"}, old_image={}),
        ]
        sender = Recorder()
        handler = make_notify_handler(sender)
        assert await handler(deserialize_event(make_event(records)), None) == {
            "batchItemFailures": []
        }
        assert sender.sent == []

    def test_senders_satisfy_the_protocol(self, tmp_path: Path) -> None:
        senders: list[Sender] = [FileSender(tmp_path / "x"), LogSender(), Recorder()]
        assert len(senders) == 3

    def test_module_app_reads_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert [m.table for m in streamkit_handlers.notify.app.mappings] == ["users"]
        monkeypatch.setenv("STREAMKIT_NOTIFY_PATH", "outbox.jsonl")
        assert isinstance(streamkit_handlers.notify._sender_from_env(), FileSender)
        monkeypatch.delenv("STREAMKIT_NOTIFY_PATH")
        assert isinstance(streamkit_handlers.notify._sender_from_env(), LogSender)
