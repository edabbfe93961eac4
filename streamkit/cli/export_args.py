"""The arguments of ``streamkit export`` and ``streamkit import`` (run by ``cli/export.py``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from streamkit.cli import commands as run

__all__ = ["add_transfer_commands"]


def add_transfer_commands(
    commands: Any, connection: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add ``export`` and ``import``; ``connection`` adds ``--endpoint-url`` and friends."""
    export = commands.add_parser(
        "export",
        help="export a table to a folder in DynamoDB's S3 export layout",
        description="ExportTableToPointInTime into DIR (the bucket): DIR/AWSDynamoDB/<export "
        "id>/manifest-summary.json, manifest-files.json and data/*.json.gz (or .ion.gz). With "
        "--endpoint-url the server writes the files, into <its --s3-dir>/<name of DIR>/.",
    )
    export.set_defaults(func=run.export)
    export.add_argument("table_name", metavar="TABLE")
    export.add_argument("dir", metavar="DIR")
    export.add_argument("--format", choices=["DYNAMODB_JSON", "ION"], default="DYNAMODB_JSON")
    export.add_argument("--prefix", default=None, help="S3Prefix: a folder inside DIR")
    export.add_argument(
        "--incremental", action="store_true", help="INCREMENTAL_EXPORT (--from, --to)"
    )
    export.add_argument(
        "--from", dest="from_time", metavar="ISO", help="ExportFromTime (with --incremental)"
    )
    export.add_argument(
        "--to",
        dest="to_time",
        metavar="ISO",
        help="ExportToTime (with --incremental; default: the latest restorable time)",
    )
    export.add_argument(
        "--view",
        choices=["NEW_AND_OLD_IMAGES", "NEW_IMAGE"],
        default=None,
        help="ExportViewType of an incremental export (default NEW_AND_OLD_IMAGES)",
    )
    export.add_argument(
        "--time",
        dest="export_time",
        metavar="ISO",
        help="ExportTime: a full export of the table as it was then (inside the PITR window)",
    )

    imp = commands.add_parser(
        "import",
        help="create a table from a folder of DynamoDB JSON, Ion or CSV files (ImportTable)",
        description="ImportTable from DIR: an export's folder (its format is read from "
        "manifest-summary.json; the newest export when DIR holds several), or any folder of "
        "data files. With --endpoint-url, a DIR that is no local folder names a bucket in the "
        "server's --s3-dir (its newest full export is imported). The new table's key comes "
        "from --hash-key/--range-key or from --like TABLE.",
    )
    imp.set_defaults(func=run.import_)
    imp.add_argument("dir", metavar="DIR")
    imp.add_argument("table_name", metavar="TABLE")
    imp.add_argument("--hash-key", metavar="NAME:TYPE", help="partition key, e.g. pk:S")
    imp.add_argument("--range-key", metavar="NAME:TYPE", help="sort key, e.g. sk:N")
    imp.add_argument("--like", metavar="TABLE", help="copy the key schema and GSIs of a table")
    imp.add_argument("--format", choices=["DYNAMODB_JSON", "ION", "CSV"], default=None)
    imp.add_argument("--compression", choices=["NONE", "GZIP", "ZSTD"], default=None)
    imp.add_argument("--delimiter", default=None, help="CSV delimiter (default ,)")
    for command in (export, imp):
        connection(command)
