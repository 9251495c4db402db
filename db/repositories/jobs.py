"""Solve jobs: queued by a dispatcher, claimed and run by one worker each.

Workers serve every tenant, so `claim_next` and `requeue_stale` are not
filtered by tenant; the claimed job names its tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import SolveJob, SolveJobStatus, utc_now


def enqueue(
    session: Session,
    tenant_id: int,
    forecast_version_id: int,
    settings: dict[str, Any],
    created_by: int | None,
) -> SolveJob:
    """Queue a solve of the tenant's forecast version with these rule settings."""
    job = SolveJob(
        tenant_id=tenant_id,
        forecast_version_id=forecast_version_id,
        settings=settings,
        status=SolveJobStatus.QUEUED,
        created_by=created_by,
    )
    session.add(job)
    session.flush()
    return job


def get(session: Session, tenant_id: int, job_id: int) -> SolveJob | None:
    """Return the tenant's job with this id, or None (also for another tenant's)."""
    statement = select(SolveJob).where(
        SolveJob.tenant_id == tenant_id, SolveJob.id == job_id
    )
    return session.scalars(statement).one_or_none()


def list_jobs(session: Session, tenant_id: int) -> list[SolveJob]:
    """Return the tenant's jobs, newest first."""
    statement = (
        select(SolveJob)
        .where(SolveJob.tenant_id == tenant_id)
        .order_by(SolveJob.created_at.desc(), SolveJob.id.desc())
    )
    return list(session.scalars(statement))


def claim_next(
    session: Session, worker_id: str, now: datetime | None = None
) -> SolveJob | None:
    """Mark the oldest queued job running for this worker and return it, or None.

    No job goes to two workers. On PostgreSQL the candidate row is locked
    with FOR UPDATE SKIP LOCKED, so concurrent workers pass over each other's
    candidates instead of waiting. On SQLite one UPDATE statement picks and
    marks the job under the database write lock, and its `status = 'queued'`
    condition makes a second claim of the same job change no row.

    The claim holds until the caller commits; call this at the start of a
    transaction and commit right after, so the row lock is short.
    """
    now = now or utc_now()
    if session.get_bind().dialect.name == "postgresql":
        candidate = (
            select(SolveJob.id)
            .where(SolveJob.status == SolveJobStatus.QUEUED)
            .order_by(SolveJob.created_at, SolveJob.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    else:
        candidate = (
            select(SolveJob.id)
            .where(SolveJob.status == SolveJobStatus.QUEUED)
            .order_by(SolveJob.created_at, SolveJob.id)
            .limit(1)
            .scalar_subquery()
        )
    statement = (
        update(SolveJob)
        .where(SolveJob.id == candidate, SolveJob.status == SolveJobStatus.QUEUED)
        .values(
            status=SolveJobStatus.RUNNING,
            worker_id=worker_id,
            started_at=now,
            heartbeat_at=now,
        )
        .returning(SolveJob.id)
        .execution_options(synchronize_session=False)
    )
    job_id = session.execute(statement).scalar_one_or_none()
    if job_id is None:
        return None
    return session.get(SolveJob, job_id, populate_existing=True)


def record_progress(
    session: Session,
    job: SolveJob,
    progress: dict[str, Any],
    now: datetime | None = None,
) -> None:
    """Store the job's latest progress and renew its heartbeat."""
    job.progress = progress
    job.heartbeat_at = now or utc_now()
    session.flush()


def mark_succeeded(
    session: Session,
    job: SolveJob,
    plan_version_id: int,
    now: datetime | None = None,
) -> None:
    """Finish the job with the plan version it produced."""
    job.status = SolveJobStatus.SUCCEEDED
    job.plan_version_id = plan_version_id
    job.finished_at = now or utc_now()
    session.flush()


def mark_failed(
    session: Session, job: SolveJob, error: str, now: datetime | None = None
) -> None:
    """Finish the job as failed with an error text for the dispatcher."""
    job.status = SolveJobStatus.FAILED
    job.error = error
    job.finished_at = now or utc_now()
    session.flush()


def requeue_stale(session: Session, heartbeat_before: datetime) -> list[int]:
    """Queue again the running jobs whose last heartbeat is older than the cutoff.

    Such a job's worker is taken to have died. Returns the ids of the jobs
    queued again.
    """
    statement = (
        update(SolveJob)
        .where(
            SolveJob.status == SolveJobStatus.RUNNING,
            SolveJob.heartbeat_at < heartbeat_before,
        )
        .values(
            status=SolveJobStatus.QUEUED,
            worker_id=None,
            started_at=None,
            heartbeat_at=None,
        )
        .returning(SolveJob.id)
        .execution_options(synchronize_session="fetch")
    )
    return sorted(session.execute(statement).scalars())
