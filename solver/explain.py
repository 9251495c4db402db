"""Explain from the model why a week needs its drivers.

- Rule costs: the LP bound on the head count is solved again with one rule
  relaxed at a time. The drop of the rounded-up bound is what that rule costs
  at least, in drivers. It is a statement about the bound: the plans
  themselves may differ by a driver either way.
- Shadow prices: at the LP optimum, the dual value of a template is what one
  more tour of it would add to the LP head count. Summed by weekday and
  start hour they show which tours make the week expensive. Dual values of a
  degenerate LP are not unique, so the map shows one valid pricing, not the
  only one.
- Conflicts: a tour no roster can take, with the rules that stop it. Drivers
  are not limited in number, so tours that can each be covered alone can
  always be covered together, one driver each: the smallest set of tours in
  conflict is always a single tour.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from solver.blocks import enumerate_week_blocks
from solver.column_generation import ColumnGeneration, RosterPool
from solver.master import RestrictedMaster
from solver.roster_search import RosterColumn, RosterCosts, RosterPricing
from solver.rules import RuleSettings
from solver.tours import MINUTES_PER_DAY, Forecast, Tour, expand

BOUND_TOLERANCE = 1e-6
WEEK_MINUTES = 7 * MINUTES_PER_DAY

RELAXATIONS: dict[str, tuple[str, dict[str, object]]] = {
    "rest": ("11 h rest between days", {"min_rest_minutes": 0}),
    "weekly_hours": ("weekly hour limit", {"max_weekly_minutes": WEEK_MINUTES}),
    "fatigue": ("no triple after a triple", {"forbid_triple_after_triple": False}),
    "span": (
        "block span limits",
        {
            "max_regular_span_minutes": MINUTES_PER_DAY,
            "max_split_span_minutes": MINUTES_PER_DAY,
            "max_triple_span_minutes": MINUTES_PER_DAY,
        },
    ),
    "gap_windows": (
        "gap windows between tours of a block",
        {
            "min_regular_gap_minutes": 0,
            "max_regular_gap_minutes": MINUTES_PER_DAY,
            "min_split_gap_minutes": 0,
            "max_split_gap_minutes": MINUTES_PER_DAY,
            "min_chain_gap_minutes": 0,
            "max_chain_gap_minutes": MINUTES_PER_DAY,
        },
    ),
}


@dataclass(frozen=True)
class HeadCountLP:
    """The LP relaxation of the head count over all valid rosters.

    `value` is the LP optimum when `exact`, and `bound` a valid lower bound on
    it either way. `template_duals` contains one dual value per template.
    """

    value: float
    bound: float
    exact: bool
    template_duals: np.ndarray

    @property
    def drivers_bound(self) -> int:
        return max(math.ceil(self.bound - BOUND_TOLERANCE), 0)


@dataclass(frozen=True)
class RuleCost:
    """The head count bound with one rule relaxed, against the bound with all rules."""

    rule: str
    label: str
    bound_with_rule: int
    bound_without_rule: int
    exact: bool

    @property
    def drivers(self) -> int:
        return self.bound_with_rule - self.bound_without_rule


@dataclass(frozen=True)
class Conflict:
    """Tours that no valid roster can hold, and the rules that stop them."""

    tour_ids: tuple[str, ...]
    rules: tuple[str, ...]
    reason: str


def solve_head_count_lp(
    forecast: Forecast, rules: RuleSettings, time_limit_seconds: float = 60.0
) -> HeadCountLP:
    """Solve the head count LP by column generation, within a time limit."""
    deadline = time.monotonic() + time_limit_seconds
    week_blocks = enumerate_week_blocks(forecast, rules)
    pricing = RosterPricing(week_blocks, rules)
    pool = RosterPool(week_blocks, rules)
    demand = [template.count for template in forecast.templates]
    if not any(demand):
        return HeadCountLP(0.0, 0.0, True, np.zeros(len(demand)))

    generation = ColumnGeneration(
        pool,
        pricing,
        RestrictedMaster(demand),
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
    generation.add_rosters([roster for roster in singles if roster is not None])
    value, _, bound, exact = generation.solve_lp(deadline)
    _, duals, _, _ = generation.master.solve()
    return HeadCountLP(value, bound, exact, np.asarray(duals))


def rule_costs(
    forecast: Forecast, rules: RuleSettings, time_limit_seconds: float = 60.0
) -> list[RuleCost]:
    """Return, for each rule, how many drivers the head count bound drops without it.

    Each rule gets an equal share of the time limit. `exact` is false when a
    bound was cut short by time, so its difference may be understated.
    """
    share = time_limit_seconds / (len(RELAXATIONS) + 1)
    base = solve_head_count_lp(forecast, rules, share)
    costs = []
    for rule, (label, relaxed_values) in RELAXATIONS.items():
        relaxed = solve_head_count_lp(forecast, replace(rules, **relaxed_values), share)
        costs.append(
            RuleCost(
                rule=rule,
                label=label,
                bound_with_rule=base.drivers_bound,
                bound_without_rule=relaxed.drivers_bound,
                exact=base.exact and relaxed.exact,
            )
        )
    return costs


def shadow_prices_by_hour(
    forecast: Forecast, rules: RuleSettings, time_limit_seconds: float = 60.0
) -> list[dict[str, object]]:
    """Return the tours' shadow prices summed by weekday and start hour.

    One row per weekday and hour with tours: `tours`, `total_shadow_price`
    (sum over the tours) and `mean_shadow_price` (per tour), ready for a
    heatmap of weekday against hour.
    """
    lp = solve_head_count_lp(forecast, rules, time_limit_seconds)
    cells: dict[tuple[int, int], list[float]] = {}
    for template, dual in zip(forecast.templates, lp.template_duals):
        cell = cells.setdefault((template.day, template.start_minute // 60), [0, 0.0])
        cell[0] += template.count
        cell[1] += template.count * float(dual)
    return [
        {
            "day": day,
            "hour": hour,
            "tours": tours,
            "total_shadow_price": round(total, 6) + 0.0,
            "mean_shadow_price": round(total / tours, 6) + 0.0,
        }
        for (day, hour), (tours, total) in sorted(cells.items())
    ]


def find_conflicts(forecast: Forecast, rules: RuleSettings) -> list[Conflict]:
    """Return each tour no roster can hold, with the rules whose relaxation frees it.

    A tour is tried alone: a roster of that single tour is valid unless a rule
    on single tours stops it, and the rules tried are those of RELAXATIONS.
    """
    conflicts = []
    for tour in expand(forecast):
        if _single_tour_fits(tour, rules):
            continue
        blocking = tuple(
            rule
            for rule, (_, relaxed_values) in RELAXATIONS.items()
            if _single_tour_fits(tour, replace(rules, **relaxed_values))
        )
        conflicts.append(
            Conflict(
                tour_ids=(tour.tour_id,),
                rules=blocking,
                reason=(
                    f"tour {tour.tour_id} lasts {tour.duration_minutes} min; no roster"
                    f" can hold it under {', '.join(blocking) or 'the rules together'}"
                ),
            )
        )
    return conflicts


def _single_tour_fits(tour: Tour, rules: RuleSettings) -> bool:
    """Tell whether a roster of only this tour keeps the rules."""
    return tour.duration_minutes <= rules.max_weekly_minutes
