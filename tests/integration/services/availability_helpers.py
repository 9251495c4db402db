"""Building blocks for the availability tests: weeks, cells and named plans."""

from __future__ import annotations

from datetime import date, timedelta

from core.availability import WeekGrid
from core.drivers import deactivate_driver, get_driver
from db.models import Assignment, Plan, PlanVersion, PlanVersionStatus
from solver.tours import Tour, expand
from tests.integration.databases import SMALL_FORECAST, Database, TenantSetup
from tests.integration.services.driver_helpers import admin_of

# A Monday, the week before it, and the days of the week.
WEEK = date(2026, 12, 7)
PREVIOUS_WEEK = WEEK - timedelta(days=7)
MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = (
    WEEK + timedelta(days=offset) for offset in range(7)
)

# The tours of SMALL_FORECAST: two Monday tours 06:00-10:30, one Monday tour
# 11:30-16:00, two Tuesday tours needing ADR and a night tour from Wednesday
# 22:00 to Thursday 01:30.
SMALL_TOURS: tuple[Tour, ...] = tuple(expand(SMALL_FORECAST))


def tours_on(day: int, start_minute: int) -> list[Tour]:
    """Return the small week's tours of an ISO weekday that start at this minute."""
    return [
        tour
        for tour in SMALL_TOURS
        if tour.day == day and tour.start_minute == start_minute
    ]


def add_named_plan(
    database: Database,
    tenant_id: int,
    forecast_version_id: int,
    week_anchor: date,
    assignments: list[tuple[Tour, int]],
    approved: bool,
) -> int:
    """Store a plan version whose tours go to drivers of the master data.

    Each (tour, driver id) becomes an assignment with driver str(id) and
    driver_id set, as a plan for named drivers stores them. The version is
    written as a draft and then approved when `approved`, because the
    database rejects new assignments of an approved version. Returns its id.
    """
    with database.session_factory() as session, session.begin():
        plan = session.query(Plan).filter_by(
            tenant_id=tenant_id, week_anchor=week_anchor
        ).one_or_none() or Plan(tenant_id=tenant_id, week_anchor=week_anchor)
        session.add(plan)
        session.flush()
        number = 1 + len(session.query(PlanVersion).filter_by(plan_id=plan.id).all())
        version = PlanVersion(
            tenant_id=tenant_id,
            plan_id=plan.id,
            version_number=number,
            forecast_version_id=forecast_version_id,
            status=PlanVersionStatus.DRAFT,
            settings={},
            solve_status="optimal",
            kpis={},
            uncovered=[],
        )
        session.add(version)
        session.flush()
        session.add_all(
            Assignment(
                tenant_id=tenant_id,
                plan_version_id=version.id,
                tour_id=tour.tour_id,
                driver=str(driver_id),
                driver_id=driver_id,
                day=tour.day,
                block_kind="single",
            )
            for tour, driver_id in assignments
        )
        session.flush()
        if approved:
            version.status = PlanVersionStatus.APPROVED
        return version.id


def driver_week(grid: WeekGrid, driver_id: int):
    """Return one driver's row of the grid."""
    [week] = [week for week in grid.drivers if week.driver_id == driver_id]
    return week


def cell_of(grid: WeekGrid, driver_id: int, day: date):
    """Return one driver's cell of one day."""
    [cell] = [cell for cell in driver_week(grid, driver_id).cells if cell.day == day]
    return cell


def deactivate(tenant: TenantSetup, driver_id: int) -> None:
    """Deactivate a driver as the tenant admin, at its current row_version."""
    admin = admin_of(tenant)
    row_version = get_driver(admin, driver_id).driver.row_version
    deactivate_driver(admin, driver_id, row_version)
