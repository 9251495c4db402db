"""Build the planning engine's driver profiles of one week from the database.

A profile carries what decides which tours a driver may take. These are
the driver's qualifications, home depot and weekly minutes, and the
intervals of the week in which they are unavailable. It also carries their
preferences and the end of their last tour in the previous week. Times
count minutes from Monday 00:00 of the planned week, as solver.tours does.

Availability of one day, as core.availability describes it: the weekly
pattern's window (the whole day without any pattern, nothing on a weekday
the pattern leaves out). A VACATION, SICK or BLOCKED exception then removes
its window or the whole day, and an AVAILABLE one adds its window or the
whole day. Everything else of the day is unavailable. Adjacent unavailable
intervals merge, also across midnight.

These functions take the caller's session and check no permission. The
caller (a solve of the worker or a service) has authorised the work and
bound the transaction to the tenant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from sqlalchemy.orm import Session

from core.availability import DAYS_PER_WEEK, preferences_of
from db.models import AvailabilityStatus, DriverAvailabilityException, PlanVersionStatus
from db.repositories import availability, drivers
from solver.drivers import DriverPreferences, DriverProfile
from solver.tours import MINUTES_PER_DAY

MINUTES_PER_WEEK = DAYS_PER_WEEK * MINUTES_PER_DAY
# Plan versions whose assignments count as worked for the previous week.
# PlanVersionStatus has no LOCKED status: approving a version locks it.
WORKED_STATUSES = (PlanVersionStatus.APPROVED,)

Interval = tuple[int, int]


def driver_profiles_for_week(
    session: Session, tenant_id: int, week_anchor: date
) -> list[DriverProfile]:
    """Return a profile per active, not erased driver, by external reference.

    `driver_id` of each profile is str(driver.id), which the plan stores in
    assignments.driver and, as a number, in assignments.driver_id.
    """
    rows = drivers.list_drivers(session, tenant_id, active_only=True)
    ids = [driver.id for driver in rows]
    patterns = availability.patterns_by_driver(session, tenant_id, ids)
    exceptions: dict[int, dict[date, DriverAvailabilityException]] = defaultdict(dict)
    last_day = week_anchor + timedelta(days=DAYS_PER_WEEK - 1)
    for row in availability.list_exceptions(
        session, tenant_id, week_anchor, last_day, ids
    ):
        exceptions[row.driver_id][row.day] = row
    preferences = availability.preferences_by_driver(session, tenant_id, ids)
    previous_ends = previous_week_ends(session, tenant_id, week_anchor)

    profiles = []
    for driver in rows:
        preference_row = preferences.get(driver.id)
        profiles.append(
            DriverProfile(
                driver_id=str(driver.id),
                qualifications=frozenset(driver.qualifications),
                home_depot=driver.home_depot,
                max_weekly_minutes=driver.max_weekly_minutes,
                min_weekly_minutes=driver.min_weekly_minutes,
                unavailable=unavailable_intervals(
                    week_anchor,
                    patterns.get(driver.id, {}),
                    exceptions.get(driver.id, {}),
                ),
                previous_week_end=previous_ends.get(driver.id),
                preferences=(
                    DriverPreferences()
                    if preference_row is None
                    else preferences_of(preference_row)
                ),
            )
        )
    return profiles


def planning_settings(session: Session, tenant_id: int) -> bool:
    """Return stay_at_home_depot of the tenant: False unless it set it."""
    setting = availability.planning_setting(session, tenant_id)
    return bool(setting and setting.stay_at_home_depot)


def unavailable_intervals(
    week_anchor: date,
    pattern: Mapping[int, Interval],
    exceptions: Mapping[date, DriverAvailabilityException],
) -> tuple[Interval, ...]:
    """Return the week's unavailable intervals [start, end) in week minutes.

    `pattern` maps ISO weekdays to windows, {} meaning available always.
    `exceptions` maps dates of the week to the driver's exceptions.
    """
    unavailable: list[Interval] = []
    for offset in range(DAYS_PER_WEEK):
        day = week_anchor + timedelta(days=offset)
        available = _pattern_windows(pattern, offset + 1)
        row = exceptions.get(day)
        if row is not None:
            window = _exception_window(row)
            if row.status is AvailabilityStatus.AVAILABLE:
                available = _union([*available, window])
            else:
                available = _subtract(available, window)
        base = offset * MINUTES_PER_DAY
        unavailable.extend(
            (base + start, base + end)
            for start, end in _subtract([(0, MINUTES_PER_DAY)], *available)
        )
    return tuple(_union(unavailable))


def previous_week_ends(
    session: Session, tenant_id: int, week_anchor: date
) -> dict[int, int]:
    """Return, per named driver, the end of their last tour in the previous week.

    The ends count minutes from Monday 00:00 of `week_anchor`, so they are
    negative unless a tour reaches into this week. Only the newest approved
    plan version of the previous week counts, and only its assignments
    with a driver_id.
    """
    version = availability.newest_version_of_week(
        session, tenant_id, week_anchor - timedelta(days=DAYS_PER_WEEK), WORKED_STATUSES
    )
    if version is None:
        return {}
    ends: dict[int, int] = {}
    for tour in availability.planned_tours(session, tenant_id, version):
        end = tour.week_end - MINUTES_PER_WEEK
        ends[tour.driver_id] = max(end, ends.get(tour.driver_id, end))
    return ends


def _pattern_windows(pattern: Mapping[int, Interval], weekday: int) -> list[Interval]:
    if not pattern:
        return [(0, MINUTES_PER_DAY)]
    window = pattern.get(weekday)
    return [] if window is None else [window]


def _exception_window(row: DriverAvailabilityException) -> Interval:
    if row.start_minute is None or row.end_minute is None:
        return (0, MINUTES_PER_DAY)
    return (row.start_minute, row.end_minute)


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    """Merge overlapping and touching intervals, in order."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(intervals: Iterable[Interval], *removed: Interval) -> list[Interval]:
    """Return the parts of `intervals` outside every interval of `removed`."""
    remaining = _union(intervals)
    for cut_start, cut_end in removed:
        pieces = []
        for start, end in remaining:
            if cut_end <= start or end <= cut_start:
                pieces.append((start, end))
                continue
            if start < cut_start:
                pieces.append((start, cut_start))
            if cut_end < end:
                pieces.append((cut_end, end))
        remaining = pieces
    return remaining
