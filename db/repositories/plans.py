"""Plans of a tenant's week and their versions, assignments and checks.

A plan version is written once, with all its assignments and checks, and is
never edited in place afterwards except for its status. Once approved, the
database triggers reject any change to it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.models import (
    Assignment,
    Plan,
    PlanCheck,
    PlanVersion,
    PlanVersionStatus,
    TourRow,
    utc_now,
)
from solver.plan import Block, BlockKind, Roster
from solver.plan import Plan as SolverPlan
from solver.pricing import plan_kpis
from solver.rules import RuleSettings
from solver.solve import SolveResult
from solver.tours import Tour


def get_or_add_plan(session: Session, tenant_id: int, week_anchor: date) -> Plan:
    """Return the tenant's plan of this week, inserting it when there is none."""
    plan = find_plan(session, tenant_id, week_anchor)
    if plan is not None:
        return plan
    plan = Plan(tenant_id=tenant_id, week_anchor=week_anchor)
    session.add(plan)
    session.flush()
    return plan


def find_plan(session: Session, tenant_id: int, week_anchor: date) -> Plan | None:
    """Return the tenant's plan of this week, or None."""
    statement = select(Plan).where(
        Plan.tenant_id == tenant_id, Plan.week_anchor == week_anchor
    )
    return session.scalars(statement).one_or_none()


def get_plan(session: Session, tenant_id: int, plan_id: int) -> Plan | None:
    """Return the tenant's plan with this id, or None (also for another tenant's)."""
    statement = select(Plan).where(Plan.tenant_id == tenant_id, Plan.id == plan_id)
    return session.scalars(statement).one_or_none()


def get_version(
    session: Session, tenant_id: int, plan_version_id: int
) -> PlanVersion | None:
    """Return the tenant's plan version with this id, or None (also for another's)."""
    statement = select(PlanVersion).where(
        PlanVersion.tenant_id == tenant_id, PlanVersion.id == plan_version_id
    )
    return session.scalars(statement).one_or_none()


def list_versions(session: Session, tenant_id: int, plan_id: int) -> list[PlanVersion]:
    """Return the versions of the tenant's plan, oldest first."""
    statement = (
        select(PlanVersion)
        .where(PlanVersion.tenant_id == tenant_id, PlanVersion.plan_id == plan_id)
        .order_by(PlanVersion.version_number)
    )
    return list(session.scalars(statement))


def latest_approved_version(
    session: Session, tenant_id: int, plan_id: int
) -> PlanVersion | None:
    """Return the newest approved version of the plan, the one in force, or None."""
    statement = (
        select(PlanVersion)
        .where(
            PlanVersion.tenant_id == tenant_id,
            PlanVersion.plan_id == plan_id,
            PlanVersion.status == PlanVersionStatus.APPROVED,
        )
        .order_by(PlanVersion.version_number.desc())
        .limit(1)
    )
    return session.scalars(statement).one_or_none()


def add_version(
    session: Session,
    tenant_id: int,
    plan_id: int,
    forecast_version_id: int,
    result: SolveResult,
    rules: RuleSettings,
    created_by: int | None,
    extra_kpis: dict[str, Any] | None = None,
    *,
    named_drivers: bool = False,
) -> PlanVersion:
    """Store a solve result as the plan's next draft, with assignments and checks.

    The KPIs are those of solver.pricing.plan_kpis, updated with `extra_kpis`.
    With `named_drivers`, each roster's driver is the id of a row of the
    drivers table, stored in Assignment.driver_id as well.
    The version number is one more than the plan's newest. The unique
    constraint on (plan_id, version_number) rejects the second of two
    concurrent writers.
    """
    version = PlanVersion(
        tenant_id=tenant_id,
        plan_id=plan_id,
        version_number=_next_version_number(session, tenant_id, plan_id),
        forecast_version_id=forecast_version_id,
        status=PlanVersionStatus.DRAFT,
        settings=rules.to_dict(),
        lower_bound=result.lower_bound,
        lp_bound=_finite_or_none(result.lp_bound),
        gap=result.gap,
        solve_status=result.status.value,
        kpis={**plan_kpis(result.plan, rules), **(extra_kpis or {})},
        uncovered=[
            {
                "tour_id": uncoverable.tour.tour_id,
                "day": uncoverable.tour.day,
                "rule": uncoverable.rule,
                "reason": uncoverable.reason,
            }
            for uncoverable in result.uncoverable
        ],
        solver_seconds=result.seconds,
        created_by=created_by,
    )
    session.add(version)
    session.flush()

    session.add_all(
        Assignment(
            tenant_id=tenant_id,
            plan_version_id=version.id,
            tour_id=tour.tour_id,
            driver=roster.driver,
            driver_id=int(roster.driver) if named_drivers else None,
            day=block.day,
            block_kind=block.kind.value,
        )
        for roster in result.plan.rosters
        for block in roster.blocks
        for tour in block.tours
    )
    session.add_all(
        PlanCheck(
            tenant_id=tenant_id,
            plan_version_id=version.id,
            rule=check.rule,
            label=check.label,
            passed=check.passed,
            checked=check.checked,
            violations=check.to_dict()["violations"],
        )
        for check in result.checks
    )
    session.flush()
    return version


def add_failed_version(
    session: Session,
    tenant_id: int,
    plan_id: int,
    forecast_version_id: int,
    rules: RuleSettings,
    solve_status: str,
    created_by: int | None,
) -> PlanVersion:
    """Store a version whose solve failed, without assignments, for the record."""
    version = PlanVersion(
        tenant_id=tenant_id,
        plan_id=plan_id,
        version_number=_next_version_number(session, tenant_id, plan_id),
        forecast_version_id=forecast_version_id,
        status=PlanVersionStatus.FAILED,
        settings=rules.to_dict(),
        solve_status=solve_status,
        kpis={},
        uncovered=[],
        created_by=created_by,
    )
    session.add(version)
    session.flush()
    return version


def list_assignments(
    session: Session, tenant_id: int, plan_version_id: int
) -> list[Assignment]:
    """Return the assignments of the tenant's plan version, by driver, day and tour."""
    statement = (
        select(Assignment)
        .where(
            Assignment.tenant_id == tenant_id,
            Assignment.plan_version_id == plan_version_id,
        )
        .order_by(Assignment.driver, Assignment.day, Assignment.tour_id)
    )
    return list(session.scalars(statement))


def list_checks(
    session: Session, tenant_id: int, plan_version_id: int
) -> list[PlanCheck]:
    """Return the validator checks of the tenant's plan version, in stored order."""
    statement = (
        select(PlanCheck)
        .where(
            PlanCheck.tenant_id == tenant_id,
            PlanCheck.plan_version_id == plan_version_id,
        )
        .order_by(PlanCheck.id)
    )
    return list(session.scalars(statement))


def load_plan(
    session: Session, tenant_id: int, plan_version_id: int
) -> SolverPlan | None:
    """Rebuild the solver's plan of a stored version from its assignments and tours."""
    version = get_version(session, tenant_id, plan_version_id)
    if version is None:
        return None
    tour_statement = select(TourRow).where(
        TourRow.tenant_id == tenant_id,
        TourRow.forecast_version_id == version.forecast_version_id,
    )
    tours_by_id = {
        row.tour_id: Tour(
            week_start=row.week_start,
            week_end=row.week_end,
            tour_id=row.tour_id,
            day=row.day,
            depot=row.depot,
            qualification=row.qualification,
        )
        for row in session.scalars(tour_statement)
    }

    # Group tours by driver, then by day; a roster has at most one block a day.
    days_by_driver: dict[str, dict[int, list[Assignment]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for assignment in list_assignments(session, tenant_id, plan_version_id):
        days_by_driver[assignment.driver][assignment.day].append(assignment)

    rosters = []
    for driver in sorted(days_by_driver):
        blocks = []
        for day, assignments in sorted(days_by_driver[driver].items()):
            tours = sorted(
                (tours_by_id[assignment.tour_id] for assignment in assignments),
                key=lambda tour: (tour.week_start, tour.tour_id),
            )
            kind = BlockKind(assignments[0].block_kind)
            blocks.append(Block(day=day, kind=kind, tours=tuple(tours)))
        rosters.append(Roster(driver=driver, blocks=tuple(blocks)))
    uncovered = tuple(tours_by_id[entry["tour_id"]] for entry in version.uncovered)
    return SolverPlan(rosters=tuple(rosters), uncovered=uncovered)


def approve_version(
    version: PlanVersion,
    approved_by: int,
    reason: str,
    approved_at: datetime | None = None,
) -> None:
    """Mark a draft version approved; the flush fails if another writer changed it.

    After the flush the database triggers reject any further change to the
    version, its assignments and its checks.
    """
    if version.status is not PlanVersionStatus.DRAFT:
        raise ValueError(
            f"plan version {version.id} is {version.status.value};"
            " only a draft can be approved"
        )
    version.status = PlanVersionStatus.APPROVED
    version.approved_by = approved_by
    version.approved_at = approved_at or utc_now()
    version.approval_reason = reason


def supersede_drafts(
    session: Session, tenant_id: int, plan_id: int, newer_than: int
) -> int:
    """Mark drafts of the plan older than version number `newer_than` superseded.

    Returns the number of versions changed.
    """
    statement = (
        update(PlanVersion)
        .where(
            PlanVersion.tenant_id == tenant_id,
            PlanVersion.plan_id == plan_id,
            PlanVersion.status == PlanVersionStatus.DRAFT,
            PlanVersion.version_number < newer_than,
        )
        .values(
            status=PlanVersionStatus.SUPERSEDED,
            row_version=PlanVersion.row_version + 1,
        )
        .execution_options(synchronize_session="fetch")
    )
    return session.execute(statement).rowcount


def _next_version_number(session: Session, tenant_id: int, plan_id: int) -> int:
    statement = select(func.max(PlanVersion.version_number)).where(
        PlanVersion.tenant_id == tenant_id, PlanVersion.plan_id == plan_id
    )
    return (session.scalar(statement) or 0) + 1


def _finite_or_none(value: float) -> float | None:
    # SQLite reads NaN back as NULL while PostgreSQL keeps it, so any bound
    # that is not finite is stored as NULL on both.
    return value if math.isfinite(value) else None


def list_tenant_versions(
    session: Session, tenant_id: int, week_anchor: date | None = None
) -> list[tuple[PlanVersion, date]]:
    """Return the tenant's plan versions with their week, newest week and version first.

    With `week_anchor`, only the versions of that week.
    """
    statement = (
        select(PlanVersion, Plan.week_anchor)
        .join(
            Plan,
            (Plan.id == PlanVersion.plan_id)
            & (Plan.tenant_id == PlanVersion.tenant_id),
        )
        .where(PlanVersion.tenant_id == tenant_id)
        .order_by(Plan.week_anchor.desc(), PlanVersion.version_number.desc())
    )
    if week_anchor is not None:
        statement = statement.where(Plan.week_anchor == week_anchor)
    return [(version, week) for version, week in session.execute(statement)]
