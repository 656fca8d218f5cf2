"""Shared fixtures. Tests that need a real service take its URL from the environment
(`.ci/run` and `make test` export them); with CI=true a missing service fails the test
instead of skipping it, so CI can never pass by testing nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.mongo_wire import MongoWire, serve


def require_env(name: str) -> str:
    value = os.environ.get(name)
    if value:
        return value
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{name} is not set: CI must run this test against the real service")
    pytest.skip(f"{name} not set")


@pytest.fixture
def rabbit_url() -> str:
    return require_env("QUEUE_CONNECTIONURL")


@pytest.fixture
def redis_url() -> str:
    return require_env("REDIS_URI")


@pytest.fixture
def pg_url() -> str:
    return require_env("TIMESCALE_SERVICE_URL")


@pytest.fixture
def unique() -> str:
    """A short unique token for queue names and key prefixes, so tests never collide."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def mongo_wire() -> Iterator[MongoWire]:
    """The MongoDB wire front over one mongomock, shared by the session (tests/mongo_wire):
    each test keeps to a database of its own."""
    wire = serve()
    try:
        yield wire
    finally:
        wire.stop()
