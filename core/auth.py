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
DISPATCHER permissions until enrolled (see core.permissions and, for
enrolment, core.mfa). The code field also takes one of the user's recovery
codes (core.recovery_codes), which then counts as the second factor and is
used up; its use is recorded as `auth.recovery_code_used`.

Every failure raises SignInFailed with the same message, whatever was wrong.
The audit trail of the tenant records the reason, without the password, the
code or the username typed.

Attempts are limited per user and per client address (core.rate_limits). An
attempt over a limit fails with the same SignInFailed before the password is
checked, so it costs no Argon2 hash, and is recorded as a
`security.sign_in_rate_limited` event.

A session is a random token held by the browser. The database stores only
its SHA-256 hash. A session ends:

- when it was not used for the idle timeout (SOLVEREIGN_SESSION_IDLE_MINUTES,
  30 minutes by default; see core.session_settings),
- after the absolute lifetime since sign-in, however busy it was
  (SOLVEREIGN_SESSION_ABSOLUTE_HOURS, 12 hours by default),
- at sign-out,
- when its user's sessions are ended or its user or tenant is disabled
  (core.user_sessions).

Every request of a signed-in user checks the session in the database and in
the revocation list (core.session_revocations), whose store is shared by all
server processes. A session that either of them has revoked is refused,
and so is every session while the revocation list cannot be reached.
The first refused request of a session that has not been marked revoked
yet marks it and records `auth.session_ended` with the reason. A session
that is never used again after its timeout gets no such entry.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from datetime import datetime

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
from core.recovery_codes import (
    Redemption,
    normalise_recovery_code,
    redeem_recovery_code,
    unused_recovery_codes,
)
from core.session_revocations import (
    RevocationListUnavailable,
    add_revoked_session,
    revocation_list,
)
from core.session_settings import (
    DEFAULT_ABSOLUTE_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    session_limits,
)
from core.views import SignedIn
from db import cross_tenant
from db.models import Tenant, User, UserSession, utc_now
from db.repositories import sessions, tenants, users
from db.session import set_transaction_tenant

logger = logging.getLogger(__name__)

# The defaults; the limits in force come from core.session_settings.
IDLE_TIMEOUT = DEFAULT_IDLE_TIMEOUT
ABSOLUTE_TIMEOUT = DEFAULT_ABSOLUTE_TIMEOUT

# Accept the code of the previous and of the next 30-second step as well.
TOTP_VALID_WINDOW = 1
TOTP_DIGITS = 6
# Maximum length of the client address kept in the audit trail (IPv6 text is 45).
MAX_CLIENT_ADDRESS_LENGTH = 64

SIGNED_IN = "auth.signed_in"
SIGN_IN_FAILED = "auth.sign_in_failed"
SIGN_IN_RATE_LIMITED = "security.sign_in_rate_limited"
SIGNED_OUT = "auth.signed_out"
SESSION_ENDED = "auth.session_ended"
RECOVERY_CODE_USED = "auth.recovery_code_used"
SIGN_IN_PROCESS = "sign-in"
SESSION_CHECK_PROCESS = "session-check"
# Second factors of a sign-in, as SIGNED_IN entries record them.
TOTP_FACTOR = "totp"
RECOVERY_CODE_FACTOR = "recovery_code"

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

    Raises SessionExpired when the token is unknown, the database or the
    revocation list has revoked the session, the session timed out (idle or
    absolute, see core.session_settings), or its user or tenant is disabled.
    It also raises SessionExpired, and logs the error, while the revocation
    list cannot be reached. The role is read from the user row, so a changed
    role takes effect on the next request.
    """
    now = now or utc_now()
    if not isinstance(session_token, str) or not session_token:
        raise SessionExpired()
    with unit_of_work() as session:
        outcome = _check_session(session, _token_digest(session_token), now)
    # A session ended just now has its revocation and audit entry committed above.
    if isinstance(outcome, SessionExpired):
        raise outcome
    return outcome


def sign_out(session_token: str, *, now: datetime | None = None) -> None:
    """Revoke the session, so its token is refused from now on.

    An unknown or already revoked token is left as it is, without error.
    """
    now = now or utc_now()
    if not isinstance(session_token, str) or not session_token:
        return
    with unit_of_work() as session:
        user_session = _find_user_session(session, _token_digest(session_token))
        if user_session is None or user_session.revoked_at is not None:
            return
        user = users.get(session, user_session.tenant_id, user_session.user_id)
        lock_tenant(session, user_session.tenant_id)
        user_session.revoked_at = now
        actor: Actor | SystemActor = SystemActor(user_session.tenant_id, "sign-out")
        if user is not None:
            actor = _actor(user, user_session)
        append_entry(session, actor, SIGNED_OUT, "session", user_session.id)
    add_revoked_session(user_session.token_sha256)
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
    tenant = find_tenant(session, tenant_slug)
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

    second_factor = ""
    if totp_code:
        second_factor, failure = _use_second_factor(session, user, totp_code, now)
        if failure:
            return _reject(session, tenant, user, failure, client_address)
    elif Role(user.role) >= MFA_REQUIRED_FROM:
        logger.warning(
            "user %s of tenant %s has no authenticator enrolled; signed in with"
            " DISPATCHER permissions only",
            user.id,
            tenant.id,
        )

    mfa_verified = bool(second_factor)
    lock_tenant(session, tenant.id)
    if new_hash is not None:
        user.password_hash = new_hash
    token = secrets.token_urlsafe(32)
    user_session = sessions.add(
        session, tenant.id, user.id, _token_digest(token), mfa_verified, now
    )
    actor = _actor(user, user_session)
    append_entry(
        session,
        actor,
        SIGNED_IN,
        "session",
        user_session.id,
        {
            "mfa_verified": mfa_verified,
            "second_factor": second_factor or "none",
            "client_address": client_address,
        },
    )
    if second_factor == RECOVERY_CODE_FACTOR:
        _record_recovery_code_use(session, actor, user_session)
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
        tenant = find_tenant(session, tenant_slug)
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


def find_tenant(session: Session, tenant_slug: str) -> Tenant | None:
    """Find the tenant of a slug and bind the transaction to it, or return None.

    The transaction has no tenant yet, so the slug is looked up across
    tenants (db.cross_tenant), and the tenant's row is then read like any
    other row of the tenant.
    """
    tenant_id = cross_tenant.tenant_id_for_slug(session, tenant_slug)
    if tenant_id is None:
        return None
    set_transaction_tenant(session, tenant_id)
    return tenants.get(session, tenant_id)


def _find_user_session(session: Session, token_sha256: str) -> UserSession | None:
    """Find a sign-in session by its token digest and bind the transaction to its tenant."""
    tenant_id = cross_tenant.tenant_id_for_session(session, token_sha256)
    if tenant_id is None:
        return None
    set_transaction_tenant(session, tenant_id)
    return sessions.find_by_token_hash(session, token_sha256)


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


def matching_totp_step(secret: str | None, code: str, now: datetime) -> int | None:
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


def _use_second_factor(
    session: Session, user: User, code: str, now: datetime
) -> tuple[str, str]:
    """Check a TOTP code or a recovery code and use it up.

    Returns the factor (TOTP_FACTOR or RECOVERY_CODE_FACTOR) and "", or ""
    and the reason of the failure for the audit trail.
    """
    recovery_code = normalise_recovery_code(code)
    if recovery_code is None:
        step = matching_totp_step(user.totp_secret, code, now)
        if step is None:
            return "", "wrong code"
        lock_tenant(session, user.tenant_id)
        if not users.use_totp_step(session, user.tenant_id, user.id, step):
            return "", "code used before"
        return TOTP_FACTOR, ""
    if user.totp_secret is None:
        return "", Redemption.UNKNOWN.value
    lock_tenant(session, user.tenant_id)
    redemption = redeem_recovery_code(
        session, user.tenant_id, user.id, recovery_code, now
    )
    if redemption is not Redemption.ACCEPTED:
        return "", redemption.value
    return RECOVERY_CODE_FACTOR, ""


def _record_recovery_code_use(
    session: Session, actor: Actor, user_session: UserSession
) -> None:
    codes_left = unused_recovery_codes(session, actor.tenant_id, actor.user_id)
    append_entry(
        session,
        actor,
        RECOVERY_CODE_USED,
        "user",
        actor.user_id,
        {"session_id": user_session.id, "recovery_codes_left": codes_left},
    )
    logger.warning(
        "user %s of tenant %s signed in with a recovery code; %s left",
        actor.user_id,
        actor.tenant_id,
        codes_left,
    )


def _check_session(
    session: Session, token_sha256: str, now: datetime
) -> Actor | SessionExpired:
    """Return the session's actor, or end the session and return the error to raise."""
    user_session = _find_user_session(session, token_sha256)
    if user_session is None:
        return SessionExpired()
    try:
        listed_as_revoked = revocation_list().is_revoked(
            token_sha256,
            user_session.tenant_id,
            user_session.user_id,
            user_session.created_at,
        )
    except RevocationListUnavailable:
        logger.error(
            "session %s rejected: the revocation list cannot be reached",
            user_session.id,
        )
        return SessionExpired()
    user = users.get(session, user_session.tenant_id, user_session.user_id)
    tenant = tenants.get(session, user_session.tenant_id)
    reason = _session_end_reason(user_session, user, tenant, now, listed_as_revoked)
    if reason:
        _end_session(session, user_session, reason, now)
        return SessionExpired()
    user_session.last_seen_at = max(user_session.last_seen_at, now)
    return _actor(user, user_session)


def _end_session(
    session: Session, user_session: UserSession, reason: str, now: datetime
) -> None:
    """Mark a session that a check refused as revoked, once, with an audit entry.

    The session row is read again under the tenant lock, so of two requests
    that find the same session ended only the first records it.
    """
    logger.info("session %s rejected: %s", user_session.id, reason)
    if user_session.revoked_at is not None:
        return
    lock_tenant(session, user_session.tenant_id)
    session.refresh(user_session)
    if user_session.revoked_at is not None:
        return
    user_session.revoked_at = now
    append_entry(
        session,
        SystemActor(user_session.tenant_id, SESSION_CHECK_PROCESS),
        SESSION_ENDED,
        "session",
        user_session.id,
        {"reason": reason, "user_id": user_session.user_id},
    )


def _session_end_reason(
    user_session: UserSession,
    user: User | None,
    tenant: Tenant | None,
    now: datetime,
    listed_as_revoked: bool,
) -> str:
    """Say why the session has ended, or return "" while it is valid."""
    if user_session.revoked_at is not None:
        return "revoked"
    if listed_as_revoked:
        return "revoked in the revocation list"
    limits = session_limits()
    if now - user_session.last_seen_at >= limits.idle_timeout:
        return "idle timeout"
    if now - user_session.created_at >= limits.absolute_timeout:
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
