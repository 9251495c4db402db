"""Column generation over weekly rosters, and a diving search for whole plans.

The LP relaxation of "choose rosters covering every template's tours" is
solved by alternating the restricted master (solver.master) with the exact
pricing step (solver.roster_search). When pricing finds no roster with
negative reduced cost, the LP value is proven optimal for the full roster
set, so its rounded-up value bounds the head count of every valid plan.
Before that point, Farley's bound (LP value divided by the best roster's
dual value) is still a valid lower bound.

The dive turns the LP into a whole plan. Each step fixes the integer part of
every roster in the LP solution and rounds up those within 0.1 of the next
whole number (or, when that fixes nothing, the most fractional one). A few
pricing rounds then repair the LP, and the steps repeat until the solution
is integral. It is a heuristic: its plan is only proven
optimal when its head count meets the LP bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from solver.blocks import DayBlocks
from solver.master import MasterLPFailed, RestrictedMaster
from solver.plan import BlockKind
from solver.roster_search import RosterColumn, RosterCosts, RosterPricing
from solver.rules import RuleSettings

INTEGRAL_TOLERANCE = 1e-6
LP_TOLERANCE = 1e-7
COLUMNS_PER_ROUND = 200
# Rounds priced at the master's own duals before smoothing starts. Forecasts
# that converge within them, such as the forecast of record, never smooth.
SMOOTHING_AFTER_ROUNDS = 60
SMOOTHING_WEIGHT = 0.8
# Pricing rounds between two fixing steps of the dive: enough to repair the LP
# after a fix without converging it fully, which at twice the forecast of
# record grew the master past 90,000 columns.
DIVE_ROUNDS = 5
DIVE_ROUND_UP_FRACTION = 0.9
DIVE_BATCH_SHARE = 0.01
# Unfixed columns whose reduced cost exceeds this are deleted during a dive,
# in batches of at least DIVE_MIN_DROP, to keep each re-solve fast.
DIVE_DROP_REDUCED_COST = 0.5
DIVE_MIN_DROP = 1000
# A dive whose master starts with more columns than this deletes every
# unfixed column whose reduced cost exceeds LARGE_DIVE_DROP_REDUCED_COST
# after each fixing step. Each step adds up to DIVE_ROUNDS * COLUMNS_PER_ROUND
# columns, and on large masters their re-solves dominate the dive. At a 45 h
# weekly limit on the forecast of record (22,000 columns when the dive
# starts) a step took 3 s once the master passed 30,000 columns, and the dive
# needed minutes. The masters at 50 to 60 h start with 10,000 to 12,500
# columns and keep the batched deletion above.
LARGE_DIVE_COLUMNS = 15_000
LARGE_DIVE_DROP_REDUCED_COST = 0.1


@dataclass(frozen=True)
class PooledRoster:
    """A roster column with the facts the objective and the plan need."""

    blocks: tuple[tuple[int, int], ...]
    templates: tuple[int, ...]
    work_minutes: int
    is_part_time: bool
    split_or_single_blocks: int


@dataclass
class RosterPool:
    """Every roster generated so far, without duplicates, in generation order."""

    week_blocks: list[DayBlocks]
    rules: RuleSettings
    rosters: list[PooledRoster] = field(default_factory=list)
    _by_blocks: dict[tuple[tuple[int, int], ...], PooledRoster] = field(
        default_factory=dict
    )

    def add(self, column: RosterColumn) -> PooledRoster | None:
        """Add a priced roster; return it, or None when the pool already has it."""
        if column.blocks in self._by_blocks:
            return None
        templates: list[int] = []
        split_or_single = 0
        for day, block in column.blocks:
            day_blocks = self.week_blocks[day]
            templates.extend(
                int(index) for index in day_blocks.templates[block] if index >= 0
            )
            if day_blocks.kinds[block] in (BlockKind.SINGLE, BlockKind.DOUBLE_SPLIT):
                split_or_single += 1
        roster = PooledRoster(
            blocks=column.blocks,
            templates=tuple(templates),
            work_minutes=column.work_minutes,
            is_part_time=column.work_minutes < self.rules.part_time_below_minutes,
            split_or_single_blocks=split_or_single,
        )
        self.rosters.append(roster)
        self._by_blocks[column.blocks] = roster
        return roster

    def get_or_add(self, blocks: tuple[tuple[int, int], ...]) -> PooledRoster:
        """Return the pooled roster with these blocks, adding it when new."""
        if blocks not in self._by_blocks:
            minutes = sum(
                int(self.week_blocks[day].work_minutes[block]) for day, block in blocks
            )
            self.add(RosterColumn(blocks, minutes, 0.0))
        return self._by_blocks[blocks]


@dataclass(frozen=True)
class RoundReport:
    """Progress of one pricing round, for callbacks."""

    lp_value: float
    lower_bound: float
    converged: bool


@dataclass
class ColumnGeneration:
    """One restricted master tied to the pool, with its own roster costs.

    `cost_of` gives each pooled roster's cost in this master; `pricing_costs`
    turns the master's cardinality dual into the pricing step's cost terms.
    """

    pool: RosterPool
    pricing: RosterPricing
    master: RestrictedMaster
    cost_of: Callable[[PooledRoster], float]
    pricing_costs: Callable[[float], RosterCosts]
    columns: list[PooledRoster] = field(default_factory=list)

    _in_master: set[tuple[tuple[int, int], ...]] = field(default_factory=set)

    def add_rosters(self, rosters: list[PooledRoster]) -> None:
        """Add pooled rosters as master columns, skipping those already in it."""
        fresh = [roster for roster in rosters if roster.blocks not in self._in_master]
        self._in_master.update(roster.blocks for roster in fresh)
        self.master.add_columns(
            [self.cost_of(roster) for roster in fresh],
            [roster.templates for roster in fresh],
        )
        self.columns.extend(fresh)

    def solve_lp(
        self,
        deadline: float,
        on_round: Callable[[RoundReport], None] | None = None,
        max_rounds: int | None = None,
    ) -> tuple[float, np.ndarray, float, bool]:
        """Price and re-solve until no roster improves the LP or a limit is hit.

        The limits are the deadline and, when given, `max_rounds` pricing
        rounds. After SMOOTHING_AFTER_ROUNDS rounds without convergence,
        pricing uses smoothed duals (see `_price`).

        Returns:
            The LP value, the column values, a valid lower bound on the LP
            value over all rosters, and whether pricing proved the LP optimal.
        """
        rounds = 0
        best_bound = -math.inf
        center: np.ndarray | None = None
        while True:
            lp_value, duals, cardinality_dual, values = self.master.solve()
            costs = self.pricing_costs(cardinality_dual)
            smoothed = center if rounds >= SMOOTHING_AFTER_ROUNDS else None
            found, priced_duals = self._price(duals, costs, smoothed)
            bound = self._bound(lp_value, duals, priced_duals, found, costs)
            if bound > best_bound:
                best_bound = bound
                center = priced_duals
            converged = not found or best_bound >= lp_value - LP_TOLERANCE
            if converged:
                if on_round:
                    on_round(RoundReport(lp_value, lp_value, True))
                return lp_value, values, lp_value, True
            new_rosters = [
                self.pool.get_or_add(column.blocks)
                for column in found
                if column.blocks not in self._in_master
            ]
            if on_round:
                on_round(RoundReport(lp_value, best_bound, False))
            rounds += 1
            if not new_rosters:
                # Pricing repeated rosters the master already holds: the
                # duals did not move, so more rounds cannot help.
                return lp_value, values, best_bound, False
            if time.monotonic() >= deadline:
                return lp_value, values, best_bound, False
            self.add_rosters(new_rosters)
            if max_rounds is not None and rounds >= max_rounds:
                lp_value, _, _, values = self.master.solve()
                return lp_value, values, best_bound, False

    def _price(
        self, duals: np.ndarray, costs: RosterCosts, center: np.ndarray | None
    ) -> tuple[list[RosterColumn], np.ndarray]:
        """Find improving rosters; return them and the duals they were priced at.

        Without a center, pricing uses the master's duals. With one, it uses
        the duals moved SMOOTHING_WEIGHT of the way towards the center, the
        duals of the best bound so far (Wentges smoothing). On large forecasts
        the master's duals jump between rounds, so the rosters priced at them
        rarely stay useful. A roster priced at the smoothed duals is kept only
        if it also improves the master at its own duals; when none does,
        pricing falls back to the master's duals, so the LP is still proven
        optimal only when no roster improves it.
        """
        if center is not None and farley_applies(costs):
            smoothed = SMOOTHING_WEIGHT * center + (1 - SMOOTHING_WEIGHT) * duals
            found = self.pricing.search(smoothed, costs, COLUMNS_PER_ROUND)
            padded = np.append(duals, 0.0)
            improving = [
                column
                for column in found
                if self._value_at(column, padded) > costs.per_roster + LP_TOLERANCE
            ]
            if improving:
                return improving, smoothed
        return self.pricing.search(duals, costs, COLUMNS_PER_ROUND), duals

    def _value_at(self, column: RosterColumn, padded_duals: np.ndarray) -> float:
        return sum(
            float(padded_duals[self.pool.week_blocks[day].templates[block]].sum())
            for day, block in column.blocks
        )

    def _bound(
        self,
        lp_value: float,
        duals: np.ndarray,
        priced_duals: np.ndarray,
        found: list[RosterColumn],
        costs: RosterCosts,
    ) -> float:
        """Return Farley's bound at the duals pricing used (see farley_bound)."""
        if priced_duals is duals:
            dual_value = lp_value
        else:
            dual_value = float(self.master.demand @ priced_duals)
        best_value = found[0].value if found else costs.per_roster
        return farley_bound(dual_value, best_value, costs)

    def drop_expensive_columns(self, lower: np.ndarray, large: bool = False) -> None:
        """Delete unfixed columns whose reduced cost is far above zero.

        Such rosters rarely enter the dive's LP again, and every column slows
        each re-solve. A deleted roster stays in the pool, and pricing adds it
        back if the duals ever make it attractive. With `large`, every column
        above LARGE_DIVE_DROP_REDUCED_COST is deleted. Otherwise columns above
        DIVE_DROP_REDUCED_COST are deleted in batches of at least DIVE_MIN_DROP.
        """
        reduced = self.master.reduced_costs()
        threshold = LARGE_DIVE_DROP_REDUCED_COST if large else DIVE_DROP_REDUCED_COST
        drop = np.flatnonzero((reduced > threshold) & (lower <= 0))
        if not len(drop) or (not large and len(drop) < DIVE_MIN_DROP):
            return
        self.master.delete_columns(drop)
        dropped = set(drop.tolist())
        for number in drop:
            self._in_master.discard(self.columns[number].blocks)
        self.columns = [
            roster
            for number, roster in enumerate(self.columns)
            if number not in dropped
        ]

    def dive(
        self, deadline: float, round_up_at_deadline: bool = False
    ) -> np.ndarray | None:
        """Fix rosters of the LP solution step by step until it is integral.

        Returns the integral column values, or None when the LP became
        infeasible or the deadline passed first. With `round_up_at_deadline`
        a dive cut short by the deadline returns its LP rounded up instead:
        for a covering master that is still a valid cover, and after some
        fixing steps it is far closer to a good plan than the first LP
        rounded up.
        """
        large = self.master.column_count > LARGE_DIVE_COLUMNS
        while True:
            try:
                _, values, _, _ = self.solve_lp(deadline, max_rounds=DIVE_ROUNDS)
            except MasterLPFailed:
                return None
            fraction = values - np.floor(values + INTEGRAL_TOLERANCE)
            is_integral = (fraction < INTEGRAL_TOLERANCE) | (
                fraction > 1 - INTEGRAL_TOLERANCE
            )
            if np.all(is_integral):
                return np.round(values)
            if time.monotonic() >= deadline:
                if round_up_at_deadline:
                    return np.ceil(values - INTEGRAL_TOLERANCE)
                return None
            lower = self.master.lower_bounds()
            fixed = np.maximum(lower, np.floor(values + INTEGRAL_TOLERANCE))
            nearly_whole = ~is_integral & (fraction >= DIVE_ROUND_UP_FRACTION)
            fixed[nearly_whole] = np.ceil(values[nearly_whole])
            changed = np.flatnonzero(fixed > lower)
            if not len(changed):
                # Round up the largest fractions: one roster per hundred
                # drivers in the LP, so large forecasts need fewer steps.
                batch = max(1, int(values.sum() * DIVE_BATCH_SHARE))
                candidates = np.where(is_integral, -1.0, fraction)
                largest = np.argsort(-candidates, kind="stable")[:batch]
                largest = largest[candidates[largest] > 0]
                fixed[largest] = np.ceil(values[largest])
                changed = largest
            self.master.raise_lower_bounds(changed, fixed[changed])
            self.drop_expensive_columns(fixed, large)


def farley_applies(costs: RosterCosts) -> bool:
    """Say whether every roster costs the same, which Farley's bound needs."""
    return not costs.per_part_time and not costs.per_split_or_single


def farley_bound(
    lp_value: float, best_roster_value: float, costs: RosterCosts
) -> float:
    """Return a lower bound on the full LP from an unfinished restricted master.

    With every roster costing `per_roster`, scaling the duals by
    per_roster / best_roster_value makes them feasible for the dual of the
    full LP, so lp_value times that ratio bounds the full LP from below. The
    bound only holds for the plain head-count costs.
    """
    if not farley_applies(costs) or best_roster_value <= 0:
        return -math.inf
    return lp_value * costs.per_roster / max(best_roster_value, costs.per_roster)
