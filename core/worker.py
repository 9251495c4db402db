"""Solve worker: runs queued solve jobs away from the pages.

A worker claims the oldest queued job of any tenant
(db.cross_tenant.claim_next_solve_job, safe for several workers on several
machines), and from then on works inside that job's tenant only. It runs
solver.solve.plan_forecast on the job's forecast version, rule settings and
time limit. While it runs:

- a heartbeat thread renews the job's `heartbeat_at` every
  HEARTBEAT_SECONDS, also while HiGHS is busy and no progress is reported;
- progress (phase, lower bound, best head count, gap, elapsed seconds) is
  written at most once per PROGRESS_INTERVAL_SECONDS, and the final figures
  with the result.

Both write in short transactions of their own. The result is stored in one
transaction: the plan version with its assignments, checks and KPIs, the
older drafts of the week superseded, the job marked succeeded and the audit
entry. Any exception marks the job failed with its reason and stores no plan,
so a plan version is either complete or absent.

A job with `scenario_run_id` plans the inputs stored in that scenario run
(core.scenario_inputs.solve_inputs), not the forecast version as it is now,
and stores the result JSON in the run in the transaction that marks the job
succeeded. A failure, a stale heartbeat or a stop of the worker changes the
run's status along with the job's.

A job whose heartbeat is older than STALE_AFTER is taken to belong to a
worker that died, and `requeue_or_fail_stale_jobs` marks it failed ("worker
stopped before finishing"). It is not queued again, because a job that
killed one worker (by running out of memory, say) would kill the next one
too. The dispatcher can request the solve again. Should the worker of such a
job still be alive, it finds its job failed and drops its result.

`python -m core.worker` runs a worker against DATABASE_URL, or the SQLite
default of db.session. SIGTERM or SIGINT stops it: a running solve stops at
its next progress report, and its job is queued again for another worker.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.audit import SystemActor, append_entry
from core.context import lock_tenant, open_workbench, unit_of_work
from core.named_planning import load_driver_pool, plan_for_pool
from core.plans import read_job_settings
from core.scenario_inputs import read_inputs, solve_inputs
from db import cross_tenant
from db.models import ForecastStatus, utc_now
from db.repositories import forecasts, jobs, plans, scenarios
from db.session import set_transaction_tenant
from solver.rules import RuleSettings
from solver.solve import Progress, SolveResult, plan_forecast
from solver.tours import Forecast

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
# Twelve missed heartbeats: long enough for a pause of the machine, short
# enough that a dispatcher learns of a dead worker within minutes.
STALE_AFTER = timedelta(minutes=2)
PROGRESS_INTERVAL_SECONDS = 1.0
STALE_CHECK_SECONDS = 60.0
MAX_DATABASE_RETRY_SECONDS = 60.0
MAX_ERROR_LENGTH = 2000

WORKER_PROCESS = "solve-worker"
STALE_JOB_ERROR = "worker stopped before finishing"
PLAN_SOLVED = "plan.solved"
SOLVE_FAILED = "plan.solve_failed"
SCENARIO_SOLVED = "scenario.run_succeeded"
SCENARIO_FAILED = "scenario.run_failed"


class JobLost(Exception):
    """The job no longer runs for this worker, so its result must not be stored."""


class WorkerStopping(Exception):
    """The worker was asked to stop while a job ran."""


@dataclass(frozen=True)
class ClaimedJob:
    """The fields of a claimed job that the worker reads before the solve starts."""

    job_id: int
    tenant_id: int
    forecast_version_id: int
    settings: dict[str, Any]
    created_by: int | None
    scenario_run_id: int | None = None
    scenario_inputs: dict[str, Any] | None = None

    @property
    def system_actor(self) -> SystemActor:
        """The worker acting in the job's tenant, for its transactions and audit."""
        return SystemActor(self.tenant_id, WORKER_PROCESS)


def new_worker_id() -> str:
    """Build an id that names this machine and process, unique per worker start."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_one_job(worker_id: str, *, stop_event: threading.Event | None = None) -> bool:
    """Claim the next queued job and run it; return False when the queue is empty.

    The job ends succeeded with its plan version, or failed with its reason.
    When `stop_event` is set during the solve, the job is queued again instead.
    """
    with unit_of_work() as session:
        claim = cross_tenant.claim_next_solve_job(session, worker_id, utc_now())
        if claim is None:
            return False
        set_transaction_tenant(session, claim.tenant_id)
        job = jobs.get(session, claim.tenant_id, claim.job_id)
        scenario_inputs = None
        if job.scenario_run_id is not None:
            run = scenarios.get_run(session, job.tenant_id, job.scenario_run_id)
            scenarios.mark_running(session, run)
            scenario_inputs = dict(run.inputs)
        claimed = ClaimedJob(
            job_id=job.id,
            tenant_id=job.tenant_id,
            forecast_version_id=job.forecast_version_id,
            settings=dict(job.settings),
            created_by=job.created_by,
            scenario_run_id=job.scenario_run_id,
            scenario_inputs=scenario_inputs,
        )
    logger.info(
        "job %s of tenant %s claimed by worker %s",
        claimed.job_id,
        claimed.tenant_id,
        worker_id,
    )

    heartbeat = _Heartbeat(claimed, worker_id)
    heartbeat.start()
    try:
        _run_claimed_job(claimed, worker_id, heartbeat, stop_event)
    except JobLost:
        logger.warning(
            "job %s no longer runs for worker %s; its result is dropped",
            claimed.job_id,
            worker_id,
        )
    except WorkerStopping:
        _release(claimed, worker_id)
    # The job's error boundary: whatever went wrong fails this job only.
    except Exception as error:
        logger.exception("job %s failed", claimed.job_id)
        _mark_failed(claimed, worker_id, error)
    finally:
        heartbeat.stop()
    return True


def requeue_or_fail_stale_jobs(now: datetime | None = None) -> list[int]:
    """Mark failed the running jobs whose heartbeat is older than STALE_AFTER.

    Returns the ids of the jobs marked failed. Each job is checked again in
    its own transaction, so a heartbeat renewed meanwhile keeps it running.
    """
    now = now or utc_now()
    cutoff = now - STALE_AFTER
    with unit_of_work() as session:
        stale = cross_tenant.stale_solve_jobs(session, cutoff)

    failed = []
    for job_id, tenant_id in ((job.job_id, job.tenant_id) for job in stale):
        system_actor = SystemActor(tenant_id, WORKER_PROCESS)
        with unit_of_work(system_actor) as session:
            lock_tenant(session, tenant_id)
            if not jobs.fail_if_stale(session, job_id, cutoff, STALE_JOB_ERROR, now):
                continue
            _fail_scenario_run(session, tenant_id, job_id, STALE_JOB_ERROR, now)
            append_entry(
                session,
                system_actor,
                SOLVE_FAILED,
                "solve job",
                job_id,
                {"error": STALE_JOB_ERROR, "stale_after_seconds": _stale_seconds()},
            )
        logger.warning(
            "job %s of tenant %s failed: %s", job_id, tenant_id, STALE_JOB_ERROR
        )
        failed.append(job_id)
    return failed


def run_worker(
    stop_event: threading.Event | None = None, poll_seconds: float = 1.0
) -> None:
    """Run jobs until `stop_event` is set, waiting `poll_seconds` when none is queued.

    Stale jobs are failed at the start and every STALE_CHECK_SECONDS. A
    database error is logged and retried after a pause that doubles up to
    MAX_DATABASE_RETRY_SECONDS.
    """
    stop_event = stop_event or threading.Event()
    worker_id = new_worker_id()
    logger.info("worker %s started", worker_id)
    next_stale_check = 0.0
    retry_seconds = poll_seconds
    while not stop_event.is_set():
        try:
            if time.monotonic() >= next_stale_check:
                requeue_or_fail_stale_jobs()
                next_stale_check = time.monotonic() + STALE_CHECK_SECONDS
            ran_job = run_one_job(worker_id, stop_event=stop_event)
        except SQLAlchemyError as error:
            logger.error(
                "worker %s: database error, retrying in %.0f s: %s",
                worker_id,
                retry_seconds,
                error,
            )
            stop_event.wait(retry_seconds)
            retry_seconds = min(retry_seconds * 2, MAX_DATABASE_RETRY_SECONDS)
            continue
        retry_seconds = poll_seconds
        if not ran_job:
            stop_event.wait(poll_seconds)
    logger.info("worker %s stopped", worker_id)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a worker against DATABASE_URL until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        description="Run queued solve jobs against DATABASE_URL, or the SQLite"
        " default var/solvereign.db, until SIGTERM or SIGINT."
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=1.0,
        help="seconds to wait before looking again when no job is queued (default 1)",
    )
    arguments = parser.parse_args(argv)
    if not arguments.poll_seconds > 0:
        parser.error("--poll-seconds must be a number of seconds above 0")

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    open_workbench()
    stop_event = threading.Event()

    def request_stop(signal_number: int, frame: object) -> None:
        logger.info("received %s; stopping", signal.Signals(signal_number).name)
        stop_event.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    run_worker(stop_event, arguments.poll_seconds)
    return 0


def _run_claimed_job(
    claimed: ClaimedJob,
    worker_id: str,
    heartbeat: _Heartbeat,
    stop_event: threading.Event | None,
) -> None:
    reporter = _ProgressReporter(claimed, worker_id, heartbeat, stop_event)
    if claimed.scenario_run_id is not None:
        _run_scenario(claimed, worker_id, heartbeat, reporter)
        return
    rules, time_limit = read_job_settings(claimed.settings)
    forecast, week_anchor = _load_forecast(claimed)
    pool = load_driver_pool(claimed.system_actor, week_anchor)
    if pool.is_empty:
        result = plan_forecast(
            forecast, rules, time_limit_seconds=time_limit, on_progress=reporter
        )
        extra_kpis = anonymous_kpis(result)
    else:
        # The named search reports no progress of its own, so the page shows
        # this phase until the result is stored; the heartbeat keeps running.
        reporter(
            Progress(
                phase=f"planning {len(pool.profiles)} named drivers",
                lower_bound=None,
                best_drivers=None,
                gap=None,
                elapsed_seconds=0.0,
            )
        )
        named = plan_for_pool(forecast, pool, rules, time_limit)
        result, extra_kpis = named.result, named.extra_kpis
    if heartbeat.lost.is_set():
        raise JobLost()
    _store_result(
        claimed,
        worker_id,
        week_anchor,
        rules,
        result,
        extra_kpis,
        named_drivers=not pool.is_empty,
    )


def _run_scenario(
    claimed: ClaimedJob,
    worker_id: str,
    heartbeat: _Heartbeat,
    reporter: _ProgressReporter,
) -> None:
    """Plan the scenario run's stored inputs and store the result with the job's end.

    The job setting `explain` (true by default) decides whether the rule
    costs and shadow prices are computed; they take up to
    core.scenario_inputs.MAX_EXPLAIN_SECONDS more.
    """
    if claimed.scenario_inputs is None:
        raise ValueError(f"scenario run {claimed.scenario_run_id} has no inputs")
    inputs = read_inputs(claimed.scenario_inputs)
    explain = claimed.settings.get("explain", True)
    if explain is not inputs.explain:
        inputs = replace(inputs, explain=bool(explain))
    result = solve_inputs(inputs, reporter)
    if heartbeat.lost.is_set():
        raise JobLost()
    with unit_of_work(claimed.system_actor) as session:
        lock_tenant(session, claimed.tenant_id)
        job = jobs.get_running_for_update(session, claimed.job_id, worker_id)
        if job is None:
            raise JobLost()
        run = scenarios.get_run(session, claimed.tenant_id, claimed.scenario_run_id)
        job.progress = _progress_record(
            Progress(
                phase="finished",
                lower_bound=result["lower_bound"],
                best_drivers=result["kpis"]["drivers"],
                gap=result["gap"],
                elapsed_seconds=result["seconds"],
            )
        )
        jobs.mark_succeeded(session, job, None)
        scenarios.mark_succeeded(session, run, result)
        append_entry(
            session,
            claimed.system_actor,
            SCENARIO_SOLVED,
            "scenario run",
            run.id,
            {
                "job_id": claimed.job_id,
                "scenario_id": run.scenario_id,
                "requested_by": claimed.created_by,
                "drivers": result["kpis"]["drivers"],
                "open_tours": result["kpis"]["open_tours"],
                "lower_bound": result["lower_bound"],
                "solve_status": result["solve_status"],
                "explained": result["explanations"] is not None,
            },
        )
    logger.info(
        "job %s stored scenario run %s: %d drivers, lower bound %d, status %s",
        claimed.job_id,
        claimed.scenario_run_id,
        result["kpis"]["drivers"],
        result["lower_bound"],
        result["solve_status"],
    )


def _fail_scenario_run(
    session: Session, tenant_id: int, job_id: int, error: str, now: datetime
) -> None:
    """Mark failed the scenario run of a job just marked failed, if it has one."""
    job = jobs.get(session, tenant_id, job_id)
    if job is None or job.scenario_run_id is None:
        return
    run = scenarios.get_run(session, tenant_id, job.scenario_run_id)
    if run is not None:
        scenarios.mark_failed(session, run, error, now)


def _load_forecast(claimed: ClaimedJob) -> tuple[Forecast, date]:
    with unit_of_work(claimed.system_actor) as session:
        version = forecasts.get_version(
            session, claimed.tenant_id, claimed.forecast_version_id
        )
        if version is None or version.status is not ForecastStatus.ACCEPTED:
            raise ValueError(
                f"forecast version {claimed.forecast_version_id} is missing or was"
                " rejected at import, so it cannot be solved"
            )
        forecast = forecasts.load_forecast(session, claimed.tenant_id, version.id)
        return forecast, version.week_anchor


def _store_result(
    claimed: ClaimedJob,
    worker_id: str,
    week_anchor: date,
    rules: RuleSettings,
    result: SolveResult,
    extra_kpis: dict[str, Any],
    *,
    named_drivers: bool,
) -> None:
    """Store the plan version, supersede older drafts and finish the job, at once."""
    with unit_of_work(claimed.system_actor) as session:
        lock_tenant(session, claimed.tenant_id)
        job = jobs.get_running_for_update(session, claimed.job_id, worker_id)
        if job is None:
            raise JobLost()

        plan = plans.get_or_add_plan(session, claimed.tenant_id, week_anchor)
        version = plans.add_version(
            session,
            claimed.tenant_id,
            plan.id,
            claimed.forecast_version_id,
            result,
            rules,
            created_by=claimed.created_by,
            extra_kpis=extra_kpis,
            named_drivers=named_drivers,
        )
        superseded = plans.supersede_drafts(
            session, claimed.tenant_id, plan.id, newer_than=version.version_number
        )
        job.progress = _progress_record(
            Progress(
                phase="finished",
                lower_bound=result.lower_bound,
                best_drivers=result.drivers,
                gap=result.gap,
                elapsed_seconds=result.seconds,
            )
        )
        jobs.mark_succeeded(session, job, version.id)
        append_entry(
            session,
            claimed.system_actor,
            PLAN_SOLVED,
            "plan version",
            version.id,
            {
                "job_id": claimed.job_id,
                "requested_by": claimed.created_by,
                "forecast_version_id": claimed.forecast_version_id,
                "version_number": version.version_number,
                "drivers": result.drivers,
                "named_drivers": named_drivers,
                "open_tours": len(result.uncoverable),
                "lower_bound": result.lower_bound,
                "solve_status": result.status.value,
                "superseded_drafts": superseded,
            },
        )
    logger.info(
        "job %s stored plan version %s: %d drivers, lower bound %d, status %s",
        claimed.job_id,
        version.id,
        result.drivers,
        result.lower_bound,
        result.status.value,
    )


def anonymous_kpis(result: SolveResult) -> dict[str, Any]:
    """Return the figures an anonymous plan adds to the stored KPIs."""
    return {
        "status_text": result.describe_status(),
        "bound_is_exact": result.bound_is_exact,
        "part_time_lower_bound": result.part_time_lower_bound,
        "violations": result.violations,
    }


def _mark_failed(claimed: ClaimedJob, worker_id: str, error: Exception) -> None:
    message = f"solve failed: {type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
    with unit_of_work(claimed.system_actor) as session:
        lock_tenant(session, claimed.tenant_id)
        job = jobs.get_running_for_update(session, claimed.job_id, worker_id)
        if job is None:
            logger.warning(
                "job %s was finished meanwhile; left as it is", claimed.job_id
            )
            return
        jobs.mark_failed(session, job, message)
        details: dict[str, Any] = {
            "error_type": type(error).__name__,
            "forecast_version_id": claimed.forecast_version_id,
        }
        action = SOLVE_FAILED
        if claimed.scenario_run_id is not None:
            _fail_scenario_run(session, claimed.tenant_id, job.id, message, utc_now())
            details["scenario_run_id"] = claimed.scenario_run_id
            action = SCENARIO_FAILED
        append_entry(
            session, claimed.system_actor, action, "solve job", claimed.job_id, details
        )


def _release(claimed: ClaimedJob, worker_id: str) -> None:
    with unit_of_work(claimed.system_actor) as session:
        released = jobs.release(session, claimed.job_id, worker_id)
        if released and claimed.scenario_run_id is not None:
            run = scenarios.get_run(session, claimed.tenant_id, claimed.scenario_run_id)
            if run is not None:
                scenarios.mark_queued(session, run)
    if released:
        logger.info(
            "worker %s stopping; job %s queued again", worker_id, claimed.job_id
        )


def _progress_record(progress: Progress) -> dict[str, Any]:
    return {
        "phase": progress.phase,
        "lower_bound": progress.lower_bound,
        "best_drivers": progress.best_drivers,
        "gap": None if progress.gap is None else round(progress.gap, 6),
        "elapsed_seconds": round(progress.elapsed_seconds, 3),
    }


def _stale_seconds() -> int:
    return int(STALE_AFTER.total_seconds())


class _ProgressReporter:
    """The solver's progress callback: writes progress, and stops a lost job."""

    def __init__(
        self,
        claimed: ClaimedJob,
        worker_id: str,
        heartbeat: _Heartbeat,
        stop_event: threading.Event | None,
    ) -> None:
        self.claimed = claimed
        self.job_id = claimed.job_id
        self.worker_id = worker_id
        self.heartbeat = heartbeat
        self.stop_event = stop_event
        self.last_write: float | None = None

    def __call__(self, progress: Progress) -> None:
        # Raising here unwinds plan_forecast, which calls this between steps.
        if self.stop_event is not None and self.stop_event.is_set():
            raise WorkerStopping()
        if self.heartbeat.lost.is_set():
            raise JobLost()
        now = time.monotonic()
        if (
            self.last_write is not None
            and now - self.last_write < PROGRESS_INTERVAL_SECONDS
        ):
            return
        self.last_write = now
        try:
            with unit_of_work(self.claimed.system_actor) as session:
                running = jobs.renew_heartbeat(
                    session,
                    self.job_id,
                    self.worker_id,
                    utc_now(),
                    progress=_progress_record(progress),
                )
        except SQLAlchemyError as error:
            # Progress is for display only; the solve goes on without it.
            logger.warning("progress of job %s not written: %s", self.job_id, error)
            return
        if not running:
            raise JobLost()


class _Heartbeat:
    """A thread that renews the job's heartbeat until stopped or the job is lost."""

    def __init__(
        self,
        claimed: ClaimedJob,
        worker_id: str,
        interval_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.claimed = claimed
        self.job_id = claimed.job_id
        self.worker_id = worker_id
        self.interval_seconds = interval_seconds
        self.lost = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-job-{self.job_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_seconds):
            try:
                with unit_of_work(self.claimed.system_actor) as session:
                    running = jobs.renew_heartbeat(
                        session, self.job_id, self.worker_id, utc_now()
                    )
            except SQLAlchemyError as error:
                logger.warning(
                    "heartbeat of job %s not written: %s", self.job_id, error
                )
                continue
            if not running:
                logger.warning(
                    "job %s no longer runs for worker %s; stopping its solve",
                    self.job_id,
                    self.worker_id,
                )
                self.lost.set()
                return


if __name__ == "__main__":
    sys.exit(main())
