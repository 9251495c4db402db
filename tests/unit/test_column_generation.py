"""Specification of the column generation LP, with and without dual smoothing."""

import math

import pytest

from solver import column_generation
from solver.blocks import enumerate_week_blocks
from solver.column_generation import ColumnGeneration, RosterPool, farley_bound
from solver.generate import generate_forecast
from solver.master import RestrictedMaster
from solver.roster_search import RosterColumn, RosterCosts, RosterPricing
from solver.rules import RuleSettings


def head_count_lp(forecast, rules):
    week_blocks = enumerate_week_blocks(forecast, rules)
    pool = RosterPool(week_blocks, rules)
    generation = ColumnGeneration(
        pool,
        RosterPricing(week_blocks, rules),
        RestrictedMaster([template.count for template in forecast.templates]),
        cost_of=lambda roster: 1.0,
        pricing_costs=lambda cardinality_dual: RosterCosts(),
    )
    singles = []
    for day, blocks in enumerate(week_blocks):
        for block in range(len(blocks)):
            if blocks.templates[block][1] < 0:
                column = RosterColumn(
                    ((day, block),), int(blocks.work_minutes[block]), 0
                )
                singles.append(pool.add(column))
    generation.add_rosters(singles)
    reports = []
    value, _, bound, exact = generation.solve_lp(math.inf, reports.append)
    return value, bound, exact, reports


@pytest.fixture(scope="module")
def forecast():
    return generate_forecast(400, seed=7)


def test_smoothing_keeps_lp_optimum(forecast, monkeypatch):
    rules = RuleSettings()
    plain_value, _, plain_exact, _ = head_count_lp(forecast, rules)

    monkeypatch.setattr(column_generation, "SMOOTHING_AFTER_ROUNDS", 1)
    smoothed_value, bound, smoothed_exact, reports = head_count_lp(forecast, rules)

    assert plain_exact and smoothed_exact
    assert smoothed_value == pytest.approx(plain_value, abs=1e-6)
    assert bound == pytest.approx(plain_value, abs=1e-6)
    assert reports[-1].converged


def test_round_bounds_stay_below_optimum(forecast, monkeypatch):
    monkeypatch.setattr(column_generation, "SMOOTHING_AFTER_ROUNDS", 1)
    value, _, _, reports = head_count_lp(forecast, RuleSettings())

    bounds = [report.lower_bound for report in reports]
    assert all(bound <= value + 1e-6 for bound in bounds)
    assert bounds == sorted(bounds)


def test_farley_bound_scales_lp_value():
    assert farley_bound(100.0, 1.25, RosterCosts()) == pytest.approx(80.0)
    assert farley_bound(100.0, 0.5, RosterCosts()) == pytest.approx(100.0)
    assert farley_bound(100.0, 2.0, RosterCosts(per_part_time=1.0)) == -math.inf


def test_dive_cut_by_deadline_still_covers(forecast):
    rules = RuleSettings()
    week_blocks = enumerate_week_blocks(forecast, rules)
    pool = RosterPool(week_blocks, rules)
    demand = [template.count for template in forecast.templates]
    generation = ColumnGeneration(
        pool,
        RosterPricing(week_blocks, rules),
        RestrictedMaster(demand),
        cost_of=lambda roster: 1.0,
        pricing_costs=lambda cardinality_dual: RosterCosts(),
    )
    for day, blocks in enumerate(week_blocks):
        for block in range(len(blocks)):
            column = RosterColumn(((day, block),), int(blocks.work_minutes[block]), 0)
            pool.add(column)
    generation.add_rosters(list(pool.rosters))
    generation.solve_lp(math.inf, max_rounds=3)

    counts = generation.dive(deadline=0.0, round_up_at_deadline=True)

    assert counts is not None
    assert all(count == int(count) for count in counts)
    held = [0] * len(demand)
    for roster, count in zip(generation.columns, counts):
        for index in roster.templates:
            held[index] += int(count)
    assert all(held[index] >= demand[index] for index in range(len(demand)))
