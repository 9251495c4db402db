"""The real Redis for integration tests, and keys that each test owns alone.

The server is SOLVEREIGN_TEST_REDIS_URL, by default redis://127.0.0.1:6379/0.
When it cannot be reached, a test that needs it fails if CI=true and is
skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from core.rate_limits import KEY_PREFIX

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# A loopback port with no server behind it, for the unreachable-store cases.
CLOSED_REDIS_URL = "redis://127.0.0.1:1/0"
REDIS_CONNECT_TIMEOUT_SECONDS = 2


def redis_url() -> str:
    return os.environ.get("SOLVEREIGN_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def redis_unavailable(reason: str) -> None:
    """Fail the test in CI and skip it elsewhere, naming the reason."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"Redis is required in CI but {reason}")
    pytest.skip(reason)


@contextmanager
def connected_redis() -> Iterator[redis.Redis]:
    """Connect to the test Redis, or fail or skip the test when it is down."""
    client = redis.Redis.from_url(
        redis_url(), socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        redis_unavailable(f"Redis at {redis_url()} cannot be reached: {error}")
    try:
        yield client
    finally:
        client.close()


@contextmanager
def private_key_prefix(client: redis.Redis) -> Iterator[str]:
    """Yield a key prefix "solvereign:test-<hex>" and delete its keys afterwards."""
    prefix = f"{KEY_PREFIX}:test-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
