"""Sign-in and export rate limits on the real Redis, shared between processes.

The server is SOLVEREIGN_TEST_REDIS_URL, by default redis://127.0.0.1:6379/0.
Each test writes under a key prefix of its own, "solvereign:test-<random hex>",
and deletes its keys at the end. When Redis cannot be reached, the tests
fail if CI=true and are skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import limits.storage.redis
import pytest
import redis
from argon2 import PasswordHasher

import core.auth
from core.auth import (
    SIGN_IN_FAILED,
    SIGN_IN_RATE_LIMITED,
    SIGNED_IN,
    SignInFailed,
    sign_in,
)
from core.context import configure
from core.permissions import Actor, Role
from core.rate_limits import (
    KEY_PREFIX,
    MAX_PERSONAL_DATA_EXPORTS_PER_HOUR,
    MAX_SIGN_IN_ATTEMPTS_PER_MINUTE,
    RateLimits,
    RateLimitStoreUnavailable,
    TooManyAttempts,
    configure_rate_limits,
)
from db.repositories import audit_log
from tests.integration.databases import Database, add_tenant
from tests.integration.services.helpers import add_user

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# A loopback port with no server behind it, for the unreachable-store cases.
CLOSED_REDIS_URL = "redis://127.0.0.1:1/0"
REDIS_CONNECT_TIMEOUT_SECONDS = 2
PROJECT_ROOT = Path(__file__).resolve().parents[2]
GENERIC_MESSAGE = "invalid tenant, username, password or code"
PASSWORD = "correct horse battery staple"
OWNER_ADDRESS = "192.0.2.10"
ATTACKER_ADDRESS = "198.51.100.66"
# 2025-12-01 08:00:00 UTC, as seconds since the epoch.
START = 1_764_576_000.0


def redis_url() -> str:
    return os.environ.get("SOLVEREIGN_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def redis_unavailable(reason: str) -> None:
    """Fail the test in CI and skip it elsewhere, naming the reason."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"Redis is required in CI but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(
        redis_url(), socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        redis_unavailable(f"Redis at {redis_url()} cannot be reached: {error}")
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client) -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    prefix = f"{KEY_PREFIX}:test-{uuid.uuid4().hex[:12]}"
    yield prefix
    for key in redis_client.scan_iter(match=f"{prefix}:*"):
        redis_client.delete(key)


@pytest.fixture
def make_limits(key_prefix) -> Callable[..., RateLimits]:
    """Build limits on Redis under the test's prefix, each with its own connection."""

    def make(clock: FakeClock | None = None) -> RateLimits:
        if clock is None:
            return RateLimits.from_url(redis_url(), key_prefix=key_prefix)
        return RateLimits.from_url(redis_url(), key_prefix=key_prefix, clock=clock.time)

    return make


class FakeClock:
    """A clock that changes only when a test advances it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """Replace the clock through which `limits` 5.8 stamps Redis entries."""
    clock = FakeClock(START)
    monkeypatch.setattr(limits.storage.redis, "time", clock)
    return clock


def spread_addresses(count: int) -> list[str]:
    """Return `count` IPv4 addresses, each in a network of its own."""
    return [f"203.0.{index}.1" for index in range(count)]


class TestSharedLimit:
    def test_limit_holds_across_two_limiters(self, make_limits):
        first, second = make_limits(), make_limits()
        for index, address in enumerate(spread_addresses(10)):
            limiter = first if index % 2 == 0 else second
            limiter.check_sign_in("north-depot", "dana", address)

        with pytest.raises(TooManyAttempts) as rejected_first:
            first.check_sign_in("north-depot", "dana", "203.0.200.1")
        with pytest.raises(TooManyAttempts) as rejected_second:
            second.check_sign_in("north-depot", "dana", "203.0.200.2")

        assert rejected_first.value.limit == "user"
        assert rejected_second.value.limit == "user"

    def test_limit_holds_across_two_processes(self, make_limits, key_prefix):
        other_process = textwrap.dedent(
            f"""
            from core.rate_limits import RateLimits
            limiter = RateLimits.from_url({redis_url()!r}, key_prefix={key_prefix!r})
            for index in range({MAX_SIGN_IN_ATTEMPTS_PER_MINUTE}):
                limiter.check_sign_in("north-depot", "dana", f"203.0.{{index}}.1")
            """
        )
        subprocess.run(
            [sys.executable, "-c", other_process],
            cwd=PROJECT_ROOT,
            check=True,
            timeout=60,
        )

        with pytest.raises(TooManyAttempts) as rejected:
            make_limits().check_sign_in("north-depot", "dana", "203.0.200.1")

        assert rejected.value.limit == "user"

    def test_window_edge_then_window_moves(self, make_limits, clock):
        limiter = make_limits(clock)
        for address in spread_addresses(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            limiter.check_sign_in("north-depot", "dana", address)

        clock.advance(60)
        with pytest.raises(TooManyAttempts) as rejected_at_edge:
            limiter.check_sign_in("north-depot", "dana", "203.0.200.1")
        clock.advance(0.5)
        limiter.check_sign_in("north-depot", "dana", "203.0.200.2")

        assert rejected_at_edge.value.retry_after_seconds == 1

    def test_export_limit_is_five_per_hour(self, make_limits, clock):
        limiter = make_limits(clock)
        admin = Actor(user_id=41, tenant_id=7, role=Role.TENANT_ADMIN, username="ida")
        for _ in range(MAX_PERSONAL_DATA_EXPORTS_PER_HOUR):
            limiter.check_personal_data_export(admin)

        with pytest.raises(TooManyAttempts) as rejected:
            make_limits(clock).check_personal_data_export(admin)
        clock.advance(3600.5)
        limiter.check_personal_data_export(admin)

        assert rejected.value.limit == "personal-data export"
        assert rejected.value.retry_after_seconds == 3601

    def test_production_keys_start_with_solvereign(self, redis_client):
        tenant_slug = f"tenant-{uuid.uuid4().hex[:12]}"
        before = set(redis_client.scan_iter(match=f"{KEY_PREFIX}:sign-in-*"))

        RateLimits.from_url(redis_url()).check_sign_in(tenant_slug, "dana", "")
        created = set(redis_client.scan_iter(match=f"{KEY_PREFIX}:sign-in-*")) - before
        for key in created:
            redis_client.delete(key)

        assert len(created) == 1
        assert created.pop().decode().startswith(f"{KEY_PREFIX}:sign-in-user/")


class TestAttackerFromAnotherAddress:
    def test_owner_keeps_signing_in_from_known_address(self, make_limits):
        app_server, attacker_server = make_limits(), make_limits()
        app_server.remember_sign_in_address("north-depot", "dana", OWNER_ADDRESS)
        for address in spread_addresses(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            attacker_server.check_sign_in("north-depot", "dana", address)

        app_server.check_sign_in("north-depot", "dana", OWNER_ADDRESS)

    def test_new_address_waits_for_cool_down(self, make_limits, clock):
        limiter = make_limits(clock)
        limiter.remember_sign_in_address("north-depot", "dana", OWNER_ADDRESS)
        for address in spread_addresses(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            limiter.check_sign_in("north-depot", "dana", address)

        with pytest.raises(TooManyAttempts) as rejected:
            limiter.check_sign_in("north-depot", "dana", "192.0.2.99")
        clock.advance(60.5)
        limiter.check_sign_in("north-depot", "dana", "192.0.2.99")

        assert rejected.value.limit == "user"
        assert rejected.value.retry_after_seconds == 61


class CountingHasher(PasswordHasher):
    """argon2-cffi's hasher, counting how often a password is verified."""

    verify_calls = 0

    def verify(self, hash, password):
        type(self).verify_calls += 1
        return super().verify(hash, password)


@pytest.fixture
def redis_sign_in(database: Database, make_limits) -> Iterator[Database]:
    """The services on the database under test, with sign-in limits on Redis."""
    configure(database.engine)
    configure_rate_limits(make_limits())
    yield database
    configure_rate_limits(None)


@pytest.fixture
def counting_hasher(monkeypatch) -> type[CountingHasher]:
    CountingHasher.verify_calls = 0
    monkeypatch.setattr(core.auth, "_password_hasher", CountingHasher())
    return CountingHasher


def audit_entries(database: Database, tenant_id: int, action: str):
    with database.session_factory() as session:
        return audit_log.list_entries(session, tenant_id, action=action)


class TestSignInService:
    def test_eleventh_attempt_fails_and_is_recorded(
        self, redis_sign_in, counting_hasher
    ):
        tenant = add_tenant(redis_sign_in.session_factory)
        user_id = add_user(
            redis_sign_in, tenant.tenant_id, "dana", PASSWORD, Role.VIEWER
        )
        for address in spread_addresses(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            with pytest.raises(SignInFailed):
                sign_in(tenant.slug, "dana", "a wrong guess", None, address)
        verified_before = counting_hasher.verify_calls
        assert verified_before == MAX_SIGN_IN_ATTEMPTS_PER_MINUTE

        with pytest.raises(SignInFailed) as rejected:
            sign_in(tenant.slug, "dana", PASSWORD, None, OWNER_ADDRESS)

        assert str(rejected.value) == GENERIC_MESSAGE
        assert counting_hasher.verify_calls == verified_before
        limited = audit_entries(redis_sign_in, tenant.tenant_id, SIGN_IN_RATE_LIMITED)
        assert len(limited) == 1
        assert limited[0].object_id == str(user_id)
        assert limited[0].details["limit"] == "user"
        assert limited[0].details["client_address"] == OWNER_ADDRESS
        assert limited[0].details["retry_after_seconds"] > 0
        failures = audit_entries(redis_sign_in, tenant.tenant_id, SIGN_IN_FAILED)
        assert len(failures) == MAX_SIGN_IN_ATTEMPTS_PER_MINUTE
        assert audit_entries(redis_sign_in, tenant.tenant_id, SIGNED_IN) == []

    def test_owner_signs_in_from_known_address_during_attack(self, redis_sign_in):
        tenant = add_tenant(redis_sign_in.session_factory)
        add_user(redis_sign_in, tenant.tenant_id, "dana", PASSWORD, Role.VIEWER)
        sign_in(tenant.slug, "dana", PASSWORD, None, OWNER_ADDRESS)
        for address in spread_addresses(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            with pytest.raises(SignInFailed):
                sign_in(tenant.slug, "dana", "a wrong guess", None, address)

        signed_in = sign_in(tenant.slug, "dana", PASSWORD, None, OWNER_ADDRESS)
        with pytest.raises(SignInFailed):
            sign_in(tenant.slug, "dana", PASSWORD, None, "192.0.2.99")

        assert signed_in.username == "dana"
        assert len(audit_entries(redis_sign_in, tenant.tenant_id, SIGNED_IN)) == 2

    def test_success_does_not_reset_address_count(self, redis_sign_in):
        tenant = add_tenant(redis_sign_in.session_factory)
        add_user(redis_sign_in, tenant.tenant_id, "dana", PASSWORD, Role.VIEWER)
        add_user(redis_sign_in, tenant.tenant_id, "mallory", PASSWORD, Role.VIEWER)
        for _ in range(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE - 1):
            with pytest.raises(SignInFailed):
                sign_in(tenant.slug, "dana", "a wrong guess", None, ATTACKER_ADDRESS)
        sign_in(tenant.slug, "mallory", PASSWORD, None, ATTACKER_ADDRESS)

        with pytest.raises(SignInFailed):
            sign_in(tenant.slug, "mallory", PASSWORD, None, ATTACKER_ADDRESS)

        limited = audit_entries(redis_sign_in, tenant.tenant_id, SIGN_IN_RATE_LIMITED)
        assert [entry.details["limit"] for entry in limited] == ["address"]

    def test_unknown_tenant_is_limited_alike(self, redis_sign_in):
        slug = f"no-such-tenant-{uuid.uuid4().hex[:12]}"
        for _ in range(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            with pytest.raises(SignInFailed):
                sign_in(slug, "dana", "a wrong guess", None, "")

        with pytest.raises(SignInFailed) as rejected:
            sign_in(slug, "dana", "a wrong guess", None, "")

        assert str(rejected.value) == GENERIC_MESSAGE


class TestUnreachableStore:
    def test_sign_in_check_is_rejected(self):
        limiter = RateLimits.from_url(CLOSED_REDIS_URL)

        with pytest.raises(RateLimitStoreUnavailable) as rejected:
            limiter.check_sign_in("north-depot", "dana", OWNER_ADDRESS)

        assert "rate limit store cannot be reached" in str(rejected.value)

    def test_export_check_is_rejected(self):
        limiter = RateLimits.from_url(CLOSED_REDIS_URL)
        admin = Actor(user_id=41, tenant_id=7, role=Role.TENANT_ADMIN, username="ida")

        with pytest.raises(RateLimitStoreUnavailable):
            limiter.check_personal_data_export(admin)

    def test_remembering_an_address_fails_quietly(self, caplog):
        limiter = RateLimits.from_url(CLOSED_REDIS_URL)

        limiter.remember_sign_in_address("north-depot", "dana", OWNER_ADDRESS)

        assert "sign-in address not remembered" in caplog.text
