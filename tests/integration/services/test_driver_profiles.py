"""Driver profiles of a week from master data, availability and the last plan."""

from __future__ import annotations

import pytest

from core.availability import (
    ExceptionInput,
    save_driver_week,
    set_planning_settings,
    set_preferences,
    set_weekly_pattern,
)
from core.context import unit_of_work
from core.driver_profiles import driver_profiles_for_week, planning_settings
from core.permissions import Role
from solver.drivers import DriverPreferences
from tests.integration.services.availability_helpers import (
    MONDAY,
    PREVIOUS_WEEK,
    SATURDAY,
    TUESDAY,
    WEDNESDAY,
    WEEK,
    add_named_plan,
    deactivate,
    tours_on,
)
from tests.integration.services.driver_helpers import (
    ANNA,
    BEN,
    add_driver,
    admin_of,
    driver_keys,  # noqa: F401 (fixture)
)
from tests.integration.services.helpers import import_week

DAY = 24 * 60
WEEK_MINUTES = 7 * DAY


@pytest.fixture
def tenant(workbench, make_tenant, driver_keys):  # noqa: F811
    return make_tenant()


def profiles(tenant, week_anchor=WEEK):
    with unit_of_work(tenant.actor(Role.DISPATCHER)) as session:
        return {
            profile.driver_id: profile
            for profile in driver_profiles_for_week(
                session, tenant.tenant_id, week_anchor
            )
        }


def save(tenant, driver_id, cells, version=0):
    return save_driver_week(
        tenant.actor(Role.DISPATCHER), driver_id, WEEK, version, cells
    )


def test_master_data_comes_through(workbench, tenant):
    anna = add_driver(tenant, ANNA)
    ben = add_driver(tenant, BEN)
    gone = add_driver(tenant, BEN, external_ref="D003")
    deactivate(tenant, gone)

    found = profiles(tenant)

    assert set(found) == {str(anna), str(ben)}
    profile = found[str(anna)]
    assert profile.qualifications == frozenset({"ADR", "KUEHL"})
    assert profile.home_depot == "Nord"
    assert profile.max_weekly_minutes == 55 * 60
    assert profile.min_weekly_minutes >= 0
    assert profile.unavailable == ()
    assert profile.previous_week_end is None
    assert profile.preferences == DriverPreferences()


def test_sick_day_is_unavailable_all_day(workbench, tenant):
    anna = add_driver(tenant, ANNA)
    save(tenant, anna, {TUESDAY: ExceptionInput("SICK")})

    profile = profiles(tenant)[str(anna)]

    assert profile.unavailable == ((DAY, 2 * DAY),)


def test_window_exception_removes_only_window(workbench, tenant):
    anna = add_driver(tenant, ANNA)
    save(tenant, anna, {WEDNESDAY: ExceptionInput("BLOCKED", 8 * 60, 12 * 60)})

    profile = profiles(tenant)[str(anna)]

    assert profile.unavailable == ((2 * DAY + 8 * 60, 2 * DAY + 12 * 60),)


def test_pattern_makes_rest_unavailable(workbench, tenant):
    anna = add_driver(tenant, ANNA)
    weekdays = {weekday: (6 * 60, 18 * 60) for weekday in range(1, 6)}
    set_weekly_pattern(tenant.actor(Role.DISPATCHER), anna, weekdays)

    profile = profiles(tenant)[str(anna)]

    expected = [(0, 6 * 60)]
    for offset in range(4):
        expected.append((offset * DAY + 18 * 60, (offset + 1) * DAY + 6 * 60))
    expected.append((4 * DAY + 18 * 60, WEEK_MINUTES))
    assert profile.unavailable == tuple(expected)


def test_available_exception_restores_window(workbench, tenant):
    anna = add_driver(tenant, ANNA)
    weekdays = {weekday: (6 * 60, 18 * 60) for weekday in range(1, 6)}
    set_weekly_pattern(tenant.actor(Role.DISPATCHER), anna, weekdays)
    save(
        tenant,
        anna,
        {
            SATURDAY: ExceptionInput("AVAILABLE", 8 * 60, 12 * 60),
            MONDAY: ExceptionInput("AVAILABLE"),
        },
    )

    profile = profiles(tenant)[str(anna)]

    saturday = 5 * DAY
    assert profile.unavailable == (
        (DAY, DAY + 6 * 60),
        (DAY + 18 * 60, 2 * DAY + 6 * 60),
        (2 * DAY + 18 * 60, 3 * DAY + 6 * 60),
        (3 * DAY + 18 * 60, 4 * DAY + 6 * 60),
        (4 * DAY + 18 * 60, saturday + 8 * 60),
        (saturday + 12 * 60, WEEK_MINUTES),
    )


def test_sick_inside_pattern_day(workbench, tenant):
    anna = add_driver(tenant, ANNA)
    set_weekly_pattern(tenant.actor(Role.DISPATCHER), anna, {1: (6 * 60, 18 * 60)})
    save(tenant, anna, {MONDAY: ExceptionInput("SICK")})

    profile = profiles(tenant)[str(anna)]

    assert profile.unavailable == ((0, WEEK_MINUTES),)


def test_preferences_come_through(workbench, tenant):
    anna = add_driver(tenant, ANNA)
    wishes = DriverPreferences(
        start="late", start_weight=4, days_off=frozenset({3}), days_off_weight=2
    )
    set_preferences(tenant.actor(Role.DISPATCHER), anna, wishes)

    profile = profiles(tenant)[str(anna)]

    assert profile.preferences == wishes


def test_previous_week_end_from_approved_plan(workbench, tenant):
    anna = add_driver(tenant, ANNA)
    ben = add_driver(tenant, BEN)
    cem = add_driver(tenant, BEN, external_ref="D003")
    dispatcher = tenant.actor(Role.DISPATCHER)
    forecast = import_week(dispatcher, week_anchor=PREVIOUS_WEEK)
    early = tours_on(1, 6 * 60)
    late = tours_on(1, 11 * 60 + 30)
    night = tours_on(3, 22 * 60)
    add_named_plan(
        workbench,
        tenant.tenant_id,
        forecast.forecast_version_id,
        PREVIOUS_WEEK,
        [(early[0], anna), (late[0], anna), (night[0], ben)],
        approved=True,
    )
    # A newer draft of the previous week was never worked, so it does not count.
    add_named_plan(
        workbench,
        tenant.tenant_id,
        forecast.forecast_version_id,
        PREVIOUS_WEEK,
        [(early[1], cem)],
        approved=False,
    )

    found = profiles(tenant)

    assert found[str(anna)].previous_week_end == 16 * 60 - WEEK_MINUTES
    assert found[str(ben)].previous_week_end == 3 * DAY + 90 - WEEK_MINUTES
    assert found[str(cem)].previous_week_end is None


def test_draft_of_previous_week_does_not_count(workbench, tenant):
    anna = add_driver(tenant, ANNA)
    forecast = import_week(tenant.actor(Role.DISPATCHER), week_anchor=PREVIOUS_WEEK)
    add_named_plan(
        workbench,
        tenant.tenant_id,
        forecast.forecast_version_id,
        PREVIOUS_WEEK,
        [(tours_on(1, 6 * 60)[0], anna)],
        approved=False,
    )

    assert profiles(tenant)[str(anna)].previous_week_end is None


def test_planning_settings_default_and_set(workbench, tenant):
    with unit_of_work(tenant.actor()) as session:
        before = planning_settings(session, tenant.tenant_id)
    set_planning_settings(admin_of(tenant), True)
    with unit_of_work(tenant.actor()) as session:
        after = planning_settings(session, tenant.tenant_id)

    assert before is False
    assert after is True
