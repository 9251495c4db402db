"""Recovery codes of a user, stored and found by their SHA-256 digest."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from db.models import RecoveryCode


def replace_all(
    session: Session,
    tenant_id: int,
    user_id: int,
    code_digests: Iterable[str],
    created_at: datetime,
) -> int:
    """Delete every recovery code of the user and insert the new digests.

    Returns how many old codes, used or not, were deleted.
    """
    deleted = session.execute(
        delete(RecoveryCode).where(
            RecoveryCode.tenant_id == tenant_id, RecoveryCode.user_id == user_id
        )
    ).rowcount
    session.add_all(
        RecoveryCode(
            tenant_id=tenant_id,
            user_id=user_id,
            code_sha256=digest,
            created_at=created_at,
        )
        for digest in code_digests
    )
    session.flush()
    return deleted


def use(
    session: Session, tenant_id: int, user_id: int, code_sha256: str, used_at: datetime
) -> bool:
    """Mark the user's unused code with this digest as used at `used_at`.

    Returns False, and changes nothing, when the user has no such unused code.
    The check and the write are one UPDATE, so of two concurrent sign-ins
    with the same code only one succeeds.
    """
    statement = (
        update(RecoveryCode)
        .where(
            RecoveryCode.tenant_id == tenant_id,
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_sha256 == code_sha256,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=used_at)
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).rowcount == 1


def find(
    session: Session, tenant_id: int, user_id: int, code_sha256: str
) -> RecoveryCode | None:
    """Return the user's code with this digest, used or not, or None."""
    statement = select(RecoveryCode).where(
        RecoveryCode.tenant_id == tenant_id,
        RecoveryCode.user_id == user_id,
        RecoveryCode.code_sha256 == code_sha256,
    )
    return session.scalars(statement).one_or_none()


def count_unused(session: Session, tenant_id: int, user_id: int) -> int:
    """Return how many of the user's recovery codes are still unused."""
    statement = select(func.count(RecoveryCode.id)).where(
        RecoveryCode.tenant_id == tenant_id,
        RecoveryCode.user_id == user_id,
        RecoveryCode.used_at.is_(None),
    )
    return session.scalar(statement) or 0
