"""Sign-in with password and TOTP code, and the server-side sessions it opens.

Passwords are hashed with Argon2id by argon2-cffi's PasswordHasher with its
default parameters. In argon2-cffi 25.1 these are 64 MiB of memory, 3 passes,
4 lanes and a random 16-byte salt per hash (the second recommended profile
of RFC 9106), above OWASP's minimum of 19 MiB, 2 passes and 1 lane. A sign-in
for an unknown or disabled user verifies the password against a dummy hash,
so it costs as much time as one for a real user.

Users from PLAN_APPROVER upwards who enrolled an authenticator app must add
a TOTP code (RFC 6238, 6 digits, 30-second steps, one step of clock drift
either way). Each code is accepted once: the user's newest accepted time
step is stored, and a code of that step or an older one is rejected. Such a
user who has not enrolled yet signs in with the password alone and gets the
DISPATCHER permissions until enrolled (see core.permissions).

Every failure raises SignInFailed with the same message, whatever was wrong.
The audit trail of the tenant records the reason, without the password, the
code or the username typed.

Attempts are limited per user and per client address (core.rate_limits). An
attempt over a limit fails with the same SignInFailed before the password is
checked, so it costs no Argon2 hash, and is recorded as a
`security.sign_in_rate_limited` event.

A session is a random token held by the browser. The database stores only
its SHA-256 hash. A session ends:

- when it was not used for IDLE_TIMEOUT (30 minutes),
- ABSOLUTE_TIMEOUT (12 hours) after sign-in, however busy it was,
- at sign-out,
- when its user or tenant is disabled.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from core.audit import SystemActor, append_entry
from core.context import lock_tenant, unit_of_work
from core.errors import SolvereignError
from core.permissions import MFA_REQUIRED_FROM, Actor, Role
from core.rate_limits import (
    TooManyAttempts,
    check_sign_in,
    rate_limits,
    remember_sign_in_address,
)
from core.views import SignedIn
from db.models import Tenant, User, UserSession, utc_now
from db.repositories import sessions, tenants, users

logger = logging.getLogger(__name__)

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)

# Accept the code of the previous and of the next 30-second step as well.
TOTP_VALID_WINDOW = 1
TOTP_DIGITS = 6
# Maximum length of the client address kept in the audit trail (IPv6 text is 45).
MAX_CLIENT_ADDRESS_LENGTH = 64

SIGNED_IN = "auth.signed_in"
SIGN_IN_FAILED = "auth.sign_in_failed"
SIGN_IN_RATE_LIMITED = "security.sign_in_rate_limited"
SIGNED_OUT = "auth.signed_out"
SIGN_IN_PROCESS = "sign-in"

_password_hasher = PasswordHasher()


class SignInFailed(SolvereignError):
    """The tenant, username, password or code is wrong; one message for every case."""

    def __init__(self) -> None:
        super().__init__("invalid tenant, username, password or code")


class SessionExpired(SolvereignError):
    """The session token is unknown, revoked, timed out, or its user is disabled."""

    def __init__(self) -> None:
        super().__init__("your session has ended; sign in again")


def hash_password(password: str) -> str:
    """Hash a password with Argon2id and a fresh random salt."""
    if not password:
        raise ValueError("password must not be empty")
    return _password_hasher.hash(password)


def new_totp_secret() -> str:
    """Generate a random Base32 TOTP secret for an authenticator app."""
    return pyotp.random_base32()


def sign_in(
    tenant_slug: str,
    username: str,
    password: str,
    totp_code: str | None = None,
    client_address: str = "",
    *,
    now: datetime | None = None,
) -> SignedIn:
    """Check the credentials, open a session and return its token.

    Raises SignInFailed for any wrong, missing or unknown value, and also
    when a rate limit rejects the attempt. A missing TOTP code fails like a
    wrong password, so the reply never reveals whether the password of an
    approver or admin was right. Raises RateLimitStoreUnavailable when the
    rate limit storage cannot be reached. `now` sets the session's start
    time and the TOTP clock, for tests.
    """
    now = now or utc_now()
    address = _clean_client_address(client_address)
    try:
        check_sign_in(tenant_slug, username, address)
    except TooManyAttempts as error:
        _record_rate_limited(tenant_slug, username, address, error)
        raise SignInFailed() from None

    with unit_of_work() as session:
        outcome = _attempt_sign_in(
            session, tenant_slug, username, password, totp_code or "", address, now
        )
    # The failure's audit entry is committed above; only now is the error raised.
    if isinstance(outcome, SolvereignError):
        raise outcome
    remember_sign_in_address(tenant_slug, username, address)
    return outcome


def actor_for_session(session_token: str, *, now: datetime | None = None) -> Actor:
    """Return the signed-in actor of a session and mark the session as used.

    Raises SessionExpired when the token is unknown or revoked, the session
    was idle for IDLE_TIMEOUT or is older than ABSOLUTE_TIMEOUT, or its user
    or tenant is disabled. The role is read from the user row, so a changed
    role takes effect on the next request.
    """
    now = now or utc_now()
    if not isinstance(session_token, str) or not session_token:
        raise SessionExpired()
    with unit_of_work() as session:
        user_session = sessions.find_by_token_hash(
            session, _token_digest(session_token)
        )
        if user_session is None:
            raise SessionExpired()
        user = users.get(session, user_session.tenant_id, user_session.user_id)
        tenant = tenants.get(session, user_session.tenant_id)
        reason = _session_end_reason(user_session, user, tenant, now)
        if reason:
            logger.info("session %s rejected: %s", user_session.id, reason)
            raise SessionExpired()
        user_session.last_seen_at = max(user_session.last_seen_at, now)
        return _actor(user, user_session)


def sign_out(session_token: str, *, now: datetime | None = None) -> None:
    """Revoke the session, so its token is refused from now on.

    An unknown or already revoked token is left as it is, without error.
    """
    now = now or utc_now()
    if not isinstance(session_token, str) or not session_token:
        return
    with unit_of_work() as session:
        user_session = sessions.find_by_token_hash(
            session, _token_digest(session_token)
        )
        if user_session is None or user_session.revoked_at is not None:
            return
        user = users.get(session, user_session.tenant_id, user_session.user_id)
        lock_tenant(session, user_session.tenant_id)
        user_session.revoked_at = now
        actor: Actor | SystemActor = SystemActor(user_session.tenant_id, "sign-out")
        if user is not None:
            actor = _actor(user, user_session)
        append_entry(session, actor, SIGNED_OUT, "session", user_session.id)
    logger.info("session %s signed out", user_session.id)


def _attempt_sign_in(
    session: Session,
    tenant_slug: str,
    username: str,
    password: str,
    totp_code: str,
    client_address: str,
    now: datetime,
) -> SignedIn | SolvereignError:
    tenant = tenants.find_by_slug(session, tenant_slug)
    user = None
    if tenant is not None and tenant.is_active:
        user = users.find_by_username(session, tenant.id, username)
    if tenant is None or not tenant.is_active:
        _password_matches(_dummy_hash(), password)
        return _reject(
            session, tenant, None, "unknown or disabled tenant", client_address
        )
    if user is None or not user.is_active:
        _password_matches(_dummy_hash(), password)
        reason = "unknown user" if user is None else "user disabled"
        return _reject(session, tenant, user, reason, client_address)
    if not _password_matches(user.password_hash, password):
        return _reject(session, tenant, user, "wrong password", client_address)

    new_hash = None
    if _password_hasher.check_needs_rehash(user.password_hash):
        new_hash = hash_password(password)

    needs_code = Role(user.role) >= MFA_REQUIRED_FROM and user.totp_secret is not None
    if needs_code and not totp_code:
        return _reject(session, tenant, user, "code missing", client_address)

    mfa_verified = False
    if totp_code:
        step = _matching_totp_step(user.totp_secret, totp_code, now)
        if step is None:
            return _reject(session, tenant, user, "wrong code", client_address)
        lock_tenant(session, tenant.id)
        if not users.use_totp_step(session, tenant.id, user.id, step):
            return _reject(session, tenant, user, "code used before", client_address)
        mfa_verified = True
    elif Role(user.role) >= MFA_REQUIRED_FROM:
        logger.warning(
            "user %s of tenant %s has no authenticator enrolled; signed in with"
            " DISPATCHER permissions only",
            user.id,
            tenant.id,
        )

    lock_tenant(session, tenant.id)
    if new_hash is not None:
        user.password_hash = new_hash
    token = secrets.token_urlsafe(32)
    user_session = sessions.add(
        session, tenant.id, user.id, _token_digest(token), mfa_verified, now
    )
    append_entry(
        session,
        _actor(user, user_session),
        SIGNED_IN,
        "session",
        user_session.id,
        {"mfa_verified": mfa_verified, "client_address": client_address},
    )
    logger.info("user %s of tenant %s signed in", user.id, tenant.id)
    return SignedIn(
        session_token=token,
        username=user.username,
        tenant_name=tenant.name,
        role=user.role,
        mfa_verified=mfa_verified,
        tenant_slug=tenant.slug,
        user_id=user.id,
    )


def _reject(
    session: Session,
    tenant: Tenant | None,
    user: User | None,
    reason: str,
    client_address: str,
) -> SignInFailed:
    """Record a failed sign-in in the tenant's audit trail, and build the error.

    A tenant that does not exist has no trail, so that case is only logged.
    """
    if tenant is None:
        logger.warning("sign-in failed: unknown tenant")
        return SignInFailed()
    lock_tenant(session, tenant.id)
    append_entry(
        session,
        SystemActor(tenant.id, SIGN_IN_PROCESS),
        SIGN_IN_FAILED,
        "user",
        "unknown" if user is None else user.id,
        {"reason": reason, "client_address": client_address},
    )
    logger.warning("sign-in failed for tenant %s: %s", tenant.id, reason)
    return SignInFailed()


def _record_rate_limited(
    tenant_slug: str, username: str, client_address: str, error: TooManyAttempts
) -> None:
    """Record a sign-in rejected by a rate limit in the tenant's audit trail.

    Rejected attempts are not limited, so their audit entries are limited
    instead, per tenant and address (MAX_REJECTION_ENTRIES_PER_MINUTE in
    core.rate_limits). A rejection beyond that limit, or for a tenant that
    does not exist, is only logged.
    """
    with unit_of_work() as session:
        tenant = tenants.find_by_slug(session, tenant_slug)
        if tenant is None:
            logger.warning(
                "sign-in rate limited by %s limit: unknown tenant", error.limit
            )
            return
        if not rate_limits().allow_rejection_entry(tenant.id, client_address):
            logger.warning(
                "sign-in rate limited by %s limit for tenant %s; audit entries"
                " for this address are over their own limit",
                error.limit,
                tenant.id,
            )
            return
        user = users.find_by_username(session, tenant.id, username)
        lock_tenant(session, tenant.id)
        append_entry(
            session,
            SystemActor(tenant.id, SIGN_IN_PROCESS),
            SIGN_IN_RATE_LIMITED,
            "user",
            "unknown" if user is None else user.id,
            {
                "limit": error.limit,
                "retry_after_seconds": error.retry_after_seconds,
                "client_address": client_address,
            },
        )
    logger.warning(
        "sign-in rate limited by %s limit for tenant %s", error.limit, tenant.id
    )


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _password_hasher.verify(password_hash, password)
    except VerificationError:
        return False
    except InvalidHashError:
        # A stored value that is no Argon2 hash matches no password. The dummy
        # check keeps the time the same as for a real hash.
        _password_matches(_dummy_hash(), password)
        return False


@functools.cache
def _dummy_hash() -> str:
    return _password_hasher.hash(secrets.token_urlsafe(16))


def _matching_totp_step(secret: str | None, code: str, now: datetime) -> int | None:
    """Return the time step whose code equals `code`, within the window, or None."""
    if secret is None:
        return None
    code = code.strip().replace(" ", "")
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS)
    current = totp.timecode(now)
    matched = None
    # Compare every step of the window, so the time taken does not tell which.
    for step in range(current - TOTP_VALID_WINDOW, current + TOTP_VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            matched = step
    return matched


def _session_end_reason(
    user_session: UserSession,
    user: User | None,
    tenant: Tenant | None,
    now: datetime,
) -> str:
    """Say why the session has ended, or return "" while it is valid."""
    if user_session.revoked_at is not None:
        return "revoked"
    if now - user_session.last_seen_at >= IDLE_TIMEOUT:
        return "idle timeout"
    if now - user_session.created_at >= ABSOLUTE_TIMEOUT:
        return "absolute timeout"
    if user is None or not user.is_active:
        return "user disabled"
    if tenant is None or not tenant.is_active:
        return "tenant disabled"
    return ""


def _actor(user: User, user_session: UserSession) -> Actor:
    return Actor(
        user_id=user.id,
        tenant_id=user.tenant_id,
        role=Role(user.role),
        username=user.username,
        mfa_verified=user_session.mfa_verified,
    )


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _clean_client_address(client_address: str) -> str:
    """Keep printable characters only, so the address is safe in logs and audit."""
    printable = "".join(
        character for character in str(client_address) if character.isprintable()
    )
    return printable[:MAX_CLIENT_ADDRESS_LENGTH]


def open_session(
    session: Session,
    tenant: Tenant,
    user: User,
    mfa_verified: bool,
    client_address: str,
    now: datetime,
    *,
    sign_in_method: str,
) -> SignedIn:
    """Open a session for a user whose identity another sign-in method verified.

    Single sign-on (core.oidc_sign_in) calls this after validating the
    provider's token. Its sessions therefore have the same token, timeouts
    and revocation as those of the password sign-in. The caller has checked
    that tenant and user are active. The SIGNED_IN entry is appended in the
    caller's transaction.
    """
    address = _clean_client_address(client_address)
    lock_tenant(session, tenant.id)
    token = secrets.token_urlsafe(32)
    user_session = sessions.add(
        session, tenant.id, user.id, _token_digest(token), mfa_verified, now
    )
    append_entry(
        session,
        _actor(user, user_session),
        SIGNED_IN,
        "session",
        user_session.id,
        {
            "mfa_verified": mfa_verified,
            "client_address": address,
            "method": sign_in_method,
        },
    )
    logger.info(
        "user %s of tenant %s signed in by %s", user.id, tenant.id, sign_in_method
    )
    return SignedIn(
        session_token=token,
        username=user.username,
        tenant_name=tenant.name,
        role=user.role,
        mfa_verified=mfa_verified,
        tenant_slug=tenant.slug,
        user_id=user.id,
    )
