"""streamkit_handlers.search: a SQLite FTS5 index kept in sync with one attribute."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import streamkit_handlers.search
from streamkit.mappings.replay import replay
from streamkit.testing import open_harness
from streamkit_handlers.search import SearchIndex, make_app
from tests.handlers.conftest import put, stream_table


async def _keys(index: SearchIndex, query: str, **options: object) -> list[str]:
    return [hit.key["pk"] for hit in await index.search(query, **options)]  # type: ignore[arg-type]


class TestRunning:
    async def test_index_follows_inserts_updates_and_deletes(self, tmp_path: Path) -> None:
        path = tmp_path / "idx" / "search.sqlite3"
        async with SearchIndex(path) as index:
            app = make_app("articles", index, attribute="body")
            async with open_harness(app) as h:
                await h.engine.create_table(TableName="articles", **stream_table())
                articles = h.engine.table("articles")
                await put(
                    h.engine, "articles", {"pk": "a1", "body": "DynamoDB streams feed Lambda"}
                )
                await put(h.engine, "articles", {"pk": "a2", "body": "SQLite has full text search"})
                await put(h.engine, "articles", {"pk": "a3", "body": {"streams", "tags"}})
                await put(h.engine, "articles", {"pk": "a4", "title": "no body"})
                await h.drain()
                assert sorted(await _keys(index, "streams")) == ["a1", "a3"]
                assert await _keys(index, "sqlite") == ["a2"]  # case-insensitive
                assert await index.count() == 3

                await articles.update_item(
                    Key={"pk": "a1"},
                    UpdateExpression="SET body = :b",
                    ExpressionAttributeValues={":b": "Kinesis is another stream"},
                )
                await articles.delete_item(Key={"pk": "a2"})
                await articles.update_item(Key={"pk": "a3"}, UpdateExpression="REMOVE body")
                await h.drain()
                assert await _keys(index, "streams") == []
                assert await _keys(index, "kinesis") == ["a1"]
                assert await _keys(index, "sqlite") == []
                assert await index.count() == 1

                # Delivering the stream again (a replay from the start) rolls nothing back.
                (config,) = app.mappings
                result = await replay(h.engine, config, table="articles", clock=h.clock)
                assert result.records == 7
                assert await _keys(index, "streams") == []
                assert await _keys(index, "kinesis") == ["a1"]
        assert path.exists()  # a file of its own, next to nothing of the engine's

    async def test_search_syntax_snippets_and_tables(self, tmp_path: Path) -> None:
        async with SearchIndex(tmp_path / "s.sqlite3") as index:
            app = make_app("articles", index, attribute="body")
            app.include(make_app("notes", index, attribute="text", name="notes_index"))
            async with open_harness(app) as h:
                for table in ("articles", "notes"):
                    await h.engine.create_table(TableName=table, **stream_table())
                await put(h.engine, "articles", {"pk": "a1", "body": "streams and shards"})
                await put(h.engine, "articles", {"pk": "a2", "body": "stream processing"})
                await put(h.engine, "notes", {"pk": "n1", "text": "shards split"})
                await h.drain()
            assert sorted(await _keys(index, "stream*")) == ["a1", "a2"]
            assert await _keys(index, '"streams and"') == ["a1"]
            hits = await index.search("shards")
            assert sorted((hit.table, hit.key["pk"]) for hit in hits) == [
                ("articles", "a1"),
                ("notes", "n1"),
            ]
            assert await _keys(index, "shards", table="notes") == ["n1"]
            (hit,) = await index.search("split")
            assert hit.snippet == "shards [split]"
            assert await index.search("   ") == []
            with pytest.raises(sqlite3.OperationalError):
                await index.search('"unbalanced')
            assert await _keys(index, '"streams and', literal=True) == ["a1"]  # no syntax error
            assert len(await index.search("shards OR processing")) == 3
            assert await _keys(index, "shards OR processing", literal=True) == []  # OR: a word
            assert await index.count("notes") == 1

    async def test_a_failed_batch_is_rolled_back(self, tmp_path: Path) -> None:
        async with SearchIndex(tmp_path / "s.sqlite3") as index:
            good = {
                "eventName": "INSERT",
                "eventSourceARN": "arn:aws:dynamodb:r:1:table/t/stream/x",
            }
            records = [
                {
                    **good,
                    "dynamodb": {
                        "Keys": {"pk": "a"},
                        "NewImage": {"body": "one"},
                        "SequenceNumber": "1",
                    },
                },
                {**good, "dynamodb": {"Keys": {"pk": "b"}, "SequenceNumber": "2"}},  # no image
            ]
            with pytest.raises(ValueError, match="NEW_IMAGE"):
                await index.apply(records, "body")
            await index.apply(records[:1], "body")
            assert await _keys(index, "one") == ["a"]

    def test_module_app(self) -> None:
        (config,) = streamkit_handlers.search.app.mappings
        assert (config.name, config.table) == ("search_index", "articles")
        assert streamkit_handlers.search.index.path.endswith("search.sqlite3")
