"""Single sign-on: open a workbench session with a provider's ID token.

`sign_in_with_token` validates the token (core.oidc) and opens the same
server-side session as the password sign-in (core.auth.open_session), with
the same timeouts and revocation.

Users. A user is found by the (issuer, subject) pair stored on the user row.
With `provision_users` on, an unknown subject gets a new user with the
mapped role, named by the username claim. The new user has no password, so
only single sign-on reaches it. A username that an unlinked user already has
is rejected and never linked by name, because the provider's username is no
proof that the person owns that account. With `provision_users` off (the
default), a tenant admin links each user first (`link_user_to_subject`). On
every sign-in the user's stored role is set to the token's mapped role, so
the provider stays the source of roles.

Audit. A sign-in appends `auth.signed_in` with method "oidc". Every
rejection raises TokenRejected with one generic message, and its reason goes
to the audit trail as a `security.oidc_token_rejected` event of the tenant
that the token's tenant claim maps to. When the signature did not verify,
that claim is unproven, and the entry records it (`token_verified` false). A
token that maps to no tenant is only logged.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.audit import SystemActor, append_entry
from core.auth import _clean_client_address, find_tenant, open_session
from core.context import authorize, lock_tenant, unit_of_work
from core.errors import Conflict, InvalidInput
from core.oidc import (
    MAX_SUBJECT_LENGTH,
    MAX_USERNAME_LENGTH,
    OidcSettings,
    TokenRejected,
    VerifiedIdentity,
    claimed_tenant_slug,
    validate_token,
)
from core.permissions import Actor, Permission, Role
from core.tenancy import get_owned
from core.views import SignedIn
from db.models import Tenant, User, utc_now
from db.repositories import oidc_users, users

logger = logging.getLogger(__name__)

# Stored as the password hash of provisioned users. It is no Argon2 hash, so
# core.auth matches no password against it.
NO_PASSWORD_HASH = "!single-sign-on-only"

TOKEN_REJECTED = "security.oidc_token_rejected"
USER_PROVISIONED = "user.provisioned"
USER_ROLE_CHANGED = "user.role_changed"
USER_LINKED = "user.oidc_linked"
SIGN_IN_METHOD = "oidc"
SINGLE_SIGN_ON_PROCESS = "single-sign-on"


def sign_in_with_token(
    id_token: str,
    settings: OidcSettings,
    client_address: str = "",
    *,
    now: datetime | None = None,
) -> SignedIn:
    """Validate the ID token, find or provision its user and open a session.

    Raises TokenRejected, after recording the reason in the audit trail, for
    an invalid token, an unmapped role or tenant, a disabled tenant or user,
    or a subject linked to no user while provisioning is off. `now` sets the
    session's start time, for tests. The token's times are always checked
    against the system clock.
    """
    now = now or utc_now()
    address = _clean_client_address(client_address)
    try:
        identity = validate_token(id_token, settings)
    except TokenRejected as rejection:
        _record_invalid_token(id_token, settings, rejection, address)
        raise
    with unit_of_work() as session:
        outcome = _open_session_for(session, identity, settings, address, now)
    # The rejection's audit entry is committed above; only now is it raised.
    if isinstance(outcome, TokenRejected):
        raise outcome
    return outcome


def _open_session_for(
    session: Session,
    identity: VerifiedIdentity,
    settings: OidcSettings,
    client_address: str,
    now: datetime,
) -> SignedIn | TokenRejected:
    tenant = find_tenant(session, identity.tenant_slug)
    if tenant is None or not tenant.is_active:
        reason = (
            f"tenant_map names the unknown or disabled tenant {identity.tenant_slug}"
        )
        return _reject(session, tenant, reason, client_address, identity)
    lock_tenant(session, tenant.id)
    user = oidc_users.find_by_subject(
        session, tenant.id, identity.issuer, identity.subject
    )
    if user is None and not settings.provision_users:
        reason = "no user is linked to the subject and provision_users is off"
        return _reject(session, tenant, reason, client_address, identity)
    if user is None:
        username = _new_username(identity)
        problem = _provisioning_problem(session, tenant, username)
        if problem:
            return _reject(session, tenant, problem, client_address, identity)
        user = _provision_user(session, tenant, identity, username)
    if not user.is_active:
        return _reject(session, tenant, "user disabled", client_address, identity, user)
    _sync_role(session, user, identity.role)
    return open_session(
        session,
        tenant,
        user,
        identity.mfa_verified,
        client_address,
        now,
        sign_in_method=SIGN_IN_METHOD,
    )


def _new_username(identity: VerifiedIdentity) -> str | None:
    """Name a provisioned user by the username claim, else by a short subject."""
    if identity.preferred_username is not None:
        return identity.preferred_username
    if len(identity.subject) <= MAX_USERNAME_LENGTH:
        return identity.subject
    return None


def _provisioning_problem(
    session: Session, tenant: Tenant, username: str | None
) -> str:
    """Say why the user of a first sign-in cannot be created, or return ""."""
    if username is None:
        return "token has no usable username claim for a new user"
    if users.find_by_username(session, tenant.id, username) is not None:
        # Linking by username would let anyone who can choose a username at
        # the provider take over an existing account.
        return (
            "the username claim names an existing user that is not linked to"
            " the subject; a tenant admin must link that user"
        )
    return ""


def _provision_user(
    session: Session, tenant: Tenant, identity: VerifiedIdentity, username: str
) -> User:
    """Create the user of a first sign-in, linked to the token's identity."""
    user = oidc_users.add_linked(
        session,
        tenant.id,
        username,
        NO_PASSWORD_HASH,
        identity.role.value,
        identity.issuer,
        identity.subject,
    )
    append_entry(
        session,
        SystemActor(tenant.id, SINGLE_SIGN_ON_PROCESS),
        USER_PROVISIONED,
        "user",
        user.id,
        {"role": user.role, "issuer": identity.issuer, "subject": identity.subject},
    )
    logger.info(
        "provisioned user %s of tenant %s from single sign-on", user.id, tenant.id
    )
    return user


def _sync_role(session: Session, user: User, role: Role) -> None:
    """Set the user's stored role to the token's, with an audit entry if it changed."""
    if user.role == role.value:
        return
    previous = user.role
    user.role = role.value
    append_entry(
        session,
        SystemActor(user.tenant_id, SINGLE_SIGN_ON_PROCESS),
        USER_ROLE_CHANGED,
        "user",
        user.id,
        {"from": previous, "to": role.value, "source": SIGN_IN_METHOD},
    )


def _reject(
    session: Session,
    tenant: Tenant | None,
    reason: str,
    client_address: str,
    identity: VerifiedIdentity | None = None,
    user: User | None = None,
    token_verified: bool = True,
) -> TokenRejected:
    """Record a rejected token in the tenant's audit trail, and build the error.

    Without a tenant there is no trail, so that case is only logged.
    """
    if tenant is None:
        logger.warning("single sign-on rejected, no tenant to record it: %s", reason)
        return TokenRejected(reason, token_verified)
    details: dict[str, Any] = {
        "reason": reason,
        "client_address": client_address,
        "token_verified": token_verified,
    }
    if identity is not None:
        details["subject"] = identity.subject
    append_entry(
        session,
        SystemActor(tenant.id, SINGLE_SIGN_ON_PROCESS),
        TOKEN_REJECTED,
        "user",
        "unknown" if user is None else user.id,
        details,
    )
    logger.warning("single sign-on rejected for tenant %s: %s", tenant.id, reason)
    return TokenRejected(reason, token_verified)


def _record_invalid_token(
    id_token: str, settings: OidcSettings, rejection: TokenRejected, address: str
) -> None:
    """Record a token that failed validation, in the tenant its claim maps to.

    The tenant claim is read without trusting it, only to choose which
    tenant's audit trail records the attempt. It never grants access.
    NOTE: these entries are not rate limited, so anyone with a mapped tenant
    claim value can add entries to that tenant's trail with forged tokens.
    """
    slug = claimed_tenant_slug(id_token, settings)
    with unit_of_work() as session:
        tenant = None if slug is None else find_tenant(session, slug)
        _reject(
            session,
            tenant,
            rejection.reason,
            address,
            token_verified=rejection.token_verified,
        )


def link_user_to_subject(
    actor: Actor, user_id: int, subject: str, settings: OidcSettings
) -> None:
    """Link a user of the actor's tenant to the provider's subject.

    The user may then sign in with an ID token of that subject. Needs
    user:manage. Raises InvalidInput for an empty or too long subject and
    Conflict when another user of the tenant is linked to it already.
    """
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
        raise InvalidInput(
            "subject", f"must be 1 to {MAX_SUBJECT_LENGTH} characters, as in `sub`"
        )
    authorize(actor, Permission.USER_MANAGE)
    with unit_of_work(actor) as session:
        user = get_owned(session, actor, User, user_id)
        lock_tenant(session, actor.tenant_id)
        linked = oidc_users.find_by_subject(
            session, actor.tenant_id, settings.issuer, subject
        )
        if linked is not None and linked.id != user.id:
            raise Conflict(
                "user", user_id, f"subject is already linked to user {linked.id}"
            )
        oidc_users.link(session, user, settings.issuer, subject)
        append_entry(
            session,
            actor,
            USER_LINKED,
            "user",
            user.id,
            {"issuer": settings.issuer, "subject": subject},
        )
