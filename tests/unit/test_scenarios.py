"""Specification of demand scaling and sweeps of one setting."""

import pytest

from solver.rules import RuleSettings
from solver.scenarios import DEMAND_SCALE, scale_demand, sweep
from solver.tours import Forecast, TourTemplate

MONDAY, FRIDAY = 1, 5


def week() -> Forecast:
    return Forecast.from_templates(
        [
            TourTemplate(MONDAY, 6 * 60, 10 * 60 + 30, 3),
            TourTemplate(MONDAY, 14 * 60, 18 * 60 + 30, 2),
            TourTemplate(FRIDAY, 6 * 60, 10 * 60 + 30, 4),
        ]
    )


def counts(forecast: Forecast) -> dict[tuple[int, int], int]:
    return {
        (template.day, template.start_minute): template.count
        for template in forecast.templates
    }


def test_scale_all_rounds_half_up():
    assert counts(scale_demand(week(), 150)) == {
        (MONDAY, 360): 5,
        (MONDAY, 840): 3,
        (FRIDAY, 360): 6,
    }


def test_scale_one_day_only():
    assert counts(scale_demand(week(), 50, days=[FRIDAY])) == {
        (MONDAY, 360): 3,
        (MONDAY, 840): 2,
        (FRIDAY, 360): 2,
    }


def test_scale_start_band_and_drop_empty():
    scaled = scale_demand(week(), 0, start_band=(12 * 60, 24 * 60))

    assert counts(scaled) == {(MONDAY, 360): 3, (FRIDAY, 360): 4}


def test_scale_leaves_base_unchanged():
    base = week()
    sha = base.sha256

    scale_demand(base, 200)

    assert base.sha256 == sha


@pytest.mark.parametrize(
    "arguments",
    [
        {"percent": -1},
        {"percent": 100, "days": [8]},
        {"percent": 100, "start_band": (60, 30)},
    ],
)
def test_scale_rejects_bad_arguments(arguments):
    with pytest.raises(ValueError):
        scale_demand(week(), **arguments)


def test_sweep_weekly_limit_points():
    points = sweep(week(), RuleSettings(), "max_weekly_minutes", [270, 3300])

    assert [point.value for point in points] == [270, 3300]
    assert [point.drivers for point in points] == [9, 5]
    assert all(point.lower_bound == point.drivers for point in points)
    assert all(point.violations == 0 for point in points)


def test_sweep_demand_scale_counts_tours():
    points = sweep(week(), RuleSettings(), DEMAND_SCALE, [50, 100])

    assert [point.tours for point in points] == [5, 9]


def test_sweep_cache_skips_repeated_points():
    cache: dict = {}

    first = sweep(week(), RuleSettings(), DEMAND_SCALE, [100], cache=cache)
    second = sweep(week(), RuleSettings(), DEMAND_SCALE, [100, 100], cache=cache)

    assert not first[0].cached
    assert [point.cached for point in second] == [True, True]
    assert second[0].drivers == first[0].drivers


def test_sweep_rejects_unknown_setting_and_bad_value():
    with pytest.raises(ValueError, match="unknown sweep setting"):
        sweep(week(), RuleSettings(), "coffee_breaks", [1])
    with pytest.raises(ValueError, match="whole minutes"):
        sweep(week(), RuleSettings(), "min_rest_minutes", [600.5])
