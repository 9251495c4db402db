"""Single sign-on opens server-side sessions, on SQLite and on PostgreSQL.

Tokens are signed with an RSA key generated here and validated against the
JWKS that tests/oidc_provider.py serves on 127.0.0.1.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from core.audit import verify_audit_chain
from core.auth import (
    SIGNED_IN,
    SessionExpired,
    SignInFailed,
    actor_for_session,
    hash_password,
    sign_in,
    sign_out,
)
from core.context import configure
from core.errors import Conflict, NotFound, PermissionDenied
from core.forecasts import get_forecast_version, import_forecast
from core.oidc import TokenRejected
from core.oidc_sign_in import (
    NO_PASSWORD_HASH,
    TOKEN_REJECTED,
    USER_LINKED,
    USER_PROVISIONED,
    USER_ROLE_CHANGED,
    link_user_to_subject,
    sign_in_with_token,
)
from core.permissions import Permission, Role, has_permission
from core.tenancy import CROSS_TENANT_ACCESS
from db.models import User, UserSession
from db.repositories import audit_log, oidc_users, users
from solver.generate import format_tidy_csv
from tests.integration.databases import SMALL_FORECAST, WEEK_ANCHOR
from tests.oidc_provider import new_rsa_key, running_provider

CLIENT_ADDRESS = "203.0.113.7"


@pytest.fixture(scope="module")
def provider_key():
    return new_rsa_key()


@pytest.fixture(scope="module")
def attacker_key():
    return new_rsa_key()


@pytest.fixture
def provider(provider_key):
    with running_provider(provider_key) as running:
        yield running


@pytest.fixture
def workbench(database):
    configure(database.engine)
    return database


@pytest.fixture
def first_tenant(workbench, make_tenant):
    return make_tenant()


@pytest.fixture
def second_tenant(workbench, make_tenant):
    return make_tenant()


def tenant_claim(tenant) -> str:
    """The provider's name for a tenant, as an organisation attribute would be."""
    return f"Operator {tenant.slug}"


@pytest.fixture
def settings(provider, first_tenant, second_tenant):
    tenant_map = {
        tenant_claim(first_tenant): first_tenant.slug,
        tenant_claim(second_tenant): second_tenant.slug,
    }
    return provider.settings(tenant_map, provision_users=True)


def entries(workbench, tenant_id: int, action: str):
    with workbench.session_factory() as session:
        return audit_log.list_entries(session, tenant_id, action=action)


def session_count(workbench, tenant_id: int) -> int:
    with workbench.session_factory() as session:
        statement = select(func.count()).where(UserSession.tenant_id == tenant_id)
        return session.scalar(statement.select_from(UserSession))


def linked_user(workbench, tenant, provider, subject: str) -> User | None:
    with workbench.session_factory() as session:
        return oidc_users.find_by_subject(
            session, tenant.tenant_id, provider.issuer, subject
        )


class TestSignInWithToken:
    def test_valid_token_opens_mapped_session(
        self, workbench, provider, settings, first_tenant
    ):
        claims = provider.claims(tenant_claim(first_tenant), ["planning-dispatcher"])

        signed_in = sign_in_with_token(provider.sign(claims), settings, CLIENT_ADDRESS)
        actor = actor_for_session(signed_in.session_token)

        assert actor.role is Role.DISPATCHER
        assert actor.tenant_id == first_tenant.tenant_id
        assert actor.mfa_verified is False
        assert signed_in.tenant_slug == first_tenant.slug
        assert signed_in.username == claims["preferred_username"]
        sign_ins = entries(workbench, first_tenant.tenant_id, SIGNED_IN)
        assert len(sign_ins) == 1
        assert sign_ins[0].details["method"] == "oidc"
        assert sign_ins[0].details["client_address"] == CLIENT_ADDRESS
        provisioned = entries(workbench, first_tenant.tenant_id, USER_PROVISIONED)
        assert provisioned[0].details["subject"] == claims["sub"]

    def test_second_sign_in_updates_role(
        self, workbench, provider, settings, first_tenant
    ):
        claims = provider.claims(tenant_claim(first_tenant), ["planning-viewer"])
        first = sign_in_with_token(provider.sign(claims), settings)
        claims["realm_access"] = {"roles": ["planning-dispatcher"]}

        second = sign_in_with_token(provider.sign(claims), settings)

        assert second.user_id == first.user_id
        assert actor_for_session(second.session_token).role is Role.DISPATCHER
        changes = entries(workbench, first_tenant.tenant_id, USER_ROLE_CHANGED)
        assert [(c.details["from"], c.details["to"]) for c in changes] == [
            ("VIEWER", "DISPATCHER")
        ]

    def test_sign_out_ends_session(self, workbench, provider, settings, first_tenant):
        claims = provider.claims(tenant_claim(first_tenant), ["planning-viewer"])
        signed_in = sign_in_with_token(provider.sign(claims), settings)

        sign_out(signed_in.session_token)

        with pytest.raises(SessionExpired):
            actor_for_session(signed_in.session_token)

    def test_approver_needs_mfa_claim(
        self, workbench, provider, settings, first_tenant
    ):
        tenant = tenant_claim(first_tenant)
        without = provider.claims(tenant, ["planning-approver"], amr=["pwd"])
        with_mfa = provider.claims(tenant, ["planning-approver"], amr=["pwd", "mfa"])

        password_only = sign_in_with_token(provider.sign(without), settings)
        multi_factor = sign_in_with_token(provider.sign(with_mfa), settings)

        password_actor = actor_for_session(password_only.session_token)
        mfa_actor = actor_for_session(multi_factor.session_token)
        assert password_actor.role is Role.PLAN_APPROVER
        assert not has_permission(password_actor, Permission.PLAN_APPROVE)
        assert has_permission(mfa_actor, Permission.PLAN_APPROVE)

    def test_concurrent_first_sign_ins_create_one_user(
        self, workbench, provider, settings, first_tenant
    ):
        claims = provider.claims(tenant_claim(first_tenant), ["planning-viewer"])
        token = provider.sign(claims)
        start = threading.Barrier(2)

        def attempt(_: int):
            start.wait()
            return sign_in_with_token(token, settings)

        with ThreadPoolExecutor(max_workers=2) as pool:
            first, second = pool.map(attempt, range(2))

        assert first.user_id == second.user_id
        assert first.session_token != second.session_token
        provisioned = entries(workbench, first_tenant.tenant_id, USER_PROVISIONED)
        assert len(provisioned) == 1

    def test_provisioned_user_has_no_password(
        self, workbench, provider, settings, first_tenant
    ):
        claims = provider.claims(tenant_claim(first_tenant), ["planning-viewer"])
        sign_in_with_token(provider.sign(claims), settings)

        with pytest.raises(SignInFailed):
            sign_in(first_tenant.slug, claims["preferred_username"], NO_PASSWORD_HASH)

        user = linked_user(workbench, first_tenant, provider, claims["sub"])
        assert user.password_hash == NO_PASSWORD_HASH


class TestTenantIsolation:
    def test_other_tenant_token_cannot_read_data(
        self, workbench, provider, settings, first_tenant, second_tenant
    ):
        upload = format_tidy_csv(SMALL_FORECAST).encode("utf-8")
        imported = import_forecast(
            first_tenant.actor(Role.DISPATCHER), WEEK_ANCHOR, "week.csv", upload
        )
        claims = provider.claims(tenant_claim(second_tenant), ["planning-admin"])
        signed_in = sign_in_with_token(provider.sign(claims), settings)
        actor = actor_for_session(signed_in.session_token)

        with pytest.raises(NotFound):
            get_forecast_version(actor, imported.version.forecast_version_id)

        assert actor.tenant_id == second_tenant.tenant_id
        assert linked_user(workbench, first_tenant, provider, claims["sub"]) is None
        events = entries(workbench, second_tenant.tenant_id, CROSS_TENANT_ACCESS)
        assert len(events) == 1

    def test_same_subject_in_two_tenants_is_two_users(
        self, workbench, provider, settings, first_tenant, second_tenant
    ):
        subject = str(uuid.uuid4())
        first = provider.claims(
            tenant_claim(first_tenant), ["planning-viewer"], sub=subject
        )
        second = provider.claims(
            tenant_claim(second_tenant), ["planning-viewer"], sub=subject
        )

        in_first = sign_in_with_token(provider.sign(first), settings)
        in_second = sign_in_with_token(provider.sign(second), settings)

        assert in_first.user_id != in_second.user_id
        assert actor_for_session(in_first.session_token).tenant_id == (
            first_tenant.tenant_id
        )
        assert actor_for_session(in_second.session_token).tenant_id == (
            second_tenant.tenant_id
        )


class TestRejectedTokens:
    def test_forged_token_leaves_security_event(
        self, workbench, provider, settings, first_tenant, attacker_key
    ):
        claims = provider.claims(tenant_claim(first_tenant), ["planning-admin"])
        forged = provider.sign(claims, attacker_key, key_id=provider.key_id)

        with pytest.raises(TokenRejected):
            sign_in_with_token(forged, settings, CLIENT_ADDRESS)

        events = entries(workbench, first_tenant.tenant_id, TOKEN_REJECTED)
        assert len(events) == 1
        assert events[0].details["reason"].startswith("signature does not verify")
        assert events[0].details["token_verified"] is False
        assert events[0].details["client_address"] == CLIENT_ADDRESS
        assert "subject" not in events[0].details
        assert session_count(workbench, first_tenant.tenant_id) == 0
        assert linked_user(workbench, first_tenant, provider, claims["sub"]) is None

    def test_alg_none_token_leaves_security_event(
        self, workbench, provider, settings, first_tenant
    ):
        claims = provider.claims(tenant_claim(first_tenant), ["planning-admin"])

        with pytest.raises(TokenRejected):
            sign_in_with_token(provider.unsigned_token(claims), settings)

        events = entries(workbench, first_tenant.tenant_id, TOKEN_REJECTED)
        assert len(events) == 1
        assert "'none' is not allowed" in events[0].details["reason"]

    def test_unmapped_role_leaves_security_event(
        self, workbench, provider, settings, first_tenant
    ):
        claims = provider.claims(tenant_claim(first_tenant), ["uma_authorization"])

        with pytest.raises(TokenRejected):
            sign_in_with_token(provider.sign(claims), settings)

        events = entries(workbench, first_tenant.tenant_id, TOKEN_REJECTED)
        assert len(events) == 1
        assert "is in role_map" in events[0].details["reason"]
        assert events[0].details["token_verified"] is True
        assert session_count(workbench, first_tenant.tenant_id) == 0

    def test_unknown_subject_rejected_without_provisioning(
        self, workbench, provider, settings, first_tenant
    ):
        no_provisioning = provider.settings(
            dict(settings.tenant_map), provision_users=False
        )
        claims = provider.claims(tenant_claim(first_tenant), ["planning-viewer"])

        with pytest.raises(TokenRejected) as caught:
            sign_in_with_token(provider.sign(claims), no_provisioning)

        assert "provision_users is off" in caught.value.reason
        events = entries(workbench, first_tenant.tenant_id, TOKEN_REJECTED)
        assert events[0].details["subject"] == claims["sub"]
        assert linked_user(workbench, first_tenant, provider, claims["sub"]) is None

    def test_existing_username_is_not_taken_over(
        self, workbench, provider, settings, first_tenant
    ):
        with workbench.session_factory() as session, session.begin():
            users.add(
                session,
                first_tenant.tenant_id,
                "dana",
                hash_password("correct horse battery staple"),
                Role.DISPATCHER.value,
            )
        claims = provider.claims(
            tenant_claim(first_tenant), ["planning-admin"], preferred_username="dana"
        )

        with pytest.raises(TokenRejected) as caught:
            sign_in_with_token(provider.sign(claims), settings)

        assert "not linked to the subject" in caught.value.reason
        with workbench.session_factory() as session:
            dana = users.find_by_username(session, first_tenant.tenant_id, "dana")
        assert dana.oidc_subject is None
        assert dana.role == "DISPATCHER"

    def test_disabled_user_is_rejected(
        self, workbench, provider, settings, first_tenant
    ):
        claims = provider.claims(tenant_claim(first_tenant), ["planning-viewer"])
        sign_in_with_token(provider.sign(claims), settings)
        with workbench.session_factory() as session, session.begin():
            user = oidc_users.find_by_subject(
                session, first_tenant.tenant_id, provider.issuer, claims["sub"]
            )
            user.is_active = False

        with pytest.raises(TokenRejected) as caught:
            sign_in_with_token(provider.sign(claims), settings)

        assert caught.value.reason == "user disabled"

    def test_unknown_tenant_slug_is_rejected(self, workbench, provider):
        settings = provider.settings({"Ghost GmbH": f"ghost-{uuid.uuid4().hex[:8]}"})
        claims = provider.claims("Ghost GmbH", ["planning-viewer"])

        with pytest.raises(TokenRejected) as caught:
            sign_in_with_token(provider.sign(claims), settings)

        assert "unknown or disabled tenant" in caught.value.reason

    def test_audit_chain_stays_intact(
        self, workbench, provider, settings, first_tenant, attacker_key
    ):
        tenant = tenant_claim(first_tenant)
        good = provider.claims(tenant, ["planning-dispatcher"])
        sign_in_with_token(provider.sign(good), settings)
        with pytest.raises(TokenRejected):
            forged = provider.claims(tenant, ["planning-admin"])
            sign_in_with_token(provider.sign(forged, attacker_key), settings)

        with workbench.session_factory() as session:
            result = verify_audit_chain(session, first_tenant.tenant_id)

        assert result.ok, result.message
        assert result.entry_count == 3


class TestLinkUserToSubject:
    def test_linked_user_signs_in(self, workbench, provider, settings, first_tenant):
        no_provisioning = provider.settings(
            dict(settings.tenant_map), provision_users=False
        )
        dispatcher = first_tenant.actor(Role.DISPATCHER)
        claims = provider.claims(tenant_claim(first_tenant), ["planning-approver"])
        admin = first_tenant.actor(Role.TENANT_ADMIN)

        link_user_to_subject(admin, dispatcher.user_id, claims["sub"], no_provisioning)
        signed_in = sign_in_with_token(provider.sign(claims), no_provisioning)

        assert signed_in.user_id == dispatcher.user_id
        assert actor_for_session(signed_in.session_token).role is Role.PLAN_APPROVER
        links = entries(workbench, first_tenant.tenant_id, USER_LINKED)
        assert links[0].details["subject"] == claims["sub"]
        assert links[0].actor_user_id == admin.user_id

    def test_linking_needs_user_manage(
        self, workbench, provider, settings, first_tenant
    ):
        dispatcher = first_tenant.actor(Role.DISPATCHER)

        with pytest.raises(PermissionDenied):
            link_user_to_subject(dispatcher, dispatcher.user_id, "subject-1", settings)

        assert linked_user(workbench, first_tenant, provider, "subject-1") is None

    def test_subject_linked_to_another_user_is_a_conflict(
        self, workbench, provider, settings, first_tenant
    ):
        admin = first_tenant.actor(Role.TENANT_ADMIN)
        viewer = first_tenant.actor(Role.VIEWER)
        dispatcher = first_tenant.actor(Role.DISPATCHER)
        link_user_to_subject(admin, viewer.user_id, "subject-2", settings)

        with pytest.raises(Conflict):
            link_user_to_subject(admin, dispatcher.user_id, "subject-2", settings)

        linked = linked_user(workbench, first_tenant, provider, "subject-2")
        assert linked.id == viewer.user_id

    def test_user_of_another_tenant_cannot_be_linked(
        self, workbench, provider, settings, first_tenant, second_tenant
    ):
        admin = first_tenant.actor(Role.TENANT_ADMIN)
        stranger = second_tenant.actor(Role.VIEWER)

        with pytest.raises(NotFound):
            link_user_to_subject(admin, stranger.user_id, "subject-3", settings)

        assert linked_user(workbench, second_tenant, provider, "subject-3") is None
