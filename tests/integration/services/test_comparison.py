"""Comparison of plan versions through the service, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from core.comparison import (
    KPI_ROWS,
    DriverDiff,
    ResultRef,
    compare,
    format_delta,
    format_value,
)
from core.errors import InvalidInput, NotFound
from core.kpi_settings import get_plan_cost_per_driver, set_cost_per_driver
from core.permissions import Role
from core.scenarios import create_scenario, run_scenario
from db.models import ScenarioRun, ScenarioRunStatus, utc_now
from db.repositories import plans
from solver.pricing import plan_kpis
from solver.rules import RuleSettings
from solver.solve import plan_forecast
from solver.tours import MINUTES_PER_DAY, Forecast, TourTemplate, format_clock
from tests.integration.databases import WEEK_ANCHOR
from tests.integration.services.driver_helpers import (
    ANNA,
    BEN,
    add_driver,
    admin_of,
    driver_keys,  # noqa: F401 (a fixture)
    entries,
)
from tests.integration.services.helpers import add_draft, import_week

# SMALL_FORECAST without the Monday afternoon tour and the night tour, so
# the plan of this week needs fewer drivers and leaves some days off.
SMALLER_FORECAST = Forecast.from_templates(
    [
        TourTemplate(day=1, start_minute=6 * 60, end_minute=10 * 60 + 30, count=2),
        TourTemplate(
            day=2,
            start_minute=6 * 60,
            end_minute=10 * 60 + 30,
            count=2,
            qualification="ADR",
        ),
    ]
)


@pytest.fixture(scope="module")
def smaller_solve_result():
    return plan_forecast(SMALLER_FORECAST, RuleSettings(), time_limit_seconds=30)


@pytest.fixture
def tenant(workbench, make_tenant):
    return make_tenant()


@pytest.fixture
def two_drafts(workbench, tenant, small_solve_result, smaller_solve_result):
    """Store the small week's plan, then the smaller week's plan as version 2."""
    dispatcher = tenant.actor(Role.DISPATCHER)
    first_forecast = import_week(dispatcher)
    first = add_draft(
        workbench,
        tenant.tenant_id,
        first_forecast.forecast_version_id,
        small_solve_result,
    )
    second_forecast = import_week(dispatcher, SMALLER_FORECAST, filename="less.csv")
    second = add_draft(
        workbench,
        tenant.tenant_id,
        second_forecast.forecast_version_id,
        smaller_solve_result,
    )
    return first, second


def plan_refs(*versions) -> list[ResultRef]:
    return [ResultRef("plan", version.id) for version in versions]


def kpi_row(comparison, key: str):
    return next(row for row in comparison.kpi_rows if row.key == key)


def store_named_plan(
    database, tenant_id: int, forecast_version_id: int, result, driver_ids
):
    """Store the result as a draft of named drivers, rosters dealt in turn."""
    ids = [str(driver_id) for driver_id in driver_ids]
    rosters = tuple(
        replace(roster, driver=ids[index % len(ids)])
        for index, roster in enumerate(result.plan.rosters)
    )
    named_result = replace(result, plan=replace(result.plan, rosters=rosters))
    with database.session_factory() as session, session.begin():
        plan = plans.get_or_add_plan(session, tenant_id, WEEK_ANCHOR)
        return plans.add_version(
            session,
            tenant_id,
            plan.id,
            forecast_version_id,
            named_result,
            RuleSettings(),
            created_by=None,
            extra_kpis={"named_drivers": True},
            named_drivers=True,
        )


def scenario_result_json(result, rules: RuleSettings) -> dict:
    """Build a scenario run's result JSON from a solve result, as the worker does."""
    rosters = [
        {
            "driver": roster.driver,
            "day": block.day,
            "block_kind": block.kind.value,
            "tour_ids": [tour.tour_id for tour in block.tours],
            "start": format_clock(block.week_start % MINUTES_PER_DAY),
            "end": format_clock(block.week_end % MINUTES_PER_DAY),
            "minutes": block.work_minutes,
        }
        for roster in result.plan.rosters
        for block in roster.blocks
    ]
    coverage = [
        {"day": day, "minute": minute, "tours": 1, "drivers": 1}
        for day in range(1, 8)
        for minute in range(0, MINUTES_PER_DAY, 30)
    ]
    kpis = {**plan_kpis(result.plan, rules), "open_tours": 0, "status_text": "ok"}
    return {
        "kpis": kpis,
        "lower_bound": result.lower_bound,
        "gap": result.gap,
        "solve_status": result.status.value,
        "seconds": result.seconds,
        "rosters": rosters,
        "uncovered": [],
        "coverage": coverage,
        "explanations": {"rule_costs": [], "shadow_prices": [[0.0] * 24] * 7},
    }


def succeeded_scenario_run(database, tenant, forecast_version_id: int, result):
    """Create and run a scenario, then store the result as a finished run."""
    dispatcher = tenant.actor(Role.DISPATCHER)
    scenario = create_scenario(
        dispatcher,
        "Longer weeks",
        forecast_version_id,
        {"rules": {"max_weekly_minutes": 50 * 60}},
    )
    run = run_scenario(dispatcher, scenario.scenario_id, time_limit_seconds=10)
    with database.session_factory() as session, session.begin():
        row = session.get(ScenarioRun, run.run_id)
        row.status = ScenarioRunStatus.SUCCEEDED
        row.result = scenario_result_json(result, RuleSettings())
        row.finished_at = utc_now()
    return run


def test_compare_plan_with_scenario_run(
    workbench, tenant, two_drafts, smaller_solve_result
):
    first, second = two_drafts
    run = succeeded_scenario_run(
        workbench, tenant, second.forecast_version_id, smaller_solve_result
    )
    refs = [ResultRef("plan", first.id), ResultRef("scenario", run.run_id)]

    comparison = compare(tenant.actor(Role.VIEWER), refs)

    assert comparison.columns[1] == f"Scenario Longer weeks run {run.run_id}"
    drivers = kpi_row(comparison, "drivers")
    assert drivers.values[1] == second.kpis["drivers"]
    assert kpi_row(comparison, "open_tours").values[1] == 0
    assert len(comparison.results[1].coverage) == 7 * 48
    changes = {(diff.day, diff.before, diff.after) for diff in comparison.driver_diffs}
    assert (3, "22:00-01:30", "off") in changes


def test_compare_queued_scenario_run_rejected(workbench, tenant, two_drafts):
    first, second = two_drafts
    dispatcher = tenant.actor(Role.DISPATCHER)
    scenario = create_scenario(
        dispatcher, "Queued", second.forecast_version_id, {"rules": {}}
    )
    run = run_scenario(dispatcher, scenario.scenario_id, time_limit_seconds=10)
    refs = [ResultRef("plan", first.id), ResultRef("scenario", run.run_id)]

    with pytest.raises(InvalidInput) as raised:
        compare(tenant.actor(Role.VIEWER), refs)

    assert raised.value.field == "refs[1]"
    assert "only succeeded runs" in str(raised.value)


def test_compare_two_plans_lists_kpis(tenant, two_drafts):
    first, second = two_drafts
    comparison = compare(tenant.actor(Role.VIEWER), plan_refs(first, second))

    assert [row.key for row in comparison.kpi_rows] == [key for key, _, _ in KPI_ROWS]
    assert comparison.columns[0].startswith("Plan v1 week")
    assert comparison.columns[1].startswith("Plan v2 week")
    drivers = kpi_row(comparison, "drivers")
    assert drivers.values == (first.kpis["drivers"], second.kpis["drivers"])
    assert drivers.deltas[0] is None
    assert drivers.deltas[1] == second.kpis["drivers"] - first.kpis["drivers"]
    assert kpi_row(comparison, "lower_bound").values == (
        first.lower_bound,
        second.lower_bound,
    )
    assert kpi_row(comparison, "open_tours").values == (0, 0)
    blocks = sum(
        kpi_row(comparison, key).values[0]
        for key in (
            "block_single",
            "block_double_regular",
            "block_double_split",
            "block_triple_chained",
        )
    )
    assert blocks == first.kpis["working_days"]


def test_compare_sums_hours_and_head_count(tenant, two_drafts):
    first, second = two_drafts
    comparison = compare(tenant.actor(Role.VIEWER), plan_refs(first, second))

    assert len(comparison.hours[0]) == first.kpis["drivers"]
    assert len(comparison.hours[1]) == second.kpis["drivers"]
    total = kpi_row(comparison, "total_hours").values[0]
    assert total == pytest.approx(sum(comparison.hours[0]))
    # SMALL_FORECAST: 3 Monday tours, 2 Tuesday tours, 1 night tour on Wednesday.
    head_count = comparison.head_count[0]
    assert len(head_count) == 7
    assert head_count[1] == 2
    assert head_count[2] == 1
    assert comparison.head_count[1][2] == 0
    assert sum(comparison.head_count[1][2:]) == 0


def test_compare_coverage_counts_tours(tenant, two_drafts):
    first, second = two_drafts
    comparison = compare(tenant.actor(Role.VIEWER), plan_refs(first, second))

    coverage = comparison.results[0].coverage
    assert len(coverage) == 7 * 48
    monday_seven = next(
        row for row in coverage if row["day"] == 1 and row["minute"] == 7 * 60
    )
    assert monday_seven["tours"] == 2
    assert monday_seven["drivers"] == 2
    wednesday_night = next(
        row for row in coverage if row["day"] == 3 and row["minute"] == 23 * 60
    )
    assert wednesday_night["tours"] == 1
    later = comparison.results[1].coverage
    assert all(row["tours"] == 0 for row in later if row["day"] == 3)


def test_driver_diffs_show_days_off(tenant, two_drafts):
    first, second = two_drafts
    comparison = compare(tenant.actor(Role.VIEWER), plan_refs(first, second))

    diffs = comparison.driver_diffs
    # Version 2 drops the Monday afternoon tour and the Wednesday night tour.
    changes = {(diff.day, diff.before, diff.after) for diff in diffs}
    assert changes == {
        (1, "06:00-16:00", "06:00-10:30"),
        (3, "22:00-01:30", "off"),
    }
    assert {diff.result for diff in diffs} == {comparison.columns[1]}
    wednesday = next(diff for diff in diffs if diff.day == 3)
    assert wednesday.change == "Wed 22:00-01:30 -> off"


def test_driver_diff_text_of_absent_driver():
    diff = DriverDiff("Plan v2", "D003", None, "present", "absent")

    assert diff.change == "present -> absent"


def test_compare_same_plan_twice_rejected(tenant, two_drafts):
    first, _ = two_drafts

    with pytest.raises(InvalidInput) as raised:
        compare(tenant.actor(Role.VIEWER), plan_refs(first, first))

    assert raised.value.field == "refs[1]"
    assert "chosen twice" in str(raised.value)


@pytest.mark.parametrize("count", [0, 1, 5])
def test_compare_wrong_result_count_rejected(tenant, two_drafts, count):
    first, second = two_drafts
    refs = [ResultRef("plan", first.id + index) for index in range(count)]

    with pytest.raises(InvalidInput) as raised:
        compare(tenant.actor(Role.VIEWER), refs)

    assert raised.value.field == "refs"
    assert f"{count} results chosen" in str(raised.value)


def test_compare_unknown_kind_rejected(tenant, two_drafts):
    first, _ = two_drafts
    refs = [ResultRef("plan", first.id), ResultRef("forecast", 1)]

    with pytest.raises(InvalidInput) as raised:
        compare(tenant.actor(Role.VIEWER), refs)

    assert raised.value.field == "refs[1].kind"


def test_compare_other_tenants_plan_not_found(make_tenant, tenant, two_drafts):
    first, second = two_drafts
    other = make_tenant()

    with pytest.raises(NotFound):
        compare(other.actor(Role.VIEWER), plan_refs(first, second))


def test_cost_row_empty_without_setting(tenant, two_drafts):
    comparison = compare(tenant.actor(Role.VIEWER), plan_refs(*two_drafts))

    assert comparison.cost_per_driver is None
    assert kpi_row(comparison, "cost").values == (None, None)
    assert kpi_row(comparison, "cost").deltas == (None, None)


def test_cost_row_multiplies_head_count(tenant, two_drafts):
    first, second = two_drafts
    set_cost_per_driver(admin_of(tenant), "1250.50")
    viewer = tenant.actor(Role.VIEWER)

    comparison = compare(viewer, plan_refs(first, second))

    cost = kpi_row(comparison, "cost")
    assert get_plan_cost_per_driver(viewer) == Decimal("1250.50")
    assert cost.values[0] == Decimal("1250.50") * first.kpis["drivers"]
    assert cost.values[1] == Decimal("1250.50") * second.kpis["drivers"]
    assert cost.deltas[1] == cost.values[1] - cost.values[0]


def test_dispatcher_reads_plan_cost(tenant):
    set_cost_per_driver(admin_of(tenant), "900")

    assert get_plan_cost_per_driver(tenant.actor(Role.DISPATCHER)) == Decimal("900")


def test_named_plan_shows_names_and_audits(
    workbench,
    tenant,
    driver_keys,  # noqa: F811 (the fixture imported above)
    small_solve_result,
):
    anna = add_driver(tenant, ANNA)
    ben = add_driver(tenant, BEN, qualifications=("ADR",))
    forecast = import_week(tenant.actor(Role.DISPATCHER))
    named = store_named_plan(
        workbench,
        tenant.tenant_id,
        forecast.forecast_version_id,
        small_solve_result,
        [anna, ben],
    )
    anonymous = add_draft(
        workbench, tenant.tenant_id, forecast.forecast_version_id, small_solve_result
    )
    refs = plan_refs(named, anonymous)

    admin_view = compare(admin_of(tenant), refs)
    viewer_view = compare(tenant.actor(Role.VIEWER), refs)

    admin_drivers = {row.driver for row in admin_view.results[0].rosters}
    viewer_drivers = {row.driver for row in viewer_view.results[0].rosters}
    assert "Anna Schmidt (D001)" in admin_drivers
    assert "D001" in viewer_drivers
    assert not any("Anna" in driver for driver in viewer_drivers)
    reads = entries(workbench, tenant.tenant_id, "driver.personal_data_read")
    assert len(reads) == 1
    assert reads[0].details["driver_count"] >= 1


def test_format_value_by_unit():
    assert format_value(None, "count") == "-"
    assert format_value(0.125, "fraction") == "12.5 %"
    assert format_value(Decimal("2501"), "money") == "2,501.00"
    assert format_value(38.5, "hours") == "38.5"
    assert format_delta(-2, "count") == "-2"
    assert format_delta(3, "count") == "+3"
    assert format_delta(0, "count") == "0"
    assert format_delta(None, "count") == ""
