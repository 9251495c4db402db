"""Drivers' availability: weekly patterns, dated exceptions, weeks, preferences.

Also the tenant's planning settings and the planned tours of named drivers.
Notes arrive here already encrypted (core.availability); this module stores
and reads ciphertexts and never handles a plain note.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.models import (
    Assignment,
    DriverAvailabilityException,
    DriverAvailabilityWeek,
    DriverPreferenceRow,
    DriverWeeklyPattern,
    Plan,
    PlanVersion,
    PlanVersionStatus,
    TenantPlanningSetting,
    TourRow,
)


@dataclass(frozen=True)
class PlannedTour:
    """One tour of a named driver in a plan version, in week minutes."""

    driver_id: int
    day: int
    week_start: int
    week_end: int


# --- Weekly patterns -----------------------------------------------------------


def patterns_by_driver(
    session: Session, tenant_id: int, driver_ids: Collection[int] | None = None
) -> dict[int, dict[int, tuple[int, int]]]:
    """Return each driver's windows by ISO weekday; drivers without rows are absent.

    `driver_ids` None reads every driver of the tenant.
    """
    statement = select(DriverWeeklyPattern).where(
        DriverWeeklyPattern.tenant_id == tenant_id
    )
    if driver_ids is not None:
        if not driver_ids:
            return {}
        statement = statement.where(DriverWeeklyPattern.driver_id.in_(list(driver_ids)))
    patterns: dict[int, dict[int, tuple[int, int]]] = {}
    for row in session.scalars(statement):
        windows = patterns.setdefault(row.driver_id, {})
        windows[row.weekday] = (row.start_minute, row.end_minute)
    return patterns


def replace_pattern(
    session: Session,
    tenant_id: int,
    driver_id: int,
    windows: Mapping[int, tuple[int, int]],
) -> None:
    """Replace a driver's whole weekly pattern by `windows` and flush."""
    session.execute(
        delete(DriverWeeklyPattern).where(
            DriverWeeklyPattern.tenant_id == tenant_id,
            DriverWeeklyPattern.driver_id == driver_id,
        )
    )
    session.add_all(
        DriverWeeklyPattern(
            tenant_id=tenant_id,
            driver_id=driver_id,
            weekday=weekday,
            start_minute=start,
            end_minute=end,
        )
        for weekday, (start, end) in sorted(windows.items())
    )
    session.flush()


# --- Dated exceptions ----------------------------------------------------------


def list_exceptions(
    session: Session,
    tenant_id: int,
    first_day: date,
    last_day: date,
    driver_ids: Collection[int] | None = None,
) -> list[DriverAvailabilityException]:
    """Return the exceptions from `first_day` to `last_day` inclusive.

    They are ordered by driver and day; `driver_ids` None reads every driver.
    """
    statement = select(DriverAvailabilityException).where(
        DriverAvailabilityException.tenant_id == tenant_id,
        DriverAvailabilityException.day >= first_day,
        DriverAvailabilityException.day <= last_day,
    )
    if driver_ids is not None:
        if not driver_ids:
            return []
        statement = statement.where(
            DriverAvailabilityException.driver_id.in_(list(driver_ids))
        )
    order = (DriverAvailabilityException.driver_id, DriverAvailabilityException.day)
    return list(session.scalars(statement.order_by(*order)))


def add_exception(
    session: Session, tenant_id: int, driver_id: int, day: date
) -> DriverAvailabilityException:
    """Insert an empty exception row for the caller to fill, and return it.

    The caller sets status, window, note and author before the next flush.
    """
    row = DriverAvailabilityException(tenant_id=tenant_id, driver_id=driver_id, day=day)
    session.add(row)
    return row


# --- Optimistic lock of a driver's week -----------------------------------------


def weeks_by_driver(
    session: Session, tenant_id: int, week_anchor: date, driver_ids: Collection[int]
) -> dict[int, DriverAvailabilityWeek]:
    """Return the week rows of these drivers for `week_anchor`, by driver id."""
    if not driver_ids:
        return {}
    statement = select(DriverAvailabilityWeek).where(
        DriverAvailabilityWeek.tenant_id == tenant_id,
        DriverAvailabilityWeek.week_anchor == week_anchor,
        DriverAvailabilityWeek.driver_id.in_(list(driver_ids)),
    )
    return {row.driver_id: row for row in session.scalars(statement)}


def touch_week(
    session: Session, tenant_id: int, driver_id: int, week_anchor: date, now: datetime
) -> DriverAvailabilityWeek:
    """Record a change of a driver's week, so its row_version grows, and flush.

    The row is inserted with row_version 1 on the first change. A later
    change updates it, and the flush raises StaleDataError when another
    writer updated it since this session read it.
    """
    week = session.get(DriverAvailabilityWeek, (tenant_id, driver_id, week_anchor))
    if week is None:
        week = DriverAvailabilityWeek(
            tenant_id=tenant_id, driver_id=driver_id, week_anchor=week_anchor
        )
        session.add(week)
    week.updated_at = now
    session.flush()
    return week


# --- Preferences and planning settings ------------------------------------------


def preferences_by_driver(
    session: Session, tenant_id: int, driver_ids: Collection[int] | None = None
) -> dict[int, DriverPreferenceRow]:
    """Return the preference rows of the tenant's drivers, by driver id."""
    statement = select(DriverPreferenceRow).where(
        DriverPreferenceRow.tenant_id == tenant_id
    )
    if driver_ids is not None:
        if not driver_ids:
            return {}
        statement = statement.where(DriverPreferenceRow.driver_id.in_(list(driver_ids)))
    return {row.driver_id: row for row in session.scalars(statement)}


def preference_row(
    session: Session, tenant_id: int, driver_id: int
) -> DriverPreferenceRow:
    """Return a driver's preference row, adding an empty one to the session if none."""
    row = session.get(DriverPreferenceRow, (tenant_id, driver_id))
    if row is None:
        row = DriverPreferenceRow(tenant_id=tenant_id, driver_id=driver_id)
        session.add(row)
    return row


def planning_setting(session: Session, tenant_id: int) -> TenantPlanningSetting | None:
    """Return the tenant's planning settings, or None when it keeps the defaults."""
    return session.get(TenantPlanningSetting, tenant_id)


def set_planning_setting(
    session: Session,
    tenant_id: int,
    stay_at_home_depot: bool,
    *,
    updated_at: datetime,
    updated_by: int | None,
) -> TenantPlanningSetting:
    """Store the tenant's planning settings, adding its row on first use."""
    setting = session.get(TenantPlanningSetting, tenant_id)
    if setting is None:
        setting = TenantPlanningSetting(tenant_id=tenant_id)
        session.add(setting)
    setting.stay_at_home_depot = stay_at_home_depot
    setting.updated_at = updated_at
    setting.updated_by = updated_by
    session.flush()
    return setting


# --- Planned tours of named drivers ---------------------------------------------


def newest_version_of_week(
    session: Session,
    tenant_id: int,
    week_anchor: date,
    statuses: Collection[PlanVersionStatus],
) -> PlanVersion | None:
    """Return the week's plan version with the highest number among `statuses`."""
    statement = (
        select(PlanVersion)
        .join(
            Plan,
            (Plan.id == PlanVersion.plan_id)
            & (Plan.tenant_id == PlanVersion.tenant_id),
        )
        .where(
            Plan.tenant_id == tenant_id,
            Plan.week_anchor == week_anchor,
            PlanVersion.status.in_(list(statuses)),
        )
        .order_by(PlanVersion.version_number.desc())
        .limit(1)
    )
    return session.scalars(statement).one_or_none()


def planned_tours(
    session: Session, tenant_id: int, version: PlanVersion
) -> list[PlannedTour]:
    """Return the tours of the version's named drivers, by driver and start.

    Assignments without driver_id (anonymous rosters) are left out.
    """
    statement = (
        select(
            Assignment.driver_id, Assignment.day, TourRow.week_start, TourRow.week_end
        )
        .join(
            TourRow,
            (TourRow.tenant_id == Assignment.tenant_id)
            & (TourRow.tour_id == Assignment.tour_id)
            & (TourRow.forecast_version_id == version.forecast_version_id),
        )
        .where(
            Assignment.tenant_id == tenant_id,
            Assignment.plan_version_id == version.id,
            Assignment.driver_id.is_not(None),
        )
        .order_by(Assignment.driver_id, TourRow.week_start)
    )
    return [PlannedTour(*row) for row in session.execute(statement)]


def delete_driver_availability(session: Session, tenant_id: int, driver_id: int) -> int:
    """Delete a driver's patterns, exceptions with their notes, preferences and weeks.

    For erasure: a SICK status and a note are personal data. Returns the
    number of rows deleted.
    """
    deleted = 0
    for model in (
        DriverAvailabilityException,
        DriverWeeklyPattern,
        DriverPreferenceRow,
        DriverAvailabilityWeek,
    ):
        result = session.execute(
            delete(model).where(
                model.tenant_id == tenant_id, model.driver_id == driver_id
            )
        )
        deleted += result.rowcount
    return deleted
