"""Sign-in and export rate limits on the in-process storage, with a fake clock.

`limits` 5.8 reads the time through the `time` module that its memory storage
imported, so the tests replace that reference with a clock they move by hand.
"""

from __future__ import annotations

import limits.storage.memory
import pytest
from limits.storage import MemoryStorage

from core import rate_limits as rate_limits_module
from core.permissions import Actor, Role
from core.rate_limits import (
    MAX_PERSONAL_DATA_EXPORTS_PER_HOUR,
    MAX_REJECTION_ENTRIES_PER_MINUTE,
    MAX_SIGN_IN_ATTEMPTS_PER_MINUTE,
    RateLimits,
    TooManyAttempts,
    check_sign_in,
    configure_rate_limits,
)

# 2025-12-01 08:00:00 UTC, as seconds since the epoch.
START = 1_764_576_000.0
TENANT = "north-depot"
OWNER_ADDRESS = "192.0.2.10"
ATTACKER_ADDRESS = "198.51.100.66"


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
    clock = FakeClock(START)
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    return clock


@pytest.fixture
def limiter(clock) -> RateLimits:
    return RateLimits(MemoryStorage(), clock=clock.time)


def attempt(limiter: RateLimits, username: str, address: str = "") -> None:
    limiter.check_sign_in(TENANT, username, address)


def spread_addresses(count: int) -> list[str]:
    """Return `count` IPv4 addresses, each in a network of its own."""
    return [f"203.0.{index}.1" for index in range(count)]


def exhaust_user_limit(limiter: RateLimits, username: str) -> None:
    """Use up the user's limit from addresses that never reach their own."""
    for address in spread_addresses(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
        attempt(limiter, username, address)


class TestSignInPerUser:
    def test_ten_attempts_pass_and_eleventh_is_rejected(self, limiter):
        exhaust_user_limit(limiter, "dana")

        with pytest.raises(TooManyAttempts) as rejected:
            attempt(limiter, "dana", "203.0.200.1")

        assert rejected.value.limit == "user"
        # All ten came at START, so the window frees up just after START + 60 s.
        assert rejected.value.retry_after_seconds == 61

    def test_attempt_at_window_edge_is_rejected(self, limiter, clock):
        exhaust_user_limit(limiter, "dana")

        clock.advance(60)
        with pytest.raises(TooManyAttempts):
            attempt(limiter, "dana", "203.0.200.1")
        clock.advance(0.001)
        attempt(limiter, "dana", "203.0.200.2")

    def test_window_moves_one_attempt_at_a_time(self, limiter, clock):
        for address in spread_addresses(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            attempt(limiter, "dana", address)
            clock.advance(1)

        # Attempts came at START + 0 s, 1 s, ..., 9 s; now it is START + 60.5 s.
        clock.advance(50.5)
        attempt(limiter, "dana", "203.0.200.1")
        with pytest.raises(TooManyAttempts) as rejected:
            attempt(limiter, "dana", "203.0.200.2")

        # The oldest attempt left in the window is the one at START + 1 s.
        assert rejected.value.retry_after_seconds == 1

    def test_rejected_attempts_do_not_prolong_lock(self, limiter, clock):
        exhaust_user_limit(limiter, "dana")

        clock.advance(30)
        for address in spread_addresses(50)[MAX_SIGN_IN_ATTEMPTS_PER_MINUTE:]:
            with pytest.raises(TooManyAttempts):
                attempt(limiter, "dana", address)
        clock.advance(30.5)

        attempt(limiter, "dana", "203.0.200.1")

    def test_username_is_normalised(self, limiter):
        exhaust_user_limit(limiter, "Dana")

        with pytest.raises(TooManyAttempts) as rejected:
            attempt(limiter, " dana ", "203.0.200.1")

        assert rejected.value.limit == "user"

    def test_same_username_of_another_tenant_has_own_limit(self, limiter):
        exhaust_user_limit(limiter, "dana")

        limiter.check_sign_in("south-depot", "dana", "203.0.200.1")

    def test_empty_address_still_counts_against_user(self, limiter):
        for _ in range(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            attempt(limiter, "dana", "")

        with pytest.raises(TooManyAttempts) as rejected:
            attempt(limiter, "dana", "")

        assert rejected.value.limit == "user"

    def test_empty_addresses_share_no_limit(self, limiter):
        for username in ["anton", "berta", "carl"]:
            for _ in range(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
                attempt(limiter, username, "")

        attempt(limiter, "dana", "")

    def test_non_ip_addresses_share_no_limit(self, limiter):
        for index in range(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            attempt(limiter, f"user-{index}", "unknown client")

        attempt(limiter, "dana", "unknown client")


class TestSignInPerAddress:
    def test_eleventh_attempt_from_address_is_rejected(self, limiter):
        for index in range(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            attempt(limiter, f"user-{index}", ATTACKER_ADDRESS)

        with pytest.raises(TooManyAttempts) as rejected:
            attempt(limiter, "dana", ATTACKER_ADDRESS)

        assert rejected.value.limit == "address"
        assert rejected.value.retry_after_seconds == 61

    def test_address_limit_leaves_user_free_elsewhere(self, limiter):
        for index in range(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            attempt(limiter, f"user-{index}", ATTACKER_ADDRESS)

        attempt(limiter, "user-0", OWNER_ADDRESS)

    def test_user_limit_leaves_address_free_for_others(self, limiter):
        exhaust_user_limit(limiter, "dana")

        attempt(limiter, "erik", "203.0.0.1")

    def test_address_rejection_does_not_count_against_user(self, limiter):
        for index in range(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            attempt(limiter, f"user-{index}", ATTACKER_ADDRESS)
        for _ in range(20):
            with pytest.raises(TooManyAttempts):
                attempt(limiter, "dana", ATTACKER_ADDRESS)

        for address in spread_addresses(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            attempt(limiter, "dana", address)

    def test_ipv6_slash_64_shares_one_limit(self, limiter):
        for index in range(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            attempt(limiter, f"user-{index}", f"2001:db8:1:2::{index + 1:x}")

        with pytest.raises(TooManyAttempts) as rejected:
            attempt(limiter, "dana", "2001:db8:1:2:ffff::1")
        attempt(limiter, "dana", "2001:db8:1:3::1")

        assert rejected.value.limit == "address"

    def test_ipv4_mapped_address_counts_as_ipv4(self, limiter):
        for index in range(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            attempt(limiter, f"user-{index}", ATTACKER_ADDRESS)

        with pytest.raises(TooManyAttempts) as rejected:
            attempt(limiter, "dana", f"::ffff:{ATTACKER_ADDRESS}")

        assert rejected.value.limit == "address"


class TestKnownAddress:
    def test_owner_signs_in_from_known_address_during_attack(self, limiter):
        limiter.remember_sign_in_address(TENANT, "dana", OWNER_ADDRESS)
        exhaust_user_limit(limiter, "dana")

        attempt(limiter, "dana", OWNER_ADDRESS)

    def test_owner_waits_for_cool_down_from_new_address(self, limiter, clock):
        limiter.remember_sign_in_address(TENANT, "dana", OWNER_ADDRESS)
        exhaust_user_limit(limiter, "dana")

        with pytest.raises(TooManyAttempts) as rejected:
            attempt(limiter, "dana", "192.0.2.99")
        clock.advance(60.5)
        attempt(limiter, "dana", "192.0.2.99")

        assert rejected.value.limit == "user"
        assert rejected.value.retry_after_seconds == 61

    def test_known_address_is_still_limited_itself(self, limiter):
        limiter.remember_sign_in_address(TENANT, "dana", OWNER_ADDRESS)
        for _ in range(MAX_SIGN_IN_ATTEMPTS_PER_MINUTE):
            attempt(limiter, "dana", OWNER_ADDRESS)

        with pytest.raises(TooManyAttempts) as rejected:
            attempt(limiter, "dana", OWNER_ADDRESS)

        assert rejected.value.limit == "address"

    def test_known_address_helps_only_its_own_user(self, limiter):
        limiter.remember_sign_in_address(TENANT, "dana", OWNER_ADDRESS)
        exhaust_user_limit(limiter, "erik")

        with pytest.raises(TooManyAttempts) as rejected:
            attempt(limiter, "erik", OWNER_ADDRESS)

        assert rejected.value.limit == "user"

    def test_known_address_is_forgotten_after_30_days(self, limiter, clock):
        limiter.remember_sign_in_address(TENANT, "dana", OWNER_ADDRESS)

        clock.advance(30 * 24 * 3600 + 1)
        exhaust_user_limit(limiter, "dana")

        with pytest.raises(TooManyAttempts) as rejected:
            attempt(limiter, "dana", OWNER_ADDRESS)
        assert rejected.value.limit == "user"

    def test_empty_address_is_never_known(self, limiter):
        limiter.remember_sign_in_address(TENANT, "dana", "")
        exhaust_user_limit(limiter, "dana")

        with pytest.raises(TooManyAttempts):
            attempt(limiter, "dana", "")


class TestPersonalDataExport:
    def actor(self, tenant_id: int = 7, user_id: int = 41) -> Actor:
        return Actor(
            user_id=user_id, tenant_id=tenant_id, role=Role.TENANT_ADMIN, username="ida"
        )

    def test_five_exports_pass_and_sixth_is_rejected(self, limiter):
        for _ in range(MAX_PERSONAL_DATA_EXPORTS_PER_HOUR):
            limiter.check_personal_data_export(self.actor())

        with pytest.raises(TooManyAttempts) as rejected:
            limiter.check_personal_data_export(self.actor())

        assert rejected.value.limit == "personal-data export"
        assert rejected.value.retry_after_seconds == 3601
        assert str(rejected.value) == (
            "too many personal-data exports: at most 5 per hour are allowed;"
            " try again in 61 minutes"
        )

    def test_export_allowed_again_after_an_hour(self, limiter, clock):
        for _ in range(MAX_PERSONAL_DATA_EXPORTS_PER_HOUR):
            limiter.check_personal_data_export(self.actor())

        clock.advance(3600)
        with pytest.raises(TooManyAttempts):
            limiter.check_personal_data_export(self.actor())
        clock.advance(0.5)
        limiter.check_personal_data_export(self.actor())

    def test_export_limit_is_per_user_and_tenant(self, limiter):
        for _ in range(MAX_PERSONAL_DATA_EXPORTS_PER_HOUR):
            limiter.check_personal_data_export(self.actor(tenant_id=7, user_id=41))

        limiter.check_personal_data_export(self.actor(tenant_id=7, user_id=42))
        limiter.check_personal_data_export(self.actor(tenant_id=8, user_id=41))


class TestRejectionEntries:
    def test_rejection_entries_are_limited_per_tenant_and_address(self, limiter):
        allowed = [
            limiter.allow_rejection_entry(3, ATTACKER_ADDRESS)
            for _ in range(MAX_REJECTION_ENTRIES_PER_MINUTE)
        ]

        assert all(allowed)
        assert limiter.allow_rejection_entry(3, ATTACKER_ADDRESS) is False
        assert limiter.allow_rejection_entry(3, OWNER_ADDRESS) is True
        assert limiter.allow_rejection_entry(4, ATTACKER_ADDRESS) is True


class TestConfiguration:
    def test_empty_url_keeps_limits_in_memory(self):
        limiter = RateLimits.from_url("")

        assert isinstance(limiter.storage, MemoryStorage)

    def test_url_of_another_scheme_is_rejected(self):
        with pytest.raises(ValueError) as rejected:
            RateLimits.from_url("memcached://127.0.0.1:11211")

        assert "SOLVEREIGN_REDIS_URL" in str(rejected.value)
        assert "'memcached'" in str(rejected.value)

    def test_module_functions_use_configured_limits(self, limiter):
        configure_rate_limits(limiter)
        try:
            exhaust_user_limit(limiter, "dana")
            with pytest.raises(TooManyAttempts):
                check_sign_in(TENANT, "dana", "203.0.200.1")
        finally:
            configure_rate_limits(None)

    def test_limits_are_built_from_environment(self, monkeypatch):
        monkeypatch.delenv(rate_limits_module.REDIS_URL_VARIABLE, raising=False)
        configure_rate_limits(None)
        try:
            built = rate_limits_module.rate_limits()

            assert isinstance(built.storage, MemoryStorage)
            assert rate_limits_module.rate_limits() is built
        finally:
            configure_rate_limits(None)
