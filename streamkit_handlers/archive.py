"""Archive expired items: every TTL deletion's old image, appended to a JSON Lines file.

```python
from streamkit_handlers.archive import make_app

app = make_app("sessions", "archive/sessions.jsonl")     # a streamkit.App, ready to run
```

or register the handler yourself, with your own options (``deserialize=True`` is required, and
the TTL-only filter keeps the mapping from even seeing ordinary writes):

```python
from streamkit_handlers.archive import TTL_ONLY, make_archive_handler

app.on_stream("sessions", name="archive", deserialize=True, starting_position="TRIM_HORIZON",
              filter_criteria=TTL_ONLY)(make_archive_handler("expired.jsonl"))
```

Each line is one expired item::

    {"table": "sessions", "keys": {"pk": "s1"}, "item": {...the OldImage...},
     "deleted_at": 1700000123.0, "eventID": "...", "sequenceNumber": "..."}

Values are plain JSON: numbers as numbers (as text when a float would round them), binaries as
base64, sets as sorted lists. ``item`` is ``null`` when the stream carries no old image
(``KEYS_ONLY`` or ``NEW_IMAGE`` streams).

Delivery is at least once: after a failed write or a restart mid-batch, a batch is written
again, so a line can appear twice. ``eventID`` is unique per change: deduplicate on it.

``streamkit run streamkit_handlers.archive:app`` archives table ``$STREAMKIT_ARCHIVE_TABLE``
(default ``sessions``) into ``$STREAMKIT_ARCHIVE_PATH`` (default ``.streamkit/expired.jsonl``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import anyio

import streamkit
from streamkit_handlers._common import Handler, env, sequence_number, table_of, to_json

__all__ = [
    "TTL_ONLY",
    "TTL_PATTERN",
    "app",
    "archive_line",
    "is_ttl_removal",
    "make_app",
    "make_archive_handler",
]

#: Lambda's filter pattern for TTL deletions only (the service's own REMOVE records).
TTL_PATTERN: Final[dict[str, Any]] = {
    "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]}
}
#: ``filter_criteria`` for ``on_stream``: deliver TTL deletions only.
TTL_ONLY: Final[dict[str, Any]] = {"Filters": [{"Pattern": json.dumps(TTL_PATTERN)}]}


def is_ttl_removal(record: Mapping[str, Any]) -> bool:
    """Whether a Lambda stream record is a TTL deletion (not a user's DeleteItem)."""
    identity = record.get("userIdentity") or {}
    return (
        record.get("eventName") == "REMOVE"
        and identity.get("type") == "Service"
        and identity.get("principalId") == "dynamodb.amazonaws.com"
    )


def archive_line(record: Mapping[str, Any]) -> str:
    """Return the JSON Lines entry (without newline) for one deserialised TTL record."""
    body = record["dynamodb"]
    old = body.get("OldImage")
    entry = {
        "table": table_of(record),
        "keys": body.get("Keys", {}),
        "item": old,
        "deleted_at": body.get("ApproximateCreationDateTime"),
        "eventID": record.get("eventID"),
        "sequenceNumber": sequence_number(record),
    }
    return to_json(entry)


def make_archive_handler(path: str | os.PathLike[str], *, ttl_only: bool = True) -> Handler:
    """Return a handler appending each expired item of a batch to the JSON Lines file ``path``.

    The handler expects native images (register it with ``deserialize=True``). With
    ``ttl_only`` (the default) it also skips any record that is not a TTL deletion itself, so a
    mapping without the filter archives nothing else; ``ttl_only=False`` archives every REMOVE.
    A batch is written with one append; the folder is created if needed. A failed write raises,
    so the mapping retries the batch.
    """
    target = Path(path)

    async def archive_expired(event: dict[str, Any], context: Any) -> None:
        lines = [
            archive_line(record) + "\n"
            for record in event["Records"]
            if (is_ttl_removal(record) if ttl_only else record.get("eventName") == "REMOVE")
        ]
        if not lines:
            return
        await anyio.Path(target.parent).mkdir(parents=True, exist_ok=True)
        async with await anyio.open_file(target, "a", encoding="utf-8") as out:
            await out.write("".join(lines))

    return archive_expired


def make_app(
    table: str,
    path: str | os.PathLike[str],
    *,
    name: str = "archive_expired",
    **options: Any,
) -> streamkit.App:
    """Return an App archiving ``table``'s expired items to ``path``.

    ``options`` go to ``App.on_stream`` and override the defaults: ``starting_position=
    "TRIM_HORIZON"``, the TTL-only filter, ``deserialize=True`` (required by the handler).
    """
    settings: dict[str, Any] = {
        "starting_position": "TRIM_HORIZON",
        "filter_criteria": TTL_ONLY,
        **options,
        "deserialize": True,
    }
    app = streamkit.App()
    app.on_stream(table, name=name, **settings)(make_archive_handler(path))
    return app


#: ``streamkit run streamkit_handlers.archive:app``: configured from the environment at import.
app = make_app(
    env("STREAMKIT_ARCHIVE_TABLE", "sessions"),
    env("STREAMKIT_ARCHIVE_PATH", ".streamkit/expired.jsonl"),
)
