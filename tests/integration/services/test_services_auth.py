"""Sign-in, TOTP, server-side sessions and the demo tenant, on real databases."""

from __future__ import annotations

import hashlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from argon2 import Type, extract_parameters
from sqlalchemy import select

from core.auth import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    SIGN_IN_FAILED,
    SIGNED_IN,
    SIGNED_OUT,
    SessionExpired,
    SignInFailed,
    actor_for_session,
    sign_in,
    sign_out,
)
from core.demo import DEMO_TENANT_SLUG, seed_demo_tenant
from core.permissions import Permission, Role, has_permission
from db.models import User, UserSession
from db.repositories import audit_log, tenants, users
from tests.integration.services.helpers import add_user

PASSWORD = "correct horse battery staple"
# A fixed moment for the session clock; TOTP codes are computed for it.
SIGN_IN_TIME = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
# OWASP Password Storage Cheat Sheet, Argon2id minimum: 19 MiB, 2 passes, 1 lane.
MIN_MEMORY_KIB = 19 * 1024
MIN_PASSES = 2


@pytest.fixture
def tenant(workbench, make_tenant):
    return make_tenant()


@pytest.fixture
def dispatcher_name(workbench, tenant) -> str:
    add_user(workbench, tenant.tenant_id, "dana", PASSWORD, Role.DISPATCHER)
    return "dana"


@pytest.fixture
def approver_secret(workbench, tenant) -> str:
    secret = pyotp.random_base32()
    add_user(workbench, tenant.tenant_id, "anton", PASSWORD, Role.PLAN_APPROVER, secret)
    return secret


def code_at(secret: str, moment: datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


def audit_entries(workbench, tenant_id: int, action: str):
    with workbench.session_factory() as session:
        return audit_log.list_entries(session, tenant_id, action=action)


def stored_user(workbench, tenant_id: int, username: str) -> User:
    with workbench.session_factory() as session:
        return users.find_by_username(session, tenant_id, username)


class TestSignIn:
    def test_wrong_password_or_user_fail_alike(
        self, workbench, tenant, dispatcher_name
    ):
        with pytest.raises(SignInFailed) as wrong_password:
            sign_in(tenant.slug, dispatcher_name, "not the password")
        with pytest.raises(SignInFailed) as unknown_user:
            sign_in(tenant.slug, "nobody", PASSWORD)
        with pytest.raises(SignInFailed) as unknown_tenant:
            sign_in("no-such-tenant", dispatcher_name, PASSWORD)

        assert str(wrong_password.value) == "invalid tenant, username, password or code"
        assert str(unknown_user.value) == str(wrong_password.value)
        assert str(unknown_tenant.value) == str(wrong_password.value)
        assert type(unknown_user.value) is type(wrong_password.value)

    def test_failure_is_audited_without_secrets(
        self, workbench, tenant, dispatcher_name
    ):
        with pytest.raises(SignInFailed):
            sign_in(
                tenant.slug, dispatcher_name, "hunter2-typed-wrong", None, "10.0.0.9"
            )

        failures = audit_entries(workbench, tenant.tenant_id, SIGN_IN_FAILED)
        assert len(failures) == 1
        assert failures[0].details["reason"] == "wrong password"
        assert failures[0].details["client_address"] == "10.0.0.9"
        assert "hunter2-typed-wrong" not in str(failures[0].details)
        assert dispatcher_name not in str(failures[0].details)

    def test_dispatcher_signs_in_with_password(
        self, workbench, tenant, dispatcher_name
    ):
        signed_in = sign_in(tenant.slug, dispatcher_name, PASSWORD, now=SIGN_IN_TIME)
        actor = actor_for_session(signed_in.session_token, now=SIGN_IN_TIME)

        assert signed_in.role == "DISPATCHER"
        assert signed_in.tenant_slug == tenant.slug
        assert actor.role is Role.DISPATCHER
        assert actor.tenant_id == tenant.tenant_id
        assert actor.mfa_verified is False
        assert len(audit_entries(workbench, tenant.tenant_id, SIGNED_IN)) == 1

    def test_disabled_user_cannot_sign_in(self, workbench, tenant, dispatcher_name):
        with workbench.session_factory() as session, session.begin():
            users.find_by_username(
                session, tenant.tenant_id, dispatcher_name
            ).is_active = False

        with pytest.raises(SignInFailed):
            sign_in(tenant.slug, dispatcher_name, PASSWORD)


class TestPasswordHash:
    def test_hash_is_argon2id_above_owasp_minimum(
        self, workbench, tenant, dispatcher_name
    ):
        stored = stored_user(workbench, tenant.tenant_id, dispatcher_name)
        parameters = extract_parameters(stored.password_hash)

        assert stored.password_hash.startswith("$argon2id$")
        assert parameters.type is Type.ID
        assert parameters.memory_cost >= MIN_MEMORY_KIB
        assert parameters.time_cost >= MIN_PASSES
        assert parameters.parallelism >= 1
        assert PASSWORD not in stored.password_hash

    def test_same_password_gets_unique_salts(self, workbench, tenant):
        add_user(workbench, tenant.tenant_id, "first", PASSWORD, Role.VIEWER)
        add_user(workbench, tenant.tenant_id, "second", PASSWORD, Role.VIEWER)

        first = stored_user(workbench, tenant.tenant_id, "first").password_hash
        second = stored_user(workbench, tenant.tenant_id, "second").password_hash

        # The encoded hash is $argon2id$v=19$m=...,t=...,p=...$<salt>$<hash>.
        assert first.split("$")[4] != second.split("$")[4]
        assert first != second


class TestTotp:
    def test_approver_needs_code(self, workbench, tenant, approver_secret):
        with pytest.raises(SignInFailed) as asked:
            sign_in(tenant.slug, "anton", PASSWORD, now=SIGN_IN_TIME)
        with workbench.session_factory() as session:
            opened = session.scalars(
                select(UserSession).where(UserSession.tenant_id == tenant.tenant_id)
            ).all()

        assert str(asked.value) == "invalid tenant, username, password or code"
        assert opened == []

    def test_approver_with_code_may_approve(self, workbench, tenant, approver_secret):
        code = code_at(approver_secret, SIGN_IN_TIME)

        signed_in = sign_in(tenant.slug, "anton", PASSWORD, code, now=SIGN_IN_TIME)
        actor = actor_for_session(signed_in.session_token, now=SIGN_IN_TIME)

        assert signed_in.mfa_verified is True
        assert actor.mfa_verified is True
        assert has_permission(actor, Permission.PLAN_APPROVE)

    def test_wrong_password_with_right_code_fails(
        self, workbench, tenant, approver_secret
    ):
        code = code_at(approver_secret, SIGN_IN_TIME)

        with pytest.raises(SignInFailed):
            sign_in(tenant.slug, "anton", "wrong", code, now=SIGN_IN_TIME)

    def test_wrong_code_fails_generically(self, workbench, tenant, approver_secret):
        right = code_at(approver_secret, SIGN_IN_TIME)
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"

        with pytest.raises(SignInFailed) as failed:
            sign_in(tenant.slug, "anton", PASSWORD, wrong, now=SIGN_IN_TIME)

        assert str(failed.value) == "invalid tenant, username, password or code"
        failures = audit_entries(workbench, tenant.tenant_id, SIGN_IN_FAILED)
        assert [entry.details["reason"] for entry in failures] == ["wrong code"]

    def test_code_is_accepted_once(self, workbench, tenant, approver_secret):
        code = code_at(approver_secret, SIGN_IN_TIME)
        sign_in(tenant.slug, "anton", PASSWORD, code, now=SIGN_IN_TIME)

        with pytest.raises(SignInFailed):
            sign_in(tenant.slug, "anton", PASSWORD, code, now=SIGN_IN_TIME)
        # The previous step's code is within the drift window but older.
        earlier = code_at(approver_secret, SIGN_IN_TIME - timedelta(seconds=30))
        with pytest.raises(SignInFailed):
            sign_in(tenant.slug, "anton", PASSWORD, earlier, now=SIGN_IN_TIME)
        later = SIGN_IN_TIME + timedelta(seconds=60)
        next_code = code_at(approver_secret, later)
        signed_in = sign_in(tenant.slug, "anton", PASSWORD, next_code, now=later)

        failures = audit_entries(workbench, tenant.tenant_id, SIGN_IN_FAILED)
        assert [entry.details["reason"] for entry in failures] == [
            "code used before",
            "code used before",
        ]
        assert signed_in.mfa_verified is True

    def test_code_outside_drift_window_fails(self, workbench, tenant, approver_secret):
        stale = code_at(approver_secret, SIGN_IN_TIME - timedelta(minutes=5))

        with pytest.raises(SignInFailed):
            sign_in(tenant.slug, "anton", PASSWORD, stale, now=SIGN_IN_TIME)

    def test_unenrolled_approver_gets_dispatcher_permissions(self, workbench, tenant):
        add_user(workbench, tenant.tenant_id, "newbie", PASSWORD, Role.PLAN_APPROVER)

        signed_in = sign_in(tenant.slug, "newbie", PASSWORD, now=SIGN_IN_TIME)
        actor = actor_for_session(signed_in.session_token, now=SIGN_IN_TIME)

        assert actor.mfa_verified is False
        assert not has_permission(actor, Permission.PLAN_APPROVE)
        assert has_permission(actor, Permission.PLAN_SOLVE)


class TestSessions:
    def test_token_stored_as_hash(self, workbench, tenant, dispatcher_name):
        signed_in = sign_in(tenant.slug, dispatcher_name, PASSWORD)

        with workbench.session_factory() as session:
            stored = session.scalars(
                select(UserSession).where(UserSession.tenant_id == tenant.tenant_id)
            ).one()
        digest = hashlib.sha256(signed_in.session_token.encode()).hexdigest()

        assert stored.token_sha256 == digest
        assert signed_in.session_token not in str(vars(stored))

    def test_sign_out_revokes_the_session(self, workbench, tenant, dispatcher_name):
        signed_in = sign_in(tenant.slug, dispatcher_name, PASSWORD, now=SIGN_IN_TIME)

        sign_out(signed_in.session_token, now=SIGN_IN_TIME + timedelta(minutes=1))

        with pytest.raises(SessionExpired):
            actor_for_session(
                signed_in.session_token, now=SIGN_IN_TIME + timedelta(minutes=2)
            )
        assert len(audit_entries(workbench, tenant.tenant_id, SIGNED_OUT)) == 1

    def test_unknown_token_is_refused(self, workbench):
        with pytest.raises(SessionExpired) as refused:
            actor_for_session(uuid.uuid4().hex)

        assert str(refused.value) == "your session has ended; sign in again"

    def test_disabled_users_session_is_refused(
        self, workbench, tenant, dispatcher_name
    ):
        signed_in = sign_in(tenant.slug, dispatcher_name, PASSWORD, now=SIGN_IN_TIME)
        actor_for_session(signed_in.session_token, now=SIGN_IN_TIME)

        with workbench.session_factory() as session, session.begin():
            users.find_by_username(
                session, tenant.tenant_id, dispatcher_name
            ).is_active = False

        with pytest.raises(SessionExpired):
            actor_for_session(
                signed_in.session_token, now=SIGN_IN_TIME + timedelta(minutes=1)
            )

    def test_disabled_tenants_session_is_refused(
        self, workbench, tenant, dispatcher_name
    ):
        signed_in = sign_in(tenant.slug, dispatcher_name, PASSWORD, now=SIGN_IN_TIME)

        with workbench.session_factory() as session, session.begin():
            tenants.get(session, tenant.tenant_id).is_active = False

        with pytest.raises(SessionExpired):
            actor_for_session(signed_in.session_token, now=SIGN_IN_TIME)

    def test_idle_session_expires(self, workbench, tenant, dispatcher_name):
        signed_in = sign_in(tenant.slug, dispatcher_name, PASSWORD, now=SIGN_IN_TIME)
        token = signed_in.session_token
        almost_idle = IDLE_TIMEOUT - timedelta(seconds=1)
        first_use = SIGN_IN_TIME + almost_idle
        second_use = first_use + almost_idle

        actor_for_session(token, now=first_use)
        still_valid = actor_for_session(token, now=second_use)
        with pytest.raises(SessionExpired):
            actor_for_session(token, now=second_use + IDLE_TIMEOUT)

        assert still_valid.username == dispatcher_name

    def test_busy_session_expires_after_absolute_limit(
        self, workbench, tenant, dispatcher_name
    ):
        signed_in = sign_in(tenant.slug, dispatcher_name, PASSWORD, now=SIGN_IN_TIME)
        token = signed_in.session_token
        moment = SIGN_IN_TIME
        while moment + IDLE_TIMEOUT / 2 < SIGN_IN_TIME + ABSOLUTE_TIMEOUT:
            moment += IDLE_TIMEOUT / 2
            actor_for_session(token, now=moment)

        with pytest.raises(SessionExpired):
            actor_for_session(token, now=SIGN_IN_TIME + ABSOLUTE_TIMEOUT)

    def test_session_limits(self):
        assert IDLE_TIMEOUT == timedelta(minutes=30)
        assert ABSOLUTE_TIMEOUT == timedelta(hours=12)


class TestDemoTenant:
    def test_first_seed_returns_accounts(self, private_workbench):
        accounts = seed_demo_tenant(private_workbench.engine)
        again = seed_demo_tenant()
        admin = accounts.account("admin")
        signed_in = sign_in(
            DEMO_TENANT_SLUG,
            "admin",
            admin.password,
            pyotp.TOTP(admin.totp_secret).now(),
        )

        assert [account.username for account in accounts] == [
            "viewer",
            "dispatcher",
            "approver",
            "admin",
        ]
        assert [account.role for account in accounts] == [
            "VIEWER",
            "DISPATCHER",
            "PLAN_APPROVER",
            "TENANT_ADMIN",
        ]
        assert len({account.password for account in accounts}) == 4
        assert all(len(account.password) >= 16 for account in accounts)
        assert accounts.account("viewer").totp_secret is None
        assert accounts.account("dispatcher").totp_secret is None
        assert accounts.account("approver").totp_secret is not None
        assert admin.totp_uri.startswith("otpauth://totp/")
        assert again is None
        assert signed_in.mfa_verified is True
        assert signed_in.tenant_name == "Demo Logistics"

    def test_concurrent_seeds_create_one_tenant(self, private_workbench):
        start = threading.Barrier(2)

        def seed():
            start.wait(timeout=10)
            return seed_demo_tenant()

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(lambda _: seed(), range(2), timeout=60))
        with private_workbench.session_factory() as session:
            demo = tenants.find_by_slug(session, DEMO_TENANT_SLUG)
            demo_users = users.list_users(session, demo.id)

        assert sorted(outcome is None for outcome in outcomes) == [False, True]
        assert len(demo_users) == 4
