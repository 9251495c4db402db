"""Session limits from the environment, and the in-process revocation list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.session_revocations import MemoryRevocationList
from core.session_settings import (
    ABSOLUTE_HOURS_VARIABLE,
    IDLE_MINUTES_VARIABLE,
    SessionLimits,
)

OPENED = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
DIGEST = "c" * 64


class TestSessionLimitsFromEnvironment:
    def test_defaults_are_30_minutes_and_12_hours(self):
        limits = SessionLimits.from_environment({})

        assert limits.idle_timeout == timedelta(minutes=30)
        assert limits.absolute_timeout == timedelta(hours=12)

    def test_values_are_minutes_and_hours(self):
        limits = SessionLimits.from_environment(
            {IDLE_MINUTES_VARIABLE: " 20 ", ABSOLUTE_HOURS_VARIABLE: "8"}
        )

        assert limits.idle_timeout == timedelta(minutes=20)
        assert limits.absolute_timeout == timedelta(hours=8)

    def test_empty_value_means_default(self):
        limits = SessionLimits.from_environment({IDLE_MINUTES_VARIABLE: ""})

        assert limits.idle_timeout == timedelta(minutes=30)

    @pytest.mark.parametrize("value", ["0", "-5", "abc", "1.5", "١٢", "30m"])
    def test_invalid_idle_minutes_are_named(self, value):
        with pytest.raises(ValueError) as invalid:
            SessionLimits.from_environment({IDLE_MINUTES_VARIABLE: value})

        assert IDLE_MINUTES_VARIABLE in str(invalid.value)
        assert repr(value) in str(invalid.value)
        assert "whole number of minutes" in str(invalid.value)

    def test_invalid_absolute_hours_are_named(self):
        with pytest.raises(ValueError) as invalid:
            SessionLimits.from_environment({ABSOLUTE_HOURS_VARIABLE: "twelve"})

        assert ABSOLUTE_HOURS_VARIABLE in str(invalid.value)
        assert "whole number of hours" in str(invalid.value)

    def test_idle_longer_than_absolute_is_rejected(self):
        with pytest.raises(ValueError) as invalid:
            SessionLimits.from_environment(
                {IDLE_MINUTES_VARIABLE: "90", ABSOLUTE_HOURS_VARIABLE: "1"}
            )

        assert "longer than the absolute lifetime" in str(invalid.value)
        assert IDLE_MINUTES_VARIABLE in str(invalid.value)


class TestMemoryRevocationList:
    def test_revoked_session_is_listed(self):
        revocations = MemoryRevocationList()

        revocations.revoke_session(DIGEST, timedelta(hours=1))

        assert revocations.is_revoked(DIGEST, 1, 2, OPENED) is True
        assert revocations.is_revoked("d" * 64, 1, 2, OPENED) is False

    def test_mark_covers_sessions_opened_until_it(self):
        revocations = MemoryRevocationList()
        mark = OPENED + timedelta(minutes=5)

        revocations.revoke_sessions_of_user(1, 2, mark, timedelta(hours=1))

        assert revocations.is_revoked(DIGEST, 1, 2, OPENED) is True
        assert revocations.is_revoked(DIGEST, 1, 2, mark) is True
        assert (
            revocations.is_revoked(DIGEST, 1, 2, mark + timedelta(seconds=1)) is False
        )
        assert revocations.is_revoked(DIGEST, 1, 3, OPENED) is False
        assert revocations.is_revoked(DIGEST, 9, 2, OPENED) is False

    def test_mark_never_moves_back(self):
        revocations = MemoryRevocationList()

        revocations.revoke_sessions_of_user(1, 2, OPENED, timedelta(hours=1))
        revocations.revoke_sessions_of_user(
            1, 2, OPENED - timedelta(hours=1), timedelta(hours=1)
        )

        assert revocations.is_revoked(DIGEST, 1, 2, OPENED) is True

    def test_entries_expire(self, monkeypatch):
        revocations = MemoryRevocationList()
        clock = [1000.0]
        monkeypatch.setattr("core.session_revocations.time.monotonic", lambda: clock[0])
        revocations.revoke_session(DIGEST, timedelta(seconds=60))
        revocations.revoke_sessions_of_user(1, 2, OPENED, timedelta(seconds=60))

        clock[0] += 59
        still_listed = revocations.is_revoked(DIGEST, 1, 2, OPENED)
        clock[0] += 1

        assert still_listed is True
        assert revocations.is_revoked(DIGEST, 1, 2, OPENED) is False
