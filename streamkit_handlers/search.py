"""A full-text index (SQLite FTS5) of one attribute, kept in sync with a table's stream.

```python
from streamkit_handlers.search import SearchIndex, make_app

index = SearchIndex("search.sqlite3")          # a separate SQLite file (or ":memory:")
app = make_app("articles", index, attribute="body")
...
for hit in await index.search("dynamodb streams"):
    print(hit.table, hit.key, hit.snippet)
```

``INSERT`` and ``MODIFY`` index the new image's attribute (a string, or a set/list of strings
joined by spaces); a ``REMOVE``, or an image without the attribute, removes the item from the
index. The table's stream must carry new images (``NEW_IMAGE`` or ``NEW_AND_OLD_IMAGES``).

The index uses the standard library's ``sqlite3`` (FTS5 ships with CPython's SQLite) on a
worker thread (``anyio.to_thread``), one call at a time, so the event loop never blocks on it.
Each batch is one SQLite transaction. The index remembers, per item, the position (stream label
and sequence number) of the change it reflects and ignores older ones, so records delivered
again (a retried batch, a restart mid-batch, a replay of an old range) never roll an item back.
It does not notice records the mapping gave up on: rebuild by deleting the file and replaying
the stream, or by rescanning the table.

``search()`` takes FTS5's query syntax (``dynamo*``, ``"exact phrase"``, ``a OR b``, ``NOT``);
``literal=True`` searches the words as typed instead, so user input cannot be a syntax error.

``streamkit run streamkit_handlers.search:app`` indexes attribute ``$STREAMKIT_SEARCH_ATTRIBUTE``
(default ``body``) of table ``$STREAMKIT_SEARCH_TABLE`` (default ``articles``) into
``$STREAMKIT_SEARCH_PATH`` (default ``.streamkit/search.sqlite3``); the module's ``index`` reads
that file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio.to_thread

import streamkit
from streamkit_handlers._common import Handler, env, position_mark, table_of, to_json

__all__ = ["SearchHit", "SearchIndex", "app", "index", "make_app", "make_search_handler"]

T = TypeVar("T")

_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS documents USING fts5(body);
CREATE TABLE IF NOT EXISTS positions (
    source TEXT NOT NULL,   -- the table
    key TEXT NOT NULL,      -- the item's key as sorted JSON
    mark TEXT NOT NULL,     -- position of the last change applied: '<stream label>#<seq>'
    docid INTEGER,          -- rowid in documents, NULL when the item has no text
    PRIMARY KEY (source, key)
);
CREATE INDEX IF NOT EXISTS positions_by_docid ON positions (docid);
"""


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One match: which item, and a snippet of its text with the matches in ``[brackets]``."""

    table: str
    key: dict[str, Any]  #: the item's key as plain JSON values
    snippet: str
    rank: float  #: FTS5's bm25 rank: lower is better


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, set | frozenset | list) and all(isinstance(v, str) for v in value):
        return " ".join(sorted(value) if isinstance(value, set | frozenset) else value) or None
    return None


def _literal(query: str) -> str:
    return " ".join('"' + word.replace('"', '""') + '"' for word in query.split())


class SearchIndex:
    """A SQLite FTS5 index in its own file; every call runs on a worker thread.

    The file is opened (and created, with its folder) on first use. Use it as an
    ``async with`` block, or call :meth:`aclose` when done.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the file (it is opened again on the next call)."""

        def close() -> None:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await anyio.to_thread.run_sync(close)

    async def apply(self, records: Sequence[Mapping[str, Any]], attribute: str) -> None:
        """Apply deserialised stream records to the index, in one transaction."""
        rows = [self._change(record, attribute) for record in records]
        await self._run(lambda conn: self._write(conn, rows))

    async def search(
        self, query: str, *, table: str | None = None, limit: int = 20, literal: bool = False
    ) -> list[SearchHit]:
        """Return the best ``limit`` matches of ``query``, best first (optionally of one table).

        Raises:
            sqlite3.OperationalError: ``query`` is not valid FTS5 syntax (not with ``literal``).
        """
        match = _literal(query) if literal else query
        if not match.strip():
            return []
        sql = (
            "SELECT p.source, p.key, snippet(documents, 0, '[', ']', '...', 12), bm25(documents)"
            " FROM documents JOIN positions AS p ON p.docid = documents.rowid"
            " WHERE documents MATCH ?"
        )
        params: list[Any] = [match]
        if table is not None:
            sql += " AND p.source = ?"
            params.append(table)
        sql += " ORDER BY bm25(documents) LIMIT ?"
        params.append(limit)
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [
            SearchHit(source, json.loads(key), snippet, rank) for source, key, snippet, rank in rows
        ]

    async def count(self, table: str | None = None) -> int:
        """Return how many items have text in the index (of one table, or all)."""
        sql = "SELECT count(*) FROM positions WHERE docid IS NOT NULL"
        params: tuple[str, ...] = ()
        if table is not None:
            sql += " AND source = ?"
            params = (table,)
        row = await self._run(lambda conn: conn.execute(sql, params).fetchone())
        return int(row[0])

    # -- the worker-thread side ---------------------------------------------------------------

    @staticmethod
    def _change(record: Mapping[str, Any], attribute: str) -> tuple[str, str, str, str | None]:
        body = record["dynamodb"]
        text: str | None = None
        if record.get("eventName") != "REMOVE":
            image = body.get("NewImage")
            if image is None:
                raise ValueError("no NewImage: the stream must be NEW_IMAGE or NEW_AND_OLD_IMAGES")
            text = _text(image.get(attribute))
        return table_of(record), to_json(body["Keys"]), position_mark(record), text

    @staticmethod
    def _write(conn: sqlite3.Connection, rows: Sequence[tuple[str, str, str, str | None]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for source, key, mark, text in rows:
                found = conn.execute(
                    "SELECT mark, docid FROM positions WHERE source = ? AND key = ?", (source, key)
                ).fetchone()
                if found is not None and found[0] >= mark:
                    continue  # this change (or a later one) is in the index already
                if found is not None and found[1] is not None:
                    conn.execute("DELETE FROM documents WHERE rowid = ?", (found[1],))
                docid = None
                if text is not None:
                    docid = conn.execute(
                        "INSERT INTO documents (body) VALUES (?)", (text,)
                    ).lastrowid
                conn.execute(
                    "INSERT INTO positions (source, key, mark, docid) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (source, key) DO UPDATE SET mark = excluded.mark,"
                    " docid = excluded.docid",
                    (source, key, mark, docid),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                conn.executescript(_SCHEMA)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    async def _run(self, call: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return call(self._connect())

        return await anyio.to_thread.run_sync(locked)


def make_search_handler(index: SearchIndex, attribute: str) -> Handler:
    """Return a handler keeping ``index`` in sync with ``attribute`` (``deserialize=True``)."""

    async def search_index(event: dict[str, Any], context: Any) -> None:
        await index.apply(event["Records"], attribute)

    return search_index


def make_app(
    table: str,
    index: SearchIndex,
    *,
    attribute: str = "body",
    name: str = "search_index",
    **options: Any,
) -> streamkit.App:
    """Return an App indexing ``table``'s ``attribute`` into ``index``.

    ``options`` go to ``App.on_stream`` and override the default ``starting_position=
    "TRIM_HORIZON"``; ``deserialize=True`` is forced.
    """
    settings: dict[str, Any] = {"starting_position": "TRIM_HORIZON", **options, "deserialize": True}
    app = streamkit.App()
    app.on_stream(table, name=name, **settings)(make_search_handler(index, attribute))
    return app


#: The index ``app`` writes (``$STREAMKIT_SEARCH_PATH``); ``await index.search("...")``.
index = SearchIndex(env("STREAMKIT_SEARCH_PATH", ".streamkit/search.sqlite3"))
#: ``streamkit run streamkit_handlers.search:app``: configured from the environment at import.
app = make_app(
    env("STREAMKIT_SEARCH_TABLE", "articles"),
    index,
    attribute=env("STREAMKIT_SEARCH_ATTRIBUTE", "body"),
)
