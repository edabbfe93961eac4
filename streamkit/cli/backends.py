"""Where CLI requests go: the local data folder (an engine, in process) or any endpoint (boto3)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import anyio

from streamkit.cli.inputs import UsageError
from streamkit.engine import Engine
from streamkit.errors import DynamoDBError
from streamkit.streams import open_engine

__all__ = [
    "Backend",
    "BackendError",
    "LocalBackend",
    "RemoteBackend",
    "Unreachable",
    "boto3_client",
    "open_backend",
    "open_local_engine",
    "region_file",
    "unreachable",
]


class BackendError(Exception):
    """A request failed; carries DynamoDB's error code, as the aws CLI prints it."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(
            f"An error occurred ({code}) when calling the {operation} operation: {message}"
        )
        self.operation = operation
        self.code = code


class Unreachable(OSError):
    """Nothing answers at the endpoint URL (connection refused, unknown host, timeout)."""

    def __init__(self, endpoint_url: str) -> None:
        super().__init__(unreachable(endpoint_url))


class Backend(Protocol):
    """Runs DynamoDB operations by their wire names with wire-shaped members."""

    def supports(self, operation: str) -> bool:
        """Return whether ``operation`` (e.g. ``"Query"``) can be called."""
        ...

    async def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Run one operation and return its response (binary values as ``bytes``).

        Raises:
            BackendError: the service refused the request.
        """
        ...


@asynccontextmanager
async def open_backend(
    *,
    endpoint_url: str | None,
    region: str,
    data_dir: str | os.PathLike[str],
    profile: str | None = None,
    read_only: bool = False,
    s3_dir: str | os.PathLike[str] | None = None,
) -> AsyncIterator[Backend]:
    """Open the local data folder's region, or a boto3 client for ``endpoint_url``.

    ``read_only``: the command only reads, so it may run beside the folder's owner (see
    :func:`open_local_engine`). ``s3_dir``: the local engine's buckets folder (exports).
    """
    if endpoint_url is not None:
        yield RemoteBackend("dynamodb", endpoint_url, region, profile)
        return
    async with open_local_engine(data_dir, region, read_only=read_only, s3_dir=s3_dir) as engine:
        yield LocalBackend(engine)


def region_file(data_dir: str | os.PathLike[str] | None, region: str) -> Path:
    """Return the database of ``region`` in the data folder (default: ``.streamkit``)."""
    if data_dir is None:
        from streamkit.server import DEFAULT_DATA_DIR  # only for commands that load it anyway

        data_dir = DEFAULT_DATA_DIR
    return Path(data_dir) / f"{region}.sqlite3"


@asynccontextmanager
async def open_local_engine(
    data_dir: str | os.PathLike[str] | None,
    region: str,
    *,
    read_only: bool,
    role: str = "cli",
    s3_dir: str | os.PathLike[str] | None = None,
) -> AsyncIterator[Engine]:
    """Open :func:`region_file` for one CLI command.

    A command that writes owns the file while it runs (``role`` says who, in the refusal
    others get), so it fails at once, naming the owner, if a server or ``streamkit run`` has
    it. One that only reads opens an existing file read-only beside whoever owns it (a
    missing file is created, as a writer would).

    Raises:
        DatabaseInUseError: a writing command found the file owned by another process.
    """
    path = region_file(data_dir, region)
    if read_only and await anyio.Path(path).is_file():
        async with open_engine(path, region=region, read_only=True, s3_dir=s3_dir) as engine:
            yield engine
        return
    async with open_engine(path, region=region, owner_role=role, s3_dir=s3_dir) as engine:  # mkdir
        yield engine


class LocalBackend:
    """A :class:`Backend` over an engine, or over its Streams client (``engine.streams``)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    @property
    def engine(self) -> Any:
        """The engine (or Streams client) the calls go to."""
        return self._engine

    def supports(self, operation: str) -> bool:
        return operation in self._engine.OPERATIONS

    async def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        method = getattr(self._engine, self._engine.OPERATIONS[operation])
        try:
            result: dict[str, Any] = await method(**params)
        except DynamoDBError as exc:
            raise BackendError(operation, exc.code, exc.message) from None
        return result


def boto3_client(service: str, endpoint_url: str, region: str, profile: str | None) -> Any:
    """Return a boto3 client for ``endpoint_url``, with dummy keys when none are configured.

    A failed request is retried once, not botocore's default four times with back-off
    (half a minute before a mistyped URL is reported).

    Raises:
        UsageError: boto3 is not installed.
    """
    try:
        import boto3  # optional: only --endpoint-url needs it
        from botocore.config import Config
    except ImportError:
        raise UsageError("--endpoint-url needs boto3 (pip install boto3)") from None
    session = boto3.Session(profile_name=profile, region_name=region)
    extra: dict[str, str] = {}
    if session.get_credentials() is None:
        # A local endpoint does not check keys; AWS itself will say the keys are wrong.
        extra = {"aws_access_key_id": "streamkit", "aws_secret_access_key": "streamkit"}
    config = Config(connect_timeout=5, retries={"mode": "standard", "max_attempts": 2})
    return session.client(service, endpoint_url=endpoint_url, config=config, **extra)


def unreachable(endpoint_url: str) -> str:
    """What the CLI says (after ``streamkit: ``) when nothing answers at ``endpoint_url``."""
    return f"cannot connect to {endpoint_url} (is the server running?)"


class RemoteBackend:
    """A :class:`Backend` over a boto3 client of ``service`` (``"dynamodb"`` or
    ``"dynamodbstreams"``) for ``endpoint_url``."""

    def __init__(self, service: str, endpoint_url: str, region: str, profile: str | None) -> None:
        self._client = boto3_client(service, endpoint_url, region, profile)
        self._url = endpoint_url
        self._names = {v: k for k, v in self._client.meta.method_to_api_mapping.items()}

    def supports(self, operation: str) -> bool:
        return operation in self._names

    async def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

        method = getattr(self._client, self._names[operation])
        try:
            result: dict[str, Any] = await anyio.to_thread.run_sync(lambda: method(**params))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise BackendError(
                operation, error.get("Code", "Unknown"), error.get("Message", "")
            ) from None
        except EndpointConnectionError:
            raise Unreachable(self._url) from None
        except BotoCoreError as exc:
            raise BackendError(operation, type(exc).__name__, str(exc)) from None
        result.pop("ResponseMetadata", None)
        return result
