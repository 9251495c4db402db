"""Plan service: queue solves of a forecast version and read the stored plans.

`request_solve` only queues a job; a worker (core.worker) runs the optimiser
and stores the plan version. Plan versions are never edited in place: each
solve of a week stores a new version, and the older drafts of the week are
superseded.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from core.audit import append_entry
from core.context import authorize, current_engine, lock_tenant, unit_of_work
from core.drivers import record_unreadable_fields
from core.errors import InvalidInput
from core.permissions import Actor, Permission
from core.plan_drivers import with_driver_labels
from core.tenancy import get_owned
from core.views import PlanVersionView, RosterRow, SolveJobView
from db.models import (
    ForecastStatus,
    ForecastVersion,
    PlanCheck,
    PlanVersion,
    PlanVersionStatus,
    SolveJob,
)
from db.repositories import forecasts, jobs, plans
from solver.checks import CheckResult, Violation
from solver.rules import RuleSettings
from solver.tours import MINUTES_PER_DAY, WEEKDAYS, format_clock

logger = logging.getLogger(__name__)

# A job occupies a worker for up to its time limit, so one request may not
# occupy it for longer than half an hour.
MAX_TIME_LIMIT_SECONDS = 1800.0
MIN_TIME_LIMIT_SECONDS = 1.0
MIN_COVERAGE_STEP_MINUTES = 5

SOLVE_REQUESTED = "plan.solve_requested"


def request_solve(
    actor: Actor,
    forecast_version_id: int,
    settings: dict[str, Any] | None = None,
    time_limit_seconds: float = 60.0,
) -> SolveJobView:
    """Queue a solve of an accepted forecast version with these rule settings.

    `settings` names fields of solver.rules.RuleSettings; unknown names and
    invalid values raise InvalidInput, and missing ones keep their defaults.
    While a job for the same forecast version is queued or running, that job
    is returned and no second one is queued, whatever its settings.
    """
    authorize(actor, Permission.PLAN_SOLVE)
    rules = rules_from_input(settings)
    time_limit = _checked_time_limit(time_limit_seconds)

    with unit_of_work(actor) as session:
        forecast_version = get_owned(
            session, actor, ForecastVersion, forecast_version_id
        )
        if forecast_version.status is not ForecastStatus.ACCEPTED:
            raise InvalidInput(
                "forecast_version_id",
                f"forecast version {forecast_version.id} was rejected at import and"
                " cannot be solved; correct the failing lines and import it again",
            )
        lock_tenant(session, actor.tenant_id)
        job = jobs.find_active(session, actor.tenant_id, forecast_version.id)
        queued_before = job is not None
        if job is None:
            job = jobs.enqueue(
                session,
                actor.tenant_id,
                forecast_version.id,
                job_settings(rules, time_limit),
                created_by=actor.user_id,
            )
        append_entry(
            session,
            actor,
            SOLVE_REQUESTED,
            "solve job",
            job.id,
            {
                "forecast_version_id": forecast_version.id,
                "queued_before": queued_before,
                "time_limit_seconds": str(time_limit),
                "changed_rules": _changed_rules(rules),
            },
        )
        view = job_view(job)
    logger.info(
        "solve job %s of tenant %s %s",
        view.job_id,
        actor.tenant_id,
        "already queued" if queued_before else "queued",
    )
    return view


def get_solve_job(actor: Actor, job_id: int) -> SolveJobView:
    """Return one solve job of the actor's tenant with its latest progress."""
    authorize(actor, Permission.PLAN_READ)
    with unit_of_work(actor) as session:
        return job_view(get_owned(session, actor, SolveJob, job_id))


def list_solve_jobs(actor: Actor) -> list[SolveJobView]:
    """List the tenant's solve jobs, newest first."""
    authorize(actor, Permission.PLAN_READ)
    with unit_of_work(actor) as session:
        return [job_view(job) for job in jobs.list_jobs(session, actor.tenant_id)]


def list_plan_versions(
    actor: Actor, week_anchor: date | None = None
) -> list[PlanVersionView]:
    """List the tenant's plan versions, newest week and version first.

    The views are summaries: checks, rosters and uncovered tours are empty.
    """
    authorize(actor, Permission.PLAN_READ)
    with unit_of_work(actor) as session:
        rows = plans.list_tenant_versions(session, actor.tenant_id, week_anchor)
        views = [
            plan_version_view(session, version, week, full=False)
            for version, week in rows
        ]
    newest_approved: dict[int, PlanVersionView] = {}
    for view in views:
        if view.status == PlanVersionStatus.APPROVED.value:
            known = newest_approved.get(view.plan_id)
            if known is None or view.version_number > known.version_number:
                newest_approved[view.plan_id] = view
    in_force = {view.plan_version_id for view in newest_approved.values()}
    return [replace(view, in_force=view.plan_version_id in in_force) for view in views]


def get_plan_version(actor: Actor, plan_version_id: int) -> PlanVersionView:
    """Return one plan version with its checks, rosters and uncovered tours.

    The drivers of a named plan are labelled as core.plan_drivers explains.
    """
    authorize(actor, Permission.PLAN_READ)
    with unit_of_work(actor) as session:
        version = get_owned(session, actor, PlanVersion, plan_version_id)
        view = plan_version_view(session, version, full=True)
        view, unreadable = with_driver_labels(session, actor, view)
    if unreadable:
        record_unreadable_fields(current_engine(), actor, unreadable, ["name"])
    return view


def coverage_by_time_of_day(
    actor: Actor, plan_version_id: int, step_minutes: int = 30
) -> list[dict[str, int]]:
    """Count tours running and drivers working at each time step of the week.

    Returns one row per weekday (1 = Monday to 7 = Sunday) and step, with
    `minute` after midnight, `tours_in_demand` (tours of the forecast version
    running at that moment) and `drivers_working` (distinct drivers of the
    plan on a tour at that moment). A tour runs from its start up to, but not
    including, its end. A tour that crosses midnight counts on the next day
    as well. The part of a Sunday night tour after the week's end is not
    shown, because the grid ends with the week.
    """
    authorize(actor, Permission.PLAN_READ)
    if (
        not isinstance(step_minutes, int)
        or isinstance(step_minutes, bool)
        or step_minutes < MIN_COVERAGE_STEP_MINUTES
        or MINUTES_PER_DAY % step_minutes
    ):
        raise InvalidInput(
            "step_minutes",
            f"{step_minutes!r} is not a whole number of minutes of at least"
            f" {MIN_COVERAGE_STEP_MINUTES} that divides a day; use for example"
            " 15, 30 or 60",
        )

    with unit_of_work(actor) as session:
        version = get_owned(session, actor, PlanVersion, plan_version_id)
        tours = forecasts.list_tours(
            session, actor.tenant_id, version.forecast_version_id
        )
        driver_by_tour = {
            assignment.tour_id: assignment.driver
            for assignment in plans.list_assignments(
                session, actor.tenant_id, version.id
            )
        }

    steps_per_day = MINUTES_PER_DAY // step_minutes
    step_count = len(WEEKDAYS) * steps_per_day
    tours_running = [0] * step_count
    drivers_working: list[set[str]] = [set() for _ in range(step_count)]
    for tour in tours:
        # Steps whose moment lies in [week_start, week_end), by ceiling division.
        first_step = -(-tour.week_start // step_minutes)
        end_step = min(-(-tour.week_end // step_minutes), step_count)
        driver = driver_by_tour.get(tour.tour_id)
        for step in range(first_step, end_step):
            tours_running[step] += 1
            if driver:
                drivers_working[step].add(driver)

    return [
        {
            "day": step // steps_per_day + 1,
            "minute": (step % steps_per_day) * step_minutes,
            "tours_in_demand": tours_running[step],
            "drivers_working": len(drivers_working[step]),
        }
        for step in range(step_count)
    ]


def rules_from_input(settings: dict[str, Any] | None) -> RuleSettings:
    """Build rule settings from user input; raise InvalidInput naming the problem."""
    if settings is None:
        return RuleSettings()
    if not isinstance(settings, dict):
        raise InvalidInput(
            "settings", "expected an object of rule setting names and values"
        )
    try:
        return RuleSettings.from_dict(settings)
    except (TypeError, ValueError) as error:
        raise InvalidInput("settings", str(error)) from error


def job_settings(rules: RuleSettings, time_limit_seconds: float) -> dict[str, Any]:
    """Build what a solve job stores: the rule settings and the time limit."""
    return {"rules": rules.to_dict(), "time_limit_seconds": time_limit_seconds}


def read_job_settings(settings: dict[str, Any]) -> tuple[RuleSettings, float]:
    """Return the rule settings and the time limit that a solve job stores."""
    rules = RuleSettings.from_dict(settings.get("rules", {}))
    time_limit = float(settings["time_limit_seconds"])
    return rules, time_limit


def job_view(job: SolveJob) -> SolveJobView:
    """Build the page's view of a solve job."""
    settings = job.settings or {}
    return SolveJobView(
        job_id=job.id,
        forecast_version_id=job.forecast_version_id,
        status=job.status.value,
        progress=job.progress,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        plan_version_id=job.plan_version_id,
        rules=dict(settings.get("rules", {})),
        time_limit_seconds=settings.get("time_limit_seconds"),
    )


def plan_version_view(
    session: Session,
    version: PlanVersion,
    week_anchor: date | None = None,
    *,
    full: bool,
) -> PlanVersionView:
    """Build the page's view of a plan version; `full` adds checks and rosters."""
    if week_anchor is None:
        plan = plans.get_plan(session, version.tenant_id, version.plan_id)
        week_anchor = plan.week_anchor
    checks: tuple[CheckResult, ...] = ()
    rosters: tuple[RosterRow, ...] = ()
    uncovered: tuple[dict[str, Any], ...] = ()
    if full:
        checks = tuple(check_results(session, version))
        rosters = _roster_rows(session, version)
        uncovered = tuple(version.uncovered)
    return PlanVersionView(
        plan_version_id=version.id,
        plan_id=version.plan_id,
        week_anchor=week_anchor,
        version_number=version.version_number,
        forecast_version_id=version.forecast_version_id,
        status=version.status.value,
        solve_status=version.solve_status,
        lower_bound=version.lower_bound,
        lp_bound=version.lp_bound,
        gap=version.gap,
        kpis=dict(version.kpis),
        solver_seconds=version.solver_seconds,
        created_at=version.created_at,
        approved_by=version.approved_by,
        approved_at=version.approved_at,
        approval_reason=version.approval_reason,
        row_version=version.row_version,
        checks=checks,
        rosters=rosters,
        uncovered=uncovered,
    )


def check_results(session: Session, version: PlanVersion) -> list[CheckResult]:
    """Rebuild the validator's stored check results of a plan version."""
    return [
        _check_result(row)
        for row in plans.list_checks(session, version.tenant_id, version.id)
    ]


def _check_result(row: PlanCheck) -> CheckResult:
    violations = tuple(
        Violation(
            message=violation["message"],
            driver=violation.get("driver", ""),
            day=violation.get("day", 0),
            tour_ids=tuple(violation.get("tour_ids", ())),
            amount_minutes=violation.get("amount_minutes", 0),
        )
        for violation in row.violations
    )
    return CheckResult(
        rule=row.rule, label=row.label, violations=violations, checked=row.checked
    )


def _roster_rows(session: Session, version: PlanVersion) -> tuple[RosterRow, ...]:
    plan = plans.load_plan(session, version.tenant_id, version.id)
    if plan is None:
        return ()
    return tuple(
        RosterRow(
            driver=roster.driver,
            day=block.day,
            block_kind=block.kind.value,
            tour_ids=tuple(tour.tour_id for tour in block.tours),
            start=format_clock(block.week_start % MINUTES_PER_DAY),
            end=format_clock(block.week_end % MINUTES_PER_DAY),
            minutes=block.work_minutes,
        )
        for roster in plan.rosters
        for block in sorted(roster.blocks, key=lambda block: block.week_start)
    )


def _checked_time_limit(time_limit_seconds: float) -> float:
    valid = (
        isinstance(time_limit_seconds, int | float)
        and not isinstance(time_limit_seconds, bool)
        and math.isfinite(time_limit_seconds)
        and MIN_TIME_LIMIT_SECONDS <= time_limit_seconds <= MAX_TIME_LIMIT_SECONDS
    )
    if not valid:
        raise InvalidInput(
            "time_limit_seconds",
            f"{time_limit_seconds!r} is not a number of seconds from"
            f" {MIN_TIME_LIMIT_SECONDS:g} to {MAX_TIME_LIMIT_SECONDS:g}",
        )
    return float(time_limit_seconds)


def _changed_rules(rules: RuleSettings) -> dict[str, Any]:
    """Return the settings that differ from the product defaults."""
    defaults = RuleSettings().to_dict()
    return {
        name: value
        for name, value in rules.to_dict().items()
        if defaults[name] != value
    }
