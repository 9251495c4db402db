"""Plan, approve, export and audit pages on a plan solved in-process."""

from __future__ import annotations

import os

from core.approvals import approve_plan
from core.driver_changes import DriverInput
from core.driver_records import configure_driver_keyring
from core.drivers import create_driver
from core.forecasts import import_forecast
from core.pii import Keyring, PiiKey
from core.plans import request_solve
from core.worker import run_one_job
from tests.ui.conftest import (
    SMALL_FORECAST,
    WEEK_ANCHOR,
    button,
    open_app,
    service_actor,
    sign_in_as,
)
from tests.ui.test_drivers_page import demo_admin


def open_page(user, page_script: str):
    app = sign_in_as(open_app(), user)
    return app.switch_page(page_script).run()


def table_with_column(app, column: str):
    """Return the first table with this column, and fail the test if there is none."""
    tables = [frame.value for frame in app.dataframe if column in frame.value.columns]
    assert tables, f"no table with a column {column!r}"
    return tables[0]


def metric_values(app) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def test_plan_page_without_forecast_shows_hint(demo_users):
    app = open_page(demo_users["dispatcher"], "app_pages/plan.py")

    assert not app.exception
    assert "No forecast to solve yet" in app.info[0].value
    assert "No plan yet" in app.info[1].value


def test_rejected_forecast_is_not_offered_for_solving(demo_users):
    dispatcher = service_actor(demo_users["dispatcher"])
    import_forecast(dispatcher, WEEK_ANCHOR, "bad.csv", b"Montag;Anzahl\n05:00;x\n")
    app = open_page(demo_users["dispatcher"], "app_pages/plan.py")

    assert not app.exception
    assert "No forecast to solve yet" in app.info[0].value


def test_start_solve_queues_job_and_shows_it(demo_users):
    dispatcher = service_actor(demo_users["dispatcher"])
    import_forecast(dispatcher, WEEK_ANCHOR, "week.csv", SMALL_FORECAST.encode())
    app = open_page(demo_users["dispatcher"], "app_pages/plan.py")

    button(app, "Start solve").click().run()

    assert not app.exception
    assert app.info[0].value == "job 1: queued"
    jobs = table_with_column(app, "forecast version")
    assert jobs["status"].tolist() == ["queued"]


def test_plan_page_shows_kpis_and_checks(demo_users, solved_plan):
    app = open_page(demo_users["viewer"], "app_pages/plan.py")

    assert not app.exception
    figures = metric_values(app)
    assert figures["Drivers"] == str(solved_plan.kpis["drivers"])
    assert figures["Lower bound"] == str(solved_plan.lower_bound)
    assert figures["Solve status"] == solved_plan.solve_status
    assert app.success[0].value == f"All {len(solved_plan.checks)} checks passed."
    checks = table_with_column(app, "result")
    assert set(checks["result"]) == {"passed"}


def test_plan_page_draws_each_view(demo_users, solved_plan):
    app = open_page(demo_users["viewer"], "app_pages/plan.py")
    show = app.button_group[0]

    show.set_value("Driver matrix").run()
    matrix = table_with_column(app, "hours")
    show.set_value("Timeline").run()
    timeline_charts = [
        element for element in app.main if element.type == "plotly_chart"
    ]
    show.set_value("Coverage").run()
    coverage_charts = [
        element for element in app.main if element.type == "plotly_chart"
    ]

    assert not app.exception
    drivers = {row.driver for row in solved_plan.rosters}
    assert set(matrix.index) == drivers
    assert list(matrix.columns) == [
        "Mon",
        "Tue",
        "Wed",
        "Thu",
        "Fri",
        "Sat",
        "Sun",
        "hours",
    ]
    assert len(timeline_charts) == 1
    assert len(coverage_charts) == 1


def test_approval_locks_plan_version(demo_users, solved_plan):
    app = open_page(demo_users["approver"], "app_pages/approve.py")

    app.text_area[0].set_value("Checks pass; head count equals the bound.")
    button(app, "Approve and lock").click().run()

    assert not app.exception
    assert not app.error
    messages = [message.value for message in app.success]
    assert "Plan version 1 is now approved and locked." in messages
    assert "This plan version is approved and locked." in messages
    assert not [button for button in app.button if button.label == "Approve and lock"]


def test_stale_approval_shows_conflict(demo_users, solved_plan):
    app = open_page(demo_users["approver"], "app_pages/approve.py")
    admin = service_actor(demo_users["admin"])
    approve_plan(
        admin,
        solved_plan.plan_version_id,
        "Approved by the admin first.",
        expected_row_version=solved_plan.row_version,
    )

    app.text_area[0].set_value("Approved a second time.")
    button(app, "Approve and lock").click().run()

    assert not app.exception
    assert len(app.error) == 1
    assert app.error[0].value.startswith("Not approved: plan version")
    assert "changed since you read it" in app.error[0].value


def test_empty_reason_shows_service_error(demo_users, solved_plan):
    app = open_page(demo_users["approver"], "app_pages/approve.py")

    button(app, "Approve and lock").click().run()

    assert not app.exception
    assert app.error[0].value.startswith("Not approved: reason: enter why you")


def test_exports_page_prepares_csv_zip(demo_users, solved_plan):
    app = open_page(demo_users["viewer"], "app_pages/exports.py")

    button(app, "Prepare CSV files (zip)").click().run()

    assert not app.exception
    labels = [download.label for download in app.download_button]
    week = solved_plan.week_anchor.isoformat()
    assert labels == [f"Download plan-{week}-v{solved_plan.version_number}.zip"]


def test_admin_verifies_audit_chain(demo_users, solved_plan):
    app = open_page(demo_users["admin"], "app_pages/audit.py")

    button(app, "Verify the audit chain").click().run()

    assert not app.exception
    assert app.success[0].value.startswith("The chain is intact")
    entries = app.dataframe[0].value
    assert "plan.solved" in set(entries["action"])


def test_audit_page_filters_by_action(demo_users, solved_plan):
    app = open_page(demo_users["admin"], "app_pages/audit.py")

    app.text_input[0].set_value("plan.solved").run()

    entries = app.dataframe[0].value
    assert set(entries["action"]) == {"plan.solved"}
    assert len(entries) == 1


def test_named_plan_shows_open_tours(demo_users):
    """One driver without ADR: two Tuesday ADR tours and one of Monday's two
    overlapping tours stay open, and the page shows it."""
    configure_driver_keyring(
        Keyring.from_keys([PiiKey("page-test", os.urandom(32))], "page-test")
    )
    try:
        create_driver(demo_admin(), DriverInput("D001", "Anna Schmidt"))
        dispatcher = service_actor(demo_users["dispatcher"])
        imported = import_forecast(
            dispatcher, WEEK_ANCHOR, "week.csv", SMALL_FORECAST.encode()
        )
        request_solve(
            dispatcher, imported.version.forecast_version_id, time_limit_seconds=30
        )
        assert run_one_job("page-test-worker")

        app = open_page(demo_users["dispatcher"], "app_pages/plan.py")
    finally:
        configure_driver_keyring(None)

    assert not app.exception
    figures = metric_values(app)
    assert figures["Gap"] == "n/a"
    assert figures["Open tours"] == "3"
    assert figures["Driver pool"] == "1"
    assert figures["Wishes honoured"] == "no wishes"
    assert "3 tours stay open" in app.warning[0].value
    open_tours = table_with_column(app, "Reason")
    assert len(open_tours) == 3
    assert any("more driver" in text.value for text in app.markdown)
    assert "Anna Schmidt (D001)" in app.info[0].value
    assert "less than their contract's minimum hours" in app.info[0].value
