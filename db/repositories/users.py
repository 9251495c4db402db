"""Users of a tenant: username, password hash, role and whether they may sign in."""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from db.models import ROLE_NAMES, User


def add(
    session: Session,
    tenant_id: int,
    username: str,
    password_hash: str,
    role: str,
    totp_secret: str | None = None,
) -> User:
    """Insert a user of the tenant and flush it, so its id is known."""
    if role not in ROLE_NAMES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLE_NAMES}")
    user = User(
        tenant_id=tenant_id,
        username=username,
        password_hash=password_hash,
        role=role,
        totp_secret=totp_secret,
    )
    session.add(user)
    session.flush()
    return user


def get(session: Session, tenant_id: int, user_id: int) -> User | None:
    """Return the tenant's user with this id, or None (also for another tenant's)."""
    statement = select(User).where(User.tenant_id == tenant_id, User.id == user_id)
    return session.scalars(statement).one_or_none()


def find_by_username(session: Session, tenant_id: int, username: str) -> User | None:
    """Return the tenant's user with this username, or None."""
    statement = select(User).where(
        User.tenant_id == tenant_id, User.username == username
    )
    return session.scalars(statement).one_or_none()


def list_users(session: Session, tenant_id: int) -> list[User]:
    """Return the tenant's users ordered by username."""
    statement = select(User).where(User.tenant_id == tenant_id).order_by(User.username)
    return list(session.scalars(statement))


def use_totp_step(session: Session, tenant_id: int, user_id: int, step: int) -> bool:
    """Record `step` as the user's newest accepted TOTP time step.

    Returns False, and changes nothing, when the user already used this step
    or a later one. The check and the write are one UPDATE, so of two
    concurrent sign-ins with the same code only one succeeds.
    """
    statement = (
        update(User)
        .where(
            User.tenant_id == tenant_id,
            User.id == user_id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session="fetch")
    )
    return session.execute(statement).rowcount == 1
