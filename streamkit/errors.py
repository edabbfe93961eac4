"""Every exception streamkit raises, one class per DynamoDB error code.

::

    StreamkitError                               root of everything streamkit raises
    ├── DynamoDBError                            has a wire code; the server serialises it
    │   ├── ValidationException                  400
    │   │   └── ExpressionSyntaxError            a ValidationException; .expression, .position
    │   ├── SerializationException               400  malformed JSON / AttributeValue shape
    │   ├── UnknownOperationException            400  bad X-Amz-Target
    │   ├── UnrecognizedClientException          400  unknown access key
    │   ├── InvalidSignatureException            400  SigV4 signature mismatch / expired
    │   ├── IncompleteSignatureException         400  malformed Authorization header
    │   ├── MissingAuthenticationTokenException  400  no Authorization when auth is on
    │   ├── ResourceNotFoundException            400
    │   ├── PolicyNotFoundException              400  no resource policy, or another revision
    │   ├── AccessDeniedException                400  an ARN of another account (tags)
    │   ├── ResourceInUseException               400
    │   ├── ConditionalCheckFailedException      400  .item
    │   ├── DuplicateItemException               400
    │   ├── TransactionCanceledException         400  .reasons, message key "Message"
    │   ├── TransactionConflictException         400  not retried (botocore neither)
    │   ├── TransactionInProgressException       400  retryable
    │   ├── IdempotentParameterMismatchException 400
    │   ├── ItemCollectionSizeLimitExceededException 400
    │   ├── LimitExceededException               400  retryable
    │   ├── TableAlreadyExistsException          400  restores: the target exists
    │   ├── InvalidRestoreTimeException          400  PITR: outside the restorable window
    │   ├── ProvisionedThroughputExceededException 400 retryable
    │   ├── ThrottlingException                  400  retryable
    │   ├── RequestLimitExceeded                 400  retryable
    │   ├── ExpiredIteratorException             400  streams
    │   ├── TrimmedDataAccessException           400  streams
    │   ├── BackupNotFoundException, BackupInUseException, TableInUseException  400  backups
    │   ├── TableNotFoundException, PointInTimeRecoveryUnavailableException,
    │   │   InvalidExportTimeException, ExportConflictException, ExportNotFoundException,
    │   │   ImportConflictException, ImportNotFoundException   400  exports and imports
    │   ├── GlobalTableNotFoundException         400  legacy (2017.11.29) global table calls
    │   └── InternalServerError                  500  fault, retryable
    ├── ConfigurationError                       bad configuration or CLI arguments; not wire
    ├── DatabaseInUseError                       another process (or open) owns the database
    │                                            file; .path, .owner; not wire
    ├── HandlerExitError                         a handler raised SystemExit & co
    ├── ClockStalledError                        a sleep on a ManualClock nobody advances
    ├── DrainStalledError                        the test harness's drain() made no progress
    ├── ClosedError                              an engine, store, runtime or harness used
    │                                            after its ``open_*`` block exited; not wire
    └── DatabaseFileError                        the database file cannot be used (corrupt,
                                                 truncated, newer schema, not writable)
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

__all__ = [
    "AccessDeniedException",
    "BackupInUseException",
    "BackupNotFoundException",
    "ClockStalledError",
    "ClosedError",
    "ConditionalCheckFailedException",
    "ConfigurationError",
    "DatabaseFileError",
    "DatabaseInUseError",
    "DrainStalledError",
    "DuplicateItemException",
    "DynamoDBError",
    "ExpiredIteratorException",
    "ExportConflictException",
    "ExportNotFoundException",
    "ExpressionSyntaxError",
    "GlobalTableNotFoundException",
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
    "LeaseLostError",
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
]

_DYNAMODB = "com.amazonaws.dynamodb.v20120810"
_CORAL_SERVICE = "com.amazon.coral.service"

_BY_CODE: dict[str, type[DynamoDBError]] = {}


class StreamkitError(Exception):
    """Root of every exception streamkit raises on purpose."""


class ConfigurationError(StreamkitError):
    """Raised for invalid streamkit configuration (mapping options, CLI arguments)."""


class DatabaseInUseError(StreamkitError):
    """Raised when opening a database file that another process, or another open, owns.

    One process writes a database file at a time (see :mod:`streamkit.storage.owner`). The
    message is one line naming the owner's role, pid and URL; ``owner`` holds those as a
    mapping (empty if the owner had not yet written them).
    """

    def __init__(self, message: str, *, path: str, owner: dict[str, Any]) -> None:
        super().__init__(message)
        self.path = path
        self.owner = owner


class HandlerExitError(StreamkitError):
    """A handler raised a ``BaseException`` that is not an ``Exception``.

    ``sys.exit()``, ``KeyboardInterrupt``, ``GeneratorExit``, an ``asyncio.CancelledError`` the
    handler raised itself (not a cancellation of its task), a custom ``BaseException``: Lambda
    would see its runtime process exit (``Runtime.ExitError``) and count a failed invocation;
    streamkit does the same and keeps running. The original exception is ``__cause__``.
    """


class ClockStalledError(StreamkitError):
    """A task slept on a ``ManualClock`` that nobody advanced for the clock's grace period."""


class DrainStalledError(StreamkitError):
    """The test harness's ``drain()`` saw nothing move for its stall timeout (real seconds);
    the message names each mapping, link, shard, export or import not caught up, and the
    writes still queued."""


class ClosedError(StreamkitError):
    """Raised by every call on an engine, store, runtime or harness whose block has exited.

    A programming error, like aiosqlite's "Connection closed" or anyio's
    ClosedResourceError, not a DynamoDB fault: no wire code (the server never serves a closed
    engine; a request racing its shutdown gets the generic 500).
    """


class DatabaseFileError(StreamkitError):
    """Raised when opening a database file that streamkit refuses to use.

    The file is corrupt or truncated, was written by a newer streamkit, or cannot be written
    (permissions, read-only file system). streamkit never repairs or overwrites such a file;
    the message is one line naming the file and the cause.
    """


class LeaseLostError(StreamkitError):
    """Raised by a lease-table checkpoint when this worker no longer holds the shard's lease.

    Another worker took it (the lease expired or was stolen to balance the load): the worker
    stops processing the shard at once, and the new owner resumes from the lease's checkpoint.
    """


class DynamoDBError(StreamkitError):
    """An error with a DynamoDB wire code; the server turns it into an AWS error body.

    It also reads like botocore's ``ClientError``, so code written for boto3 ports unchanged:
    ``err.response["Error"]["Code"]`` and ``["Message"]``, ``["ResponseMetadata"]
    ["HTTPStatusCode"]``, the modelled members (``CancellationReasons``, ``Item``, ...) at the
    top of ``err.response``, and ``err.operation_name`` (``"PutItem"``; set by the engine,
    empty on an error raised outside an operation).

    ``retryable`` is the one place that says which errors a client retries (see
    :mod:`streamkit.backoff`); it follows botocore's "standard" mode: throttling codes
    (``ProvisionedThroughputExceededException``, ``ThrottlingException``,
    ``RequestLimitExceeded``, ``LimitExceededException``, ``TransactionInProgressException``)
    and 5xx faults. ``TransactionConflictException`` is not retried, as botocore does not.
    """

    code: ClassVar[str] = "InternalServerError"
    namespace: ClassVar[str] = _DYNAMODB
    http_status: ClassVar[int] = 400
    retryable: ClassVar[bool] = False
    message_key: ClassVar[str] = "message"
    default_message: ClassVar[str] = ""
    #: The API operation that failed (``"PutItem"``), as botocore's ClientError has it.
    operation_name: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A class right below DynamoDBError is the wire code of its name; a class below one of
        those (ExpressionSyntaxError) is a kind of its parent's code."""
        super().__init_subclass__(**kwargs)
        if DynamoDBError in cls.__bases__:
            cls.code = cls.__dict__.get("code", cls.__name__)
            _BY_CODE.setdefault(cls.code, cls)

    def __init__(self, message: str | None = None) -> None:
        self.message = self.default_message if message is None else message
        super().__init__(self.message)

    def extra(self) -> dict[str, Any]:
        """Return the members of the error body besides ``__type`` and the message."""
        return {}

    @cached_property
    def response(self) -> dict[str, Any]:
        """The error as botocore parses it into ``ClientError.response`` (built when first read)."""
        return {
            "Error": {"Code": self.code, "Message": self.message},
            "ResponseMetadata": {"HTTPStatusCode": self.http_status},
            self.message_key: self.message,
            **self.extra(),
        }

    def to_wire(self) -> tuple[int, dict[str, Any]]:
        """Return the HTTP status and the JSON error body DynamoDB would send."""
        body: dict[str, Any] = {"__type": f"{self.namespace}#{self.code}"}
        body[self.message_key] = self.message
        body.update(self.extra())
        return self.http_status, body


def for_code(code: str) -> type[DynamoDBError]:
    """Return the class for a wire code (``ns#Code`` or ``Code``); unknown: InternalServerError."""
    return _BY_CODE.get(code.rpartition("#")[2], InternalServerError)


class ValidationException(DynamoDBError):
    """Raised when a request breaks one of DynamoDB's validation rules."""

    namespace = "com.amazon.coral.validate"


class ExpressionSyntaxError(ValidationException):
    """Raised by the expression parser; a ValidationException on the wire."""

    def __init__(self, message: str, *, expression: str = "", position: int = 0) -> None:
        super().__init__(message)
        self.expression = expression
        self.position = position


class SerializationException(DynamoDBError):
    """Raised when a request body is not valid JSON or has the wrong JSON types."""

    namespace = _CORAL_SERVICE


class UnknownOperationException(DynamoDBError):
    """Raised for an X-Amz-Target that names no operation."""

    namespace = _CORAL_SERVICE


class UnrecognizedClientException(DynamoDBError):
    """Raised when auth is on and the access key is unknown."""

    namespace = _CORAL_SERVICE
    default_message = "The security token included in the request is invalid."


class InvalidSignatureException(DynamoDBError):
    """Raised when auth is on and the SigV4 signature does not match or has expired."""

    namespace = _CORAL_SERVICE


class IncompleteSignatureException(DynamoDBError):
    """Raised when auth is on and the Authorization header misses a part or is malformed."""

    namespace = _CORAL_SERVICE


class MissingAuthenticationTokenException(DynamoDBError):
    """Raised when auth is on and the request carries no signature."""

    namespace = _CORAL_SERVICE
    default_message = "Request is missing Authentication Token"


class ResourceNotFoundException(DynamoDBError):
    """Raised when the named table, index or stream does not exist."""

    default_message = "Requested resource not found"


class PolicyNotFoundException(DynamoDBError):
    """Raised when a resource has no resource-based policy, or not the expected revision."""

    code = "PolicyNotFoundException"


class AccessDeniedException(DynamoDBError):
    """Raised for a request on another account's resource (the emulator has no IAM)."""

    code = "AccessDeniedException"
    namespace = _CORAL_SERVICE


class ResourceInUseException(DynamoDBError):
    """Raised when creating a table that exists, or changing one that is busy."""


class ConditionalCheckFailedException(DynamoDBError):
    """Raised by a write whose ConditionExpression evaluated to false."""

    default_message = "The conditional request failed"

    def __init__(self, message: str | None = None, *, item: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.item = item

    def extra(self) -> dict[str, Any]:
        return {} if self.item is None else {"Item": self.item}


class DuplicateItemException(DynamoDBError):
    """Raised by a PartiQL INSERT whose item already exists."""

    code = "DuplicateItemException"
    default_message = "Duplicate primary key exists in table"


class TransactionCanceledException(DynamoDBError):
    """Raised when TransactWriteItems/TransactGetItems is cancelled; .reasons in action order."""

    message_key = "Message"

    def __init__(self, message: str | None = None, *, reasons: list[dict[str, Any]] | None = None):
        self.reasons = reasons or []
        if message is None:
            codes = ", ".join(r.get("Code", "None") for r in self.reasons)
            message = (
                "Transaction cancelled, please refer cancellation reasons for specific reasons "
                f"[{codes}]"
            )
        super().__init__(message)

    def extra(self) -> dict[str, Any]:
        return {"CancellationReasons": self.reasons}


class TransactionConflictException(DynamoDBError):
    """Raised when an item is being changed by another in-flight transaction."""

    default_message = "Transaction is ongoing for the item"


class TransactionInProgressException(DynamoDBError):
    """Raised when a transaction with the same ClientRequestToken is still running."""

    retryable = True


class IdempotentParameterMismatchException(DynamoDBError):
    """Raised when a ClientRequestToken is reused with different parameters."""


class ItemCollectionSizeLimitExceededException(DynamoDBError):
    """Raised when an item collection of a table with an LSI would exceed 10 GB."""


class BackupNotFoundException(DynamoDBError):
    """Raised when no backup has the given BackupArn."""


class BackupInUseException(DynamoDBError):
    """Raised when a backup is being created, deleted or restored by another operation."""


class TableInUseException(DynamoDBError):
    """Raised when a restore's target table is being created (restored) or deleted."""


class LimitExceededException(DynamoDBError):
    """Raised when too many control-plane operations run at once, or a stream limit is hit."""

    retryable = True


class TableAlreadyExistsException(DynamoDBError):
    """Raised by a restore when the target table already exists."""


class InvalidRestoreTimeException(DynamoDBError):
    """Raised when a restore time is outside the table's restorable window."""


class ProvisionedThroughputExceededException(DynamoDBError):
    """Raised when a request exceeds a table's or index's provisioned throughput."""

    retryable = True
    default_message = (
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API."
    )

    def __init__(
        self, message: str | None = None, *, reasons: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.reasons = reasons or []

    def extra(self) -> dict[str, Any]:
        return {"ThrottlingReasons": self.reasons} if self.reasons else {}


class ThrottlingException(DynamoDBError):
    """Raised when control-plane calls come too fast or an on-demand table is throttled."""

    namespace = "com.amazon.coral.availability"
    retryable = True


class RequestLimitExceeded(DynamoDBError):
    """Raised when the account-level throughput quota is exceeded."""

    retryable = True


class ExpiredIteratorException(DynamoDBError):
    """Raised by GetRecords for a shard iterator older than 15 minutes."""

    namespace = "com.amazonaws.dynamodb.v20120810"


class TrimmedDataAccessException(DynamoDBError):
    """Raised when a shard iterator points at records already trimmed by retention."""


class InternalServerError(DynamoDBError):
    """Raised for an unexpected failure inside streamkit; a 500 on the wire."""

    http_status = 500
    retryable = True
    default_message = "Internal server error"


# -- exports and imports (ExportTableToPointInTime, ImportTable) --------------------------


class TableNotFoundException(DynamoDBError):
    """Raised by control-plane calls given a table ARN or name that does not exist."""


class PointInTimeRecoveryUnavailableException(DynamoDBError):
    """Raised when an operation needs point-in-time recovery and the table has it off."""


class InvalidExportTimeException(DynamoDBError):
    """Raised when an export's time is outside the table's point-in-time recovery window."""


class ExportConflictException(DynamoDBError):
    """Raised when a ClientToken is reused with different export parameters."""


class ExportNotFoundException(DynamoDBError):
    """Raised by DescribeExport for an unknown export ARN."""


class ImportConflictException(DynamoDBError):
    """Raised when a ClientToken is reused with different import parameters."""


class ImportNotFoundException(DynamoDBError):
    """Raised by DescribeImport for an unknown import ARN."""


# -- global tables, legacy version 2017.11.29 ---------------------------------------------


class GlobalTableNotFoundException(DynamoDBError):
    """Raised by the legacy (2017.11.29) global table calls: no legacy global table exists."""
