"""Server-side sign-in sessions, found by the SHA-256 hash of their token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import UserSession


def add(
    session: Session,
    tenant_id: int,
    user_id: int,
    token_sha256: str,
    mfa_verified: bool,
    created_at: datetime,
) -> UserSession:
    """Insert a session of the tenant's user and flush it, so its id is known."""
    user_session = UserSession(
        tenant_id=tenant_id,
        user_id=user_id,
        token_sha256=token_sha256,
        mfa_verified=mfa_verified,
        created_at=created_at,
        last_seen_at=created_at,
    )
    session.add(user_session)
    session.flush()
    return user_session


def find_by_token_hash(session: Session, token_sha256: str) -> UserSession | None:
    """Return the session whose token has this SHA-256 hex digest, or None.

    Not filtered by tenant: the token is what names the tenant.
    """
    statement = select(UserSession).where(UserSession.token_sha256 == token_sha256)
    return session.scalars(statement).one_or_none()


def revoke_all_of_user(
    session: Session, tenant_id: int, user_id: int, revoked_at: datetime
) -> int:
    """Revoke every open session of the tenant's user; return how many were open."""
    statement = (
        update(UserSession)
        .where(
            UserSession.tenant_id == tenant_id,
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=revoked_at)
        .execution_options(synchronize_session="fetch")
    )
    return session.execute(statement).rowcount
