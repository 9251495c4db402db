"""Driver availability through the services: grid, locking, patterns, settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from core.availability import (
    AVAILABILITY_UPDATED,
    PATTERN_UPDATED,
    PLANNING_SETTINGS_UPDATED,
    PREFERENCES_UPDATED,
    ExceptionInput,
    PlanningSettings,
    get_planning_settings,
    get_preferences,
    get_week_grid,
    get_weekly_pattern,
    save_driver_week,
    set_planning_settings,
    set_preferences,
    set_weekly_pattern,
)
from core.drivers import PERSONAL_DATA_READ, PERSONAL_DATA_UNREADABLE
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.permissions import Role
from core.tenancy import CROSS_TENANT_ACCESS
from db.repositories import availability
from solver.drivers import DriverPreferences
from tests.integration.services.availability_helpers import (
    MONDAY,
    SUNDAY,
    THURSDAY,
    TUESDAY,
    WEDNESDAY,
    WEEK,
    add_named_plan,
    cell_of,
    deactivate,
    driver_week,
    tours_on,
)
from tests.integration.services.driver_helpers import (
    ANNA,
    BEN,
    add_driver,
    admin_of,
    driver_keys,  # noqa: F401 (fixture)
    entries,
)
from tests.integration.services.helpers import import_week

NOTE = "Arzttermin wegen Rückenschmerzen"


@pytest.fixture
def tenant(workbench, make_tenant, driver_keys):  # noqa: F811
    return make_tenant()


def dispatcher_of(tenant):
    return tenant.actor(Role.DISPATCHER)


def raw_exceptions(database, driver_id: int) -> list[dict]:
    with database.unguarded_connection() as connection:
        rows = connection.execute(
            text(
                "SELECT * FROM driver_availability_exceptions"
                " WHERE driver_id = :id ORDER BY day"
            ),
            {"id": driver_id},
        )
        return [dict(row._mapping) for row in rows]


class TestWeekGrid:
    def test_lists_active_drivers_with_defaults(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        ben = add_driver(tenant, BEN)
        gone = add_driver(tenant, BEN, external_ref="D003")
        deactivate(tenant, gone)

        grid = get_week_grid(dispatcher_of(tenant), WEEK)

        assert grid.week_anchor == WEEK
        assert [week.driver_id for week in grid.drivers] == [anna, ben]
        week = driver_week(grid, anna)
        assert week.external_ref == "D001"
        assert week.name == "Anna Schmidt"
        assert week.qualifications == ("ADR", "KUEHL")
        assert week.row_version == 0
        assert [cell.day for cell in week.cells] == [
            WEEK + timedelta(days=offset) for offset in range(7)
        ]
        assert {cell.pattern for cell in week.cells} == {"all day"}
        assert {cell.status for cell in week.cells} == {None}
        assert {cell.planned for cell in week.cells} == {None}

    def test_viewer_gets_no_names_or_notes(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        save_driver_week(
            dispatcher_of(tenant),
            anna,
            WEEK,
            0,
            {MONDAY: ExceptionInput("SICK", note=NOTE)},
        )

        grid = get_week_grid(tenant.actor(Role.VIEWER), WEEK)

        assert driver_week(grid, anna).name is None
        assert cell_of(grid, anna, MONDAY).status == "SICK"
        assert cell_of(grid, anna, MONDAY).note is None
        assert entries(workbench, tenant.tenant_id, PERSONAL_DATA_READ) == []

    def test_dispatcher_read_of_notes_is_recorded(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        dispatcher = dispatcher_of(tenant)
        save_driver_week(
            dispatcher, anna, WEEK, 0, {MONDAY: ExceptionInput("SICK", note=NOTE)}
        )

        grid = get_week_grid(dispatcher, WEEK)

        assert cell_of(grid, anna, MONDAY).note == NOTE
        [read] = entries(workbench, tenant.tenant_id, PERSONAL_DATA_READ)
        assert read.details["fields"] == ["name", "availability_note"]
        assert read.details["category"] == "pii_read"
        assert NOTE not in str(read.details)
        assert "Anna" not in str(read.details)

    def test_copied_note_is_not_shown(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        ben = add_driver(tenant, BEN)
        dispatcher = dispatcher_of(tenant)
        for driver_id in (anna, ben):
            save_driver_week(
                dispatcher,
                driver_id,
                WEEK,
                0,
                {MONDAY: ExceptionInput("SICK", note=f"note of {driver_id}")},
            )
        [bens_row] = raw_exceptions(workbench, ben)
        with workbench.unguarded_connection() as connection, connection.begin():
            connection.execute(
                text(
                    "UPDATE driver_availability_exceptions"
                    " SET note_ciphertext = :copied WHERE driver_id = :anna"
                ),
                {"copied": bens_row["note_ciphertext"], "anna": anna},
            )

        grid = get_week_grid(dispatcher, WEEK)

        assert cell_of(grid, anna, MONDAY).note is None
        assert cell_of(grid, anna, MONDAY).status == "SICK"
        assert cell_of(grid, ben, MONDAY).note == f"note of {ben}"
        [event] = entries(workbench, tenant.tenant_id, PERSONAL_DATA_UNREADABLE)
        assert event.details["driver_ids"] == [anna]
        assert event.details["fields"] == ["availability_note"]
        assert event.details["severity"] == "CRITICAL"

    def test_search_matches_reference_and_name(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        ben = add_driver(tenant, BEN)

        by_name = get_week_grid(dispatcher_of(tenant), WEEK, search="öztürk")
        by_ref = get_week_grid(dispatcher_of(tenant), WEEK, search="d001")
        viewer_by_name = get_week_grid(tenant.actor(Role.VIEWER), WEEK, search="Anna")

        assert [week.driver_id for week in by_name.drivers] == [ben]
        assert [week.driver_id for week in by_ref.drivers] == [anna]
        assert viewer_by_name.drivers == ()

    def test_week_anchor_must_be_monday(self, workbench, tenant):
        with pytest.raises(InvalidInput) as error:
            get_week_grid(dispatcher_of(tenant), WEEK + timedelta(days=1))

        assert error.value.field == "week_anchor"

    def test_planned_blocks_of_newest_version(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        ben = add_driver(tenant, BEN)
        forecast = import_week(dispatcher_of(tenant), week_anchor=WEEK)
        early = tours_on(1, 6 * 60)
        late = tours_on(1, 11 * 60 + 30)
        night = tours_on(3, 22 * 60)
        add_named_plan(
            workbench,
            tenant.tenant_id,
            forecast.forecast_version_id,
            WEEK,
            [(early[0], anna), (late[0], anna), (night[0], ben)],
            approved=True,
        )
        # A newer draft does not replace the approved version in the grid.
        add_named_plan(
            workbench,
            tenant.tenant_id,
            forecast.forecast_version_id,
            WEEK,
            [(early[1], anna)],
            approved=False,
        )

        grid = get_week_grid(dispatcher_of(tenant), WEEK)

        assert cell_of(grid, anna, MONDAY).planned == "06:00-10:30 + 11:30-16:00"
        assert cell_of(grid, anna, TUESDAY).planned is None
        assert cell_of(grid, ben, WEDNESDAY).planned == "22:00-01:30"
        assert cell_of(grid, ben, THURSDAY).planned is None

    def test_planned_blocks_of_newest_draft(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        forecast = import_week(dispatcher_of(tenant), week_anchor=WEEK)
        add_named_plan(
            workbench,
            tenant.tenant_id,
            forecast.forecast_version_id,
            WEEK,
            [(tours_on(1, 6 * 60)[0], anna)],
            approved=False,
        )

        grid = get_week_grid(dispatcher_of(tenant), WEEK)

        assert cell_of(grid, anna, MONDAY).planned == "06:00-10:30"


class TestSaveDriverWeek:
    def test_every_save_keeps_every_edit(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        dispatcher = dispatcher_of(tenant)

        first = save_driver_week(
            dispatcher, anna, WEEK, 0, {MONDAY: ExceptionInput("SICK")}
        )
        second = save_driver_week(
            dispatcher, anna, WEEK, first, {TUESDAY: ExceptionInput("vacation")}
        )

        grid = get_week_grid(dispatcher, WEEK)
        assert (first, second) == (1, 2)
        assert driver_week(grid, anna).row_version == 2
        assert cell_of(grid, anna, MONDAY).status == "SICK"
        assert cell_of(grid, anna, TUESDAY).status == "VACATION"
        assert cell_of(grid, anna, MONDAY).window is None

    def test_stale_version_conflicts_and_changes_nothing(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        first_actor = dispatcher_of(tenant)
        second_actor = tenant.actor(Role.PLAN_APPROVER)
        first_read = driver_week(get_week_grid(first_actor, WEEK), anna).row_version
        second_read = driver_week(get_week_grid(second_actor, WEEK), anna).row_version

        saved = save_driver_week(
            first_actor, anna, WEEK, first_read, {MONDAY: ExceptionInput("SICK")}
        )
        with pytest.raises(Conflict) as conflict:
            save_driver_week(
                second_actor,
                anna,
                WEEK,
                second_read,
                {MONDAY: ExceptionInput("BLOCKED"), TUESDAY: ExceptionInput("SICK")},
            )

        grid = get_week_grid(first_actor, WEEK)
        assert (first_read, second_read, saved) == (0, 0, 1)
        assert str(anna) in str(conflict.value)
        assert WEEK.isoformat() in str(conflict.value)
        assert cell_of(grid, anna, MONDAY).status == "SICK"
        assert cell_of(grid, anna, TUESDAY).status is None
        assert driver_week(grid, anna).row_version == 1
        assert len(entries(workbench, tenant.tenant_id, AVAILABILITY_UPDATED)) == 1

        reread = driver_week(get_week_grid(second_actor, WEEK), anna).row_version
        again = save_driver_week(
            second_actor, anna, WEEK, reread, {TUESDAY: ExceptionInput("SICK")}
        )

        grid = get_week_grid(first_actor, WEEK)
        assert again == 2
        assert cell_of(grid, anna, MONDAY).status == "SICK"
        assert cell_of(grid, anna, TUESDAY).status == "SICK"

    def test_window_and_removal(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        dispatcher = dispatcher_of(tenant)
        version = save_driver_week(
            dispatcher,
            anna,
            WEEK,
            0,
            {
                MONDAY: ExceptionInput("BLOCKED", 8 * 60, 12 * 60),
                SUNDAY: ExceptionInput("AVAILABLE", 20 * 60, 24 * 60),
            },
        )

        version = save_driver_week(dispatcher, anna, WEEK, version, {MONDAY: None})

        grid = get_week_grid(dispatcher, WEEK)
        assert version == 2
        assert cell_of(grid, anna, MONDAY).status is None
        assert cell_of(grid, anna, SUNDAY).status == "AVAILABLE"
        assert cell_of(grid, anna, SUNDAY).window == "20:00-24:00"
        assert len(raw_exceptions(workbench, anna)) == 1

    def test_unchanged_save_keeps_version(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        dispatcher = dispatcher_of(tenant)
        cells = {MONDAY: ExceptionInput("SICK", note=NOTE), TUESDAY: None}
        version = save_driver_week(dispatcher, anna, WEEK, 0, cells)

        again = save_driver_week(dispatcher, anna, WEEK, version, cells)

        assert (version, again) == (1, 1)
        assert len(entries(workbench, tenant.tenant_id, AVAILABILITY_UPDATED)) == 1

    def test_audit_names_dates_and_statuses_only(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        save_driver_week(
            dispatcher_of(tenant),
            anna,
            WEEK,
            0,
            {
                MONDAY: ExceptionInput("SICK", note=NOTE),
                TUESDAY: ExceptionInput("BLOCKED", 6 * 60, 9 * 60 + 30),
            },
        )

        [entry] = entries(workbench, tenant.tenant_id, AVAILABILITY_UPDATED)
        assert entry.object_type == "driver"
        assert entry.object_id == str(anna)
        assert entry.details["week_anchor"] == WEEK.isoformat()
        assert entry.details["days"] == {
            MONDAY.isoformat(): "SICK",
            TUESDAY.isoformat(): "BLOCKED 06:00-09:30",
        }
        assert NOTE not in str(entry.details)
        assert "Anna" not in str(entry.details)
        assert "D001" not in str(entry.details)

    def test_note_is_encrypted_at_rest(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)

        save_driver_week(
            dispatcher_of(tenant),
            anna,
            WEEK,
            0,
            {MONDAY: ExceptionInput("SICK", note=NOTE)},
        )

        [row] = raw_exceptions(workbench, anna)
        assert row["note_ciphertext"].startswith("v1:")
        assert "Arzttermin" not in row["note_ciphertext"]
        assert row["status"] == "SICK"
        assert row["created_by"] == dispatcher_of(tenant).user_id

    def test_empty_note_stores_null(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)

        save_driver_week(
            dispatcher_of(tenant),
            anna,
            WEEK,
            0,
            {MONDAY: ExceptionInput("SICK", note="  ")},
        )

        [row] = raw_exceptions(workbench, anna)
        assert row["note_ciphertext"] is None

    @pytest.mark.parametrize(
        ("cells", "field"),
        [
            ({MONDAY: ExceptionInput("ILL")}, f"{MONDAY.isoformat()}.status"),
            (
                {MONDAY: ExceptionInput("BLOCKED", 12 * 60, 12 * 60)},
                f"{MONDAY.isoformat()}.end_minute",
            ),
            (
                {MONDAY: ExceptionInput("BLOCKED", 12 * 60, 8 * 60)},
                f"{MONDAY.isoformat()}.end_minute",
            ),
            (
                {MONDAY: ExceptionInput("BLOCKED", -1, 60)},
                f"{MONDAY.isoformat()}.start_minute",
            ),
            (
                {MONDAY: ExceptionInput("BLOCKED", 60, 1441)},
                f"{MONDAY.isoformat()}.end_minute",
            ),
            (
                {MONDAY: ExceptionInput("BLOCKED", 60, None)},
                f"{MONDAY.isoformat()}.end_minute",
            ),
            (
                {MONDAY: ExceptionInput("SICK", note="x" * 501)},
                f"{MONDAY.isoformat()}.note",
            ),
            (
                {WEEK + timedelta(days=7): ExceptionInput("SICK")},
                (WEEK + timedelta(days=7)).isoformat(),
            ),
            (
                {WEEK - timedelta(days=1): ExceptionInput("SICK")},
                (WEEK - timedelta(days=1)).isoformat(),
            ),
        ],
        ids=[
            "unknown status",
            "empty window",
            "end before start",
            "start below 0",
            "end after midnight",
            "end missing",
            "note too long",
            "next monday",
            "previous sunday",
        ],
    )
    def test_invalid_cell_names_field(self, workbench, tenant, cells, field):
        anna = add_driver(tenant, ANNA)

        with pytest.raises(InvalidInput) as error:
            save_driver_week(dispatcher_of(tenant), anna, WEEK, 0, cells)

        assert error.value.field == field
        assert raw_exceptions(workbench, anna) == []

    def test_unknown_driver_is_not_found(self, workbench, tenant):
        with pytest.raises(NotFound) as error:
            save_driver_week(
                dispatcher_of(tenant),
                987654321,
                WEEK,
                0,
                {MONDAY: ExceptionInput("SICK")},
            )

        assert str(error.value) == "driver 987654321 not found"

    def test_other_tenants_driver_is_not_found(self, workbench, tenant, make_tenant):
        other = make_tenant()
        theirs = add_driver(other, ANNA)

        with pytest.raises(NotFound) as error:
            save_driver_week(
                dispatcher_of(tenant), theirs, WEEK, 0, {MONDAY: ExceptionInput("SICK")}
            )

        assert str(error.value) == f"driver {theirs} not found"
        assert raw_exceptions(workbench, theirs) == []
        assert len(entries(workbench, tenant.tenant_id, CROSS_TENANT_ACCESS)) == 1

    def test_inactive_driver_is_rejected(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        deactivate(tenant, anna)

        with pytest.raises(InvalidInput) as error:
            save_driver_week(
                dispatcher_of(tenant), anna, WEEK, 0, {MONDAY: ExceptionInput("SICK")}
            )

        assert error.value.field == "driver_id"

    def test_viewer_may_not_save(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)

        with pytest.raises(PermissionDenied):
            save_driver_week(
                tenant.actor(Role.VIEWER),
                anna,
                WEEK,
                0,
                {MONDAY: ExceptionInput("SICK")},
            )

        assert raw_exceptions(workbench, anna) == []


class TestWeeklyPattern:
    def test_set_and_get(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        dispatcher = dispatcher_of(tenant)

        set_weekly_pattern(dispatcher, anna, {1: (6 * 60, 18 * 60), 2: (0, 24 * 60)})

        grid = get_week_grid(dispatcher, WEEK)
        assert get_weekly_pattern(dispatcher, anna) == {1: (360, 1080), 2: (0, 1440)}
        assert cell_of(grid, anna, MONDAY).pattern == "06:00-18:00"
        assert cell_of(grid, anna, TUESDAY).pattern == "all day"
        assert cell_of(grid, anna, WEDNESDAY).pattern == "not available"
        [entry] = entries(workbench, tenant.tenant_id, PATTERN_UPDATED)
        assert entry.details["windows"] == {"1": "06:00-18:00", "2": "00:00-24:00"}

    def test_empty_pattern_makes_available_always(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        dispatcher = dispatcher_of(tenant)
        set_weekly_pattern(dispatcher, anna, {1: (6 * 60, 18 * 60)})

        set_weekly_pattern(dispatcher, anna, {})

        grid = get_week_grid(dispatcher, WEEK)
        assert get_weekly_pattern(dispatcher, anna) == {}
        assert cell_of(grid, anna, WEDNESDAY).pattern == "all day"
        assert len(entries(workbench, tenant.tenant_id, PATTERN_UPDATED)) == 2

    @pytest.mark.parametrize(
        ("windows", "field"),
        [
            ({8: (60, 120)}, "windows[8]"),
            ({0: (60, 120)}, "windows[0]"),
            ({3: (120, 60)}, "windows[3].end_minute"),
            ({3: (1440, 1500)}, "windows[3].start_minute"),
            ({3: (60,)}, "windows[3]"),
        ],
        ids=["weekday 8", "weekday 0", "end before start", "start at midnight", "pair"],
    )
    def test_invalid_window_names_weekday(self, workbench, tenant, windows, field):
        anna = add_driver(tenant, ANNA)

        with pytest.raises(InvalidInput) as error:
            set_weekly_pattern(dispatcher_of(tenant), anna, windows)

        assert error.value.field == field
        assert get_weekly_pattern(dispatcher_of(tenant), anna) == {}


class TestPreferences:
    def test_round_trip_and_audit(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        dispatcher = dispatcher_of(tenant)
        wishes = DriverPreferences(
            start="early",
            start_weight=3,
            days_off=frozenset({6, 7}),
            days_off_weight=5,
            max_days_in_row=4,
            max_days_in_row_weight=2,
        )

        before = get_preferences(dispatcher, anna)
        set_preferences(dispatcher, anna, wishes)
        set_preferences(dispatcher, anna, wishes)

        assert before == DriverPreferences()
        assert get_preferences(tenant.actor(Role.VIEWER), anna) == wishes
        [entry] = entries(workbench, tenant.tenant_id, PREFERENCES_UPDATED)
        assert entry.details["fields"] == [
            "start",
            "start_weight",
            "days_off",
            "days_off_weight",
            "max_days_in_row",
            "max_days_in_row_weight",
        ]

    def test_rejects_other_types(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)

        with pytest.raises(InvalidInput) as error:
            set_preferences(dispatcher_of(tenant), anna, {"start": "early"})

        assert error.value.field == "preferences"


class TestPlanningSettings:
    def test_default_and_change(self, workbench, tenant):
        admin = admin_of(tenant)

        before = get_planning_settings(tenant.actor(Role.VIEWER))
        set_planning_settings(admin, True)
        set_planning_settings(admin, True)

        assert before == PlanningSettings(stay_at_home_depot=False)
        assert get_planning_settings(tenant.actor(Role.VIEWER)) == PlanningSettings(
            True
        )
        [entry] = entries(workbench, tenant.tenant_id, PLANNING_SETTINGS_UPDATED)
        assert entry.details["stay_at_home_depot"] is True

    def test_dispatcher_may_not_change(self, workbench, tenant):
        with pytest.raises(PermissionDenied):
            set_planning_settings(dispatcher_of(tenant), True)

        assert get_planning_settings(dispatcher_of(tenant)).stay_at_home_depot is False

    def test_rejects_non_boolean(self, workbench, tenant):
        with pytest.raises(InvalidInput) as error:
            set_planning_settings(admin_of(tenant), "yes")

        assert error.value.field == "stay_at_home_depot"


def test_delete_driver_availability_removes_rows(workbench, tenant):
    anna = add_driver(tenant, ANNA)
    ben = add_driver(tenant, BEN)
    dispatcher = dispatcher_of(tenant)
    for driver_id in (anna, ben):
        save_driver_week(
            dispatcher, driver_id, WEEK, 0, {MONDAY: ExceptionInput("SICK", note=NOTE)}
        )
        set_weekly_pattern(dispatcher, driver_id, {1: (6 * 60, 18 * 60)})
        set_preferences(dispatcher, driver_id, DriverPreferences(start="late"))

    with workbench.session_factory() as session, session.begin():
        deleted = availability.delete_driver_availability(
            session, tenant.tenant_id, anna
        )

    grid = get_week_grid(dispatcher, WEEK)
    assert deleted == 4
    assert raw_exceptions(workbench, anna) == []
    assert len(raw_exceptions(workbench, ben)) == 1
    assert get_weekly_pattern(dispatcher, anna) == {}
    assert get_preferences(dispatcher, anna) == DriverPreferences()
    assert driver_week(grid, anna).row_version == 0
    assert driver_week(grid, ben).row_version == 1
