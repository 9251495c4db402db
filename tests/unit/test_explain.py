"""The engine's explanations on forecasts whose results are worked out by hand."""

import pytest

from solver.explain import (
    find_conflicts,
    rule_costs,
    shadow_prices_by_hour,
    solve_head_count_lp,
)
from solver.rules import RuleSettings
from solver.tours import Forecast, TourTemplate

MONDAY, TUESDAY, THURSDAY, FRIDAY = 1, 2, 4, 5


def clock(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def template(day: int, start: str, end: str, count: int = 1) -> TourTemplate:
    return TourTemplate(day, clock(start), clock(end) % 1440, count)


NIGHT_THEN_EARLY = Forecast.from_templates(
    [template(THURSDAY, "22:00", "06:00"), template(FRIDAY, "06:00", "10:00")]
)


def costs_by_rule(forecast: Forecast, rules: RuleSettings) -> dict[str, int]:
    return {cost.rule: cost.drivers for cost in rule_costs(forecast, rules, 30)}


def test_rest_costs_one_driver_after_a_night_tour():
    costs = costs_by_rule(NIGHT_THEN_EARLY, RuleSettings())

    assert costs["rest"] == 1
    assert costs["weekly_hours"] == 0
    assert costs["fatigue"] == 0
    assert costs["span"] == 0
    assert costs["gap_windows"] == 0


def test_weekly_limit_costs_a_driver_for_a_long_week():
    forecast = Forecast.from_templates(
        [template(day, "06:00", "16:00") for day in range(1, 7)]
    )

    costs = costs_by_rule(forecast, RuleSettings())

    assert costs["weekly_hours"] == 1
    assert costs["rest"] == 0


def test_gap_windows_cost_a_driver_for_a_90_minute_gap():
    forecast = Forecast.from_templates(
        [template(MONDAY, "06:00", "10:00"), template(MONDAY, "11:30", "15:30")]
    )

    costs = costs_by_rule(forecast, RuleSettings())

    assert costs["gap_windows"] == 1
    assert costs["span"] == 0


def test_rule_costs_report_bounds_with_and_without_rule():
    costs = {
        cost.rule: cost for cost in rule_costs(NIGHT_THEN_EARLY, RuleSettings(), 30)
    }

    assert costs["rest"].bound_with_rule == 2
    assert costs["rest"].bound_without_rule == 1
    assert costs["rest"].exact


def test_head_count_lp_bound_of_overlapping_tours():
    forecast = Forecast.from_templates([template(MONDAY, "06:00", "10:00", count=3)])

    lp = solve_head_count_lp(forecast, RuleSettings())

    assert lp.exact
    assert lp.value == pytest.approx(3.0)
    assert lp.drivers_bound == 3


def test_shadow_prices_sum_to_the_lp_value():
    forecast = Forecast.from_templates(
        [
            template(MONDAY, "06:00", "10:00", count=2),
            template(TUESDAY, "14:00", "18:00"),
        ]
    )

    rows = shadow_prices_by_hour(forecast, RuleSettings())

    lp = solve_head_count_lp(forecast, RuleSettings())
    assert [(row["day"], row["hour"], row["tours"]) for row in rows] == [
        (MONDAY, 6, 2),
        (TUESDAY, 14, 1),
    ]
    assert sum(row["total_shadow_price"] for row in rows) == pytest.approx(lp.value)


def test_shadow_price_of_a_lone_tour_is_one_driver():
    forecast = Forecast.from_templates([template(TUESDAY, "14:00", "18:00")])

    rows = shadow_prices_by_hour(forecast, RuleSettings())

    assert rows == [
        {
            "day": TUESDAY,
            "hour": 14,
            "tours": 1,
            "total_shadow_price": 1.0,
            "mean_shadow_price": 1.0,
        }
    ]


def test_tour_longer_than_weekly_limit_is_a_conflict():
    forecast = Forecast.from_templates(
        [template(MONDAY, "06:00", "11:00"), template(TUESDAY, "06:00", "09:00")]
    )

    conflicts = find_conflicts(forecast, RuleSettings(max_weekly_minutes=240))

    assert len(conflicts) == 1
    assert conflicts[0].tour_ids == ("Mo-0600-1100-01",)
    assert conflicts[0].rules == ("weekly_hours",)
    assert "300 min" in conflicts[0].reason


def test_coverable_forecast_has_no_conflict():
    assert find_conflicts(NIGHT_THEN_EARLY, RuleSettings()) == []
