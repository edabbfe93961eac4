"""DynamoDB's JSON 1.0 protocol with no socket in it: route, authenticate, call, serialise.

:meth:`Dispatcher.handle` takes one parsed HTTP request and returns the response to send;
:meth:`Dispatcher.dispatch` is the part after authentication (region, target, body).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from streamkit.clock import Clock, SystemClock
from streamkit.engine.endpoints import SERVED_HOST
from streamkit.errors import (
    DatabaseFileError,
    DatabaseInUseError,
    DynamoDBError,
    InternalServerError,
    ResourceInUseException,
    SerializationException,
    UnknownOperationException,
    ValidationException,
)
from streamkit.logs import get_logger
from streamkit.server import encoding, sigv4, wire
from streamkit.server.admin import STREAMKIT_PREFIX

__all__ = ["CONTENT_TYPE", "DEFAULT_REGION", "Dispatcher", "EngineSource", "Reply"]

log = get_logger(__name__)

CONTENT_TYPE: Final = "application/x-amz-json-1.0"
DEFAULT_REGION: Final = "us-east-1"
DYNAMODB_PREFIX: Final = "DynamoDB_20120810"
STREAMS_PREFIX: Final = "DynamoDBStreams_20120810"

#: Every operation the real services define (botocore's service models), so that one the
#: engine lacks gets a clear "not implemented" message instead of a bare unknown-operation.
AWS_OPERATIONS: Final = {
    DYNAMODB_PREFIX: frozenset(
        [
            "BatchExecuteStatement",
            "BatchGetItem",
            "BatchWriteItem",
            "CreateBackup",
            "CreateGlobalTable",
            "CreateTable",
            "DeleteBackup",
            "DeleteItem",
            "DeleteResourcePolicy",
            "DeleteTable",
            "DescribeBackup",
            "DescribeContinuousBackups",
            "DescribeContributorInsights",
            "DescribeEndpoints",
            "DescribeExport",
            "DescribeGlobalTable",
            "DescribeGlobalTableSettings",
            "DescribeImport",
            "DescribeKinesisStreamingDestination",
            "DescribeLimits",
            "DescribeTable",
            "DescribeTableReplicaAutoScaling",
            "DescribeTimeToLive",
            "DisableKinesisStreamingDestination",
            "EnableKinesisStreamingDestination",
            "ExecuteStatement",
            "ExecuteTransaction",
            "ExportTableToPointInTime",
            "GetItem",
            "GetResourcePolicy",
            "ImportTable",
            "ListBackups",
            "ListContributorInsights",
            "ListExports",
            "ListGlobalTables",
            "ListImports",
            "ListTables",
            "ListTagsOfResource",
            "PutItem",
            "PutResourcePolicy",
            "Query",
            "RestoreTableFromBackup",
            "RestoreTableToPointInTime",
            "Scan",
            "TagResource",
            "TransactGetItems",
            "TransactWriteItems",
            "UntagResource",
            "UpdateContinuousBackups",
            "UpdateContributorInsights",
            "UpdateGlobalTable",
            "UpdateGlobalTableSettings",
            "UpdateItem",
            "UpdateKinesisStreamingDestination",
            "UpdateTable",
            "UpdateTableReplicaAutoScaling",
            "UpdateTimeToLive",
        ]
    ),
    STREAMS_PREFIX: frozenset(["DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"]),
}

#: Operations whose reply has no body at all, as DynamoDB sends them (no output shape).
_EMPTY_OUTPUT: Final = frozenset(
    [f"{DYNAMODB_PREFIX}.TagResource", f"{DYNAMODB_PREFIX}.UntagResource"]
)
_ACCEPTED_TYPES: Final = frozenset([CONTENT_TYPE, "application/json"])
_NOT_FOUND_BODY: Final = b"<UnknownOperationException/>\n"

#: (status, headers, body) as handed to the HTTP layer, which adds framing headers.
Reply = tuple[int, list[tuple[str, str]], bytes]


class EngineSource(Protocol):
    """Where the dispatcher gets the engine of a region (opened on first use)."""

    async def engine(self, region: str) -> Any:
        """Return the engine serving ``region``."""
        ...


class Dispatcher:
    """Turns DynamoDB / DynamoDB Streams JSON requests into engine calls.

    Args:
        regions: gives the engine of each region.
        verifier: checks SigV4 signatures; ``None`` turns authentication off (the
            credential scope is still read for the region).
        clock: the time used to judge signature freshness.
        default_region: the region of requests that carry no credential scope.
        max_body: the largest request body, after decompression (DynamoDB's 16 MB).
        admin: answers the streamkit-only ``Streamkit_20261206.*`` requests
            (:class:`streamkit.server.admin.ReplicationAdmin`); ``None``: they are unknown.
    """

    def __init__(
        self,
        regions: EngineSource,
        *,
        verifier: sigv4.Verifier | None = None,
        clock: Clock | None = None,
        default_region: str = DEFAULT_REGION,
        max_body: int = 16 * 1024 * 1024,
        admin: object | None = None,
    ) -> None:
        self._regions = regions
        self._admin = admin
        self._max_body = max_body
        self._verifier = verifier
        self._clock = clock or SystemClock()
        self._default_region = default_region
        self._methods: dict[tuple[Any, str], Callable[..., Any]] = {}
        self._accepts: dict[Callable[..., Any], frozenset[str] | None] = {}
        #: the group's open engines by region (a live view), when it has one: the hot path
        #: looks a request's engine up there instead of awaiting ``regions.engine``
        self._engines: Mapping[str, Any] | None = getattr(regions, "engines", None)
        #: (region, target) -> (engine, bound method), for the DynamoDB and Streams operations
        #: already resolved; used while ``_engines`` still holds that engine for the region
        self._resolved: dict[tuple[str, str], tuple[Any, Callable[..., Any]]] = {}

    async def handle(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> Reply:
        """Answer one HTTP request (header names lower-case), authentication included."""
        amz_target = ""
        content_type = ""
        content_encoding = ""
        authorization = None
        origin = None
        accepts: list[str] = []
        for name, value in headers:
            if name == "x-amz-target":
                amz_target = value
            elif name == "content-type":
                content_type = value
            elif name == "authorization":
                authorization = value
            elif name == "accept-encoding":
                accepts.append(value)
            elif name == "content-encoding":
                content_encoding = value
            elif name == "origin":
                origin = value
        if method == "POST":
            region, body, refused = self._admit(
                method, target, headers, body, content_type, content_encoding, authorization
            )
            if refused is not None:
                reply = refused
            elif amz_target.endswith(".DescribeEndpoints"):  # it answers the address asked
                host = next((value for name, value in headers if name == "host"), None)
                token = SERVED_HOST.set(host)
                try:
                    reply = await self.dispatch(region, amz_target, body)
                finally:
                    SERVED_HOST.reset(token)
            else:  # dispatch()'s body, inline: one coroutine less on every request
                request_id = wire.new_request_id()
                try:
                    call = self._known(region, amz_target) or await self._resolve(
                        region, amz_target
                    )
                    params = wire.loads(body)
                    self._check_members(call, params)
                    payload = _payload(amz_target, await call(**params))
                    reply = 200, _headers(request_id, payload), payload
                except DynamoDBError as exc:
                    reply = _error_reply(exc, request_id)
                except Exception:
                    log.exception("request_failed", operation=amz_target, request_id=request_id)
                    reply = _error_reply(InternalServerError(), request_id)
            # A browser (it sends Origin) asks for gzip on its own and hands the SDK the
            # inflated body, whose CRC32 would not match ours: pages get plain bodies.
            if accepts and origin is None and len(reply[2]) >= encoding.MIN_COMPRESSED:
                reply = _compressed(reply, encoding.pick_encoding(accepts))
        elif method == "OPTIONS":
            reply = _preflight(headers)
        elif method in ("GET", "HEAD") and target.partition("?")[0] == "/":
            host = next((value for name, value in headers if name == "host"), "")
            text = f"healthy: {host or f'dynamodb.{self._default_region}.amazonaws.com'} "
            reply = 200, [("content-type", "text/plain")], text.encode()
        else:
            reply = _not_found()
        if origin is not None:
            reply[1].extend(_CORS_HEADERS)
        return reply

    def _admit(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        content_type: str,
        content_encoding: str,
        authorization: str | None,
    ) -> tuple[str, bytes, Reply | None]:
        """Check a POST's content type and authentication, and decode its body: return its
        region and body, and the reply that refuses it (None if it may go on)."""
        if body and content_type.partition(";")[0].strip().lower() not in _ACCEPTED_TYPES:
            return "", b"", _not_found()
        try:
            if self._verifier is not None:
                region = self._verifier.verify(
                    method=method, target=target, headers=headers, body=body, now=self._clock.now()
                )
            else:
                region = sigv4.region_of(authorization, self._default_region)
            if content_encoding:  # the signature covers the bytes as sent: check it first
                body = encoding.decode_body(body, content_encoding, self._max_body)
        except DynamoDBError as exc:
            return "", b"", _error_reply(exc, wire.new_request_id())
        except encoding.BadEncodingError as exc:
            return "", b"", _error_reply(SerializationException(str(exc)), wire.new_request_id())
        except encoding.BodyTooLargeError as exc:
            log.info("request_too_large", reason=str(exc))
            return "", b"", (413, [("content-type", "text/plain")], f"{exc}\n".encode())
        return region, body, None

    async def dispatch(self, region: str, target: str, body: bytes) -> Reply:
        """Run one already-authenticated request against ``region``'s engine."""
        request_id = wire.new_request_id()
        try:
            method = self._known(region, target) or await self._resolve(region, target)
            params = wire.loads(body)
            self._check_members(method, params)
            payload = _payload(target, await method(**params))
        except DynamoDBError as exc:
            return _error_reply(exc, request_id)
        except Exception:
            log.exception("request_failed", operation=target, request_id=request_id)
            return _error_reply(InternalServerError(), request_id)
        return 200, _headers(request_id, payload), payload

    def _known(self, region: str, target: str) -> Callable[..., Any] | None:
        """Return the method a (region, target) resolved to before, while the group still
        has that engine open for the region; else None (then :meth:`_resolve` decides)."""
        found = self._resolved.get((region, target))
        if found is None or self._engines is None or self._engines.get(region) is not found[0]:
            return None
        method: Callable[..., Any] = found[1]
        return method

    async def _resolve(self, region: str, target: str) -> Callable[..., Any]:
        prefix, _, operation = target.partition(".")
        if prefix == STREAMKIT_PREFIX and self._admin is not None:
            name = getattr(self._admin, "OPERATIONS", {}).get(operation)
            if name is None:
                raise UnknownOperationException()
            admin_method: Callable[..., Any] = getattr(self._admin, name)
            return admin_method
        if prefix not in AWS_OPERATIONS or not operation:
            raise UnknownOperationException()
        try:
            engine = await self._regions.engine(region)
        except DatabaseInUseError as exc:  # another process has this region's file: say so
            raise ResourceInUseException(f"region {region}: {exc}") from None
        except DatabaseFileError as exc:  # a file streamkit will not use: the 500 says why
            raise InternalServerError(f"region {region}: {exc}") from None
        key = (engine, target)
        found = self._methods.get(key)
        if found is not None:
            if len(self._resolved) < _RESOLVED_KEPT:
                self._resolved[(region, target)] = (engine, found)
            return found
        api = engine if prefix == DYNAMODB_PREFIX else getattr(engine, "streams", None)
        operations: Mapping[str, str] = getattr(api, "OPERATIONS", {})
        encoded: Mapping[str, str] = getattr(api, "ENCODED_OPERATIONS", {})
        name = encoded.get(operation) or operations.get(operation)
        if name is None:
            if operation in AWS_OPERATIONS[prefix]:
                raise UnknownOperationException(f"streamkit does not implement {operation} yet")
            raise UnknownOperationException()
        bound: object = getattr(api, name, None)
        if not callable(bound):
            raise UnknownOperationException()
        self._methods[key] = bound
        if len(self._resolved) < _RESOLVED_KEPT:
            self._resolved[(region, target)] = (engine, bound)
        return bound

    def _check_members(self, method: Callable[..., Any], params: Mapping[str, Any]) -> None:
        # An engine method with **kwargs validates its own members; one with named parameters
        # would raise TypeError (a 500) for an unknown member, so report it as DynamoDB does.
        if method not in self._accepts:
            self._accepts[method] = _named_parameters(method)
        accepted = self._accepts[method]
        if accepted is None:
            return
        for name in params:
            if name not in accepted:
                raise ValidationException(
                    f'Unknown parameter in input: "{name}", must be one of: '
                    + ", ".join(sorted(accepted))
                )


def _payload(target: str, result: Mapping[str, Any]) -> bytes:
    """Return a successful reply's body."""
    if result:
        return wire.dumps(result)
    if target in _EMPTY_OUTPUT:
        return b""
    return b"{}" if result == {} else wire.dumps(result)  # PutItem, UpdateItem, DeleteItem's


#: (region, target) pairs the dispatcher keeps resolved: every region's (at most 64) usual few
_RESOLVED_KEPT: Final = 4096


def _named_parameters(method: Callable[..., Any]) -> frozenset[str] | None:
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    )


def _headers(request_id: str, payload: bytes) -> list[tuple[str, str]]:
    return [
        ("Content-Type", CONTENT_TYPE),
        ("x-amzn-RequestId", request_id),
        ("x-amz-crc32", _CRC_OF_EMPTY.get(payload) or wire.crc32(payload)),
    ]


_CRC_OF_EMPTY: Final = {body: wire.crc32(body) for body in (b"", b"{}")}


def _error_reply(exc: DynamoDBError, request_id: str) -> Reply:
    status, body = exc.to_wire()
    if body.get(exc.message_key) == "":
        del body[exc.message_key]  # DynamoDB sends protocol errors without a message
    payload = wire.dumps(body)
    return status, _headers(request_id, payload), payload


def _compressed(reply: Reply, coding: str | None) -> Reply:
    if coding is None:
        return reply
    status, headers, payload = reply
    packed = encoding.compress(payload, coding)
    crc = wire.crc32(packed)  # over the bytes sent, as DynamoDB computes it
    headers = [(n, crc) if n == "x-amz-crc32" else (n, v) for n, v in headers]
    headers.append(("Content-Encoding", coding))
    return status, headers, packed


#: On every reply to a request that has an Origin: any page may call the endpoint (it is
#: local; SigV4, when on, still authenticates) and read the headers the SDKs look at.
_CORS_HEADERS: Final = (
    ("Access-Control-Allow-Origin", "*"),
    (
        "Access-Control-Expose-Headers",
        "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,"
        "x-amz-crc32,Date",
    ),
)
_PREFLIGHT_MAX_AGE: Final = "172800"


def _preflight(headers: Sequence[tuple[str, str]]) -> Reply:
    """Answer a CORS pre-flight: allow the method and headers the browser asks about."""
    reply: list[tuple[str, str]] = [("Access-Control-Max-Age", _PREFLIGHT_MAX_AGE)]
    for name, value in headers:
        if name == "access-control-request-method":
            reply.append(("Access-Control-Allow-Methods", value))
        elif name == "access-control-request-headers":
            reply.append(("Access-Control-Allow-Headers", value))
    return 200, reply, b""


def _not_found() -> Reply:
    request_id = wire.new_request_id()
    headers = [
        ("x-amzn-RequestId", request_id),
        ("x-amz-crc32", wire.crc32(_NOT_FOUND_BODY)),
    ]
    return 404, headers, _NOT_FOUND_BODY
