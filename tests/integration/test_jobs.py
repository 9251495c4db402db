"""Solve jobs: queueing, claiming by exactly one worker, finishing, requeueing.

`claim_next` serves every tenant, so these tests run on a database of their
own (`queue_database`) where no other test's queued jobs can be claimed.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from db.models import ForecastVersion, SolveJobStatus
from db.repositories import forecasts, jobs, plans
from solver.rules import RuleSettings
from tests.integration.databases import (
    SMALL_FORECAST,
    WEEK_ANCHOR,
    add_tenant,
    fresh_database,
)

WORKER_COUNT = 4
JOBS_PER_RACE = 40


@pytest.fixture(params=["sqlite", "postgresql"])
def queue_database(request, tmp_path):
    """A migrated database of this test alone: a SQLite file or a PostgreSQL one."""
    with fresh_database(request.param, tmp_path) as database:
        yield database


@pytest.fixture
def postgres_queue_database(tmp_path):
    """A migrated PostgreSQL database of this test alone."""
    with fresh_database("postgresql", tmp_path) as database:
        yield database


@pytest.fixture
def make_tenant(queue_database):
    return lambda: add_tenant(queue_database.session_factory)


def add_small_forecast(session, tenant) -> ForecastVersion:
    return forecasts.add_version(
        session,
        tenant.tenant_id,
        WEEK_ANCHOR,
        SMALL_FORECAST,
        source_filename="week49.csv",
        source_format="tidy",
        line_report=[],
        diff=None,
        created_by=None,
    )


def enqueue_jobs(database, tenant, count: int) -> list[int]:
    with database.session_factory() as session, session.begin():
        forecast_version = add_small_forecast(session, tenant)
        return [
            jobs.enqueue(
                session, tenant.tenant_id, forecast_version.id, {"run": number}, None
            ).id
            for number in range(count)
        ]


class TestJobs:
    def test_claimed_job_runs_for_one_worker(self, queue_database, make_tenant):
        tenant = make_tenant()
        with queue_database.session_factory() as session, session.begin():
            forecast_version = add_small_forecast(session, tenant)
            queued = jobs.enqueue(
                session,
                tenant.tenant_id,
                forecast_version.id,
                RuleSettings().to_dict(),
                created_by=tenant.actor().user_id,
            )

        with queue_database.session_factory() as session, session.begin():
            claimed = jobs.claim_next(session, "worker-a")
        with queue_database.session_factory() as session, session.begin():
            nothing_left = jobs.claim_next(session, "worker-b")
        with queue_database.session_factory() as session:
            stored = jobs.get(session, tenant.tenant_id, queued.id)

        assert claimed is not None
        assert claimed.id == queued.id
        assert nothing_left is None
        assert stored.status is SolveJobStatus.RUNNING
        assert stored.worker_id == "worker-a"
        assert stored.started_at is not None

    def test_job_of_another_tenant_is_not_found(self, queue_database, make_tenant):
        owner = make_tenant()
        other = make_tenant()
        with queue_database.session_factory() as session, session.begin():
            forecast_version = add_small_forecast(session, owner)
            job = jobs.enqueue(
                session, owner.tenant_id, forecast_version.id, {}, created_by=None
            )

        with queue_database.session_factory() as session:
            foreign = jobs.get(session, other.tenant_id, job.id)
            listed = jobs.list_jobs(session, other.tenant_id)

        assert foreign is None
        assert listed == []

    def test_finished_job_names_its_plan_version(
        self, queue_database, make_tenant, small_solve_result
    ):
        tenant = make_tenant()
        with queue_database.session_factory() as session, session.begin():
            forecast_version = add_small_forecast(session, tenant)
            plan = plans.get_or_add_plan(session, tenant.tenant_id, WEEK_ANCHOR)
            version = plans.add_version(
                session,
                tenant.tenant_id,
                plan.id,
                forecast_version.id,
                small_solve_result,
                RuleSettings(),
                created_by=None,
            )
            job = jobs.enqueue(
                session, tenant.tenant_id, version.forecast_version_id, {}, None
            )

        with queue_database.session_factory() as session, session.begin():
            job = jobs.get(session, tenant.tenant_id, job.id)
            jobs.record_progress(session, job, {"phase": "bound", "lower_bound": 2})
            jobs.mark_succeeded(session, job, version.id)
        with queue_database.session_factory() as session:
            stored = jobs.get(session, tenant.tenant_id, job.id)

        assert stored.status is SolveJobStatus.SUCCEEDED
        assert stored.plan_version_id == version.id
        assert stored.progress == {"phase": "bound", "lower_bound": 2}
        assert stored.finished_at is not None

    def test_job_with_stale_heartbeat_is_queued_again(
        self, queue_database, make_tenant
    ):
        tenant = make_tenant()
        started = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
        with queue_database.session_factory() as session, session.begin():
            forecast_version = add_small_forecast(session, tenant)
            job = jobs.enqueue(session, tenant.tenant_id, forecast_version.id, {}, None)
            job.status = SolveJobStatus.RUNNING
            job.worker_id = "worker-that-died"
            job.heartbeat_at = started

        with queue_database.session_factory() as session, session.begin():
            requeued = jobs.requeue_stale(session, started + timedelta(minutes=5))
        with queue_database.session_factory() as session:
            stored = jobs.get(session, tenant.tenant_id, job.id)

        assert job.id in requeued
        assert stored.status is SolveJobStatus.QUEUED
        assert stored.worker_id is None


class TestClaimRace:
    def test_racing_workers_claim_each_job_once(self, queue_database):
        tenant = add_tenant(queue_database.session_factory)
        job_ids = enqueue_jobs(queue_database, tenant, JOBS_PER_RACE)
        worker_ids = [f"worker-{number}" for number in range(WORKER_COUNT)]
        start = threading.Barrier(WORKER_COUNT)

        def claim_until_empty(worker_id: str) -> list[int]:
            start.wait(timeout=10)
            claimed_ids = []
            while True:
                with queue_database.session_factory() as session, session.begin():
                    job = jobs.claim_next(session, worker_id)
                    if job is None:
                        return claimed_ids
                    claimed_ids.append(job.id)

        with ThreadPoolExecutor(max_workers=WORKER_COUNT) as pool:
            claims = list(pool.map(claim_until_empty, worker_ids, timeout=60))

        claimed = [job_id for ids in claims for job_id in ids]
        assert sorted(claimed) == sorted(job_ids)
        assert len(set(claimed)) == len(claimed)

    def test_second_worker_skips_locked_job(self, postgres_queue_database):
        tenant = add_tenant(postgres_queue_database.session_factory)
        first_job, second_job = enqueue_jobs(postgres_queue_database, tenant, 2)

        with (
            postgres_queue_database.session_factory() as first_worker,
            postgres_queue_database.session_factory() as second_worker,
        ):
            first_worker.begin()
            second_worker.begin()
            # Fail instead of hanging if the second worker waited for the lock.
            second_worker.execute(text("SET LOCAL lock_timeout = '5s'"))

            claimed_first = jobs.claim_next(first_worker, "worker-a")
            claimed_second = jobs.claim_next(second_worker, "worker-b")
            second_worker.commit()
            first_worker.commit()

        assert claimed_first.id == first_job
        assert claimed_second.id == second_job
        assert claimed_first.worker_id == "worker-a"
        assert claimed_second.worker_id == "worker-b"
