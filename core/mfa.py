"""Enrolment of an authenticator app (TOTP) and the user's recovery codes.

A user from PLAN_APPROVER upwards (core.permissions.MFA_REQUIRED_FROM) who
has no TOTP secret enrols in two steps:

1. `start_enrolment` stores a new random secret as pending and returns it
   with its otpauth:// URI, which the page shows as text and as a QR code.
2. `confirm_enrolment` accepts a code of the pending secret that is valid
   now. Only then does the pending secret become the user's secret. The
   code's time step counts as used, so the same code cannot sign in again.
   The user gets RECOVERY_CODE_COUNT recovery codes, in plain text only in
   this return value.

A user who already has a secret may replace it the same way, but only from a
session that passed the second factor, so a stolen password alone cannot
swap the authenticator. The current session keeps its permissions: the
approver permissions need a sign-in with the new code.

`issue_new_recovery_codes` replaces the recovery codes, which invalidates the
old ones. Every step is recorded in the tenant's audit trail, without the
secret or the codes.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime

import pyotp
import qrcode
import qrcode.constants
from qrcode.image.pure import PyPNGImage
from sqlalchemy.orm import Session

from core.audit import append_entry
from core.auth import TOTP_DIGITS, matching_totp_step, new_totp_secret
from core.context import lock_tenant, unit_of_work
from core.errors import InvalidInput, NotFound, SolvereignError
from core.permissions import MFA_REQUIRED_FROM, Actor, Role
from core.recovery_codes import issue_recovery_codes, unused_recovery_codes
from db.models import User, utc_now
from db.repositories import tenants, users

logger = logging.getLogger(__name__)

MFA_ENROLMENT_STARTED = "auth.mfa_enrolment_started"
MFA_ENROLMENT_FAILED = "auth.mfa_enrolment_failed"
MFA_ENROLLED = "auth.mfa_enrolled"
RECOVERY_CODES_ISSUED = "auth.recovery_codes_issued"
# The issuer that authenticator apps show above the account name.
TOTP_ISSUER = "SOLVEREIGN"


class EnrolmentRefused(SolvereignError):
    """The user may not enrol now. The message gives the reason and the next step."""


@dataclass(frozen=True)
class MfaStatus:
    """The multi-factor sign-in state of the signed-in user.

    `pending_secret` and `pending_uri` are the Base32 secret and the
    otpauth:// URI of an enrolment that was started but not confirmed yet,
    or None.
    """

    required: bool
    enrolled: bool
    session_verified: bool
    pending_secret: str | None
    pending_uri: str | None
    recovery_codes_left: int

    @property
    def may_enrol(self) -> bool:
        """Tell whether the user may start enrolling an authenticator now."""
        return self.required and (not self.enrolled or self.session_verified)

    @property
    def may_issue_recovery_codes(self) -> bool:
        return self.enrolled and self.session_verified


@dataclass(frozen=True)
class PendingEnrolment:
    """A new TOTP secret waiting for its first code, and its otpauth:// URI."""

    secret: str
    uri: str


def mfa_status(actor: Actor) -> MfaStatus:
    """Return the actor's enrolment, pending enrolment and recovery codes left."""
    with unit_of_work(actor) as session:
        user = _own_user(session, actor)
        pending_uri = None
        if user.totp_pending_secret is not None:
            pending_uri = _provisioning_uri(session, user, user.totp_pending_secret)
        return MfaStatus(
            required=Role(user.role) >= MFA_REQUIRED_FROM,
            enrolled=user.totp_secret is not None,
            session_verified=actor.mfa_verified,
            pending_secret=user.totp_pending_secret,
            pending_uri=pending_uri,
            recovery_codes_left=unused_recovery_codes(
                session, actor.tenant_id, actor.user_id
            ),
        )


def start_enrolment(actor: Actor, *, now: datetime | None = None) -> PendingEnrolment:
    """Store a new pending TOTP secret for the actor and return it with its URI.

    Starting again replaces a pending secret that was never confirmed.
    Raises EnrolmentRefused when the actor's role needs no authenticator, or
    when one is enrolled and this session did not pass the second factor.
    """
    with unit_of_work(actor) as session:
        user = _own_user(session, actor)
        _check_may_enrol(actor, user)
        lock_tenant(session, actor.tenant_id)
        user.totp_pending_secret = new_totp_secret()
        append_entry(
            session,
            actor,
            MFA_ENROLMENT_STARTED,
            "user",
            user.id,
            {"replaces_authenticator": user.totp_secret is not None},
            occurred_at=now,
        )
        uri = _provisioning_uri(session, user, user.totp_pending_secret)
        pending = PendingEnrolment(secret=user.totp_pending_secret, uri=uri)
    logger.info(
        "user %s of tenant %s started enrolment", actor.user_id, actor.tenant_id
    )
    return pending


def confirm_enrolment(
    actor: Actor, code: str, *, now: datetime | None = None
) -> tuple[str, ...]:
    """Make the pending secret the actor's secret if `code` is valid for it now.

    Returns the new recovery codes in plain text; they are stored only as
    hashes, so show them once. Raises InvalidInput when no enrolment is
    pending or the code is wrong (the failure is recorded), and
    EnrolmentRefused as start_enrolment does.
    """
    now = now or utc_now()
    with unit_of_work(actor) as session:
        outcome = _confirm(session, actor, code, now)
    # A wrong code's audit entry is committed above; only now is the error raised.
    if isinstance(outcome, SolvereignError):
        raise outcome
    logger.info("user %s of tenant %s enrolled", actor.user_id, actor.tenant_id)
    return outcome


def issue_new_recovery_codes(
    actor: Actor, *, now: datetime | None = None
) -> tuple[str, ...]:
    """Replace the actor's recovery codes and return the new ones in plain text.

    The old codes, used or not, stop working. Raises EnrolmentRefused unless
    the actor has an authenticator and this session passed the second factor.
    """
    now = now or utc_now()
    with unit_of_work(actor) as session:
        user = _own_user(session, actor)
        if user.totp_secret is None or not actor.mfa_verified:
            raise EnrolmentRefused(
                "new recovery codes need an enrolled authenticator and a sign-in"
                " with its code; sign in again with your authenticator code"
            )
        lock_tenant(session, actor.tenant_id)
        codes = issue_recovery_codes(session, actor.tenant_id, user.id, now)
        append_entry(
            session,
            actor,
            RECOVERY_CODES_ISSUED,
            "user",
            user.id,
            {"recovery_codes": len(codes), "reason": "replaced by the user"},
            occurred_at=now,
        )
    logger.info(
        "user %s of tenant %s replaced the recovery codes",
        actor.user_id,
        actor.tenant_id,
    )
    return codes


def qr_code_png(uri: str) -> bytes:
    """Draw the URI as a QR code in PNG, in pure Python (qrcode with pypng)."""
    image = qrcode.make(
        uri,
        image_factory=PyPNGImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
    )
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def _confirm(
    session: Session, actor: Actor, code: str, now: datetime
) -> tuple[str, ...] | SolvereignError:
    user = _own_user(session, actor)
    _check_may_enrol(actor, user)
    if user.totp_pending_secret is None:
        raise InvalidInput(
            "code", "no authenticator set-up is under way; start the set-up again"
        )

    step = matching_totp_step(user.totp_pending_secret, code, now)
    lock_tenant(session, actor.tenant_id)
    if step is None:
        append_entry(
            session,
            actor,
            MFA_ENROLMENT_FAILED,
            "user",
            user.id,
            {"reason": "wrong code"},
            occurred_at=now,
        )
        return InvalidInput(
            "code",
            f"the code does not match the new authenticator; type the"
            f" {TOTP_DIGITS}-digit code that the app shows now, and check that"
            " the phone's clock is right",
        )

    replaced = user.totp_secret is not None
    user.totp_secret = user.totp_pending_secret
    user.totp_pending_secret = None
    user.totp_last_step = step
    codes = issue_recovery_codes(session, actor.tenant_id, user.id, now)

    append_entry(
        session,
        actor,
        MFA_ENROLLED,
        "user",
        user.id,
        {"replaced_authenticator": replaced, "recovery_codes": len(codes)},
        occurred_at=now,
    )
    return codes


def _own_user(session: Session, actor: Actor) -> User:
    user = users.get(session, actor.tenant_id, actor.user_id)
    if user is None:
        raise NotFound("user", actor.user_id)
    return user


def _check_may_enrol(actor: Actor, user: User) -> None:
    """Raise EnrolmentRefused unless the user may enrol an authenticator now."""
    role = Role(user.role)
    if role < MFA_REQUIRED_FROM:
        raise EnrolmentRefused(
            f"role {role.value} signs in without an authenticator; enrolment is"
            f" for {MFA_REQUIRED_FROM.value} and the roles above it"
        )
    if user.totp_secret is not None and not actor.mfa_verified:
        raise EnrolmentRefused(
            "an authenticator is enrolled already; to replace it, sign in with"
            " its code or a recovery code first"
        )


def _provisioning_uri(session: Session, user: User, secret: str) -> str:
    """Build the otpauth:// URI that names the user and tenant in the app."""
    tenant = tenants.get(session, user.tenant_id)
    tenant_slug = tenant.slug if tenant is not None else str(user.tenant_id)
    return pyotp.TOTP(secret, digits=TOTP_DIGITS).provisioning_uri(
        name=f"{user.username} ({tenant_slug})", issuer_name=TOTP_ISSUER
    )
