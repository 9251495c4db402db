"""Scenarios page: create a scenario through the form, run it and explain the run."""

from __future__ import annotations

from core.forecasts import import_forecast
from core.scenarios import create_scenario, list_scenarios
from core.worker import run_one_job
from tests.ui.conftest import (
    SMALL_FORECAST,
    WEEK_ANCHOR,
    button,
    open_app,
    service_actor,
    sign_in_as,
    text_input,
)


def open_scenarios(user):
    app = sign_in_as(open_app(), user)
    return app.switch_page("app_pages/scenarios.py").run()


def number_input(app, label: str):
    matches = [widget for widget in app.number_input if widget.label == label]
    assert matches, f"no number input labelled {label!r}"
    return matches[0]


def import_small_week(demo_users) -> int:
    dispatcher = service_actor(demo_users["dispatcher"])
    imported = import_forecast(
        dispatcher, WEEK_ANCHOR, "week.csv", SMALL_FORECAST.encode()
    )
    return imported.version.forecast_version_id


def test_scenarios_page_without_forecast(demo_users):
    app = open_scenarios(demo_users["dispatcher"])

    assert not app.exception
    assert "No forecast to vary yet" in app.info[0].value
    assert app.info[1].value == "No scenario yet."


def test_create_scenario_with_hour_limit(demo_users):
    import_small_week(demo_users)
    app = open_scenarios(demo_users["dispatcher"])

    text_input(app, "Scenario name").set_value("48 hour week")
    number_input(app, "Weekly hour limit (h)").set_value(48.0)
    button(app, "Create scenario").click().run()

    assert not app.exception
    assert not app.error
    scenarios = list_scenarios(service_actor(demo_users["viewer"]))
    assert [scenario.name for scenario in scenarios] == ["48 hour week"]
    assert scenarios[0].variation == {"rules": {"max_weekly_minutes": 48 * 60}}


def test_create_scenario_without_name_shows_error(demo_users):
    import_small_week(demo_users)
    app = open_scenarios(demo_users["dispatcher"])

    button(app, "Create scenario").click().run()

    assert not app.exception
    assert len(app.error) == 1
    assert app.error[0].value.startswith("name")


def test_run_scenario_then_explain(demo_users):
    forecast_version_id = import_small_week(demo_users)
    dispatcher = service_actor(demo_users["dispatcher"])
    create_scenario(
        dispatcher,
        "Busy Monday",
        forecast_version_id,
        {"demand": {"scale": [{"weekdays": [1], "percent": 200}]}},
    )
    app = open_scenarios(demo_users["dispatcher"])

    number_input(app, "Time limit (seconds)").set_value(10)
    button(app, "Run scenario").click().run()
    queued = [frame.value for frame in app.dataframe if "status" in frame.value]
    assert run_one_job("page-test-worker"), "the scenario job was not run"
    app = open_scenarios(demo_users["viewer"])

    assert not app.exception
    assert queued[0]["status"].tolist() == ["queued"]
    runs = [frame.value for frame in app.dataframe if "status" in frame.value]
    assert runs[0]["status"].tolist() == ["succeeded"]
    assert runs[0]["drivers"].tolist()[0] >= 3
    charts = [element for element in app.main if element.type == "plotly_chart"]
    assert len(charts) == 1, "the shadow-price heatmap is missing"


def test_viewer_sees_no_scenario_forms(demo_users):
    import_small_week(demo_users)
    app = open_scenarios(demo_users["viewer"])

    assert not app.exception
    labels = [widget.label for widget in app.button]
    assert "Create scenario" not in labels
    assert "Run scenario" not in labels
    assert app.info[0].value == "No scenario yet."


def test_create_scenario_scales_demand(demo_users):
    import_small_week(demo_users)
    app = open_scenarios(demo_users["dispatcher"])

    text_input(app, "Scenario name").set_value("Busy Monday")
    weekdays = [
        widget for widget in app.multiselect if widget.label == "Weekdays to scale"
    ]
    weekdays[0].set_value([1])
    number_input(app, "Demand (%)").set_value(150)
    button(app, "Create scenario").click().run()

    assert not app.exception
    assert not app.error
    scenario = list_scenarios(service_actor(demo_users["viewer"]))[0]
    assert scenario.variation == {
        "demand": {"scale": [{"weekdays": [1], "start_band": None, "percent": 150}]}
    }


def test_sweep_draws_cost_curve(demo_users):
    import_small_week(demo_users)
    dispatcher = service_actor(demo_users["dispatcher"])
    app = open_scenarios(demo_users["dispatcher"])

    number_input(app, "From").set_value(45.0)
    number_input(app, "To").set_value(55.0)
    number_input(app, "Step").set_value(5.0)
    button(app, "Run sweep").click().run()
    jobs_run = 0
    while run_one_job("page-test-worker"):
        jobs_run += 1
    app = open_scenarios(demo_users["viewer"])

    assert not app.exception
    assert jobs_run == 3
    names = sorted(scenario.name for scenario in list_scenarios(dispatcher))
    assert names == [
        "sweep max_weekly_minutes=2700",
        "sweep max_weekly_minutes=3000",
        "sweep max_weekly_minutes=3300",
    ]
    titles = [
        element.proto.spec for element in app.main if element.type == "plotly_chart"
    ]
    assert any("Head count against Weekly hour limit (h)" in spec for spec in titles)
