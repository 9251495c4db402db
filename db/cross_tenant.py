"""Lookups that must cross tenants, before the transaction is bound to a tenant.

Row-level security on PostgreSQL hides every row until the transaction names
its tenant (db.session.set_transaction_tenant). A few steps have to find the
tenant first: sign-in has only the tenant's slug, a request only its session
token, the worker takes the next job of any tenant, and the audit
checkpoints walk every tenant. On PostgreSQL each of these calls a SECURITY
DEFINER function of migration 0005, which returns ids only (or a boolean).
The caller then binds the transaction to the tenant found and reads the rows
it needs through the policies like any other service. The anonymised KPI
comparison of migration 0008 returns averages per tenant, without ids.

SQLite has no row-level security, so there the same lookups are plain
queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from db.models import Base, KpiHistoryRow, Tenant, UserSession
from db.repositories import jobs
from db.session import set_transaction_tenant, transaction_tenant


@dataclass(frozen=True)
class JobClaim:
    """A solve job that a worker has just marked running for itself."""

    job_id: int
    tenant_id: int


# Tenants with fewer weeks of KPI history are left out of the comparison, so
# that a new tenant's few weeks are not shown. Migration 0008 repeats it.
MIN_COMPARISON_WEEKS = 8


@dataclass(frozen=True)
class TenantKpiAverages:
    """One tenant's averages over its KPI history, without the tenant's identity.

    `average_part_time_share` is the mean of the weekly shares of part-time
    rosters (0 to 1). `average_cost` is None when no week has a cost.
    """

    weeks: int
    average_drivers: float
    average_part_time_share: float | None
    average_hours: float
    average_cost: float | None


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def tenant_id_for_slug(session: Session, slug: str) -> int | None:
    """Return the id of the tenant with this slug, or None."""
    if _is_postgresql(session):
        return session.scalar(text("SELECT tenant_id_for_slug(:slug)"), {"slug": slug})
    return session.scalar(select(Tenant.id).where(Tenant.slug == slug))


def tenant_id_for_session(session: Session, token_sha256: str) -> int | None:
    """Return the tenant of the sign-in session with this token digest, or None."""
    if _is_postgresql(session):
        return session.scalar(
            text("SELECT tenant_id_for_session(:digest)"), {"digest": token_sha256}
        )
    return session.scalar(
        select(UserSession.tenant_id).where(UserSession.token_sha256 == token_sha256)
    )


def all_tenant_ids(session: Session) -> list[int]:
    """Return the id of every tenant, in ascending order."""
    if _is_postgresql(session):
        return list(session.scalars(text("SELECT all_tenant_ids()")))
    return list(session.scalars(select(Tenant.id).order_by(Tenant.id)))


def claim_next_solve_job(
    session: Session, worker_id: str, claimed_at: datetime
) -> JobClaim | None:
    """Mark the oldest queued job of any tenant running for this worker.

    Returns the job and its tenant, or None when no job is queued. No job
    goes to two workers (see db.repositories.jobs.claim_next). The claim
    holds until the caller commits.
    """
    if _is_postgresql(session):
        row = session.execute(
            text("SELECT job_id, tenant_id FROM claim_next_solve_job(:worker, :at)"),
            {"worker": worker_id, "at": claimed_at},
        ).one_or_none()
        return None if row is None else JobClaim(row.job_id, row.tenant_id)
    job = jobs.claim_next(session, worker_id, claimed_at)
    return None if job is None else JobClaim(job.id, job.tenant_id)


def stale_solve_jobs(session: Session, heartbeat_before: datetime) -> list[JobClaim]:
    """Return the running jobs of every tenant whose heartbeat is older than this."""
    if _is_postgresql(session):
        rows = session.execute(
            text("SELECT job_id, tenant_id FROM stale_solve_jobs(:before)"),
            {"before": heartbeat_before},
        )
        return [JobClaim(row.job_id, row.tenant_id) for row in rows]
    return [
        JobClaim(job.id, job.tenant_id)
        for job in jobs.list_stale(session, heartbeat_before)
    ]


def is_row_of_another_tenant(session: Session, table_name: str, row_id: int) -> bool:
    """Tell whether `row_id` names a row of `table_name` owned by another tenant.

    "Another" means other than the tenant the transaction is bound to. The
    result only decides whether a cross-tenant attempt is recorded. It must
    never reach the user, who gets the same "not found" either way. On
    PostgreSQL the database function answers only for the tables whose rows
    services load by id, as the migrations list them, and raises for any
    other. On SQLite, ValueError is raised for a table without tenant_id.
    """
    if _is_postgresql(session):
        return bool(
            session.scalar(
                text("SELECT is_row_of_another_tenant(:table_name, :row_id)"),
                {"table_name": table_name, "row_id": row_id},
            )
        )
    table = Base.metadata.tables.get(table_name)
    if table is None or "tenant_id" not in table.c:
        raise ValueError(f"table {table_name!r} has no tenant_id column")
    owner_id = session.scalar(select(table.c.tenant_id).where(table.c.id == row_id))
    return owner_id is not None and owner_id != transaction_tenant(session)


def add_tenant(session: Session, slug: str, name: str) -> Tenant:
    """Insert a tenant, bind the session to it and flush it.

    On PostgreSQL the id is drawn from the sequence first, so the policy of
    the tenants table, which admits only the current tenant's row, admits
    the new one. Raises IntegrityError at the flush when the slug is taken.
    """
    tenant = Tenant(slug=slug, name=name)
    if _is_postgresql(session):
        tenant.id = session.scalar(
            select(func.nextval(func.pg_get_serial_sequence("tenants", "id")))
        )
        set_transaction_tenant(session, tenant.id)
    session.add(tenant)
    session.flush()
    if not _is_postgresql(session):
        set_transaction_tenant(session, tenant.id)
    return tenant


def kpi_history_comparison(session: Session) -> list[TenantKpiAverages]:
    """Return the KPI averages of every tenant with enough weeks of history.

    Enough means MIN_COMPARISON_WEEKS or more. No row carries a tenant id or
    name. On PostgreSQL the SECURITY DEFINER function
    kpi_history_comparison() of migration 0008 reads across tenants and
    applies the same minimum. Rows come ordered by their figures, never by
    tenant id.
    """
    if _is_postgresql(session):
        rows = session.execute(
            text(
                "SELECT weeks, average_drivers, average_part_time_share,"
                " average_hours, average_cost FROM kpi_history_comparison()"
            )
        )
    else:
        history = KpiHistoryRow
        share = history.part_time_rosters * 1.0 / func.nullif(history.drivers, 0)
        figures = (
            select(
                func.count().label("weeks"),
                func.avg(history.drivers).label("average_drivers"),
                func.avg(share).label("average_part_time_share"),
                func.avg(history.hours).label("average_hours"),
                func.avg(history.cost).label("average_cost"),
            )
            .group_by(history.tenant_id)
            .having(func.count() >= MIN_COMPARISON_WEEKS)
            .subquery()
        )
        rows = session.execute(select(figures))
    averages = [
        TenantKpiAverages(
            weeks=int(row.weeks),
            average_drivers=float(row.average_drivers),
            average_part_time_share=_float_or_none(row.average_part_time_share),
            average_hours=float(row.average_hours),
            average_cost=_float_or_none(row.average_cost),
        )
        for row in rows
    ]
    return sorted(averages, key=_figure_order)


def _figure_order(averages: TenantKpiAverages) -> tuple:
    return (
        averages.average_drivers,
        averages.average_hours,
        averages.weeks,
        averages.average_part_time_share or 0.0,
        averages.average_cost or 0.0,
    )


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(value)
