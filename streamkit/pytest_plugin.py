"""streamkit's pytest plugin: fixtures for testing code built on streamkit.

Installed with streamkit under the ``pytest11`` entry point ``streamkit``, so pytest loads it by
itself. Without the entry point (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``), load it with
``-p streamkit.pytest_plugin``.

Fixtures (fresh state for every test; docs/testing.md has examples):

- ``streamkit_engine``: an async context manager; ``async with streamkit_engine as engine``
  opens an in-memory engine on the test's event loop.
- ``streamkit_harness``: an async context manager; ``async with streamkit_harness as h`` runs
  the test's app (see below) on an in-memory engine with a manual clock (a
  :class:`~streamkit.testing.Harness`).
- ``streamkit_sync_harness``: a running :class:`~streamkit.testing.SyncHarness`, for
  synchronous tests: the harness runs on an event loop in a background thread.
- ``streamkit_endpoint``: a running ``SyncHarness`` whose engine is also served over HTTP on a
  free loopback port (``.url``). For the test's duration ``AWS_ENDPOINT_URL_DYNAMODB``,
  ``AWS_ENDPOINT_URL_DYNAMODB_STREAMS``, dummy credentials and ``AWS_DEFAULT_REGION`` are set,
  so a plain ``boto3.client("dynamodb")`` talks to it.
- ``streamkit_app``, ``streamkit_engine_options``, ``streamkit_clock``: what the fixtures above
  are built from; override them in a ``conftest.py`` to change every test below it.

The two async fixtures are plain (synchronous) fixtures whose value the test enters, so they
work the same under pytest-asyncio (strict or auto mode) and anyio's pytest plugin: an async
fixture would depend on which plugin runs it, and pytest-asyncio runs an async fixture's setup
and teardown in different tasks, which a harness (it owns a task group) cannot survive.

The app comes from the ``streamkit_app`` marker, whose keyword arguments go to
:func:`streamkit.open_engine`::

    @pytest.mark.streamkit_app(app, stream_shards=1)
    def test_totals(streamkit_sync_harness): ...

``regions=["us-east-1", "eu-west-1"]`` among them gives the harness fixtures (and the endpoint,
which then serves each region by its SigV4 region) a group of regions
(``h.engines[region]``); ``streamkit_engine`` is one engine and does not take it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from streamkit.engine import Engine
from streamkit.mappings.app import App
from streamkit.server.local import open_sync_endpoint
from streamkit.streams import open_engine
from streamkit.testing import Harness, ManualClock, SyncHarness, open_harness, open_sync_harness

__all__ = [
    "ENDPOINT_VARIABLES",
    "streamkit_app",
    "streamkit_clock",
    "streamkit_endpoint",
    "streamkit_engine",
    "streamkit_engine_options",
    "streamkit_harness",
    "streamkit_sync_harness",
]

MARKER = "streamkit_app"

#: The environment variables botocore reads a service's endpoint from ("DynamoDB Streams" is
#: the service id of ``boto3.client("dynamodbstreams")``: spaces become underscores).
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_DYNAMODB_STREAMS")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(app, **engine_options): the streamkit.App (and streamkit.open_engine "
        "options) the streamkit_* fixtures run",
    )


def _marker(request: pytest.FixtureRequest) -> pytest.Mark | None:
    marker: pytest.Mark | None = request.node.get_closest_marker(MARKER)
    return marker


@pytest.fixture
def streamkit_app(request: pytest.FixtureRequest) -> App | None:
    """Return the app of the test's ``streamkit_app`` marker; None (no mappings) without one."""
    marker = _marker(request)
    if marker is None:
        return None
    if len(marker.args) != 1 or not isinstance(marker.args[0], App | None):
        raise TypeError(
            f"@pytest.mark.{MARKER} takes one streamkit.App (or None) and engine options "
            f"as keywords, not {marker.args!r}"
        )
    app: App | None = marker.args[0]
    return app


@pytest.fixture
def streamkit_engine_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Return the ``streamkit_app`` marker's keyword arguments (for ``open_engine``)."""
    marker = _marker(request)
    options = {} if marker is None else dict(marker.kwargs)
    if "clock" in options:
        raise TypeError(f"@pytest.mark.{MARKER}: override the streamkit_clock fixture instead")
    return options


@pytest.fixture
def streamkit_clock() -> ManualClock:
    """Return the manual clock the engine and harness fixtures share."""
    return ManualClock()


@pytest.fixture
def streamkit_engine(
    streamkit_clock: ManualClock, streamkit_engine_options: dict[str, Any]
) -> AbstractAsyncContextManager[Engine]:
    """Return ``open_engine(None, ...)``: ``async with streamkit_engine as engine`` in the test."""
    return open_engine(None, clock=streamkit_clock, **streamkit_engine_options)


@pytest.fixture
def streamkit_harness(
    streamkit_app: App | None,
    streamkit_clock: ManualClock,
    streamkit_engine_options: dict[str, Any],
) -> AbstractAsyncContextManager[Harness]:
    """Return ``open_harness(app, ...)``: ``async with streamkit_harness as h`` in the test."""
    return open_harness(streamkit_app or App(), clock=streamkit_clock, **streamkit_engine_options)


@pytest.fixture
def streamkit_sync_harness(
    streamkit_app: App | None,
    streamkit_clock: ManualClock,
    streamkit_engine_options: dict[str, Any],
) -> Iterator[SyncHarness]:
    """Yield a running :class:`~streamkit.testing.SyncHarness` of the test's app."""
    with open_sync_harness(
        streamkit_app, clock=streamkit_clock, **streamkit_engine_options
    ) as harness:
        yield harness


@pytest.fixture
def streamkit_endpoint(
    streamkit_app: App | None,
    streamkit_clock: ManualClock,
    streamkit_engine_options: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SyncHarness]:
    """Yield a running ``SyncHarness`` served on loopback, with boto3's environment pointing at it.

    The variables are restored when the test ends (``monkeypatch``).
    """
    with open_sync_endpoint(
        streamkit_app, clock=streamkit_clock, **streamkit_engine_options
    ) as harness:
        assert harness.url is not None
        for name in ENDPOINT_VARIABLES:
            monkeypatch.setenv(name, harness.url)
        region = str(streamkit_engine_options.get("region", "us-east-1"))
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)
        monkeypatch.setenv("AWS_REGION", region)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        # a token, a profile or an opt-out from the developer's shell must not leak in
        for name in (
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_PROFILE",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        ):
            monkeypatch.delenv(name, raising=False)
        yield harness
