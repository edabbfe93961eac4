"""The argparse tree of the ``streamkit`` command."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, cast

from streamkit.cli import commands as run
from streamkit.cli.export_args import add_transfer_commands
from streamkit.cli.sql import add_sql_command
from streamkit.cli.template import add_template_command

__all__ = ["build_parser"]

#: The subcommands of a parser (argparse gives the type no public name; generic only in typeshed)
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

_DESCRIPTION = (
    "streamkit: DynamoDB's tables, streams and TTL on SQLite, as a library, a CLI and a "
    "DynamoDB-compatible local endpoint."
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Return the parser for every subcommand (each has ``--help``).

    Given the command line ``argv``, only the command it names gets its options: every other
    command is listed (for ``--help`` and the error naming the choices) but not built, which
    was most of the ~10 ms the whole tree took. ``main()`` passes its ``argv``.
    """
    parser = argparse.ArgumentParser(prog="streamkit", description=_DESCRIPTION)
    parser.set_defaults(runs_handlers=False)
    real = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands = real if argv is None else cast(Commands, _OnlyCommand(real, _command_in(argv)))
    _serve(commands)
    _run(commands)
    _replay(commands)
    _streams(commands)
    version = commands.add_parser("version", help="print the streamkit version")
    version.set_defaults(func=run.version)
    _tables(commands)
    _items(commands)
    _ttl(commands)
    _restore(commands)
    _tags(commands)
    _backup(commands)
    _bulk(commands)
    add_transfer_commands(commands, _connection)
    _mappings(commands)
    _leases(commands)
    _replication(commands)
    add_template_command(commands, run.template)
    add_sql_command(commands, _connection, _input_format, run.sql)
    _log_options(parser)
    return parser


#: Options of the top-level parser that take a value (which is not the command's name).
_VALUED = ("--log-level", "--log-format")


def _command_in(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (its first word that is not an option or its value)."""
    words = iter(argv)
    for word in words:
        if word in _VALUED:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


class _OnlyCommand:
    """Stands in for the top level's subcommands while one command's options are added: the
    command named ``wanted`` is built as usual; any other is added bare (its name and help,
    for the list of commands) and its options go to a :class:`_Sink`."""

    def __init__(self, real: Commands, wanted: str | None) -> None:
        self._real = real
        self._wanted = wanted

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name == self._wanted:
            return self._real.add_parser(name, **kwargs)
        bare = self._real.add_parser(name, help=kwargs.get("help"), add_help=False)
        bare.set_defaults(_bare=True)
        return cast(argparse.ArgumentParser, _Sink())


class _Sink:
    """Takes any call on a parser, argument group or subcommands object and does nothing."""

    def __getattr__(self, name: str) -> Callable[..., _Sink]:
        return lambda *args, **kwargs: self


def _log_options(parser: argparse.ArgumentParser) -> None:
    """Add --log-level and --log-format to ``parser`` and every subcommand under it.

    Defaults are left out of the namespace (SUPPRESS), so an option given before the
    subcommand is not overwritten by the subcommand's default; ``main()`` fills them in.
    """
    group = parser.add_argument_group("logs (to stderr)")
    group.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=argparse.SUPPRESS,
        help="log events at this level and above (default: info for serve, run and replay, "
        "warning otherwise)",
    )
    group.add_argument(
        "--log-format",
        choices=["console", "json"],
        default=argparse.SUPPRESS,
        help="console: readable lines; json: one JSON object per line (default: console on a "
        "terminal, json otherwise)",
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                if not sub.get_default("_bare"):
                    _log_options(sub)


def _range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="start",
        metavar="WHERE",
        default="TRIM_HORIZON",
        help="TRIM_HORIZON (default), a sequence number, or an ISO-8601 time",
    )
    parser.add_argument(
        "--to",
        dest="end",
        metavar="WHERE",
        default=None,
        help="a sequence number or ISO-8601 time to stop after (default: the records present now)",
    )


def _stream_target(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--table-name", help="the table whose latest stream to use")
    which.add_argument("--stream-arn", help="the stream to use")


def _replay(commands: Commands) -> None:
    replay = commands.add_parser(
        "replay",
        help="run an app's mapping over a stream range or an exported file",
        description=(
            "Replay stream records into a mapping's handler (with the mapping's options: "
            "filters, retries, bisect, on_failure) without touching its live checkpoint. "
            "Reads the local data folder's stream, or a JSON Lines file made by "
            "'streamkit streams export'."
        ),
    )
    replay.set_defaults(func=run.replay, runs_handlers=True)
    replay.add_argument(
        "app",
        metavar="MODULE:APP",
        nargs="?",
        help="the app holding the mapping (optional with --dry-run or --into)",
    )
    replay.add_argument("--mapping", help="the mapping's name (needed when the app has several)")
    _stream_target(replay)
    replay.add_argument("--file", help="replay this exported JSON Lines file instead")
    _range(replay)
    replay.add_argument("--batch-size", type=int, default=None, help="records per invocation")
    _data_dir(
        replay,
        "local data folder (default: .streamkit); with --file, the handlers' current_engine() "
        "is this folder's engine, or an in-memory one if not given",
    )
    _region(replay)
    replay.add_argument(
        "--state",
        metavar="FILE",
        default=None,
        help=(
            "keep the replay's position in FILE after every batch: the same command run "
            "again after SIGTERM, Ctrl-C or a crash resumes there (FILE is removed once the "
            "replay completes)"
        ),
    )
    what = replay.add_mutually_exclusive_group()
    what.add_argument(
        "--dry-run",
        action="store_true",
        help="run no handler: print the shards, records and batches that would be delivered",
    )
    what.add_argument(
        "--into",
        metavar="TABLE",
        help="apply the records to TABLE instead (INSERT/MODIFY put the new image, REMOVE "
        "deletes); created with the source's keys if missing",
    )
    _output(replay, "summary format")


def _streams(commands: Commands) -> None:
    streams = commands.add_parser("streams", help="list, describe, follow or export streams")
    actions = streams.add_subparsers(dest="streams_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="ListStreams")
    listing.add_argument("--table-name", help="only this table's streams")
    describe = actions.add_parser("describe", help="DescribeStream (shards and lineage)")
    tail = actions.add_parser("tail", help="print records as they are committed, like tail -f")
    tail.add_argument(
        "--from-start", action="store_true", help="start at TRIM_HORIZON instead of LATEST"
    )
    tail.add_argument("--max-records", type=int, default=0, help="stop after this many records")
    export = actions.add_parser("export", help="write a stream range to a JSON Lines file")
    export.add_argument("--out", required=True, help="the file to write")
    _range(export)
    for action in (listing, describe, tail, export):
        action.set_defaults(func=run.streams)
        if action is not listing:
            _stream_target(action)
        _connection(action)


def _run(commands: Commands) -> None:
    command = commands.add_parser(
        "run",
        help="run an app's stream handlers against the local data dir until Ctrl-C",
        description=(
            "Run the event-source mappings of one or more apps (MODULE:APP, e.g. "
            "handlers.audit:app), the TTL sweeper and stream upkeep against the embedded "
            "database DIR/<region>.sqlite3. In-flight batches finish or are retried after the "
            "next start; checkpoints are kept in the database. Do not run it at the same time "
            "as 'streamkit serve' on the same data dir: use 'serve --app' instead."
        ),
    )
    command.set_defaults(func=run.run, runs_handlers=True)
    command.add_argument("app", metavar="MODULE:APP", nargs="+", help="the app(s) to run")
    _data_dir(command, "the data dir (default: .streamkit)")
    command.add_argument(
        "--region",
        default=None,
        help="the region's file to use (default: us-east-1); with --endpoint-url or --aws, the "
        "endpoint's region (default: the AWS chain's, e.g. AWS_REGION)",
    )
    remote = command.add_argument_group("remote stream source (needs pip install 'streamkit[aws]')")
    remote.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="read the tables' streams from this DynamoDB Streams endpoint (a streamkit serve, "
        "any compatible server) instead of the data dir; one worker reads every shard "
        "(with --lease-table: its share of them)",
    )
    remote.add_argument(
        "--aws",
        action="store_true",
        help="read the streams from AWS itself (the region's endpoint, credentials from the "
        "standard AWS chain)",
    )
    remote.add_argument(
        "--checkpoint-file",
        metavar="PATH",
        help="keep the remote source's checkpoints in this SQLite file, so a restart resumes "
        "(default: in memory)",
    )
    remote.add_argument(
        "--lease-table",
        metavar="TABLE",
        help="share the shards with the other workers of this lease table at the endpoint "
        "(created on first run; checkpoints are kept in it); see 'streamkit leases'",
    )
    remote.add_argument(
        "--worker-id",
        metavar="ID",
        help="this worker's name in the lease table (default: host:pid:random)",
    )
    remote.add_argument(
        "--lease-timeout",
        metavar="SECONDS",
        type=_positive_seconds,
        default=None,
        help="a lease not renewed for this long moves to another worker (default: 10; the same "
        "for every worker of the table)",
    )
    remote.add_argument(
        "--take-interval",
        metavar="SECONDS",
        type=_positive_seconds,
        default=None,
        help="how often this worker scans the lease table for expired or free leases to take, "
        "and steals one to balance (default: the lease timeout); a dead worker's shards move "
        "within the lease timeout plus two take intervals",
    )
    _reload(command)


def _serve(commands: Commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the DynamoDB and DynamoDB Streams APIs over HTTP",
        description=(
            "Serve DynamoDB's JSON API (and DynamoDB Streams') on one port. Point boto3, the aws "
            "CLI or any SDK at the printed URL. The region in each request's signature selects "
            "an isolated set of tables. Ctrl-C or SIGTERM stops it cleanly."
        ),
    )
    serve.set_defaults(func=run.serve, runs_handlers=True)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=8000, help="port to bind; 0 picks a free one (default: 8000)"
    )
    where = serve.add_mutually_exclusive_group()
    _data_dir(where, "folder for the region files DIR/<region>.sqlite3 (default: .streamkit)")
    where.add_argument(
        "--memory", action="store_true", help="keep everything in memory (lost on exit)"
    )
    serve.add_argument(
        "--s3-dir",
        metavar="DIR",
        help="folder of the S3 buckets exports write and imports read, DIR/<bucket>/ "
        "(default: DATA/s3; a temporary folder with --memory)",
    )
    serve.add_argument(
        "--app",
        metavar="MODULE:APP",
        action="append",
        default=[],
        help="an app whose stream handlers (@app.on_stream) run in every region (repeatable)",
    )
    serve.add_argument(
        "--auth",
        metavar="KEY:SECRET",
        action="append",
        default=[],
        help="verify SigV4 signatures and accept this access key (repeatable)",
    )
    serve.add_argument(
        "--auth-file",
        metavar="PATH",
        help="verify SigV4 signatures with the keys of an AWS credentials file "
        "(aws_access_key_id / aws_secret_access_key per profile) or KEY:SECRET lines",
    )
    serve.add_argument(
        "--durability",
        choices=["normal", "full"],
        default="normal",
        help="SQLite synchronous mode: 'full' survives power loss (default: normal)",
    )
    serve.add_argument(
        "--idle-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="close keep-alive connections idle this long (default: 120)",
    )
    serve.add_argument(
        "--request-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="drop clients that take longer to send a request or read a reply (default: 60)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=4096,
        metavar="N",
        help="open connections at most; at the cap an idle one is closed, or the new one gets "
        "503 (default: 4096, and below the open-files limit)",
    )
    serve.add_argument(
        "--stream-shards",
        type=int,
        default=1,
        metavar="N",
        help="open shards per new stream, a key's changes always in one of them (default: 1, "
        "as a new DynamoDB table has; more spreads stream consumers over shards)",
    )
    serve.add_argument(
        "--shard-rollover-seconds",
        type=float,
        default=4 * 3600.0,
        metavar="SECONDS",
        help="close an open shard this long after it opened and continue it in a child shard "
        "(default: 14400, DynamoDB's roughly 4 hours)",
    )
    serve.add_argument(
        "--replication-delay",
        metavar="DURATION",
        default="0",
        help="hold each change to a global table this long before shipping it to the other "
        "regions, e.g. 800ms, 1.5s or 2 (seconds) (default: 0, at once; AWS: about 1s)",
    )
    _reload(serve)


def _replication(commands: Commands) -> None:
    replication = commands.add_parser(
        "replication",
        help="global tables' replication links of a running serve: status, pause, resume",
        description="Per link (table, source region, target region) of a running 'streamkit "
        "serve': records behind, ReplicationLatency in ms, paused. Pause and resume simulate a "
        "region outage. These are streamkit-only requests (DynamoDB has no API for them). "
        "'status --data DIR' reads a stopped data folder instead: records behind from the "
        "links' persisted checkpoints.",
    )
    actions = replication.add_subparsers(
        dest="replication_command", metavar="ACTION", required=True
    )
    status = actions.add_parser("status", help="every link: records behind, lag ms, paused")
    status.add_argument(
        "--data",
        metavar="DIR",
        help="read a stopped data folder's links (records behind only) instead of a server",
    )
    pause = actions.add_parser("pause", help="stop shipping a link's changes (an outage)")
    resume = actions.add_parser("resume", help="ship a paused link's changes again")
    for action in (pause, resume):
        action.add_argument("--table", required=True, help="the global table")
        action.add_argument("--source", required=True, metavar="REGION", help="from this region")
        action.add_argument("--target", required=True, metavar="REGION", help="to this region")
    for action in (status, pause, resume):
        action.set_defaults(func=run.replication)
        action.add_argument(
            "--endpoint-url",
            metavar="URL",
            help="the streamkit serve to ask (default: http://127.0.0.1:8000)",
        )
        _region(action, "the region requests are signed for (default: us-east-1)")
        action.add_argument("--profile", help="credentials profile to sign requests with")
        _output(action, "json (default), native or table")


def _connection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="talk to this endpoint with boto3 (a `streamkit serve`, or AWS itself) instead of "
        "opening the local data folder",
    )
    _data_dir(group, "local data folder (default: .streamkit)", default=".streamkit")
    _region(group)
    group.add_argument("--profile", help="boto3 profile for --endpoint-url")
    _output(
        group,
        "json: DynamoDB JSON like the aws CLI (default); native: plain JSON values; "
        "table: a text table",
    )


def _data_dir(
    parser: argparse.ArgumentParser | argparse._ActionsContainer,
    help: str,
    default: str | None = None,
) -> None:
    parser.add_argument("--data", metavar="DIR", default=default, help=help)


def _region(parser: argparse._ActionsContainer, help: str = "region (default: us-east-1)") -> None:
    parser.add_argument("--region", default="us-east-1", help=help)


def _output(parser: argparse._ActionsContainer, help: str) -> None:
    parser.add_argument("--output", choices=["json", "native", "table"], default="json", help=help)


def _operation(
    commands: Commands,
    name: str,
    operation: str,
    *,
    help: str,
    description: str | None = None,
    table: bool = True,
) -> argparse.ArgumentParser:
    """Add a command running one DynamoDB operation (``cli/data.py``), with ``--table-name``
    unless ``table`` is False."""
    parser = commands.add_parser(name, help=help, description=description)
    parser.set_defaults(func=run.data, operation=operation)
    if table:
        parser.add_argument("--table-name", required=True)
    return parser


def _billing(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    parser.add_argument(
        "--billing-mode", choices=["PAY_PER_REQUEST", "PROVISIONED"], default=default
    )
    parser.add_argument(
        "--provisioned-throughput", metavar="SPEC", help="ReadCapacityUnits=5,WriteCapacityUnits=5"
    )


def _attribute_definitions(parser: argparse._ActionsContainer, example: str) -> None:
    parser.add_argument("--attribute-definitions", nargs="+", metavar="DEF", help=example)


def _tables(commands: Commands) -> None:
    tables = commands.add_parser("tables", help="create, list, describe and delete tables")
    actions = tables.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = _operation(
        actions,
        "create",
        "CreateTable",
        help="create a table (CreateTable)",
        description="Create a table. Either give --key-schema and --attribute-definitions as "
        "the aws CLI takes them (JSON or shorthand), or the shortcuts --hash-key/--range-key.",
    )
    _attribute_definitions(create, "AttributeName=pk,AttributeType=S ... or a JSON array")
    create.add_argument(
        "--key-schema", nargs="+", metavar="KEY", help="AttributeName=pk,KeyType=HASH ... or JSON"
    )
    create.add_argument(
        "--hash-key", metavar="NAME:TYPE", help="shortcut: partition key, e.g. pk:S"
    )
    create.add_argument("--range-key", metavar="NAME:TYPE", help="shortcut: sort key, e.g. sk:N")
    _billing(create, default="PAY_PER_REQUEST")
    create.add_argument(
        "--stream-specification",
        metavar="SPEC",
        help="StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES",
    )
    create.add_argument("--global-secondary-indexes", metavar="JSON", help="JSON array")
    create.add_argument("--local-secondary-indexes", metavar="JSON", help="JSON array")
    _connection(create)

    _connection(
        _operation(actions, "list", "ListTables", table=False, help="list table names (ListTables)")
    )
    for name, operation, what in (
        ("describe", "DescribeTable", "describe"),
        ("delete", "DeleteTable", "delete"),
    ):
        _connection(_operation(actions, name, operation, help=f"{what} a table ({operation})"))

    _tables_update(actions)


def _tables_update(actions: Commands) -> None:
    update = actions.add_parser(
        "update",
        help="change a table (UpdateTable)",
        description="Change a table's billing mode, throughput, stream, deletion protection or "
        "global secondary indexes. At least one change must be asked for.",
    )
    update.set_defaults(func=run.tables_update)
    update.add_argument("table_name", metavar="TABLE")
    _billing(update)
    stream = update.add_mutually_exclusive_group()
    stream.add_argument(
        "--stream-specification",
        metavar="SPEC",
        help="StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES (or JSON)",
    )
    stream.add_argument(
        "--stream-view-type",
        choices=["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"],
        help="enable the stream with this view type",
    )
    stream.add_argument("--disable-stream", action="store_true", help="turn the stream off")
    update.add_argument(
        "--deletion-protection",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="DeletionProtectionEnabled",
    )
    gsi = update.add_argument_group("global secondary indexes")
    gsi.add_argument(
        "--create-gsi",
        nargs="+",
        action="append",
        metavar="NAME HASH:TYPE [RANGE:TYPE]",
        help="create an index, e.g. --create-gsi by_email email:S (repeatable); its key "
        "attributes are added to the attribute definitions",
    )
    gsi.add_argument(
        "--gsi-projection",
        choices=["ALL", "KEYS_ONLY"],
        default="ALL",
        help="projection of the indexes --create-gsi makes (default: ALL)",
    )
    gsi.add_argument(
        "--gsi-provisioned-throughput",
        metavar="SPEC",
        help="throughput of the indexes --create-gsi makes (PROVISIONED tables)",
    )
    gsi.add_argument("--delete-gsi", action="append", metavar="NAME", help="delete an index")
    gsi.add_argument(
        "--update-gsi",
        nargs=2,
        action="append",
        metavar=("NAME", "SPEC"),
        help="change an index's throughput: NAME ReadCapacityUnits=5,WriteCapacityUnits=5",
    )
    gsi.add_argument(
        "--global-secondary-index-updates", metavar="JSON", help="the raw JSON array, as in AWS"
    )
    _attribute_definitions(
        gsi, "AttributeName=email,AttributeType=S ... or a JSON array (for new indexes)"
    )
    pitr = update.add_argument_group("point-in-time recovery (UpdateContinuousBackups)")
    pitr.add_argument("--pitr", choices=["on", "off"], help="turn point-in-time recovery on/off")
    pitr.add_argument("--recovery-period-days", type=int, metavar="DAYS", help="1-35 (35)")
    _connection(update)


def _restore(commands: Commands) -> None:
    restore = commands.add_parser(
        "restore", help="restore a table with PITR on, as it was at a moment, to a new table"
    )
    restore.set_defaults(func=run.restore)
    restore.add_argument("--table", required=True, metavar="TABLE", help="the source table")
    restore.add_argument("--to", required=True, metavar="TABLE", help="the new table")
    when = restore.add_mutually_exclusive_group(required=True)
    when.add_argument("--time", metavar="ISO", help="ISO 8601 (no zone: UTC) or epoch seconds")
    when.add_argument("--latest", action="store_true", help="the latest restorable time")
    _connection(restore)


def _backup(commands: Commands) -> None:
    backup = commands.add_parser("backup", help="on-demand backups: create, list, restore, ...")
    actions = backup.add_subparsers(dest="backup_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="CreateBackup of TABLE")
    create.add_argument("table_name", metavar="TABLE")
    create.add_argument("--name", help="BackupName (default: TABLE-<UTC time>)")
    listing = actions.add_parser("list", help="ListBackups (every page)")
    listing.add_argument("--table", metavar="TABLE", help="only this table's backups")
    listing.add_argument("--type", choices=["USER", "SYSTEM", "AWS_BACKUP", "ALL"], default="ALL")
    listing.add_argument("--since", metavar="ISO", help="created at or after this time")
    listing.add_argument("--until", metavar="ISO", help="created before this time")
    describe = actions.add_parser("describe", help="DescribeBackup")
    delete = actions.add_parser("delete", help="DeleteBackup")
    restore = actions.add_parser("restore", help="RestoreTableFromBackup into a new table")
    for action in (describe, delete, restore):
        action.add_argument("backup_arn", metavar="BACKUP_ARN")
    restore.add_argument("target_table", metavar="TARGET_TABLE")
    restore.add_argument("--billing-mode", choices=["PROVISIONED", "PAY_PER_REQUEST"])
    restore.add_argument("--read-capacity", type=int, metavar="N")
    restore.add_argument("--write-capacity", type=int, metavar="N")
    restore.add_argument(
        "--no-indexes", action="store_true", help="leave out every secondary index"
    )
    for action in (create, listing, describe, delete, restore):
        action.set_defaults(func=run.backup)
        _connection(action)


def _ttl(commands: Commands) -> None:
    ttl = commands.add_parser("ttl", help="turn Time to Live on or off, or show it")
    actions = ttl.add_subparsers(dest="ttl_command", metavar="ACTION", required=True)
    enable = actions.add_parser("enable", help="UpdateTimeToLive Enabled=true")
    enable.add_argument("--attribute", required=True, metavar="NAME", help="the expiry attribute")
    disable = actions.add_parser(
        "disable", help="UpdateTimeToLive Enabled=false (the enabled attribute by default)"
    )
    disable.add_argument(
        "--attribute", metavar="NAME", help="default: the one DescribeTimeToLive reports"
    )
    describe = actions.add_parser("describe", help="DescribeTimeToLive")
    for action in (enable, disable, describe):
        action.set_defaults(func=run.ttl)
        action.add_argument("table_name", metavar="TABLE")
        _connection(action)


def _tags(commands: Commands) -> None:
    tags = commands.add_parser("tags", help="list a table's tags, or add and remove some")
    tags.add_argument("table_name", metavar="TABLE")
    tags.add_argument("--add", nargs="+", action="extend", metavar="KEY=VALUE", help="TagResource")
    tags.add_argument("--remove", nargs="+", action="extend", metavar="KEY", help="UntagResource")
    tags.set_defaults(func=run.tags)
    _connection(tags)


def _expressions(parser: argparse.ArgumentParser, *, condition: bool = False) -> None:
    if condition:
        parser.add_argument("--condition-expression", metavar="EXPR")
    parser.add_argument("--expression-attribute-names", metavar="JSON", help='e.g. {"#n": "name"}')
    parser.add_argument(
        "--expression-attribute-values",
        metavar="JSON",
        help='e.g. {":v": {"S": "x"}} or plain JSON {":v": "x"}',
    )


def _input_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-format",
        choices=["auto", "dynamodb", "native"],
        default="auto",
        help="how to read items, keys and values: DynamoDB JSON, plain JSON, or auto (DynamoDB "
        "JSON when every value is a one-key {TYPE: value} object; default)",
    )


def _item_write(parser: argparse.ArgumentParser, returns: list[str]) -> None:
    """The rest of PutItem's, UpdateItem's and DeleteItem's options: a condition, the values
    to return, the input format and where."""
    _expressions(parser, condition=True)
    parser.add_argument("--return-values", choices=returns)
    _input_format(parser)
    _connection(parser)


def _key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True, metavar="JSON")


def _items(commands: Commands) -> None:
    put = _operation(commands, "put", "PutItem", help="write an item (PutItem)")
    put.add_argument("--item", required=True, metavar="JSON", help="the item (or file://path)")
    _item_write(put, ["NONE", "ALL_OLD"])

    get = _operation(commands, "get", "GetItem", help="read an item (GetItem)")
    _key(get)
    get.add_argument("--projection-expression", metavar="EXPR")
    get.add_argument("--expression-attribute-names", metavar="JSON")
    get.add_argument("--consistent-read", action="store_true")
    _input_format(get)
    _connection(get)

    update = _operation(commands, "update", "UpdateItem", help="change an item (UpdateItem)")
    _key(update)
    update.add_argument("--update-expression", metavar="EXPR", required=True)
    _item_write(update, ["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"])

    delete = _operation(commands, "delete", "DeleteItem", help="delete an item (DeleteItem)")
    _key(delete)
    _item_write(delete, ["NONE", "ALL_OLD"])

    for name, operation in (("query", "Query"), ("scan", "Scan")):
        read = _operation(
            commands, name, operation, help=f"read many items ({operation}), paginated"
        )
        read.add_argument("--index-name")
        if name == "query":
            read.add_argument("--key-condition-expression", metavar="EXPR", required=True)
            read.add_argument(
                "--no-scan-index-forward",
                dest="scan_index_forward",
                action="store_false",
                help="return items in descending sort-key order",
            )
        else:
            read.add_argument("--segment", type=int)
            read.add_argument("--total-segments", type=int)
        read.add_argument("--filter-expression", metavar="EXPR")
        read.add_argument("--projection-expression", metavar="EXPR")
        _expressions(read)
        read.add_argument(
            "--select",
            choices=["ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT"],
        )
        read.add_argument("--consistent-read", action="store_true")
        pages = read.add_argument_group("pagination (as the aws CLI)")
        pages.add_argument(
            "--page-size", type=int, metavar="N", help="items evaluated per request (Limit)"
        )
        pages.add_argument(
            "--max-items", type=int, metavar="N", help="stop after N items and print a NextToken"
        )
        pages.add_argument("--starting-token", metavar="TOKEN", help="a NextToken to resume from")
        _input_format(read)
        _connection(read)


def _bulk(commands: Commands) -> None:
    batch = commands.add_parser(
        "batch-write",
        help="write many items (BatchWriteItem, 25 a call, retrying UnprocessedItems)",
        description='Send a RequestItems document ({"TABLE": [{"PutRequest": {"Item": '
        '...}}, {"DeleteRequest": {"Key": ...}}]}) in calls of at most 25 requests; '
        "UnprocessedItems are sent again with back-off. Exit status 1 if some remain.",
    )
    batch.set_defaults(func=run.batch_write)
    batch.add_argument("--file", required=True, help="the JSON file (as --request-items takes)")

    load = commands.add_parser(
        "load",
        help="write a JSON Lines file of items into a table",
        description="Check every line first, then write them with BatchWriteItem. A line is an "
        "item in DynamoDB JSON, in plain JSON, or in DynamoDB's S3 export format "
        "({\"Item\": {...}}, what 'streamkit dump' writes).",
    )
    load.set_defaults(func=run.load)
    load.add_argument("table_name", metavar="TABLE")
    load.add_argument("file", metavar="FILE.jsonl")

    dump = commands.add_parser(
        "dump", help='write every item of a table as JSON Lines ({"Item": ...}, DynamoDB JSON)'
    )
    dump.set_defaults(func=run.dump)
    dump.add_argument("table_name", metavar="TABLE")
    dump.add_argument("--out", metavar="FILE", help="the file to write (default: stdout)")

    transact = commands.add_parser(
        "transact",
        help="run a transaction (TransactWriteItems, or TransactGetItems when all are Get)",
    )
    transact.set_defaults(func=run.transact)
    transact.add_argument(
        "--file",
        required=True,
        help='a JSON array of {"Put"|"Update"|"Delete"|"ConditionCheck"|"Get": {...}}',
    )
    transact.add_argument("--client-request-token", metavar="TOKEN", help="idempotency token")
    for command in (batch, load, dump, transact):
        if command is not dump:
            _input_format(command)
        _connection(command)


def _mappings(commands: Commands) -> None:
    mappings = commands.add_parser(
        "mappings",
        help="show where each stream mapping stands, or move its checkpoints",
        description="Mappings' checkpoints live in the local data folder's database (not in "
        "DynamoDB's API: --endpoint-url cannot reach them). --app MODULE:APP adds the app's "
        "mappings that have not run yet, their tables, and failed-batch counts from "
        "on_failure files.",
    )
    actions = mappings.add_subparsers(dest="mappings_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every mapping: state, shards, lag, failed batches")
    status = actions.add_parser("status", help="one mapping, shard by shard (checkpoints, lag)")
    status.add_argument("name", metavar="NAME")
    reset = actions.add_parser(
        "reset",
        help="move a mapping's checkpoints to TRIM_HORIZON or LATEST (nothing may run it)",
        description="Move every checkpoint of the mapping on its stream: TRIM_HORIZON "
        "re-delivers every record still in the stream, LATEST skips everything there now. "
        "Refused while a 'streamkit run' or 'serve' owns the data folder.",
    )
    reset.add_argument("name", metavar="NAME")
    reset.add_argument("--to", required=True, choices=["TRIM_HORIZON", "LATEST"])
    reset.add_argument("--table", help="the mapping's table, when it has no checkpoints yet")
    for action in (listing, status, reset):
        action.set_defaults(func=run.mappings)
        action.add_argument(
            "--app", metavar="MODULE:APP", action="append", default=[], help="the app (optional)"
        )
        _connection(action)


def _leases(commands: Commands) -> None:
    leases = commands.add_parser(
        "leases",
        help="who holds which shard of which mapping in a lease table, and how far behind",
        description="Workers of 'streamkit run --endpoint-url' share a stream's shards through a "
        "lease table. This lists its leases: mapping, shard, owner, checkpoint, parent shards "
        "and, where the stream is readable at the endpoint, the records after the checkpoint "
        "(Behind) and the oldest one's age.",
    )
    leases.set_defaults(func=run.leases)
    leases.add_argument(
        "--lease-table",
        metavar="TABLE",
        default="streamkit-leases",
        help="the lease table (default: streamkit-leases)",
    )
    leases.add_argument(
        "--no-behind",
        dest="behind",
        action="store_false",
        help="do not read the streams to count the records after each checkpoint",
    )
    _connection(leases)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return value


def _reload(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reload",
        action="store_true",
        help="restart when a .py file changes (needs watchfiles: pip install 'streamkit[reload]')",
    )
    parser.add_argument(
        "--reload-dir",
        metavar="DIR",
        action="append",
        help="folder to watch with --reload (repeatable; default: the working directory)",
    )
