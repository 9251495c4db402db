"""Authenticator enrolment and recovery codes, through the services, on real databases."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import png
import pyotp
import pytest
from sqlalchemy import select

from core.auth import (
    RECOVERY_CODE_USED,
    SIGN_IN_FAILED,
    SIGNED_IN,
    SignInFailed,
    actor_for_session,
    sign_in,
)
from core.errors import InvalidInput
from core.mfa import (
    MFA_ENROLLED,
    MFA_ENROLMENT_FAILED,
    MFA_ENROLMENT_STARTED,
    RECOVERY_CODES_ISSUED,
    EnrolmentRefused,
    confirm_enrolment,
    issue_new_recovery_codes,
    mfa_status,
    qr_code_png,
    start_enrolment,
)
from core.permissions import Actor, Permission, Role, has_permission
from core.session_revocations import MemoryRevocationList, configure_revocation_list
from db.models import RecoveryCode, User
from db.repositories import audit_log, users
from tests.integration.services.helpers import add_user

PASSWORD = "correct horse battery staple"
ENROL_TIME = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
# Sign-ins after enrolment, each in a later 30-second step than the one before.
NEXT_SIGN_IN = ENROL_TIME + timedelta(minutes=2)
LATER_SIGN_IN = ENROL_TIME + timedelta(minutes=4)


@pytest.fixture(autouse=True)
def fresh_revocation_list() -> Iterator[None]:
    configure_revocation_list(MemoryRevocationList())
    yield
    configure_revocation_list(None)


@pytest.fixture
def tenant(workbench, make_tenant):
    return make_tenant()


@pytest.fixture
def anton(workbench, tenant) -> Actor:
    """A plan approver without an authenticator, signed in with the password."""
    add_user(workbench, tenant.tenant_id, "anton", PASSWORD, Role.PLAN_APPROVER)
    signed_in = sign_in(tenant.slug, "anton", PASSWORD, now=ENROL_TIME)
    return actor_for_session(signed_in.session_token, now=ENROL_TIME)


@pytest.fixture
def enrolled(anton) -> tuple[str, tuple[str, ...]]:
    """Enrol anton's authenticator; return its secret and the recovery codes."""
    pending = start_enrolment(anton, now=ENROL_TIME)
    codes = confirm_enrolment(
        anton, code_at(pending.secret, ENROL_TIME), now=ENROL_TIME
    )
    return pending.secret, codes


def code_at(secret: str, moment: datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


def wrong_code(secret: str, moment: datetime) -> str:
    return f"{(int(code_at(secret, moment)) + 1) % 1_000_000:06d}"


def audit_entries(workbench, tenant_id: int, action: str):
    with workbench.session_factory() as session:
        return audit_log.list_entries(session, tenant_id, action=action)


def stored_user(workbench, tenant_id: int, username: str) -> User:
    with workbench.session_factory() as session:
        return users.find_by_username(session, tenant_id, username)


def stored_codes(workbench, user_id: int) -> list[RecoveryCode]:
    with workbench.session_factory() as session:
        return list(
            session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id))
        )


def sign_in_anton(tenant, code: str, moment: datetime = NEXT_SIGN_IN):
    return sign_in(tenant.slug, "anton", PASSWORD, code, now=moment)


class TestEnrolment:
    def test_approver_without_mfa_cannot_approve(self, workbench, anton):
        status = mfa_status(anton)

        assert anton.mfa_verified is False
        assert not has_permission(anton, Permission.PLAN_APPROVE)
        assert status.required is True
        assert status.enrolled is False
        assert status.may_enrol is True

    def test_start_stores_pending_secret_only(self, workbench, tenant, anton):
        pending = start_enrolment(anton, now=ENROL_TIME)

        stored = stored_user(workbench, tenant.tenant_id, "anton")
        assert stored.totp_pending_secret == pending.secret
        assert stored.totp_secret is None
        assert pending.uri.startswith("otpauth://totp/SOLVEREIGN:anton")
        assert f"secret={pending.secret}" in pending.uri
        assert mfa_status(anton).pending_uri == pending.uri
        started = audit_entries(workbench, tenant.tenant_id, MFA_ENROLMENT_STARTED)
        assert len(started) == 1
        assert pending.secret not in str(started[0].details)

    def test_wrong_code_is_refused_and_recorded(self, workbench, tenant, anton):
        pending = start_enrolment(anton, now=ENROL_TIME)

        with pytest.raises(InvalidInput) as refused:
            confirm_enrolment(
                anton, wrong_code(pending.secret, ENROL_TIME), now=ENROL_TIME
            )

        assert refused.value.field == "code"
        stored = stored_user(workbench, tenant.tenant_id, "anton")
        assert stored.totp_secret is None
        assert stored.totp_pending_secret == pending.secret
        failures = audit_entries(workbench, tenant.tenant_id, MFA_ENROLMENT_FAILED)
        assert [entry.details["reason"] for entry in failures] == ["wrong code"]

    def test_right_code_completes_enrolment(self, workbench, tenant, anton):
        pending = start_enrolment(anton, now=ENROL_TIME)

        codes = confirm_enrolment(
            anton, code_at(pending.secret, ENROL_TIME), now=ENROL_TIME
        )

        stored = stored_user(workbench, tenant.tenant_id, "anton")
        assert stored.totp_secret == pending.secret
        assert stored.totp_pending_secret is None
        assert len(codes) == 10
        assert mfa_status(anton).recovery_codes_left == 10
        enrolled = audit_entries(workbench, tenant.tenant_id, MFA_ENROLLED)
        assert [entry.details["recovery_codes"] for entry in enrolled] == [10]

    def test_recovery_codes_stored_only_as_hashes(self, workbench, anton, enrolled):
        _, codes = enrolled

        rows = stored_codes(workbench, anton.user_id)

        assert len(rows) == 10
        stored_text = " ".join(row.code_sha256 for row in rows)
        for code in codes:
            assert code not in stored_text
            assert code.replace("-", "") not in stored_text

    def test_confirm_without_start_is_refused(self, workbench, anton):
        with pytest.raises(InvalidInput, match="no authenticator set-up"):
            confirm_enrolment(anton, "123456", now=ENROL_TIME)

    def test_code_sign_in_grants_approve(self, workbench, tenant, enrolled):
        secret, _ = enrolled

        signed_in = sign_in_anton(tenant, code_at(secret, NEXT_SIGN_IN))
        actor = actor_for_session(signed_in.session_token, now=NEXT_SIGN_IN)

        assert actor.mfa_verified is True
        assert has_permission(actor, Permission.PLAN_APPROVE)

    def test_enrolled_approver_needs_code(self, workbench, tenant, enrolled):
        with pytest.raises(SignInFailed):
            sign_in(tenant.slug, "anton", PASSWORD, now=NEXT_SIGN_IN)

    def test_confirming_code_cannot_sign_in_again(self, workbench, tenant, enrolled):
        secret, _ = enrolled

        with pytest.raises(SignInFailed):
            sign_in_anton(tenant, code_at(secret, ENROL_TIME), ENROL_TIME)

        failures = audit_entries(workbench, tenant.tenant_id, SIGN_IN_FAILED)
        assert [entry.details["reason"] for entry in failures] == ["code used before"]

    def test_dispatcher_may_not_enrol(self, workbench, tenant):
        dispatcher = tenant.actor(Role.DISPATCHER)

        with pytest.raises(EnrolmentRefused, match="role DISPATCHER"):
            start_enrolment(dispatcher)

    def test_replacing_needs_second_factor_session(self, workbench, anton, enrolled):
        with pytest.raises(EnrolmentRefused, match="enrolled already"):
            start_enrolment(anton, now=NEXT_SIGN_IN)

    def test_verified_session_replaces_authenticator(self, workbench, tenant, enrolled):
        old_secret, old_codes = enrolled
        signed_in = sign_in_anton(tenant, code_at(old_secret, NEXT_SIGN_IN))
        actor = actor_for_session(signed_in.session_token, now=NEXT_SIGN_IN)

        pending = start_enrolment(actor, now=NEXT_SIGN_IN)
        confirm_enrolment(
            actor, code_at(pending.secret, NEXT_SIGN_IN), now=NEXT_SIGN_IN
        )

        with pytest.raises(SignInFailed):
            sign_in_anton(tenant, code_at(old_secret, LATER_SIGN_IN), LATER_SIGN_IN)
        with pytest.raises(SignInFailed):
            sign_in_anton(tenant, old_codes[0], LATER_SIGN_IN)
        new_session = sign_in_anton(
            tenant, code_at(pending.secret, LATER_SIGN_IN), LATER_SIGN_IN
        )
        assert new_session.mfa_verified is True


class TestRecoveryCodes:
    def test_code_works_once(self, workbench, tenant, enrolled):
        _, codes = enrolled

        signed_in = sign_in_anton(tenant, codes[3])
        with pytest.raises(SignInFailed):
            sign_in_anton(tenant, codes[3], LATER_SIGN_IN)

        actor = actor_for_session(signed_in.session_token, now=NEXT_SIGN_IN)
        assert actor.mfa_verified is True
        assert has_permission(actor, Permission.PLAN_APPROVE)
        failures = audit_entries(workbench, tenant.tenant_id, SIGN_IN_FAILED)
        assert [entry.details["reason"] for entry in failures] == [
            "recovery code used before"
        ]

    def test_use_is_recorded(self, workbench, tenant, enrolled):
        _, codes = enrolled

        signed_in = sign_in_anton(tenant, codes[0])

        used = audit_entries(workbench, tenant.tenant_id, RECOVERY_CODE_USED)
        assert len(used) == 1
        assert used[0].details["recovery_codes_left"] == 9
        assert codes[0] not in str(used[0].details)
        signed_in_entries = audit_entries(workbench, tenant.tenant_id, SIGNED_IN)
        assert signed_in_entries[-1].details["second_factor"] == "recovery_code"
        assert signed_in.mfa_verified is True

    def test_code_typed_loosely_is_accepted(self, workbench, tenant, enrolled):
        _, codes = enrolled
        loosely = codes[1].replace("-", " ").lower()

        signed_in = sign_in_anton(tenant, loosely)

        assert signed_in.mfa_verified is True

    def test_unknown_code_is_refused(self, workbench, tenant, enrolled):
        with pytest.raises(SignInFailed):
            sign_in_anton(tenant, "7K3M-Q9TX-2BWD-HN4R")

        failures = audit_entries(workbench, tenant.tenant_id, SIGN_IN_FAILED)
        assert [entry.details["reason"] for entry in failures] == [
            "wrong recovery code"
        ]

    def test_code_of_another_user_is_refused(self, workbench, tenant, enrolled):
        _, codes = enrolled
        secret = pyotp.random_base32()
        add_user(
            workbench, tenant.tenant_id, "berta", PASSWORD, Role.PLAN_APPROVER, secret
        )

        with pytest.raises(SignInFailed):
            sign_in(tenant.slug, "berta", PASSWORD, codes[0], now=NEXT_SIGN_IN)

        assert sign_in_anton(tenant, codes[0]).mfa_verified is True

    def test_new_codes_invalidate_old_ones(self, workbench, tenant, enrolled):
        secret, old_codes = enrolled
        signed_in = sign_in_anton(tenant, code_at(secret, NEXT_SIGN_IN))
        actor = actor_for_session(signed_in.session_token, now=NEXT_SIGN_IN)

        new_codes = issue_new_recovery_codes(actor, now=NEXT_SIGN_IN)

        with pytest.raises(SignInFailed):
            sign_in_anton(tenant, old_codes[5], LATER_SIGN_IN)
        assert set(new_codes).isdisjoint(old_codes)
        assert sign_in_anton(tenant, new_codes[5], LATER_SIGN_IN).mfa_verified is True
        issued = audit_entries(workbench, tenant.tenant_id, RECOVERY_CODES_ISSUED)
        assert [entry.details["recovery_codes"] for entry in issued] == [10]

    def test_new_codes_need_second_factor_session(self, workbench, anton, enrolled):
        with pytest.raises(EnrolmentRefused):
            issue_new_recovery_codes(anton, now=NEXT_SIGN_IN)

    def test_user_without_authenticator_has_no_codes(self, workbench, tenant, anton):
        with pytest.raises(SignInFailed):
            sign_in_anton(tenant, "7K3M-Q9TX-2BWD-HN4R")


def test_qr_code_is_a_square_png():
    uri = "otpauth://totp/SOLVEREIGN:anton?secret=JBSWY3DPEHPK3PXP&issuer=SOLVEREIGN"

    image = qr_code_png(uri)

    width, height, _, _ = png.Reader(file=io.BytesIO(image)).read()
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    assert width == height
    assert width > 200
    assert image != qr_code_png(uri.replace("anton", "berta"))
