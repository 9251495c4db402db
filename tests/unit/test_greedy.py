"""The first-fit baseline builds valid plans, just not small ones."""

from solver.generate import generate_forecast
from solver.greedy import first_fit_plan
from solver.rules import RuleSettings
from solver.solve import plan_forecast
from solver.tours import Forecast, TourTemplate, expand
from solver.validate import validate_plan


def test_first_fit_plan_passes_every_check():
    forecast = generate_forecast(300, seed=4)

    plan = first_fit_plan(forecast)

    checks = validate_plan(plan, expand(forecast), RuleSettings())
    assert [check.rule for check in checks if not check.passed] == []


def test_first_fit_never_beats_the_optimiser():
    forecast = generate_forecast(150, seed=9)

    greedy = first_fit_plan(forecast)
    optimised = plan_forecast(forecast, time_limit_seconds=60, part_time_seconds=2)

    assert optimised.drivers <= greedy.driver_count
    assert optimised.lower_bound <= greedy.driver_count


def test_first_fit_chains_tours_of_one_day():
    forecast = Forecast.from_templates(
        [TourTemplate(1, 6 * 60, 10 * 60, 1), TourTemplate(1, 10 * 60 + 30, 14 * 60, 1)]
    )

    plan = first_fit_plan(forecast)

    assert plan.driver_count == 1
    assert [tour.tour_id for tour in plan.rosters[0].tours] == [
        "Mo-0600-1000-01",
        "Mo-1030-1400-01",
    ]


def test_first_fit_opens_a_driver_when_rest_is_short():
    forecast = Forecast.from_templates(
        [TourTemplate(4, 22 * 60, 6 * 60, 1), TourTemplate(5, 6 * 60, 10 * 60, 1)]
    )

    plan = first_fit_plan(forecast)

    assert plan.driver_count == 2
