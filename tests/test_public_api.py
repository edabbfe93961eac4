"""The public surface, pinned: any change to a public ``__all__`` is a deliberate edit here.

Each entry lists the names a public module exports, as users import them (README, docs/*.md,
examples). Adding, removing or renaming a public name means editing this file in the same
commit, and docs/api.md with it.
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC: dict[str, list[str]] = {
    "streamkit": [
        "App",
        "Clock",
        "Engine",
        "Runtime",
        "SystemClock",
        "Table",
        "__version__",
        "current_engine",
        "errors",
        "open_engine",
        "open_runtime",
    ],
    "streamkit.errors": [
        "AccessDeniedException",
        "BackupInUseException",
        "BackupNotFoundException",
        "ClockStalledError",
        "ClosedError",
        "ConditionalCheckFailedException",
        "ConfigurationError",
        "DatabaseFileError",
        "DatabaseInUseError",
        "DuplicateItemException",
        "DynamoDBError",
        "ExpiredIteratorException",
        "ExportConflictException",
        "ExportNotFoundException",
        "ExpressionSyntaxError",
        "HandlerExitError",
        "IdempotentParameterMismatchException",
        "ImportConflictException",
        "ImportNotFoundException",
        "IncompleteSignatureException",
        "InternalServerError",
        "InvalidExportTimeException",
        "InvalidRestoreTimeException",
        "InvalidSignatureException",
        "ItemCollectionSizeLimitExceededException",
        "LimitExceededException",
        "MissingAuthenticationTokenException",
        "PointInTimeRecoveryUnavailableException",
        "PolicyNotFoundException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ResourceInUseException",
        "ResourceNotFoundException",
        "SerializationException",
        "StreamkitError",
        "TableAlreadyExistsException",
        "TableInUseException",
        "TableNotFoundException",
        "ThrottlingException",
        "TransactionCanceledException",
        "TransactionConflictException",
        "TransactionInProgressException",
        "TrimmedDataAccessException",
        "UnknownOperationException",
        "UnrecognizedClientException",
        "ValidationException",
        "for_code",
    ],
    "streamkit.testing": [
        "Blocking",
        "Harness",
        "LambdaContext",
        "ManualClock",
        "SyncHarness",
        "deserialize_event",
        "make_event",
        "make_stream_record",
        "open_harness",
        "open_sync_harness",
    ],
    "streamkit.backoff": [
        "Backoff",
        "retryable",
    ],
    "streamkit.clock": [
        "Clock",
        "SystemClock",
        "background_task",
    ],
    "streamkit.logs": [
        "PROCESSORS",
        "get_logger",
        "to_stdlib",
    ],
    "streamkit.runtime": [
        "RemoteRuntime",
        "Runtime",
        "Worker",
        "open_remote_runtime",
        "open_runtime",
    ],
    "streamkit.server": [
        "DEFAULT_DATA_DIR",
        "Dispatcher",
        "Limits",
        "Server",
        "open_harness_endpoint",
        "open_listener",
        "open_server",
        "open_sync_endpoint",
    ],
    "streamkit.pytest_plugin": [
        "ENDPOINT_VARIABLES",
        "streamkit_app",
        "streamkit_clock",
        "streamkit_endpoint",
        "streamkit_engine",
        "streamkit_engine_options",
        "streamkit_harness",
        "streamkit_sync_harness",
    ],
    "streamkit.aws": [
        "APP_VARIABLE",
        "DEPLOYED_AS",
        "ENTRY_POINT",
        "LambdaEntry",
        "MAPPING_VARIABLE",
        "NotDeployed",
        "Template",
        "build_template",
        "handle",
        "lambda_handler",
    ],
    "streamkit.engine": [
        "Engine",
        "Table",
        "load_catalog",
        "open_engine_store",
        "open_only",
    ],
    "streamkit.engine.bulk": [
        "BULK_BACKOFF",
        "batch_get_all",
        "batch_write_all",
    ],
    "streamkit.engine.typed": [
        "BatchGetItemRequest",
        "BatchWriteItemRequest",
        "CreateTableRequest",
        "DeleteItemRequest",
        "DeleteTableRequest",
        "DescribeStreamRequest",
        "DescribeTableRequest",
        "DescribeTimeToLiveRequest",
        "GetItemRequest",
        "GetRecordsRequest",
        "GetShardIteratorRequest",
        "ListStreamsRequest",
        "ListTablesRequest",
        "PutItemRequest",
        "QueryRequest",
        "ScanRequest",
        "StreamsApi",
        "TableDeleteItemRequest",
        "TableGetItemRequest",
        "TablePutItemRequest",
        "TableQueryRequest",
        "TableScanRequest",
        "TableUpdateItemRequest",
        "TransactGetItemsRequest",
        "TransactWriteItemsRequest",
        "TypedOperations",
        "UpdateItemRequest",
        "UpdateTableRequest",
        "UpdateTimeToLiveRequest",
    ],
    "streamkit.mappings.replay": [
        "DONE",
        "Position",
        "Positions",
        "ReplayResult",
        "ShardReplay",
        "export_stream",
        "replay",
        "replay_file",
    ],
    "streamkit.mappings.source": [
        "Checkpoint",
        "CheckpointStore",
        "EngineCheckpoints",
        "LocalSource",
        "MemoryCheckpoints",
        "ShardReader",
        "SourcePage",
        "SqliteCheckpoints",
        "StreamSource",
        "Waiter",
    ],
    "streamkit.mappings.remote": [
        "POLL_INTERVAL",
        "REMOTE_BACKOFF",
        "RemoteMetrics",
        "RemoteShard",
        "RemoteSource",
        "open_remote_source",
    ],
    "streamkit.mappings.context": [
        "CognitoIdentity",
        "LambdaContext",
    ],
    "streamkit.mappings.events": [
        "DEFAULT_ACCOUNT",
        "DEFAULT_CREATION_TIME",
        "DEFAULT_STREAM_LABEL",
        "TTL_IDENTITY",
        "deserialize_event",
        "deserialize_record",
        "make_event",
        "make_stream_record",
        "stream_arn",
    ],
    "streamkit.model.native": [
        "from_attribute_value",
        "from_item",
        "to_attribute_value",
        "to_item",
    ],
    "streamkit.ttl": [
        "run_ttl_sweeper",
        "sweep_once",
    ],
    "streamkit.streams": [
        "ITERATOR_LIFETIME",
        "SERVICE_IDENTITY",
        "StreamsClient",
        "Upkeep",
        "base64_binaries",
        "lambda_record",
        "maintain_once",
        "open_engine",
        "run_retention",
    ],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_all_is_pinned(module: str) -> None:
    assert sorted(importlib.import_module(module).__all__) == PUBLIC[module]


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_exported_name_exists(module: str) -> None:
    imported = importlib.import_module(module)
    missing = [name for name in PUBLIC[module] if not hasattr(imported, name)]
    assert missing == []


def test_all_lists_are_sorted_and_unique() -> None:
    """Pinned lists are sorted, so a new name has one place to go and a diff shows it plainly."""
    for module, names in PUBLIC.items():
        assert names == sorted(set(names)), module
