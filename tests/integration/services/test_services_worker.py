"""Solve requests and the worker, end to end on a database of each test's own.

Some tests need the solver to fail, or the stale-job check to overtake a
running solve. They wrap the real plan_forecast: the wrapper runs the real
search and then raises, as a crash would, or runs the check, as another
machine would while this worker is paused.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from core import approvals, plans, worker
from core.permissions import Role
from db.models import SolveJobStatus, utc_now
from db.repositories import audit_log, jobs
from tests.integration.services.helpers import generated_forecast, import_week

PROJECT_ROOT = Path(__file__).resolve().parents[3]
TIME_LIMIT_SECONDS = 20.0
WORKER_START_TIMEOUT_SECONDS = 60
WORKER_STOP_TIMEOUT_SECONDS = 30


@pytest.fixture
def tenant(make_private_tenant):
    return make_private_tenant()


@pytest.fixture
def dispatcher(tenant):
    return tenant.actor(Role.DISPATCHER)


@pytest.fixture
def queued_job(dispatcher):
    forecast_version = import_week(dispatcher, generated_forecast())
    return plans.request_solve(
        dispatcher,
        forecast_version.forecast_version_id,
        time_limit_seconds=TIME_LIMIT_SECONDS,
    )


def audit_actions(database, tenant_id: int) -> list[str]:
    with database.session_factory() as session:
        return [entry.action for entry in audit_log.list_entries(session, tenant_id)]


class TestRunOneJob:
    def test_worker_stores_checked_plan(
        self, private_workbench, dispatcher, queued_job
    ):
        ran = worker.run_one_job("worker-a")
        job = plans.get_solve_job(dispatcher, queued_job.job_id)
        version = plans.get_plan_version(dispatcher, job.plan_version_id)
        coverage = plans.coverage_by_time_of_day(dispatcher, version.plan_version_id)
        nothing_left = worker.run_one_job("worker-a")

        rostered_tours = [tour for row in version.rosters for tour in row.tour_ids]
        assert ran is True
        assert nothing_left is False
        assert job.status == "succeeded"
        assert job.error is None
        assert job.finished_at is not None
        assert version.status == "draft"
        assert version.solve_status == "optimal"
        assert version.checks
        assert all(check.passed for check in version.checks)
        assert version.kpis["drivers"] == version.lower_bound
        assert version.kpis["tours_covered"] == generated_forecast().tour_count
        assert version.kpis["tours_uncovered"] == 0
        assert version.kpis["violations"] == 0
        assert version.gap == 0.0
        assert version.solver_seconds > 0
        assert version.uncovered == ()
        assert len(rostered_tours) == generated_forecast().tour_count
        assert len(set(rostered_tours)) == len(rostered_tours)
        assert len(coverage) == 7 * 48
        assert all(row["drivers_working"] == row["tours_in_demand"] for row in coverage)
        assert max(row["tours_in_demand"] for row in coverage) > 0
        assert audit_actions(private_workbench, dispatcher.tenant_id)[-1] == (
            worker.PLAN_SOLVED
        )

    def test_progress_written_while_solving(
        self, private_workbench, dispatcher, queued_job, monkeypatch
    ):
        seen_progress = []
        real_plan_forecast = worker.plan_forecast

        def observed_plan_forecast(forecast, rules, *, time_limit_seconds, on_progress):
            def observe(progress):
                on_progress(progress)
                with private_workbench.session_factory() as session:
                    job = jobs.get(session, dispatcher.tenant_id, queued_job.job_id)
                    seen_progress.append((job.status, job.progress))

            return real_plan_forecast(
                forecast,
                rules,
                time_limit_seconds=time_limit_seconds,
                on_progress=observe,
            )

        monkeypatch.setattr(worker, "plan_forecast", observed_plan_forecast)
        started = time.monotonic()

        worker.run_one_job("worker-a")

        elapsed = time.monotonic() - started
        job = plans.get_solve_job(dispatcher, queued_job.job_id)
        written = {str(progress) for _, progress in seen_progress}
        assert len(seen_progress) > 1
        assert all(status is SolveJobStatus.RUNNING for status, _ in seen_progress)
        assert seen_progress[0][1].keys() == {
            "phase",
            "lower_bound",
            "best_drivers",
            "gap",
            "elapsed_seconds",
        }
        # At most one write per interval, plus the first.
        assert len(written) <= 1 + elapsed / worker.PROGRESS_INTERVAL_SECONDS
        assert job.progress["phase"] == "finished"
        assert job.progress["best_drivers"] == job.progress["lower_bound"]

    def test_solver_error_fails_job(
        self, private_workbench, dispatcher, queued_job, monkeypatch
    ):
        real_plan_forecast = worker.plan_forecast

        def crashing_plan_forecast(forecast, rules, *, time_limit_seconds, on_progress):
            real_plan_forecast(
                forecast,
                rules,
                time_limit_seconds=time_limit_seconds,
                on_progress=on_progress,
            )
            raise RuntimeError("HiGHS stopped with an internal error")

        monkeypatch.setattr(worker, "plan_forecast", crashing_plan_forecast)

        ran = worker.run_one_job("worker-a")
        job = plans.get_solve_job(dispatcher, queued_job.job_id)

        assert ran is True
        assert job.status == "failed"
        assert "RuntimeError: HiGHS stopped with an internal error" in job.error
        assert job.plan_version_id is None
        assert plans.list_plan_versions(dispatcher) == []
        assert audit_actions(private_workbench, dispatcher.tenant_id)[-1] == (
            worker.SOLVE_FAILED
        )

    def test_bad_settings_fail_job(self, private_workbench, dispatcher, queued_job):
        with private_workbench.session_factory() as session, session.begin():
            job = jobs.get(session, dispatcher.tenant_id, queued_job.job_id)
            job.settings = {"rules": {"no_such_rule": 1}, "time_limit_seconds": 5}

        worker.run_one_job("worker-a")
        failed = plans.get_solve_job(dispatcher, queued_job.job_id)

        assert failed.status == "failed"
        assert "unknown rule setting no_such_rule" in failed.error
        assert plans.list_plan_versions(dispatcher) == []

    def test_stop_requeues_running_job(self, private_workbench, dispatcher, queued_job):
        stop = threading.Event()
        stop.set()

        worker.run_one_job("worker-a", stop_event=stop)
        released = plans.get_solve_job(dispatcher, queued_job.job_id)
        versions_after_stop = plans.list_plan_versions(dispatcher)
        worker.run_one_job("worker-b")
        finished = plans.get_solve_job(dispatcher, queued_job.job_id)

        assert released.status == "queued"
        assert released.started_at is None
        assert versions_after_stop == []
        assert finished.status == "succeeded"
        assert len(plans.list_plan_versions(dispatcher)) == 1


class TestStaleJobs:
    def test_killed_job_fails_without_plan(
        self, private_workbench, dispatcher, queued_job
    ):
        # A worker claims the job and dies: nothing renews its heartbeat.
        with private_workbench.session_factory() as session, session.begin():
            claimed = jobs.claim_next(session, "worker-that-dies")

        fresh = worker.requeue_or_fail_stale_jobs()
        later = utc_now() + worker.STALE_AFTER + timedelta(seconds=1)
        failed_ids = worker.requeue_or_fail_stale_jobs(now=later)
        job = plans.get_solve_job(dispatcher, queued_job.job_id)
        ran_again = worker.run_one_job("worker-b")

        assert claimed.id == queued_job.job_id
        assert fresh == []
        assert failed_ids == [queued_job.job_id]
        assert job.status == "failed"
        assert job.error == "worker stopped before finishing"
        assert plans.list_plan_versions(dispatcher) == []
        assert ran_again is False
        assert audit_actions(private_workbench, dispatcher.tenant_id)[-1] == (
            worker.SOLVE_FAILED
        )

    def test_result_of_failed_job_dropped(
        self, private_workbench, dispatcher, queued_job, monkeypatch
    ):
        real_plan_forecast = worker.plan_forecast

        def paused_plan_forecast(forecast, rules, *, time_limit_seconds, on_progress):
            result = real_plan_forecast(
                forecast,
                rules,
                time_limit_seconds=time_limit_seconds,
                on_progress=on_progress,
            )
            # Another machine's check runs while this worker is paused.
            worker.requeue_or_fail_stale_jobs(now=utc_now() + timedelta(hours=1))
            return result

        monkeypatch.setattr(worker, "plan_forecast", paused_plan_forecast)

        worker.run_one_job("worker-a")
        job = plans.get_solve_job(dispatcher, queued_job.job_id)

        assert job.status == "failed"
        assert job.error == "worker stopped before finishing"
        assert plans.list_plan_versions(dispatcher) == []


class TestResolve:
    def test_resolve_supersedes_older_draft(self, private_workbench, dispatcher):
        forecast_version = import_week(dispatcher, generated_forecast())
        plans.request_solve(dispatcher, forecast_version.forecast_version_id)
        worker.run_one_job("worker-a")
        plans.request_solve(
            dispatcher, forecast_version.forecast_version_id, {"min_rest_minutes": 600}
        )
        worker.run_one_job("worker-a")

        newest, older = plans.list_plan_versions(dispatcher)

        assert newest.version_number == 2
        assert newest.status == "draft"
        assert older.version_number == 1
        assert older.status == "superseded"
        assert newest.checks == ()

    def test_resolve_keeps_approved_version(
        self, private_workbench, tenant, dispatcher
    ):
        approver = tenant.actor(Role.PLAN_APPROVER, mfa_verified=True)
        forecast_version = import_week(dispatcher, generated_forecast())
        plans.request_solve(dispatcher, forecast_version.forecast_version_id)
        worker.run_one_job("worker-a")
        first = plans.list_plan_versions(dispatcher)[0]
        approvals.approve_plan(
            approver,
            first.plan_version_id,
            "matches the depot's list",
            first.row_version,
        )
        plans.request_solve(dispatcher, forecast_version.forecast_version_id)
        worker.run_one_job("worker-a")

        newest, approved = plans.list_plan_versions(dispatcher)
        diff = approvals.diff_to_approved(dispatcher, newest.plan_version_id)

        assert newest.status == "draft"
        assert approved.status == "approved"
        assert approved.approval_reason == "matches the depot's list"
        assert diff["approved_version_id"] == approved.plan_version_id
        assert diff["drivers"]["change"] == 0
        assert diff["assignment_changes"] == 0


class TestWorkerProcess:
    def test_worker_exits_cleanly_on_sigterm(self, tmp_path):
        environment = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.db'}",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "core.worker", "--poll-seconds", "0.2"],
            cwd=PROJECT_ROOT,
            env=environment,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: list[str] = []
        started = threading.Event()

        def read_log() -> None:
            for line in process.stderr:
                lines.append(line)
                if "started" in line:
                    started.set()

        reader = threading.Thread(target=read_log, daemon=True)
        reader.start()
        try:
            assert started.wait(WORKER_START_TIMEOUT_SECONDS), "".join(lines)
            process.send_signal(signal.SIGTERM)
            return_code = process.wait(timeout=WORKER_STOP_TIMEOUT_SECONDS)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        reader.join(timeout=5)

        log = "".join(lines)
        assert return_code == 0, log
        assert "received SIGTERM" in log
        assert "stopped" in log
        assert "Traceback" not in log
