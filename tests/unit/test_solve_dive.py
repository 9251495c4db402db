"""The dive on a large master: column deletion after every fixing step."""

import math

import numpy as np
import pytest

from solver import column_generation
from solver.blocks import enumerate_week_blocks
from solver.column_generation import ColumnGeneration, RosterPool
from solver.generate import generate_forecast
from solver.master import RestrictedMaster
from solver.roster_search import RosterColumn, RosterCosts, RosterPricing
from solver.rules import RuleSettings
from solver.solve import plan_forecast


@pytest.fixture(scope="module")
def forecast():
    return generate_forecast(300, seed=11)


def converged_generation(forecast) -> tuple[ColumnGeneration, list[int]]:
    """Return a head count master solved to its LP optimum, and the demand."""
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
    generation.solve_lp(math.inf)
    return generation, demand


def covered_counts(generation: ColumnGeneration, counts, rows: int) -> list[int]:
    covered = [0] * rows
    for roster, count in zip(generation.columns, counts):
        for index in roster.templates:
            covered[index] += int(count)
    return covered


def test_large_drop_deletes_every_expensive_column(forecast):
    generation, _ = converged_generation(forecast)
    reduced = generation.master.reduced_costs()
    lower = np.zeros(generation.master.column_count)
    expensive = int(np.sum(reduced > column_generation.LARGE_DIVE_DROP_REDUCED_COST))
    before = generation.master.column_count

    generation.drop_expensive_columns(lower, large=True)

    assert 0 < expensive < column_generation.DIVE_MIN_DROP
    assert generation.master.column_count == before - expensive
    assert len(generation.columns) == generation.master.column_count


def test_small_drop_waits_for_a_full_batch(forecast):
    generation, _ = converged_generation(forecast)
    lower = np.zeros(generation.master.column_count)
    before = generation.master.column_count

    generation.drop_expensive_columns(lower)

    assert generation.master.column_count == before


def test_large_dive_covers_every_tour(forecast, monkeypatch):
    monkeypatch.setattr(column_generation, "LARGE_DIVE_COLUMNS", 0)
    generation, demand = converged_generation(forecast)

    counts = generation.dive(math.inf)

    assert counts is not None
    assert all(count == int(count) for count in counts)
    covered = covered_counts(generation, counts, len(demand))
    assert all(covered[index] >= demand[index] for index in range(len(demand)))


def test_large_dive_plan_passes_checks(forecast, monkeypatch):
    monkeypatch.setattr(column_generation, "LARGE_DIVE_COLUMNS", 0)

    result = plan_forecast(forecast, time_limit_seconds=60, gap_target=0.05)

    assert result.violations == 0
    assert result.lower_bound <= result.drivers
    assert result.gap <= 0.05
