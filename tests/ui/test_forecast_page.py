"""Forecast page: import a file, read its report, see the week's versions."""

from __future__ import annotations

from tests.ui.conftest import (
    SMALL_FORECAST,
    WEEK_ANCHOR,
    button,
    open_app,
    sign_in_as,
)

FORECAST_WITH_BAD_LINE = SMALL_FORECAST + "3,06:00,later,1,,\n"


def open_forecast_page(user):
    app = sign_in_as(open_app(), user)
    app.switch_page("app_pages/forecast.py").run()
    app.date_input[0].set_value(WEEK_ANCHOR).run()
    return app


def upload(app, filename: str, text: str):
    app.file_uploader[0].set_value((filename, text.encode(), "text/csv"))
    return button(app, "Import").click().run()


def test_dispatcher_import_shows_report(demo_users):
    app = open_forecast_page(demo_users["dispatcher"])

    upload(app, "week.csv", SMALL_FORECAST)

    assert not app.exception
    assert not app.error
    successes = [message.value for message in app.success]
    assert any("Imported as version 1" in message for message in successes)
    assert any("The forecast has 5 tours" in message for message in successes)
    report = app.dataframe[0].value
    assert list(report.columns) == ["line", "status", "reason"]
    assert set(report["status"]) == {"pass"}
    versions = app.dataframe[1].value
    assert versions["version"].tolist() == [1]
    assert versions["tours"].tolist() == [5]


def test_failing_line_rejects_forecast(demo_users):
    app = open_forecast_page(demo_users["dispatcher"])

    upload(app, "week.csv", FORECAST_WITH_BAD_LINE)

    assert not app.exception
    assert "The forecast is rejected" in app.error[0].value
    report = app.dataframe[0].value
    failures = report[report["status"] == "failure"]
    assert failures["line"].tolist() == [5]


def test_second_import_shows_diff(demo_users):
    app = open_forecast_page(demo_users["dispatcher"])
    upload(app, "week.csv", SMALL_FORECAST)

    upload(
        app, "week-v2.csv", SMALL_FORECAST.replace("1,11:30,16:00,1", "1,11:30,16:00,3")
    )

    assert not app.exception
    versions = app.dataframe[1].value
    assert versions["version"].tolist() == [2, 1]
    summaries = [text.value for text in app.markdown]
    assert "Against version 1: 0 added, 0 removed, 1 changed." in summaries
    changed = app.dataframe[2].value
    assert changed["fields"].tolist() == ["count"]
    assert changed["before"].tolist() == ["count 1, depot Nord"]
    assert changed["after"].tolist() == ["count 3, depot Nord"]


def test_viewer_has_no_upload_field(demo_users):
    app = open_forecast_page(demo_users["viewer"])

    assert not app.file_uploader
    assert "No forecast has been imported" in app.info[0].value
