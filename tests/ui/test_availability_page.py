"""Availability page: the week grid by role, saving, conflicts, import and editors."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest

from app_pages._availability_forms import _pattern_error
from core.availability import (
    ExceptionInput,
    get_planning_settings,
    get_preferences,
    get_week_grid,
    get_weekly_pattern,
    save_driver_week,
    set_weekly_pattern,
)
from core.driver_changes import DriverInput
from core.driver_records import configure_driver_keyring
from core.drivers import create_driver
from core.errors import InvalidInput
from core.forecasts import import_forecast
from core.pii import Keyring, PiiKey
from core.plans import get_solve_job, request_solve
from core.worker import run_one_job
from solver.drivers import DriverPreferences
from tests.ui.conftest import (
    SMALL_FORECAST,
    WEEK_ANCHOR,
    button,
    open_app,
    sign_in_as,
    text_input,
)
from tests.ui.test_drivers_page import demo_admin

WEEK = date(2026, 12, 7)
MONDAY = "Mon 07.12."
TUESDAY = "Tue 08.12."
EXCEPTION_FILE = (
    "driver_external_ref,date,status,note,start,end\n"
    "D001,2026-12-08,SICK,,,\n"
    "D002,09.12.2026,VACATION,dentist,08:00,12:00\n"
)


@pytest.fixture
def drivers(demo_users):
    """Configure a test keyring and add two drivers as the demo admin."""
    configure_driver_keyring(
        Keyring.from_keys([PiiKey("page-test", os.urandom(32))], "page-test")
    )
    admin = demo_admin()
    create_driver(admin, DriverInput("D001", "Anna Schmidt", home_depot="Nord"))
    create_driver(admin, DriverInput("D002", "Ben Öztürk", home_depot="Süd"))
    yield demo_users
    configure_driver_keyring(None)


def driver_ids() -> dict[str, int]:
    grid = get_week_grid(demo_admin(), WEEK)
    return {week.external_ref: week.driver_id for week in grid.drivers}


def stored_cell(ref: str, day: date):
    grid = get_week_grid(demo_admin(), WEEK)
    week = next(week for week in grid.drivers if week.external_ref == ref)
    return next(cell for cell in week.cells if cell.day == day)


def open_availability_page(user, week: date = WEEK):
    app = sign_in_as(open_app(), user)
    app = app.switch_page("app_pages/availability.py").run()
    app.date_input[0].set_value(week)
    return app.run()


def edit_cells(app, edited_rows: dict[int, dict[str, str]]):
    """Apply cell edits to the grid editor, as the browser sends them."""
    key = app.data_editor[0].key
    app.session_state[key] = {
        "edited_rows": edited_rows,
        "added_rows": [],
        "deleted_rows": [],
    }
    return app.run()


def grid(app):
    return app.data_editor[0].value


def captions(app) -> str:
    return " ".join(caption.value for caption in app.caption)


def choose_driver(app, ref: str):
    picker = [box for box in app.selectbox if box.label == "Driver"][0]
    return picker.set_value(driver_ids()[ref]).run()


def tab(app, label: str):
    return next(tab for tab in app.tabs if tab.label == label)


def test_grid_shows_exceptions_for_dispatcher(drivers):
    ids = driver_ids()
    admin = demo_admin()
    save_driver_week(
        admin,
        ids["D001"],
        WEEK,
        0,
        {WEEK + timedelta(days=1): ExceptionInput("VACATION", 480, 720, "dentist")},
    )
    set_weekly_pattern(admin, ids["D002"], {1: (360, 840)})

    app = open_availability_page(drivers["dispatcher"])

    assert not app.exception
    frame = grid(app)
    assert frame["driver"].tolist() == ["D001", "D002"]
    assert frame["name"].tolist() == ["Anna Schmidt", "Ben Öztürk"]
    assert frame[TUESDAY].tolist() == ["VACATION", ""]
    assert frame[f"{TUESDAY} details"].tolist()[0] == '08:00-12:00; "dentist"'
    assert frame[f"{MONDAY} details"].tolist()[1] == "pattern 06:00-14:00"
    assert frame[f"{TUESDAY} details"].tolist()[1] == "pattern not available"


def test_grid_shows_planned_tours(drivers):
    admin = demo_admin()
    imported = import_forecast(admin, WEEK_ANCHOR, "week.csv", SMALL_FORECAST.encode())
    job = request_solve(
        admin, imported.version.forecast_version_id, time_limit_seconds=30
    )
    assert run_one_job("page-test-worker"), "the queued solve job was not run"
    assert get_solve_job(admin, job.job_id).plan_version_id is not None
    planned = {
        week.external_ref: week.cells[0].planned
        for week in get_week_grid(admin, WEEK_ANCHOR).drivers
    }

    app = open_availability_page(drivers["dispatcher"], WEEK_ANCHOR)

    assert any(planned.values()), "the plan names no driver on Monday"
    frame = grid(app)
    monday_details = dict(zip(frame["driver"], frame["Mon 05.01. details"]))
    for ref, tours in planned.items():
        expected = f"{tours} planned" if tours else ""
        assert monday_details[ref] == expected


def test_viewer_sees_grid_read_only(drivers):
    ids = driver_ids()
    save_driver_week(
        demo_admin(),
        ids["D001"],
        WEEK,
        0,
        {WEEK + timedelta(days=1): ExceptionInput("VACATION", 480, 720, "dentist")},
    )

    app = open_availability_page(drivers["viewer"])

    assert not app.exception
    assert not app.data_editor
    frame = app.dataframe[0].value
    assert frame["driver"].tolist() == ["D001", "D002"]
    assert "name" not in frame.columns
    assert frame[TUESDAY].tolist() == ["VACATION 08:00-12:00", ""]
    labels = [widget.label for widget in app.button]
    assert "Save changes" not in labels
    assert "Import exceptions" not in labels
    assert not app.file_uploader


def test_viewer_reads_pattern_without_form(drivers):
    set_weekly_pattern(demo_admin(), driver_ids()["D001"], {1: (360, 840)})
    app = open_availability_page(drivers["viewer"])

    app = choose_driver(app, "D001")

    assert not [t for t in app.tabs if t.label == "Day"]
    texts = [element.value for element in tab(app, "Weekly pattern").markdown]
    assert texts == [
        "Weekly pattern: Mon 06:00-14:00, Tue off, Wed off, Thu off, Fri off,"
        " Sat off, Sun off."
    ]
    assert button(app, "Save preferences").disabled


def test_editing_cell_saves_exception(drivers):
    app = open_availability_page(drivers["dispatcher"])

    app = edit_cells(app, {0: {TUESDAY: "SICK"}})

    assert "Unsaved: 1 change of 1 driver. D001 Tue 08.12.: SICK." in captions(app)
    app = button(app, "Save changes").click().run()

    assert not app.exception
    assert "Saved 1 change of 1 driver." in [m.value for m in app.success]
    cell = stored_cell("D001", WEEK + timedelta(days=1))
    assert cell.status == "SICK"
    assert cell.window is None
    assert grid(app)[TUESDAY].tolist() == ["SICK", ""]
    assert "Unsaved" not in captions(app)


def test_empty_status_deletes_exception(drivers):
    save_driver_week(
        demo_admin(),
        driver_ids()["D002"],
        WEEK,
        0,
        {WEEK: ExceptionInput("BLOCKED")},
    )
    app = open_availability_page(drivers["dispatcher"])

    app = edit_cells(app, {1: {MONDAY: ""}})
    app = button(app, "Save changes").click().run()

    assert not app.exception
    assert stored_cell("D002", WEEK).status is None


def test_changed_status_keeps_window_and_note(drivers):
    save_driver_week(
        demo_admin(),
        driver_ids()["D001"],
        WEEK,
        0,
        {WEEK: ExceptionInput("VACATION", 480, 720, "dentist")},
    )
    app = open_availability_page(drivers["dispatcher"])

    app = edit_cells(app, {0: {MONDAY: "BLOCKED"}})
    app = button(app, "Save changes").click().run()

    cell = stored_cell("D001", WEEK)
    assert cell.status == "BLOCKED"
    assert cell.window == "08:00-12:00"
    assert cell.note == "dentist"


def test_unsaved_edit_survives_search(drivers):
    app = open_availability_page(drivers["dispatcher"])
    app = edit_cells(app, {0: {TUESDAY: "SICK"}})

    text_input(app, "Search").set_value("D002").run()
    assert grid(app)["driver"].tolist() == ["D002"]
    app = text_input(app, "Search").set_value("").run()

    assert grid(app)[TUESDAY].tolist() == ["SICK", ""]
    assert "Unsaved: 1 change of 1 driver." in captions(app)


def test_unsaved_edit_survives_leaving_page(drivers):
    app = open_availability_page(drivers["dispatcher"])
    app = edit_cells(app, {1: {MONDAY: "BLOCKED"}})

    app = app.switch_page("app_pages/drivers.py").run()
    app = app.switch_page("app_pages/availability.py").run()

    assert app.date_input[0].value == WEEK
    assert grid(app)[MONDAY].tolist() == ["", "BLOCKED"]
    assert "Unsaved: 1 change of 1 driver. D002 Mon 07.12.: BLOCKED." in captions(app)


def test_second_session_gets_conflict_and_keeps_edit(drivers):
    first = open_availability_page(drivers["dispatcher"])
    second = open_availability_page(drivers["dispatcher"])
    first = edit_cells(first, {0: {MONDAY: "SICK"}})
    second = edit_cells(second, {0: {TUESDAY: "VACATION"}})

    button(first, "Save changes").click().run()
    second = button(second, "Save changes").click().run()

    assert not second.exception
    warnings = [message.value for message in second.warning]
    assert any(
        "Someone else changed the week of D001 (Anna Schmidt) meanwhile; reload"
        " to see their change." in message
        for message in warnings
    )
    assert grid(second)[TUESDAY].tolist() == ["VACATION", ""]
    assert "Unsaved: 1 change of 1 driver." in captions(second)
    assert stored_cell("D001", WEEK + timedelta(days=1)).status is None

    second = button(second, "Reload week").click().run()
    assert grid(second)[MONDAY].tolist() == ["SICK", ""]
    assert grid(second)[TUESDAY].tolist() == ["VACATION", ""]
    second = button(second, "Save changes").click().run()

    assert not second.warning
    assert stored_cell("D001", WEEK).status == "SICK"
    assert stored_cell("D001", WEEK + timedelta(days=1)).status == "VACATION"


def test_conflict_on_same_cell_lists_overlap(drivers):
    first = open_availability_page(drivers["dispatcher"])
    second = open_availability_page(drivers["dispatcher"])
    first = edit_cells(first, {0: {MONDAY: "SICK"}})
    second = edit_cells(second, {0: {MONDAY: "VACATION"}})
    button(first, "Save changes").click().run()
    second = button(second, "Save changes").click().run()

    second = button(second, "Reload week").click().run()

    warnings = " ".join(message.value for message in second.warning)
    assert (
        "D001 on Mon 07.12.: someone else saved SICK; your unsaved change is"
        " VACATION" in warnings
    )
    assert "Someone else changed the week" not in warnings
    assert grid(second)[MONDAY].tolist() == ["VACATION", ""]
    assert stored_cell("D001", WEEK).status == "SICK"


def test_reload_reports_change_under_unsaved_edit(drivers):
    app = open_availability_page(drivers["dispatcher"])
    app = edit_cells(app, {0: {MONDAY: "VACATION"}})
    save_driver_week(
        demo_admin(), driver_ids()["D001"], WEEK, 0, {WEEK: ExceptionInput("SICK")}
    )

    app = button(app, "Reload week").click().run()

    warnings = " ".join(message.value for message in app.warning)
    assert (
        "D001 on Mon 07.12.: someone else saved SICK; your unsaved change is"
        " VACATION" in warnings
    )
    assert grid(app)[MONDAY].tolist() == ["VACATION", ""]


def test_day_form_sets_window_and_note(drivers):
    app = open_availability_page(drivers["dispatcher"])
    app = choose_driver(app, "D002")
    day_tab = tab(app, "Day")
    day_tab.selectbox[0].select_index(2).run()

    day_tab = tab(app, "Day")
    day_tab.selectbox[1].set_value("VACATION")
    text_input(app, "From").set_value("08:00")
    text_input(app, "To").set_value("12:30")
    text_input(app, "Note").set_value("dentist")
    app = button(app, "Apply to the grid").click().run()

    assert not app.error
    assert grid(app)["Wed 09.12."].tolist() == ["", "VACATION"]
    app = button(app, "Save changes").click().run()
    cell = stored_cell("D002", WEEK + timedelta(days=2))
    assert cell.status == "VACATION"
    assert cell.window == "08:00-12:30"
    assert cell.note == "dentist"


def test_day_form_error_keeps_typed_values(drivers):
    app = open_availability_page(drivers["dispatcher"])
    app = choose_driver(app, "D001")

    tab(app, "Day").selectbox[1].set_value("SICK")
    text_input(app, "From").set_value("25:00")
    text_input(app, "To").set_value("26:00")
    app = button(app, "Apply to the grid").click().run()

    assert [message.value for message in app.error] == [
        "From: '25:00' is not a time; use HH:MM from 00:00 to 24:00"
    ]
    assert text_input(app, "From").value == "25:00"
    assert "Unsaved" not in captions(app)


def test_day_form_window_order_error_names_day(drivers):
    app = open_availability_page(drivers["dispatcher"])
    app = choose_driver(app, "D001")

    tab(app, "Day").selectbox[1].set_value("SICK")
    text_input(app, "From").set_value("12:00")
    text_input(app, "To").set_value("08:00")
    app = button(app, "Apply to the grid").click().run()

    assert [message.value for message in app.error] == [
        "Mon 07.12. to: the window ends at 08:00, not after its start 12:00"
    ]


def test_import_shows_report_and_updates_grid(drivers):
    app = open_availability_page(drivers["dispatcher"])

    app.file_uploader[0].set_value(
        ("exceptions.csv", EXCEPTION_FILE.encode(), "text/csv")
    )
    app = button(app.run(), "Import exceptions").click().run()

    assert not app.exception
    report = app.dataframe[-1].value
    assert report["line"].tolist() == [1, 2, 3]
    assert report["status"].tolist() == ["pass", "pass", "pass"]
    successes = " ".join(message.value for message in app.success)
    assert "exceptions.csv: 3 lines, 0 failed." in successes
    assert "2 exceptions created, 0 updated, 0 unchanged, in 2 driver weeks." in (
        successes
    )
    assert grid(app)[TUESDAY].tolist() == ["SICK", ""]
    assert grid(app)["Wed 09.12."].tolist() == ["", "VACATION"]


def test_failing_import_line_is_reported(drivers):
    app = open_availability_page(drivers["dispatcher"])
    bad_file = EXCEPTION_FILE + "D999,2026-12-10,SICK,,,\n"

    app.file_uploader[0].set_value(("exceptions.csv", bad_file.encode(), "text/csv"))
    app = button(app.run(), "Import exceptions").click().run()

    report = app.dataframe[-1].value
    failures = report[report["status"] == "failure"]
    assert failures["line"].tolist() == [4]
    assert failures["column"].tolist() == ["driver_external_ref"]
    assert "nothing changed" in app.error[0].value
    assert stored_cell("D001", WEEK + timedelta(days=1)).status is None


def test_import_caption_names_columns_and_date_formats(drivers):
    app = open_availability_page(drivers["dispatcher"])

    text = captions(app)

    assert "driver_external_ref,date,status,note,start,end" in text
    assert "Required columns: driver_external_ref, date, status." in text
    assert "as 2026-12-07 or 07.12.2026" in text
    assert "Europe/Vienna" in text


def test_pattern_editor_saves_windows(drivers):
    app = open_availability_page(drivers["dispatcher"])
    app = choose_driver(app, "D001")

    tab(app, "Weekly pattern").checkbox[0].uncheck()
    text_input(app, "Mon from").set_value("06:00")
    text_input(app, "Mon to").set_value("14:00")
    text_input(app, "Sat from").set_value("08:00")
    text_input(app, "Sat to").set_value("24:00")
    app = button(app, "Save pattern").click().run()

    assert not app.error
    assert get_weekly_pattern(demo_admin(), driver_ids()["D001"]) == {
        1: (360, 840),
        6: (480, 1440),
    }
    assert grid(app)[f"{MONDAY} details"].tolist()[0] == "pattern 06:00-14:00"
    assert "Weekly pattern of D001 (Anna Schmidt) saved." in [
        message.value for message in app.success
    ]


def test_pattern_editor_rejects_half_window(drivers):
    app = open_availability_page(drivers["dispatcher"])
    app = choose_driver(app, "D001")

    tab(app, "Weekly pattern").checkbox[0].uncheck()
    text_input(app, "Tue from").set_value("06:00")
    app = button(app, "Save pattern").click().run()

    assert [message.value for message in app.error] == [
        "Tue To: is empty; give both From and To, or leave both empty for the whole day"
    ]
    assert get_weekly_pattern(demo_admin(), driver_ids()["D001"]) == {}


def test_preferences_editor_saves_wishes(drivers):
    app = open_availability_page(drivers["dispatcher"])
    app = choose_driver(app, "D002")
    preferences = tab(app, "Preferences")

    preferences.selectbox[0].set_value("early")
    preferences.slider[0].set_value(4)
    preferences.multiselect[0].set_value([6, 7])
    preferences.slider[1].set_value(7)
    preferences.selectbox[1].set_value(5)
    preferences.slider[2].set_value(2)
    app = button(app, "Save preferences").click().run()

    assert not app.error
    assert get_preferences(demo_admin(), driver_ids()["D002"]) == DriverPreferences(
        start="early",
        start_weight=4,
        days_off=frozenset({6, 7}),
        days_off_weight=7,
        max_days_in_row=5,
        max_days_in_row_weight=2,
    )


def test_admin_sets_home_depot_setting(drivers):
    app = open_availability_page(drivers["admin"])

    app.toggle[0].set_value(True)
    app = button(app, "Save planning setting").click().run()

    assert not app.exception
    assert get_planning_settings(demo_admin()).stay_at_home_depot is True
    assert "Drivers now work only at their home depot." in [
        message.value for message in app.success
    ]


def test_dispatcher_gets_no_planning_setting(drivers):
    app = open_availability_page(drivers["dispatcher"])

    assert not app.toggle
    assert "Planning settings" not in [header.value for header in app.header]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("windows[6].end_minute", "Sat to: invalid"),
        ("windows[1].start_minute", "Mon from: invalid"),
        ("windows[7]", "Sun: invalid"),
        ("windows", "windows: invalid"),
    ],
)
def test_pattern_error_names_field(field, expected):
    assert _pattern_error(InvalidInput(field, "invalid")) == expected
