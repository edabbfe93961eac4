"""The engine's operations as type checkers see them: each request's members, by name.

At run time every operation of :class:`~streamkit.Engine` takes keyword arguments and returns a
dict. For editors and type checkers, :class:`TypedOperations` (a base of ``Engine`` that is
empty at run time) declares each one with ``**kwargs: Unpack[<Operation>Request]``: the
members boto3 (``mypy-boto3-dynamodb``) names for that request and streamkit accepts, the
required ones required. So an editor completes ``TableName=``, ``ConditionExpression=``, ...,
and mypy or pyright reports a misspelt member (``Itme=``), a missing ``TableName`` or a member
streamkit would refuse (``VectorIndexes``) before the call runs::

    await db.put_item(TableName="orders", Item={"pk": {"S": "o1"}})    # checked
    await db.put_item(TableName="orders", Itme={"pk": {"S": "o1"}})    # mypy: unexpected key

Scalar members are typed (``str``, ``int``, ``bool``; enums as ``str``); nested ones (items,
key schemas, ``RequestItems``) and the responses (dicts, as at run time) are ``Any``, so
requests built as plain dicts type-check as they run. The TypedDicts can also type a request
built ahead: ``request: PutItemRequest = {...}; await db.put_item(**request)``.

Generated from mypy-boto3-dynamodb 1.43.124 / mypy-boto3-dynamodbstreams 1.43.114 (the keys
and which are required), intersected with the members streamkit accepts; the control-plane
operations added later (backups, point-in-time recovery, exports and imports, tags, resource
policies, DescribeEndpoints, DescribeLimits) from botocore's service model the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NotRequired, Protocol, TypedDict

if TYPE_CHECKING:
    from typing import Unpack

__all__ = [
    "BatchGetItemRequest",
    "BatchWriteItemRequest",
    "CreateBackupRequest",
    "CreateTableRequest",
    "DeleteBackupRequest",
    "DeleteItemRequest",
    "DeleteResourcePolicyRequest",
    "DeleteTableRequest",
    "DescribeBackupRequest",
    "DescribeContinuousBackupsRequest",
    "DescribeEndpointsRequest",
    "DescribeExportRequest",
    "DescribeImportRequest",
    "DescribeLimitsRequest",
    "DescribeStreamRequest",
    "DescribeTableRequest",
    "DescribeTimeToLiveRequest",
    "ExportTableToPointInTimeRequest",
    "GetItemRequest",
    "GetRecordsRequest",
    "GetResourcePolicyRequest",
    "GetShardIteratorRequest",
    "ImportTableRequest",
    "ListBackupsRequest",
    "ListExportsRequest",
    "ListImportsRequest",
    "ListStreamsRequest",
    "ListTablesRequest",
    "ListTagsOfResourceRequest",
    "PutItemRequest",
    "PutResourcePolicyRequest",
    "QueryRequest",
    "RestoreTableFromBackupRequest",
    "RestoreTableToPointInTimeRequest",
    "ScanRequest",
    "StreamsApi",
    "TableDeleteItemRequest",
    "TableGetItemRequest",
    "TablePutItemRequest",
    "TableQueryRequest",
    "TableScanRequest",
    "TableUpdateItemRequest",
    "TagResourceRequest",
    "TransactGetItemsRequest",
    "TransactWriteItemsRequest",
    "TypedOperations",
    "UntagResourceRequest",
    "UpdateContinuousBackupsRequest",
    "UpdateItemRequest",
    "UpdateTableRequest",
    "UpdateTimeToLiveRequest",
]


class BatchGetItemRequest(TypedDict):
    """BatchGetItem's request members."""

    RequestItems: Any
    ReturnConsumedCapacity: NotRequired[Any]


class BatchWriteItemRequest(TypedDict):
    """BatchWriteItem's request members."""

    RequestItems: Any
    ReturnConsumedCapacity: NotRequired[Any]
    ReturnItemCollectionMetrics: NotRequired[Any]


class CreateTableRequest(TypedDict):
    """CreateTable's request members."""

    TableName: Any
    AttributeDefinitions: NotRequired[Any]
    BillingMode: NotRequired[Any]
    DeletionProtectionEnabled: NotRequired[Any]
    GlobalSecondaryIndexes: NotRequired[Any]
    KeySchema: NotRequired[Any]
    LocalSecondaryIndexes: NotRequired[Any]
    OnDemandThroughput: NotRequired[Any]
    ProvisionedThroughput: NotRequired[Any]
    ResourcePolicy: NotRequired[Any]
    SSESpecification: NotRequired[Any]
    StreamSpecification: NotRequired[Any]
    TableClass: NotRequired[Any]
    Tags: NotRequired[Any]
    WarmThroughput: NotRequired[Any]


class TableDeleteItemRequest(TypedDict):
    """DeleteItem's request members on a resource Table (its name is the table's)."""

    Key: Any
    ConditionExpression: NotRequired[Any]
    ConditionalOperator: NotRequired[Any]
    Expected: NotRequired[Any]
    ExpressionAttributeNames: NotRequired[Any]
    ExpressionAttributeValues: NotRequired[Any]
    ReturnConsumedCapacity: NotRequired[Any]
    ReturnItemCollectionMetrics: NotRequired[Any]
    ReturnValues: NotRequired[Any]
    ReturnValuesOnConditionCheckFailure: NotRequired[Any]


class DeleteItemRequest(TableDeleteItemRequest):
    """DeleteItem's request members."""

    TableName: Any


class DeleteTableRequest(TypedDict):
    """DeleteTable's request members."""

    TableName: Any


class DescribeTableRequest(TypedDict):
    """DescribeTable's request members."""

    TableName: Any


class DescribeTimeToLiveRequest(TypedDict):
    """DescribeTimeToLive's request members."""

    TableName: Any


class TableGetItemRequest(TypedDict):
    """GetItem's request members on a resource Table (its name is the table's)."""

    Key: Any
    AttributesToGet: NotRequired[Any]
    ConsistentRead: NotRequired[Any]
    ExpressionAttributeNames: NotRequired[Any]
    ProjectionExpression: NotRequired[Any]
    ReturnConsumedCapacity: NotRequired[Any]


class GetItemRequest(TableGetItemRequest):
    """GetItem's request members."""

    TableName: Any


class ListTablesRequest(TypedDict):
    """ListTables's request members."""

    ExclusiveStartTableName: NotRequired[Any]
    Limit: NotRequired[Any]


class TablePutItemRequest(TypedDict):
    """PutItem's request members on a resource Table (its name is the table's)."""

    Item: Any
    ConditionExpression: NotRequired[Any]
    ConditionalOperator: NotRequired[Any]
    Expected: NotRequired[Any]
    ExpressionAttributeNames: NotRequired[Any]
    ExpressionAttributeValues: NotRequired[Any]
    ReturnConsumedCapacity: NotRequired[Any]
    ReturnItemCollectionMetrics: NotRequired[Any]
    ReturnValues: NotRequired[Any]
    ReturnValuesOnConditionCheckFailure: NotRequired[Any]


class PutItemRequest(TablePutItemRequest):
    """PutItem's request members."""

    TableName: Any


class TableQueryRequest(TypedDict):
    """Query's request members on a resource Table (its name is the table's)."""

    AttributesToGet: NotRequired[Any]
    ConditionalOperator: NotRequired[Any]
    ConsistentRead: NotRequired[Any]
    ExclusiveStartKey: NotRequired[Any]
    ExpressionAttributeNames: NotRequired[Any]
    ExpressionAttributeValues: NotRequired[Any]
    FilterExpression: NotRequired[Any]
    IndexName: NotRequired[Any]
    KeyConditionExpression: NotRequired[Any]
    KeyConditions: NotRequired[Any]
    Limit: NotRequired[Any]
    ProjectionExpression: NotRequired[Any]
    QueryFilter: NotRequired[Any]
    ReturnConsumedCapacity: NotRequired[Any]
    ScanIndexForward: NotRequired[Any]
    Select: NotRequired[Any]


class QueryRequest(TableQueryRequest):
    """Query's request members."""

    TableName: Any


class TableScanRequest(TypedDict):
    """Scan's request members on a resource Table (its name is the table's)."""

    AttributesToGet: NotRequired[Any]
    ConditionalOperator: NotRequired[Any]
    ConsistentRead: NotRequired[Any]
    ExclusiveStartKey: NotRequired[Any]
    ExpressionAttributeNames: NotRequired[Any]
    ExpressionAttributeValues: NotRequired[Any]
    FilterExpression: NotRequired[Any]
    IndexName: NotRequired[Any]
    Limit: NotRequired[Any]
    ProjectionExpression: NotRequired[Any]
    ReturnConsumedCapacity: NotRequired[Any]
    ScanFilter: NotRequired[Any]
    Segment: NotRequired[Any]
    Select: NotRequired[Any]
    TotalSegments: NotRequired[Any]


class ScanRequest(TableScanRequest):
    """Scan's request members."""

    TableName: Any


class TransactGetItemsRequest(TypedDict):
    """TransactGetItems's request members."""

    TransactItems: Any
    ReturnConsumedCapacity: NotRequired[Any]


class TransactWriteItemsRequest(TypedDict):
    """TransactWriteItems's request members."""

    TransactItems: Any
    ClientRequestToken: NotRequired[Any]
    ReturnConsumedCapacity: NotRequired[Any]
    ReturnItemCollectionMetrics: NotRequired[Any]


class TableUpdateItemRequest(TypedDict):
    """UpdateItem's request members on a resource Table (its name is the table's)."""

    Key: Any
    AttributeUpdates: NotRequired[Any]
    ConditionExpression: NotRequired[Any]
    ConditionalOperator: NotRequired[Any]
    Expected: NotRequired[Any]
    ExpressionAttributeNames: NotRequired[Any]
    ExpressionAttributeValues: NotRequired[Any]
    ReturnConsumedCapacity: NotRequired[Any]
    ReturnItemCollectionMetrics: NotRequired[Any]
    ReturnValues: NotRequired[Any]
    ReturnValuesOnConditionCheckFailure: NotRequired[Any]
    UpdateExpression: NotRequired[Any]


class UpdateItemRequest(TableUpdateItemRequest):
    """UpdateItem's request members."""

    TableName: Any


class UpdateTableRequest(TypedDict):
    """UpdateTable's request members."""

    TableName: Any
    AttributeDefinitions: NotRequired[Any]
    BillingMode: NotRequired[Any]
    DeletionProtectionEnabled: NotRequired[Any]
    GlobalSecondaryIndexUpdates: NotRequired[Any]
    GlobalTableWitnessUpdates: NotRequired[Any]
    MultiRegionConsistency: NotRequired[Any]
    OnDemandThroughput: NotRequired[Any]
    ProvisionedThroughput: NotRequired[Any]
    ReplicaUpdates: NotRequired[Any]
    SSESpecification: NotRequired[Any]
    StreamSpecification: NotRequired[Any]
    TableClass: NotRequired[Any]
    WarmThroughput: NotRequired[Any]


class UpdateTimeToLiveRequest(TypedDict):
    """UpdateTimeToLive's request members."""

    TableName: Any
    TimeToLiveSpecification: Any


class CreateBackupRequest(TypedDict):
    """CreateBackup's request members."""

    TableName: Any
    BackupName: Any


class DeleteBackupRequest(TypedDict):
    """DeleteBackup's request members."""

    BackupArn: Any


class DeleteResourcePolicyRequest(TypedDict):
    """DeleteResourcePolicy's request members."""

    ResourceArn: Any
    ExpectedRevisionId: NotRequired[Any]


class DescribeBackupRequest(TypedDict):
    """DescribeBackup's request members."""

    BackupArn: Any


class DescribeContinuousBackupsRequest(TypedDict):
    """DescribeContinuousBackups's request members."""

    TableName: Any


class DescribeEndpointsRequest(TypedDict):
    """DescribeEndpoints's request members (none)."""


class DescribeExportRequest(TypedDict):
    """DescribeExport's request members."""

    ExportArn: Any


class DescribeImportRequest(TypedDict):
    """DescribeImport's request members."""

    ImportArn: Any


class DescribeLimitsRequest(TypedDict):
    """DescribeLimits's request members (none)."""


class ExportTableToPointInTimeRequest(TypedDict):
    """ExportTableToPointInTime's request members."""

    TableArn: Any
    S3Bucket: Any
    ClientToken: NotRequired[Any]
    ExportFormat: NotRequired[Any]
    ExportTime: NotRequired[Any]
    ExportType: NotRequired[Any]
    IncrementalExportSpecification: NotRequired[Any]
    S3BucketOwner: NotRequired[Any]
    S3Prefix: NotRequired[Any]
    S3SseAlgorithm: NotRequired[Any]
    S3SseKmsKeyId: NotRequired[Any]


class GetResourcePolicyRequest(TypedDict):
    """GetResourcePolicy's request members."""

    ResourceArn: Any


class ImportTableRequest(TypedDict):
    """ImportTable's request members."""

    S3BucketSource: Any
    InputFormat: Any
    TableCreationParameters: Any
    ClientToken: NotRequired[Any]
    InputCompressionType: NotRequired[Any]
    InputFormatOptions: NotRequired[Any]


class ListBackupsRequest(TypedDict):
    """ListBackups's request members."""

    BackupType: NotRequired[Any]
    ExclusiveStartBackupArn: NotRequired[Any]
    Limit: NotRequired[Any]
    TableName: NotRequired[Any]
    TimeRangeLowerBound: NotRequired[Any]
    TimeRangeUpperBound: NotRequired[Any]


class ListExportsRequest(TypedDict):
    """ListExports's request members."""

    MaxResults: NotRequired[Any]
    NextToken: NotRequired[Any]
    TableArn: NotRequired[Any]


class ListImportsRequest(TypedDict):
    """ListImports's request members."""

    NextToken: NotRequired[Any]
    PageSize: NotRequired[Any]
    TableArn: NotRequired[Any]


class ListTagsOfResourceRequest(TypedDict):
    """ListTagsOfResource's request members."""

    ResourceArn: Any
    NextToken: NotRequired[Any]


class PutResourcePolicyRequest(TypedDict):
    """PutResourcePolicy's request members."""

    ResourceArn: Any
    Policy: Any
    ConfirmRemoveSelfResourceAccess: NotRequired[Any]
    ExpectedRevisionId: NotRequired[Any]


class RestoreTableFromBackupRequest(TypedDict):
    """RestoreTableFromBackup's request members."""

    TargetTableName: Any
    BackupArn: Any
    BillingModeOverride: NotRequired[Any]
    GlobalSecondaryIndexOverride: NotRequired[Any]
    LocalSecondaryIndexOverride: NotRequired[Any]
    OnDemandThroughputOverride: NotRequired[Any]
    ProvisionedThroughputOverride: NotRequired[Any]
    SSESpecificationOverride: NotRequired[Any]


class RestoreTableToPointInTimeRequest(TypedDict):
    """RestoreTableToPointInTime's request members."""

    TargetTableName: Any
    BillingModeOverride: NotRequired[Any]
    GlobalSecondaryIndexOverride: NotRequired[Any]
    LocalSecondaryIndexOverride: NotRequired[Any]
    OnDemandThroughputOverride: NotRequired[Any]
    ProvisionedThroughputOverride: NotRequired[Any]
    RestoreDateTime: NotRequired[Any]
    SSESpecificationOverride: NotRequired[Any]
    SourceTableArn: NotRequired[Any]
    SourceTableName: NotRequired[Any]
    UseLatestRestorableTime: NotRequired[Any]


class TagResourceRequest(TypedDict):
    """TagResource's request members."""

    ResourceArn: Any
    Tags: Any


class UntagResourceRequest(TypedDict):
    """UntagResource's request members."""

    ResourceArn: Any
    TagKeys: Any


class UpdateContinuousBackupsRequest(TypedDict):
    """UpdateContinuousBackups's request members."""

    TableName: Any
    PointInTimeRecoverySpecification: Any


class DescribeStreamRequest(TypedDict):
    """DescribeStream's request members."""

    StreamArn: Any
    ExclusiveStartShardId: NotRequired[Any]
    Limit: NotRequired[Any]
    ShardFilter: NotRequired[Any]


class GetRecordsRequest(TypedDict):
    """GetRecords's request members."""

    ShardIterator: Any
    Limit: NotRequired[Any]


class GetShardIteratorRequest(TypedDict):
    """GetShardIterator's request members."""

    ShardId: Any
    ShardIteratorType: Any
    StreamArn: Any
    SequenceNumber: NotRequired[Any]
    Timestamp: NotRequired[Any]


class ListStreamsRequest(TypedDict):
    """ListStreams's request members."""

    ExclusiveStartStreamArn: NotRequired[Any]
    Limit: NotRequired[Any]
    TableName: NotRequired[Any]


class StreamsApi(Protocol):
    """The DynamoDB Streams API an engine carries as ``engine.streams``.

    Declared in the engine layer so it can name it; the implementation lives one layer up in
    :mod:`streamkit.streams`, and ``streamkit.open_engine`` builds the engine with it.
    """

    OPERATIONS: ClassVar[Mapping[str, str]]

    async def describe_stream(self, **kwargs: Unpack[DescribeStreamRequest]) -> dict[str, Any]: ...

    async def get_records(self, **kwargs: Unpack[GetRecordsRequest]) -> dict[str, Any]: ...

    async def get_shard_iterator(
        self, **kwargs: Unpack[GetShardIteratorRequest]
    ) -> dict[str, Any]: ...

    async def list_streams(self, **kwargs: Unpack[ListStreamsRequest]) -> dict[str, Any]: ...

    async def wait_for_records(self, ShardIterator: str) -> None: ...  # noqa: N803


class TypedOperations:
    """The engine's DynamoDB operations with their request members; empty at run time."""

    if TYPE_CHECKING:

        async def batch_get_item(self, **kwargs: Unpack[BatchGetItemRequest]) -> dict[str, Any]: ...

        async def batch_write_item(
            self, **kwargs: Unpack[BatchWriteItemRequest]
        ) -> dict[str, Any]: ...

        async def create_table(self, **kwargs: Unpack[CreateTableRequest]) -> dict[str, Any]: ...

        async def delete_item(self, **kwargs: Unpack[DeleteItemRequest]) -> dict[str, Any]: ...

        async def delete_table(self, **kwargs: Unpack[DeleteTableRequest]) -> dict[str, Any]: ...

        async def describe_table(
            self, **kwargs: Unpack[DescribeTableRequest]
        ) -> dict[str, Any]: ...

        async def describe_time_to_live(
            self, **kwargs: Unpack[DescribeTimeToLiveRequest]
        ) -> dict[str, Any]: ...

        async def get_item(self, **kwargs: Unpack[GetItemRequest]) -> dict[str, Any]: ...

        async def list_tables(self, **kwargs: Unpack[ListTablesRequest]) -> dict[str, Any]: ...

        async def put_item(self, **kwargs: Unpack[PutItemRequest]) -> dict[str, Any]: ...

        async def query(self, **kwargs: Unpack[QueryRequest]) -> dict[str, Any]: ...

        async def scan(self, **kwargs: Unpack[ScanRequest]) -> dict[str, Any]: ...

        async def transact_get_items(
            self, **kwargs: Unpack[TransactGetItemsRequest]
        ) -> dict[str, Any]: ...

        async def transact_write_items(
            self, **kwargs: Unpack[TransactWriteItemsRequest]
        ) -> dict[str, Any]: ...

        async def update_item(self, **kwargs: Unpack[UpdateItemRequest]) -> dict[str, Any]: ...

        async def update_table(self, **kwargs: Unpack[UpdateTableRequest]) -> dict[str, Any]: ...

        async def update_time_to_live(
            self, **kwargs: Unpack[UpdateTimeToLiveRequest]
        ) -> dict[str, Any]: ...

        async def create_backup(self, **kwargs: Unpack[CreateBackupRequest]) -> dict[str, Any]: ...

        async def delete_backup(self, **kwargs: Unpack[DeleteBackupRequest]) -> dict[str, Any]: ...

        async def delete_resource_policy(
            self, **kwargs: Unpack[DeleteResourcePolicyRequest]
        ) -> dict[str, Any]: ...

        async def describe_backup(
            self, **kwargs: Unpack[DescribeBackupRequest]
        ) -> dict[str, Any]: ...

        async def describe_continuous_backups(
            self, **kwargs: Unpack[DescribeContinuousBackupsRequest]
        ) -> dict[str, Any]: ...

        async def describe_endpoints(
            self, **kwargs: Unpack[DescribeEndpointsRequest]
        ) -> dict[str, Any]: ...

        async def describe_export(
            self, **kwargs: Unpack[DescribeExportRequest]
        ) -> dict[str, Any]: ...

        async def describe_import(
            self, **kwargs: Unpack[DescribeImportRequest]
        ) -> dict[str, Any]: ...

        async def describe_limits(
            self, **kwargs: Unpack[DescribeLimitsRequest]
        ) -> dict[str, Any]: ...

        async def export_table_to_point_in_time(
            self, **kwargs: Unpack[ExportTableToPointInTimeRequest]
        ) -> dict[str, Any]: ...

        async def get_resource_policy(
            self, **kwargs: Unpack[GetResourcePolicyRequest]
        ) -> dict[str, Any]: ...

        async def import_table(self, **kwargs: Unpack[ImportTableRequest]) -> dict[str, Any]: ...

        async def list_backups(self, **kwargs: Unpack[ListBackupsRequest]) -> dict[str, Any]: ...

        async def list_exports(self, **kwargs: Unpack[ListExportsRequest]) -> dict[str, Any]: ...

        async def list_imports(self, **kwargs: Unpack[ListImportsRequest]) -> dict[str, Any]: ...

        async def list_tags_of_resource(
            self, **kwargs: Unpack[ListTagsOfResourceRequest]
        ) -> dict[str, Any]: ...

        async def put_resource_policy(
            self, **kwargs: Unpack[PutResourcePolicyRequest]
        ) -> dict[str, Any]: ...

        async def restore_table_from_backup(
            self, **kwargs: Unpack[RestoreTableFromBackupRequest]
        ) -> dict[str, Any]: ...

        async def restore_table_to_point_in_time(
            self, **kwargs: Unpack[RestoreTableToPointInTimeRequest]
        ) -> dict[str, Any]: ...

        async def tag_resource(self, **kwargs: Unpack[TagResourceRequest]) -> dict[str, Any]: ...

        async def untag_resource(
            self, **kwargs: Unpack[UntagResourceRequest]
        ) -> dict[str, Any]: ...

        async def update_continuous_backups(
            self, **kwargs: Unpack[UpdateContinuousBackupsRequest]
        ) -> dict[str, Any]: ...
