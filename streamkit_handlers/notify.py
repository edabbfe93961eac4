"""Send a notification for every new item (``INSERT``), through a pluggable sender.

```python
from streamkit_handlers.notify import FileSender, make_app

app = make_app("users", FileSender("outbox.jsonl"))
```

A sender is anything with ``async def send(subject: str, body: str) -> None`` (the
:class:`Sender` protocol): an e-mail or chat client, a queue, a test double. Two come with the
module: :class:`FileSender` appends one JSON line per notification to a file, :class:`LogSender`
logs it (standard ``logging``, logger ``streamkit_handlers.notify``). ``message`` turns an item
into the subject and body (by default: "New item in <table>" and the item as JSON).

Delivery is at least once, and a notification cannot be taken back. :func:`make_app` turns on
``ReportBatchItemFailures``: when a send fails, the handler reports that record, so a retry
resends from it and not the notifications before it. A restart in the middle of a batch can
still send a notification twice; include something idempotent in your sender if that matters
(the ``eventID`` is passed to ``message`` for that). If the mapping gives up on a record
(``maximum_retry_attempts``), that record and the rest of its batch are not notified: with
``on_failure`` you learn which.

``streamkit run streamkit_handlers.notify:app`` notifies new items of ``$STREAMKIT_NOTIFY_TABLE``
(default ``users``) to the file ``$STREAMKIT_NOTIFY_PATH`` when it is set, and to the log
otherwise. Only items written after the mapping first started are notified (``LATEST``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Protocol

import anyio

import streamkit
from streamkit_handlers._common import Handler, env, sequence_number, table_of, to_json

__all__ = [
    "INSERTS_ONLY",
    "FileSender",
    "LogSender",
    "Message",
    "Sender",
    "app",
    "default_message",
    "make_app",
    "make_notify_handler",
]

log = logging.getLogger(__name__)

#: ``filter_criteria`` for ``on_stream``: deliver new items only.
INSERTS_ONLY: Final[dict[str, Any]] = {
    "Filters": [{"Pattern": json.dumps({"eventName": ["INSERT"]})}]
}

#: Builds (subject, body) from the new item (native values), its table and the ``eventID``.
Message = Callable[[Mapping[str, Any], str, str], tuple[str, str]]


class Sender(Protocol):
    """Where notifications go."""

    async def send(self, subject: str, body: str) -> None:
        """Deliver one notification; raise if it could not be delivered."""


class FileSender:
    """Append each notification to a JSON Lines file: ``{"subject": ..., "body": ...}``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    async def send(self, subject: str, body: str) -> None:
        line = json.dumps({"subject": subject, "body": body}, ensure_ascii=False) + "\n"
        await anyio.Path(self.path.parent).mkdir(parents=True, exist_ok=True)
        async with await anyio.open_file(self.path, "a", encoding="utf-8") as out:
            await out.write(line)


class LogSender:
    """Log each notification at info: ``notification subject=... body=...``, with ``subject``
    and ``body`` also as attributes of the log record."""

    async def send(self, subject: str, body: str) -> None:
        log.info(
            "notification subject=%r body=%r",
            subject,
            body,
            extra={"subject": subject, "body": body},
        )


def default_message(item: Mapping[str, Any], table: str, event_id: str) -> tuple[str, str]:
    """Return ("New item in <table>", the item as JSON)."""
    return f"New item in {table}", to_json(item)


def make_notify_handler(sender: Sender, *, message: Message = default_message) -> Handler:
    """Return a handler sending one notification per ``INSERT`` of a batch, in order.

    The handler expects native images (``deserialize=True``) carrying the new image. It stops
    at the first failed send (an exception from ``message`` counts as one) and returns it as a
    batch item failure (register it with ``function_response_types=["ReportBatchItemFailures"]``,
    or the whole batch is retried).
    """

    async def notify_new_items(event: dict[str, Any], context: Any) -> dict[str, Any]:
        for record in event["Records"]:
            if record.get("eventName") != "INSERT":
                continue
            item = record["dynamodb"].get("NewImage") or record["dynamodb"]["Keys"]
            try:
                subject, body = message(item, table_of(record), str(record.get("eventID", "")))
                await sender.send(subject, body)
            except Exception:
                log.exception("notification_failed sequence_number=%s", sequence_number(record))
                return {"batchItemFailures": [{"itemIdentifier": sequence_number(record)}]}
        return {"batchItemFailures": []}

    return notify_new_items


def make_app(
    table: str,
    sender: Sender | None = None,
    *,
    message: Message = default_message,
    name: str = "notify_new_items",
    **options: Any,
) -> streamkit.App:
    """Return an App notifying ``sender`` (default: :class:`LogSender`) of ``table``'s new items.

    ``options`` go to ``App.on_stream`` and override the defaults: the inserts-only filter,
    ``function_response_types=["ReportBatchItemFailures"]``; ``deserialize=True`` is forced.
    The starting position is Lambda's default, ``LATEST``.
    """
    settings: dict[str, Any] = {
        "filter_criteria": INSERTS_ONLY,
        "function_response_types": ["ReportBatchItemFailures"],
        **options,
        "deserialize": True,
    }
    app = streamkit.App()
    handler = make_notify_handler(sender or LogSender(), message=message)
    app.on_stream(table, name=name, **settings)(handler)
    return app


def _sender_from_env() -> Sender:
    path = os.environ.get("STREAMKIT_NOTIFY_PATH")
    return FileSender(path) if path else LogSender()


#: ``streamkit run streamkit_handlers.notify:app``: configured from the environment at import.
app = make_app(env("STREAMKIT_NOTIFY_TABLE", "users"), _sender_from_env())
