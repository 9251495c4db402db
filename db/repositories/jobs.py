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
    scenario_run_id: int | None = None,
) -> SolveJob:
    """Queue a solve of the tenant's forecast version with these rule settings.

    With `scenario_run_id` the job runs that scenario run's stored inputs
    instead, and stores its result in the run.
    """
    job = SolveJob(
        tenant_id=tenant_id,
        forecast_version_id=forecast_version_id,
        settings=settings,
        status=SolveJobStatus.QUEUED,
        created_by=created_by,
        scenario_run_id=scenario_run_id,
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


def list_jobs(
    session: Session, tenant_id: int, *, include_scenarios: bool = False
) -> list[SolveJob]:
    """Return the tenant's plan solve jobs, newest first.

    Jobs of scenario runs are left out unless `include_scenarios`.
    """
    statement = select(SolveJob).where(SolveJob.tenant_id == tenant_id)
    if not include_scenarios:
        statement = statement.where(SolveJob.scenario_run_id.is_(None))
    statement = statement.order_by(SolveJob.created_at.desc(), SolveJob.id.desc())
    return list(session.scalars(statement))


def get_for_scenario_run(
    session: Session, tenant_id: int, scenario_run_id: int
) -> SolveJob | None:
    """Return the newest job of the tenant's scenario run, or None (a cached run)."""
    statement = (
        select(SolveJob)
        .where(
            SolveJob.tenant_id == tenant_id,
            SolveJob.scenario_run_id == scenario_run_id,
        )
        .order_by(SolveJob.id.desc())
        .limit(1)
    )
    return session.scalars(statement).one_or_none()


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
    plan_version_id: int | None,
    now: datetime | None = None,
) -> None:
    """Finish the job with the plan version it produced.

    A job of a scenario run produces no plan version: pass None.
    """
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


ACTIVE_STATUSES = (SolveJobStatus.QUEUED, SolveJobStatus.RUNNING)


def find_active(
    session: Session, tenant_id: int, forecast_version_id: int
) -> SolveJob | None:
    """Return the tenant's oldest queued or running plan solve of this version.

    Jobs of scenario runs of the version do not count.
    """
    statement = (
        select(SolveJob)
        .where(
            SolveJob.tenant_id == tenant_id,
            SolveJob.forecast_version_id == forecast_version_id,
            SolveJob.scenario_run_id.is_(None),
            SolveJob.status.in_(ACTIVE_STATUSES),
        )
        .order_by(SolveJob.created_at, SolveJob.id)
        .limit(1)
    )
    return session.scalars(statement).one_or_none()


def renew_heartbeat(
    session: Session,
    job_id: int,
    worker_id: str,
    now: datetime,
    progress: dict[str, Any] | None = None,
) -> bool:
    """Renew the heartbeat of a job this worker runs, and store progress if given.

    Returns False, and changes nothing, when the job is no longer running for
    this worker, for instance because it was marked failed as stale.
    """
    values: dict[str, Any] = {"heartbeat_at": now}
    if progress is not None:
        values["progress"] = progress
    statement = (
        update(SolveJob)
        .where(
            SolveJob.id == job_id,
            SolveJob.status == SolveJobStatus.RUNNING,
            SolveJob.worker_id == worker_id,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).rowcount == 1


def get_running_for_update(
    session: Session, job_id: int, worker_id: str
) -> SolveJob | None:
    """Return the job if it still runs for this worker, locked until commit.

    PostgreSQL locks the row with FOR UPDATE. SQLite ignores the clause, so
    the caller must already hold the database write lock (for instance from
    `tenants.lock`) for the result to stay true until commit.
    """
    statement = (
        select(SolveJob)
        .where(
            SolveJob.id == job_id,
            SolveJob.status == SolveJobStatus.RUNNING,
            SolveJob.worker_id == worker_id,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(statement).one_or_none()


def release(session: Session, job_id: int, worker_id: str) -> bool:
    """Queue a job this worker runs again, for another worker to take.

    Returns False when the job no longer runs for this worker.
    """
    statement = (
        update(SolveJob)
        .where(
            SolveJob.id == job_id,
            SolveJob.status == SolveJobStatus.RUNNING,
            SolveJob.worker_id == worker_id,
        )
        .values(
            status=SolveJobStatus.QUEUED,
            worker_id=None,
            started_at=None,
            heartbeat_at=None,
            progress=None,
        )
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).rowcount == 1


def list_stale(session: Session, heartbeat_before: datetime) -> list[SolveJob]:
    """Return the running jobs, of every tenant, whose heartbeat is older than this."""
    statement = (
        select(SolveJob)
        .where(
            SolveJob.status == SolveJobStatus.RUNNING,
            SolveJob.heartbeat_at < heartbeat_before,
        )
        .order_by(SolveJob.id)
    )
    return list(session.scalars(statement))


def fail_if_stale(
    session: Session,
    job_id: int,
    heartbeat_before: datetime,
    error: str,
    now: datetime | None = None,
) -> bool:
    """Mark the job failed if it still runs with a heartbeat older than the cutoff.

    Returns whether it did. The condition is checked in the UPDATE itself, so
    a heartbeat renewed meanwhile keeps the job running.
    """
    statement = (
        update(SolveJob)
        .where(
            SolveJob.id == job_id,
            SolveJob.status == SolveJobStatus.RUNNING,
            SolveJob.heartbeat_at < heartbeat_before,
        )
        .values(status=SolveJobStatus.FAILED, error=error, finished_at=now or utc_now())
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).rowcount == 1
