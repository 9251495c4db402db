"""Rows of the per-tenant audit log; the hash chain itself lives in core.audit."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import AuditEntry


def last_entry(session: Session, tenant_id: int) -> AuditEntry | None:
    """Return the tenant's entry with the highest sequence, or None."""
    statement = (
        select(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id)
        .order_by(AuditEntry.sequence.desc())
        .limit(1)
    )
    return session.scalars(statement).one_or_none()


def add(session: Session, entry: AuditEntry) -> AuditEntry:
    """Insert a fully built entry and flush it."""
    session.add(entry)
    session.flush()
    return entry


def iter_entries(
    session: Session, tenant_id: int, batch_size: int = 1000
) -> Iterator[AuditEntry]:
    """Yield the tenant's entries in sequence order, loading them in batches."""
    statement = (
        select(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id)
        .order_by(AuditEntry.sequence)
        .execution_options(yield_per=batch_size)
    )
    yield from session.scalars(statement)


def list_entries(
    session: Session, tenant_id: int, action: str | None = None
) -> list[AuditEntry]:
    """Return the tenant's entries in sequence order, optionally of one action."""
    statement = (
        select(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id)
        .order_by(AuditEntry.sequence)
    )
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    return list(session.scalars(statement))


def count_entries(session: Session, tenant_id: int) -> int:
    """Return how many entries the tenant's audit log holds."""
    statement = (
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id)
    )
    return session.scalar(statement) or 0


def list_newest(
    session: Session, tenant_id: int, limit: int, action: str | None = None
) -> list[AuditEntry]:
    """Return the tenant's newest entries, newest first, optionally of one action."""
    statement = (
        select(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id)
        .order_by(AuditEntry.sequence.desc())
        .limit(limit)
    )
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    return list(session.scalars(statement))
