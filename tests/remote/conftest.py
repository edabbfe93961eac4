"""Fixtures for the remote stream source: real endpoints on loopback, shared per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.remote.servers import moto_process, serve_process

SERVE_SHARDS = 4


@pytest.fixture(autouse=True)
def _aws_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard AWS chain finds these (the endpoints do not check them)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def serve_url() -> Iterator[str]:
    """``streamkit serve --memory --stream-shards 4``: every new stream has 4 shards."""
    with serve_process("--stream-shards", str(SERVE_SHARDS)) as url:
        yield url


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_process() as url:
        yield url


@pytest.fixture(params=["serve", "moto"])
def endpoint(request: pytest.FixtureRequest) -> str:
    """Each remote-source test runs against streamkit serve and against moto's server."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url
