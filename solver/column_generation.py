"""Column generation over weekly rosters, and a diving search for whole plans.

The LP relaxation of "choose rosters covering every template's tours" is
solved by alternating the restricted master (solver.master) with the exact
pricing step (solver.roster_search). When pricing finds no roster with
negative reduced cost, the LP value is proven optimal for the full roster
set, so its rounded-up value bounds the head count of every valid plan.
Before that point, Farley's bound (LP value divided by the best roster's
dual value) is still a valid lower bound.

The dive turns the LP into a whole plan: it fixes the integer part of every
roster in the LP solution (or, when none is at least 1, the most fractional
one rounded up), generates new columns against the changed LP and repeats
until the solution is integral. It is a heuristic: its plan is only proven
optimal when its head count meets the LP bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import highspy
import numpy as np

from solver.blocks import DayBlocks
from solver.master import MasterLPFailed, RestrictedMaster
from solver.plan import BlockKind
from solver.roster_search import RosterColumn, RosterCosts, RosterPricing
from solver.rules import RuleSettings

INTEGRAL_TOLERANCE = 1e-6
COLUMNS_PER_ROUND = 200


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

    def add_rosters(self, rosters: list[PooledRoster]) -> None:
        """Add pooled rosters as master columns."""
        self.master.add_columns(
            [self.cost_of(roster) for roster in rosters],
            [roster.templates for roster in rosters],
        )
        self.columns.extend(rosters)

    def solve_lp(
        self, deadline: float, on_round: Callable[[RoundReport], None] | None = None
    ) -> tuple[float, np.ndarray, float, bool]:
        """Price and re-solve until no roster improves the LP or the deadline passes.

        Returns:
            The LP value, the column values, a valid lower bound on the LP
            value over all rosters, and whether pricing proved the LP optimal.
        """
        while True:
            lp_value, duals, cardinality_dual, values = self.master.solve()
            costs = self.pricing_costs(cardinality_dual)
            found = self.pricing.search(duals, costs, COLUMNS_PER_ROUND)
            new_rosters = [roster for roster in map(self.pool.add, found) if roster]
            if not found:
                if on_round:
                    on_round(RoundReport(lp_value, lp_value, True))
                return lp_value, values, lp_value, True
            bound = farley_bound(lp_value, found[0].value, costs)
            if on_round:
                on_round(RoundReport(lp_value, bound, False))
            if not new_rosters:
                # Pricing repeated rosters the master already holds: the
                # duals did not move, so more rounds cannot help.
                return lp_value, values, bound, False
            if time.monotonic() >= deadline:
                return lp_value, values, bound, False
            self.add_rosters(new_rosters)

    def dive(self, deadline: float) -> np.ndarray | None:
        """Fix rosters of the LP solution step by step until it is integral.

        Returns the integral column values, or None when the LP became
        infeasible or the deadline passed first.
        """
        highs = self.master.highs
        while True:
            try:
                _, values, _, _ = self.solve_lp(deadline)
            except MasterLPFailed:
                return None
            fraction = values - np.floor(values + INTEGRAL_TOLERANCE)
            is_integral = (fraction < INTEGRAL_TOLERANCE) | (
                fraction > 1 - INTEGRAL_TOLERANCE
            )
            if np.all(is_integral):
                return np.round(values)
            if time.monotonic() >= deadline:
                return None
            lower = np.asarray(highs.getLp().col_lower_)
            fixed = np.maximum(lower, np.floor(values + INTEGRAL_TOLERANCE))
            changed = np.flatnonzero(fixed > lower)
            if not len(changed):
                most_fractional = int(np.argmax(np.where(is_integral, -1.0, fraction)))
                fixed[most_fractional] = math.ceil(values[most_fractional])
                changed = np.array([most_fractional])
            highs.changeColsBounds(
                len(changed),
                changed.astype(np.int32),
                fixed[changed],
                np.full(len(changed), highspy.kHighsInf),
            )


def farley_bound(
    lp_value: float, best_roster_value: float, costs: RosterCosts
) -> float:
    """Return a lower bound on the full LP from an unfinished restricted master.

    With every roster costing `per_roster`, scaling the duals by
    per_roster / best_roster_value makes them feasible for the dual of the
    full LP, so lp_value times that ratio bounds the full LP from below. The
    bound only holds for the plain head-count costs.
    """
    if costs.per_part_time or costs.per_split_or_single or best_roster_value <= 0:
        return -math.inf
    return lp_value * costs.per_roster / max(best_roster_value, costs.per_roster)
