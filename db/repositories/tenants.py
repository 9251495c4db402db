"""Tenants: the operators whose data the workbench keeps apart."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import Tenant


def add(session: Session, slug: str, name: str) -> Tenant:
    """Insert a tenant and flush it, so its id is known."""
    tenant = Tenant(slug=slug, name=name)
    session.add(tenant)
    session.flush()
    return tenant


def get(session: Session, tenant_id: int) -> Tenant | None:
    """Return the tenant with this id, or None."""
    return session.get(Tenant, tenant_id)


def find_by_slug(session: Session, slug: str) -> Tenant | None:
    """Return the tenant with this slug, or None."""
    return session.scalars(select(Tenant).where(Tenant.slug == slug)).one_or_none()


def lock(session: Session, tenant_id: int) -> Tenant | None:
    """Lock the tenant row until the transaction ends, and return it or None.

    This serialises writers that must not interleave within one tenant, such
    as two audit appends. PostgreSQL locks the row with SELECT ... FOR NO KEY
    UPDATE, the FOR UPDATE mode that two lockers cannot share but that does
    not wait for transactions that merely inserted rows referring to the
    tenant (their foreign key checks hold FOR KEY SHARE).
    SQLite has no row locks, and its Python driver starts the transaction only
    at the first write. So a no-op UPDATE of the row takes the database write
    lock first, and reads after it see every write committed before it.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Tenant).where(Tenant.id == tenant_id).values(name=Tenant.name),
            execution_options={"synchronize_session": False},
        )
    statement = (
        select(Tenant)
        .where(Tenant.id == tenant_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return session.scalars(statement).one_or_none()
