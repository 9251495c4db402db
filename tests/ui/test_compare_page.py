"""Compare page: two plan versions side by side, with KPIs, charts and downloads."""

from __future__ import annotations

import pytest

from core.plans import get_plan_version, get_solve_job, request_solve
from core.worker import run_one_job
from tests.ui.conftest import open_app, service_actor, sign_in_as

DOWNLOAD_LABELS = [
    "Download CSV",
    "Download Excel",
    "Download PNG charts",
    "Download HTML report",
]


@pytest.fixture
def two_plans(demo_users, solved_plan):
    """Solve the forecast again with a 30-minute longest regular break.

    The Monday tours 06:00-10:30 and 11:30-16:00 then no longer fit one
    block, so version 2 needs a third driver.
    """
    dispatcher = service_actor(demo_users["dispatcher"])
    job = request_solve(
        dispatcher,
        solved_plan.forecast_version_id,
        settings={"max_regular_gap_minutes": 30},
        time_limit_seconds=30,
    )
    assert run_one_job("page-test-worker"), "the second solve job was not run"
    job = get_solve_job(dispatcher, job.job_id)
    assert job.plan_version_id is not None, f"solve failed: {job.error}"
    return solved_plan, get_plan_version(dispatcher, job.plan_version_id)


def open_compare(user):
    app = sign_in_as(open_app(), user)
    return app.switch_page("app_pages/compare.py").run()


def results_select(app):
    matches = [widget for widget in app.multiselect if widget.label == "Results"]
    assert matches, "no multiselect labelled 'Results'"
    return matches[0]


def test_compare_page_needs_two_results(demo_users, solved_plan):
    app = open_compare(demo_users["viewer"])

    assert not app.exception
    assert "Nothing to compare yet" in app.info[0].value


def test_compare_page_asks_for_a_second_result(demo_users, two_plans):
    app = open_compare(demo_users["viewer"])
    select = results_select(app)

    select.set_value(select.options[:1]).run()

    assert not app.exception
    assert app.info[0].value == "Choose 2 to 4 results."


def test_compare_page_shows_kpis_and_charts(demo_users, two_plans):
    first, second = two_plans
    app = open_compare(demo_users["viewer"])
    select = results_select(app)

    select.set_value(select.options[:2]).run()

    assert not app.exception
    assert not app.error
    kpis = app.dataframe[0].value
    assert list(kpis.index[:2]) == ["Drivers", "Lower bound"]
    assert len(kpis.columns) == 2
    drivers = kpis.loc["Drivers"].tolist()
    assert sorted(cell.split(" ")[0] for cell in drivers) == sorted(
        [str(first.kpis["drivers"]), str(second.kpis["drivers"])]
    )
    charts = [element for element in app.main if element.type == "plotly_chart"]
    # Hours, head count, and one coverage chart per result.
    assert len(charts) == 4
    labels = [download.label for download in app.get("download_button")]
    assert labels == DOWNLOAD_LABELS


def test_compare_page_lists_driver_changes(demo_users, two_plans):
    app = open_compare(demo_users["dispatcher"])
    select = results_select(app)
    by_version = {
        number: next(
            label for label in select.options if f"version {number} (" in label
        )
        for number in (1, 2)
    }

    select.set_value([by_version[1], by_version[2]]).run()

    assert not app.exception
    tables = [frame.value for frame in app.dataframe if "change" in frame.value]
    assert tables, "no table of driver changes"
    changes = tables[0]["change"].tolist()
    assert "Mon 06:00-16:00 -> 06:00-10:30" in changes
    assert "absent -> present" in changes
