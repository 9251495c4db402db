"""Specification of demand scaling and sweeps of one setting."""

import sys
import types

import pytest

from solver.generate import generate_forecast
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


def generated_week() -> Forecast:
    return generate_forecast(150, seed=3)


def figures(points) -> list[tuple]:
    return [
        (point.value, point.drivers, point.lower_bound, point.status, point.violations)
        for point in points
    ]


def test_sweep_workers_match_one_process():
    values = [2400, 3300]

    alone = sweep(generated_week(), RuleSettings(), "max_weekly_minutes", values)
    shared = sweep(
        generated_week(), RuleSettings(), "max_weekly_minutes", values, workers=2
    )

    assert figures(shared) == figures(alone)
    assert not any(point.cached for point in shared)


def test_sweep_workers_call_back_in_value_order():
    reported = []

    sweep(
        week(),
        RuleSettings(),
        DEMAND_SCALE,
        [200, 50, 100],
        workers=2,
        on_point=lambda point: reported.append(point.value),
    )

    assert reported == [200, 50, 100]


def test_sweep_gap_target_honoured():
    target = 0.05

    points = sweep(
        generated_week(),
        RuleSettings(),
        "max_weekly_minutes",
        [2400, 3300],
        gap_target=target,
    )

    for point in points:
        assert point.status in ("optimal", "feasible")
        assert point.gap <= target
        assert point.lower_bound <= point.drivers
        assert point.gap == (point.drivers - point.lower_bound) / point.drivers


def test_sweep_repeated_value_planned_once():
    points = sweep(week(), RuleSettings(), DEMAND_SCALE, [100, 100])

    assert [point.cached for point in points] == [False, True]
    assert points[1].drivers == points[0].drivers
    assert points[1].seconds == 0.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"workers": 0}, "workers"), ({"gap_target": 1.0}, "gap_target")],
)
def test_sweep_rejects_bad_search_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        sweep(week(), RuleSettings(), DEMAND_SCALE, [100], **arguments)


def test_workers_skip_foreign_main_script(tmp_path, monkeypatch):
    # A page script installed as __main__, as Streamlit's script runner does,
    # must not run again in the sweep's worker processes.
    script = tmp_path / "page.py"
    script.write_text("raise RuntimeError('the page script ran in a worker')\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page)
    forecast = generate_forecast(40, seed=3)

    points = sweep(
        forecast,
        RuleSettings(),
        "max_weekly_minutes",
        [3000, 3300],
        time_limit_seconds=30,
        workers=2,
    )

    assert [point.value for point in points] == [3000, 3300]
    assert sys.modules["__main__"] is page
