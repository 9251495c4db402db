"""Session revocation, end all sessions and session timeouts on real databases.

Each revocation test runs with the in-process revocation list and with the
real Redis (a key prefix of its own, deleted afterwards), on SQLite and on
PostgreSQL. A "second tab" is a second actor_for_session call with the same
token, as every rerun of the page makes one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import select

from core.auth import (
    SESSION_ENDED,
    SessionExpired,
    actor_for_session,
    sign_in,
    sign_out,
)
from core.context import PERMISSION_DENIED
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.permissions import Role
from core.session_revocations import (
    MemoryRevocationList,
    RedisRevocationList,
    RevocationList,
    configure_revocation_list,
)
from core.session_settings import (
    ABSOLUTE_HOURS_VARIABLE,
    IDLE_MINUTES_VARIABLE,
    SessionLimits,
    configure_session_limits,
    session_limits,
)
from core.tenancy import CROSS_TENANT_ACCESS
from core.user_sessions import (
    SESSIONS_ENDED,
    USER_DISABLED,
    USER_ENABLED,
    UserOutranksActor,
    end_all_sessions,
    list_user_accounts,
    set_user_active,
)
from db.models import UserSession
from db.repositories import audit_log
from tests.integration.redis_server import (
    CLOSED_REDIS_URL,
    connected_redis,
    private_key_prefix,
)
from tests.integration.services.helpers import add_user

PASSWORD = "correct horse battery staple"
SIGN_IN_TIME = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
LATER = SIGN_IN_TIME + timedelta(minutes=5)
MUCH_LATER = SIGN_IN_TIME + timedelta(minutes=10)
TWELVE_HOURS_MS = 12 * 3600 * 1000


@pytest.fixture(autouse=True)
def fresh_session_state() -> Iterator[None]:
    """Give each test an empty in-process revocation list and the default limits.

    User ids repeat across the SQLite files of different tests, so a mark
    left by one test would end the sessions of another.
    """
    configure_revocation_list(MemoryRevocationList())
    configure_session_limits(None)
    yield
    configure_revocation_list(None)
    configure_session_limits(None)


@pytest.fixture(params=["memory", "redis"])
def revocations(request) -> Iterator[RevocationList]:
    """The revocation list under test: in process memory, or in the real Redis."""
    if request.param == "memory":
        store = MemoryRevocationList()
        configure_revocation_list(store)
        yield store
        return
    with connected_redis() as client, private_key_prefix(client) as prefix:
        store = RedisRevocationList(client, key_prefix=prefix)
        configure_revocation_list(store)
        yield store


@pytest.fixture
def redis_store() -> Iterator[tuple[redis.Redis, str]]:
    """The real Redis with a revocation list under a key prefix of this test."""
    with connected_redis() as client, private_key_prefix(client) as prefix:
        configure_revocation_list(RedisRevocationList(client, key_prefix=prefix))
        yield client, prefix


@pytest.fixture
def tenant(workbench, make_tenant):
    return make_tenant()


@pytest.fixture
def dana(workbench, tenant) -> int:
    return add_user(workbench, tenant.tenant_id, "dana", PASSWORD, Role.DISPATCHER)


def open_tab(tenant, username: str = "dana", now: datetime = SIGN_IN_TIME) -> str:
    return sign_in(tenant.slug, username, PASSWORD, now=now).session_token


def audit_entries(workbench, tenant_id: int, action: str):
    with workbench.session_factory() as session:
        return audit_log.list_entries(session, tenant_id, action=action)


def stored_session(workbench, token: str) -> UserSession:
    digest = hashlib.sha256(token.encode()).hexdigest()
    with workbench.session_factory() as session:
        return session.scalars(
            select(UserSession).where(UserSession.token_sha256 == digest)
        ).one()


class TestRevocationReachesEveryTab:
    def test_sign_out_ends_second_tab(self, workbench, tenant, dana, revocations):
        token = open_tab(tenant)
        first_tab = actor_for_session(token, now=SIGN_IN_TIME)

        sign_out(token, now=LATER)

        assert first_tab.user_id == dana
        with pytest.raises(SessionExpired):
            actor_for_session(token, now=LATER)

    def test_sign_out_leaves_other_browser_open(
        self, workbench, tenant, dana, revocations
    ):
        signed_out = open_tab(tenant)
        other_browser = open_tab(tenant)

        sign_out(signed_out, now=LATER)

        assert actor_for_session(other_browser, now=LATER).user_id == dana

    def test_end_all_sessions_ends_every_tab(
        self, workbench, tenant, dana, revocations
    ):
        first, second = open_tab(tenant), open_tab(tenant)
        actor_for_session(first, now=SIGN_IN_TIME)
        admin = tenant.actor(Role.TENANT_ADMIN)

        ended = end_all_sessions(admin, dana, now=LATER)

        assert ended == 2
        with pytest.raises(SessionExpired):
            actor_for_session(first, now=LATER)
        with pytest.raises(SessionExpired):
            actor_for_session(second, now=LATER)
        entries = audit_entries(workbench, tenant.tenant_id, SESSIONS_ENDED)
        assert [entry.object_id for entry in entries] == [str(dana)]
        assert entries[0].actor_user_id == admin.user_id
        assert entries[0].details["sessions_ended"] == 2

    def test_new_sign_in_after_end_all_works(
        self, workbench, tenant, dana, revocations
    ):
        open_tab(tenant)
        end_all_sessions(tenant.actor(Role.TENANT_ADMIN), dana, now=LATER)

        token = open_tab(tenant, now=MUCH_LATER)

        assert actor_for_session(token, now=MUCH_LATER).user_id == dana

    def test_disabling_user_ends_every_tab(self, workbench, tenant, dana, revocations):
        first, second = open_tab(tenant), open_tab(tenant)
        admin = tenant.actor(Role.TENANT_ADMIN)

        ended = set_user_active(admin, dana, False, now=LATER)

        assert ended == 2
        with pytest.raises(SessionExpired):
            actor_for_session(first, now=LATER)
        with pytest.raises(SessionExpired):
            actor_for_session(second, now=LATER)
        disabled = audit_entries(workbench, tenant.tenant_id, USER_DISABLED)
        assert [entry.details["sessions_ended"] for entry in disabled] == [2]

    def test_enabled_user_signs_in_again(self, workbench, tenant, dana, revocations):
        admin = tenant.actor(Role.TENANT_ADMIN)
        set_user_active(admin, dana, False, now=LATER)

        set_user_active(admin, dana, True, now=LATER)
        token = open_tab(tenant, now=MUCH_LATER)

        assert actor_for_session(token, now=MUCH_LATER).user_id == dana
        assert len(audit_entries(workbench, tenant.tenant_id, USER_ENABLED)) == 1

    def test_user_signs_out_everywhere(self, workbench, tenant, dana, revocations):
        this_tab, other_browser = open_tab(tenant), open_tab(tenant)
        actor = actor_for_session(this_tab, now=SIGN_IN_TIME)

        ended = end_all_sessions(actor, actor.user_id, now=LATER)

        assert ended == 2
        with pytest.raises(SessionExpired):
            actor_for_session(other_browser, now=LATER)
        entries = audit_entries(workbench, tenant.tenant_id, SESSIONS_ENDED)
        assert entries[0].details["own_sessions"] is True

    def test_sign_in_committed_after_end_all_is_refused(
        self, workbench, tenant, dana, revocations
    ):
        # The end-all update ran before this sign-in committed, so it could not
        # see the session; the sign-in had started at SIGN_IN_TIME.
        end_all_sessions(tenant.actor(Role.TENANT_ADMIN), dana, now=LATER)
        late_session = open_tab(tenant, now=SIGN_IN_TIME)

        with pytest.raises(SessionExpired):
            actor_for_session(late_session, now=LATER)

        assert stored_session(workbench, late_session).revoked_at == LATER
        ended = audit_entries(workbench, tenant.tenant_id, SESSION_ENDED)
        assert [entry.details["reason"] for entry in ended] == [
            "revoked in the revocation list"
        ]


class TestEndAllSessionsPermissions:
    def test_dispatcher_cannot_end_others_sessions(self, workbench, tenant, dana):
        dispatcher = tenant.actor(Role.DISPATCHER)

        with pytest.raises(PermissionDenied):
            end_all_sessions(dispatcher, dana)

    def test_admin_needs_multi_factor_sign_in(self, workbench, tenant, dana):
        admin = tenant.actor(Role.TENANT_ADMIN, mfa_verified=False)
        token = open_tab(tenant)

        with pytest.raises(PermissionDenied) as denied:
            end_all_sessions(admin, dana, now=LATER)

        assert denied.value.mfa_required is True
        assert actor_for_session(token, now=LATER).user_id == dana

    def test_admin_of_other_tenant_gets_not_found(
        self, workbench, tenant, dana, make_tenant
    ):
        other_admin = make_tenant().actor(Role.TENANT_ADMIN)
        token = open_tab(tenant)

        with pytest.raises(NotFound) as not_found:
            end_all_sessions(other_admin, dana, now=LATER)

        assert str(not_found.value) == f"user {dana} not found"
        assert actor_for_session(token, now=LATER).user_id == dana
        recorded = audit_entries(workbench, other_admin.tenant_id, CROSS_TENANT_ACCESS)
        assert [entry.object_id for entry in recorded] == [str(dana)]

    def test_admin_cannot_end_super_admin_sessions(self, workbench, tenant):
        admin = tenant.actor(Role.TENANT_ADMIN)
        super_admin = tenant.actor(Role.SUPER_ADMIN)

        with pytest.raises(UserOutranksActor) as refused:
            end_all_sessions(admin, super_admin.user_id)

        assert "role SUPER_ADMIN, above your role TENANT_ADMIN" in str(refused.value)
        denials = audit_entries(workbench, tenant.tenant_id, PERMISSION_DENIED)
        assert [entry.details["target_role"] for entry in denials] == ["SUPER_ADMIN"]

    def test_admin_cannot_disable_own_account(self, workbench, tenant):
        admin = tenant.actor(Role.TENANT_ADMIN)

        with pytest.raises(InvalidInput) as refused:
            set_user_active(admin, admin.user_id, False)

        assert refused.value.field == "user"
        assert audit_entries(workbench, tenant.tenant_id, USER_DISABLED) == []

    def test_user_list_needs_user_manage(self, workbench, tenant, dana):
        admin = tenant.actor(Role.TENANT_ADMIN)

        accounts = list_user_accounts(admin)

        assert "dana" in [account.username for account in accounts]
        with pytest.raises(PermissionDenied):
            list_user_accounts(tenant.actor(Role.PLAN_APPROVER))


class TestRedisRevocationList:
    def test_sign_out_stored_for_absolute_lifetime(
        self, workbench, tenant, dana, redis_store
    ):
        client, prefix = redis_store
        token = open_tab(tenant)

        sign_out(token, now=LATER)

        digest = hashlib.sha256(token.encode()).hexdigest()
        expiry_ms = client.pttl(f"{prefix}:revoked-session/{digest}")
        assert TWELVE_HOURS_MS - 60_000 < expiry_ms <= TWELVE_HOURS_MS

    def test_end_all_mark_stored_for_absolute_lifetime(
        self, workbench, tenant, dana, redis_store
    ):
        client, prefix = redis_store
        configure_session_limits(SessionLimits(absolute_timeout=timedelta(hours=2)))

        end_all_sessions(tenant.actor(Role.TENANT_ADMIN), dana, now=LATER)

        key = f"{prefix}:sessions-revoked-before/{tenant.tenant_id}/{dana}"
        expiry_ms = client.pttl(key)
        assert 2 * 3600 * 1000 - 60_000 < expiry_ms <= 2 * 3600 * 1000
        assert int(client.get(key)) == int(LATER.timestamp()) * 1_000_000

    def test_second_process_sees_revocation(self, redis_store):
        client, prefix = redis_store
        first = RedisRevocationList(client, key_prefix=prefix)
        with connected_redis() as other_client:
            second = RedisRevocationList(other_client, key_prefix=prefix)

            first.revoke_sessions_of_user(7, 41, LATER, timedelta(hours=1))

            assert second.is_revoked("a" * 64, 7, 41, SIGN_IN_TIME) is True
            assert second.is_revoked("a" * 64, 7, 41, MUCH_LATER) is False
            assert second.is_revoked("a" * 64, 7, 42, SIGN_IN_TIME) is False

    def test_mark_never_moves_back(self, redis_store):
        client, prefix = redis_store
        revocations = RedisRevocationList(client, key_prefix=prefix)

        revocations.revoke_sessions_of_user(7, 41, MUCH_LATER, timedelta(hours=1))
        revocations.revoke_sessions_of_user(7, 41, SIGN_IN_TIME, timedelta(hours=1))

        assert revocations.is_revoked("b" * 64, 7, 41, LATER) is True

    def test_unreachable_redis_refuses_sessions(self, workbench, tenant, dana, caplog):
        token = open_tab(tenant)
        configure_revocation_list(RedisRevocationList.from_url(CLOSED_REDIS_URL))

        with caplog.at_level(logging.ERROR), pytest.raises(SessionExpired):
            actor_for_session(token, now=LATER)

        assert "the revocation list cannot be reached" in caplog.text
        assert stored_session(workbench, token).revoked_at is None
        configure_revocation_list(MemoryRevocationList())
        assert actor_for_session(token, now=LATER).user_id == dana

    def test_url_with_other_scheme_is_rejected(self):
        with pytest.raises(ValueError, match="scheme 'http'"):
            RedisRevocationList.from_url("http://127.0.0.1:6379/0")


class TestSessionTimeouts:
    def test_idle_timeout_comes_from_settings(self, workbench, tenant, dana):
        configure_session_limits(
            SessionLimits(
                idle_timeout=timedelta(minutes=10), absolute_timeout=timedelta(hours=1)
            )
        )
        token = open_tab(tenant)
        last_use = SIGN_IN_TIME + timedelta(minutes=9, seconds=59)

        actor_for_session(token, now=last_use)
        with pytest.raises(SessionExpired):
            actor_for_session(token, now=last_use + timedelta(minutes=10))

        ended = audit_entries(workbench, tenant.tenant_id, SESSION_ENDED)
        assert [entry.details["reason"] for entry in ended] == ["idle timeout"]
        assert ended[0].details["user_id"] == dana

    def test_absolute_lifetime_comes_from_settings(self, workbench, tenant, dana):
        configure_session_limits(
            SessionLimits(
                idle_timeout=timedelta(minutes=10), absolute_timeout=timedelta(hours=1)
            )
        )
        token = open_tab(tenant)
        for minutes in range(5, 60, 5):
            actor_for_session(token, now=SIGN_IN_TIME + timedelta(minutes=minutes))

        with pytest.raises(SessionExpired):
            actor_for_session(token, now=SIGN_IN_TIME + timedelta(hours=1))

        ended = audit_entries(workbench, tenant.tenant_id, SESSION_ENDED)
        assert [entry.details["reason"] for entry in ended] == ["absolute timeout"]

    def test_ended_session_recorded_once(self, workbench, tenant, dana):
        token = open_tab(tenant)
        idle = SIGN_IN_TIME + session_limits().idle_timeout

        for _ in range(3):
            with pytest.raises(SessionExpired):
                actor_for_session(token, now=idle)

        assert len(audit_entries(workbench, tenant.tenant_id, SESSION_ENDED)) == 1

    def test_limits_read_from_environment(self, workbench, tenant, dana, monkeypatch):
        monkeypatch.setenv(IDLE_MINUTES_VARIABLE, "15")
        monkeypatch.setenv(ABSOLUTE_HOURS_VARIABLE, "2")
        configure_session_limits(None)
        token = open_tab(tenant)

        actor_for_session(token, now=SIGN_IN_TIME + timedelta(minutes=14))
        with pytest.raises(SessionExpired):
            actor_for_session(token, now=SIGN_IN_TIME + timedelta(minutes=29))

        assert session_limits() == SessionLimits(
            idle_timeout=timedelta(minutes=15), absolute_timeout=timedelta(hours=2)
        )
