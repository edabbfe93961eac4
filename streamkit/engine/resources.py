"""Resources named by ARN (tags, resource policies): parsing, and edits of a table's spec."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from streamkit.engine.core import EngineCore
from streamkit.errors import DynamoDBError
from streamkit.model.schema import TableSpec
from streamkit.storage import tables as storage_tables

__all__ = ["ResourceArn", "ResourcesCore", "parse_arn"]

#: What a table ARN's tail names: ``table/T`` (a table), ``table/T/index/I``,
#: ``table/T/stream/LABEL``, ``table/T/backup/ID``, ``table/T/export/ID``, ...
_SUB_KINDS = ("index", "stream", "backup", "export", "import")


@dataclass(frozen=True, slots=True)
class ResourceArn:
    """The parts of ``arn:PARTITION:dynamodb:REGION:ACCOUNT:RESOURCE``.

    ``kind`` is ``"table"``, one of ``index``/``stream``/``backup``/``export``/``import`` (then
    ``sub`` is the index name, stream label or id), or ``"other"`` (a resource that is not under
    a table, such as ``global-table/G``).
    """

    text: str
    partition: str
    region: str
    account: str
    table: str
    kind: str
    sub: str = ""


def parse_arn(text: str) -> ResourceArn | None:
    """Return the parts of a DynamoDB ARN, or None if ``text`` is not one (another service,
    too few parts). The caller checks ``text.startswith("arn:")`` first: its message differs."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "dynamodb":
        return None
    _, partition, _, region, account, resource = parts
    head, _, rest = resource.partition("/")
    if head != "table" or not rest:
        return ResourceArn(text, partition, region, account, "", "other")
    table, _, tail = rest.partition("/")
    if not tail:
        return ResourceArn(text, partition, region, account, table, "table")
    kind, _, sub = tail.partition("/")
    if kind not in _SUB_KINDS or not sub or "/" in sub:
        return ResourceArn(text, partition, region, account, table, "other")
    return ResourceArn(text, partition, region, account, table, kind, sub)


class ResourcesCore(EngineCore):
    """The catalog edit shared by the tag and resource-policy operations."""

    async def _edit_spec(
        self,
        spec: TableSpec,
        edit: Callable[[TableSpec], TableSpec],
        missing: Callable[[], DynamoDBError],
    ) -> TableSpec:
        """Apply ``edit`` to the table's spec as the catalog holds it when the write runs.

        The edit reads the catalog row inside the write, so two edits queued together (two
        TagResource calls, say) both land. ``edit`` returns its argument for "no change"
        (nothing is written) and may raise to refuse; ``missing()`` is raised if the table
        was deleted, or deleted and created again, meanwhile.
        """

        def run(conn: sqlite3.Connection) -> TableSpec:
            current = storage_tables.load_spec(conn, spec.name)
            if current is None or current.table_id != spec.table_id:
                raise missing()
            new = edit(current)
            if new is not current:
                storage_tables.save_spec(conn, new)
            return new

        new = await self._store.write(run)
        held = self._tables.get(spec.name)
        if held is not None and held.table_id == new.table_id:
            self._tables[spec.name] = new
        return new
