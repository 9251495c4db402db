"""Users of a tenant found by, or linked to, an OpenID Connect identity.

An identity is the pair of the provider's issuer URL (`iss`) and its subject
(`sub`); OpenID Connect Core 1.0 names this pair as the only stable
identifier of a user, since a subject is unique per issuer only.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import ROLE_NAMES, User


def find_by_subject(
    session: Session, tenant_id: int, issuer: str, subject: str
) -> User | None:
    """Return the tenant's user linked to this issuer and subject, or None."""
    statement = select(User).where(
        User.tenant_id == tenant_id,
        User.oidc_issuer == issuer,
        User.oidc_subject == subject,
    )
    return session.scalars(statement).one_or_none()


def add_linked(
    session: Session,
    tenant_id: int,
    username: str,
    password_hash: str,
    role: str,
    issuer: str,
    subject: str,
) -> User:
    """Insert a user of the tenant linked to the identity, and flush it."""
    if role not in ROLE_NAMES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLE_NAMES}")
    user = User(
        tenant_id=tenant_id,
        username=username,
        password_hash=password_hash,
        role=role,
        oidc_issuer=issuer,
        oidc_subject=subject,
    )
    session.add(user)
    session.flush()
    return user


def link(session: Session, user: User, issuer: str, subject: str) -> None:
    """Link an existing user to the identity, replacing any earlier link."""
    user.oidc_issuer = issuer
    user.oidc_subject = subject
    session.flush()
