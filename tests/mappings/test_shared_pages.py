"""The mappings on one shard share each page they read (fan-out): one copy per handler."""

from __future__ import annotations

import json
from typing import Any

from streamkit.mappings.processor import Outcome
from streamkit.streams.client import SharedRecords
from streamkit.testing import ManualClock
from tests.mappings.test_processor import drive, processor, records, seq


async def test_mappings_sharing_a_page_each_get_their_own_copy(clock: ManualClock) -> None:
    """A shared page (SharedRecords) is serialised once, by the first mapping to copy it, and
    one handler's edits reach neither the page nor the other mappings' handlers."""
    seen: list[dict[str, Any]] = []

    async def editor(event: dict[str, Any], context: Any) -> None:
        event["Records"][0]["dynamodb"]["NewImage"].clear()
        event["Records"].pop()

    async def reader(event: dict[str, Any], context: Any) -> None:
        seen.append(json.loads(json.dumps(event)))

    page = SharedRecords(records(1, 2))
    pristine = records(1, 2)
    out = await drive(clock, lambda: processor(clock, editor).process(page))
    assert out == Outcome(checkpoint=seq(2), complete=True)
    assert page.blob is not None
    blob = page.blob
    await drive(clock, lambda: processor(clock, reader).process(page))
    assert seen == [{"Records": pristine}]
    assert page == pristine
    assert page.blob is blob  # serialised once, by the first mapping


async def test_a_filtered_or_split_page_is_copied_afresh(clock: ManualClock) -> None:
    """A page cut into batch_size chunks hands each chunk its own copy (no shared bytes)."""
    events: list[dict[str, Any]] = []

    async def handler(event: dict[str, Any], context: Any) -> None:
        events.append(json.loads(json.dumps(event)))

    page = SharedRecords(records(1, 2, 3))
    await drive(clock, lambda: processor(clock, handler, batch_size=2).process(page))
    assert events == [{"Records": records(1, 2)}, {"Records": records(3)}]
    assert page.blob is None
