"""Plan a forecast: fewest drivers, proven lower bound, validated rosters.

The search runs in stages, each keeping what the stage before achieved:

1. Head count bound: column generation solves the LP relaxation over all
   valid weekly rosters exactly, and its value rounded up is a lower bound on
   the drivers of any plan.
2. Head count plan: a dive through the LP gives a whole plan. If it misses
   the bound, a Pyomo model picks the best plan from the generated rosters.
3. Part-time rosters: surplus tours are trimmed so the plan covers every
   tour exactly once. Whole day blocks then move from long weeks to
   part-time rosters (solver.rebalance), which keeps the head count and the
   cover. When part-time rosters remain, column generation continues with
   the head count capped at the plan's, on the cost "part-time rosters, then
   split and single blocks"; its LP bounds the part-time rosters of any plan
   of that size, and a Pyomo model, started from the plan so far, picks the
   best plan from the rosters generated, before the block moves run again.
   A plan left with no part-time roster needs no bound: none is the fewest.
4. The plan is assembled from named tours and checked by the independent
   validator (solver.validate), whose results travel with the plan.

The status says "optimal" only when the plan's head count equals the proven
lower bound. Tours that no roster may take (a tour longer than the weekly
limit) are reported with the rule that stops them, and the plan covers the
rest.

The stages that build a Pyomo model import solver.model themselves: Pyomo
takes about a quarter of a second to import, and most plans, the forecast
of record among them, never need a model.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from solver.assemble import assemble_plan, draft_rosters, trim_surplus
from solver.blocks import enumerate_week_blocks
from solver.checks import CheckResult
from solver.column_generation import (
    ColumnGeneration,
    PooledRoster,
    RosterPool,
    RoundReport,
)
from solver.master import RestrictedMaster
from solver.plan import Plan
from solver.rebalance import PartTimeRebalancer
from solver.roster_search import RosterColumn, RosterCosts, RosterPricing
from solver.rules import RuleSettings
from solver.tours import Forecast, Tour, expand
from solver.validate import validate_plan

if TYPE_CHECKING:
    from solver.model import PoolColumn

logger = logging.getLogger(__name__)

BOUND_TOLERANCE = 1e-6
# Work limits of the part-time stage. They stop it at the same point on every
# run, where its time limit alone would stop it wherever the clock happened to
# be, so the same input gives the same plan. Both are generous for the
# forecast of record (about 60 pricing rounds, a few hundred nodes).
PART_TIME_MAX_ROUNDS = 150
PART_TIME_MAX_NODES = 200


class SolveStatus(enum.Enum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    TIME_LIMIT = "time_limit"
    NO_FEASIBLE_PLAN = "no_feasible_plan"


@dataclass(frozen=True)
class UncoverableTour:
    """A tour no valid roster can take, with the rule that stops it."""

    tour: Tour
    rule: str
    reason: str


@dataclass(frozen=True)
class Progress:
    """A snapshot of the search for a progress display."""

    phase: str
    lower_bound: int | None
    best_drivers: int | None
    gap: float | None
    elapsed_seconds: float


@dataclass(frozen=True)
class SolveResult:
    """A plan with its proof of quality and its validator checks.

    `lower_bound` bounds the head count of every valid plan. `lp_bound` is
    the LP value behind it, and `bound_is_exact` is true when pricing proved
    that LP optimal. `gap` is (drivers - lower_bound) / drivers.
    `part_time_lower_bound` bounds the part-time rosters of any plan with this
    head count, when stage 3 proved its LP.
    """

    plan: Plan
    status: SolveStatus
    lower_bound: int
    lp_bound: float
    bound_is_exact: bool
    part_time_lower_bound: int | None
    seconds: float
    checks: tuple[CheckResult, ...]
    uncoverable: tuple[UncoverableTour, ...]

    @property
    def drivers(self) -> int:
        return self.plan.driver_count

    @property
    def gap(self) -> float:
        if self.drivers == 0:
            return 0.0
        return max(self.drivers - self.lower_bound, 0) / self.drivers

    @property
    def violations(self) -> int:
        return sum(len(check.violations) for check in self.checks)

    def describe_status(self) -> str:
        """Say in plain words how good the plan is and why the search stopped."""
        if self.status is SolveStatus.NO_FEASIBLE_PLAN:
            count = len(self.uncoverable)
            tours = "tour cannot" if count == 1 else "tours cannot"
            return (
                f"no feasible plan: {count} {tours} be covered;"
                f" the plan staffs the other tours with {self.drivers} drivers"
            )
        if self.status is SolveStatus.OPTIMAL:
            return f"optimal: {self.drivers} drivers, proven by the lower bound"
        if self.status is SolveStatus.TIME_LIMIT:
            return (
                f"time limit reached with gap {self.gap:.1%}: {self.drivers} drivers,"
                f" lower bound {self.lower_bound}"
            )
        return (
            f"feasible with gap {self.gap:.1%}: {self.drivers} drivers,"
            f" lower bound {self.lower_bound}"
        )


def find_uncoverable(
    forecast: Forecast, tours: Sequence[Tour], rules: RuleSettings
) -> tuple[set[int], list[UncoverableTour]]:
    """Return the templates no roster may take, and their tours with the reason."""
    blocked: set[int] = set()
    for index, template in enumerate(forecast.templates):
        if template.duration_minutes > rules.max_weekly_minutes:
            blocked.add(index)
    uncoverable = []
    for tour in tours:
        if tour.duration_minutes > rules.max_weekly_minutes:
            uncoverable.append(
                UncoverableTour(
                    tour=tour,
                    rule="weekly_hours",
                    reason=(
                        f"tour {tour.tour_id} lasts {tour.duration_minutes} min,"
                        " more than"
                        f" the weekly limit of {rules.max_weekly_minutes} min"
                    ),
                )
            )
    return blocked, uncoverable


def column_counts(values: np.ndarray) -> np.ndarray:
    """Round LP values that are integral up to tolerance, and round the rest up."""
    return np.ceil(np.asarray(values) - BOUND_TOLERANCE).astype(np.int64)


def part_time_rosters(chosen: Sequence[tuple[PooledRoster, int]]) -> int:
    return sum(count for roster, count in chosen if roster.is_part_time)


def part_time_cost(roster: PooledRoster, tie_break: float) -> float:
    return int(roster.is_part_time) + tie_break * roster.split_or_single_blocks


@dataclass(frozen=True)
class _Outcome:
    """Result of the stages of one search, before the plan is assembled."""

    chosen: list[tuple[PooledRoster, int]]
    lp_bound: float
    exact: bool
    part_time_bound: int | None


class _Search:
    """State shared by the stages of one solve."""

    @classmethod
    def start(
        cls,
        forecast: Forecast,
        rules: RuleSettings | None,
        time_limit_seconds: float,
        seed: int,
        on_progress: Callable[[Progress], None] | None,
        part_time_seconds: float,
        gap_target: float = 0.0,
    ) -> _Search:
        started = time.monotonic()
        return cls(
            forecast,
            rules or RuleSettings(),
            started + time_limit_seconds,
            started,
            seed,
            on_progress,
            part_time_seconds,
            gap_target,
        )

    def __init__(
        self,
        forecast: Forecast,
        rules: RuleSettings,
        deadline: float,
        started: float,
        seed: int,
        on_progress: Callable[[Progress], None] | None,
        part_time_seconds: float,
        gap_target: float = 0.0,
    ) -> None:
        self.forecast = forecast
        self.rules = rules
        self.deadline = deadline
        self.started = started
        self.seed = seed
        self.on_progress = on_progress
        self.tours = expand(forecast)
        blocked, self.uncoverable = find_uncoverable(forecast, self.tours, rules)
        self.demand = [
            0 if index in blocked else template.count
            for index, template in enumerate(forecast.templates)
        ]
        coverable = {index for index, count in enumerate(self.demand) if count > 0}
        self.week_blocks = enumerate_week_blocks(forecast, rules, coverable)
        self.pricing = RosterPricing(self.week_blocks, rules)
        self.pool = RosterPool(self.week_blocks, rules)
        self.lower_bound = 0
        self.best_drivers: int | None = None
        self.stopped_by_time = False
        self.seed_count = 0
        self.part_time_seconds = part_time_seconds
        self.gap_target = gap_target

    def head_count_settled(self) -> bool:
        """Say whether the best plan meets the bound, or is within the gap target."""
        if self.best_drivers is None:
            return False
        if self.best_drivers <= self.lower_bound:
            return True
        gap = (self.best_drivers - self.lower_bound) / self.best_drivers
        return gap <= self.gap_target

    def report(self, phase: str) -> None:
        if self.on_progress is None:
            return
        gap = None
        if self.best_drivers:
            gap = max(self.best_drivers - self.lower_bound, 0) / self.best_drivers
        self.on_progress(
            Progress(
                phase=phase,
                lower_bound=self.lower_bound,
                best_drivers=self.best_drivers,
                gap=gap,
                elapsed_seconds=time.monotonic() - self.started,
            )
        )

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def single_tour_rosters(self) -> list[PooledRoster]:
        """Seed the pool with one roster per single tour, a plan that always covers."""
        rosters = []
        for day, blocks in enumerate(self.week_blocks):
            for block, kind_minutes in enumerate(blocks.work_minutes):
                if blocks.templates[block][1] < 0:
                    column = RosterColumn(((day, block),), int(kind_minutes), 0.0)
                    roster = self.pool.add(column)
                    if roster is not None:
                        rosters.append(roster)
        return rosters

    def head_count_stage(self) -> tuple[list[tuple[PooledRoster, int]], float, bool]:
        """Stages 1 and 2: the LP bound, then the plan with the fewest drivers found."""
        master = RestrictedMaster(self.demand)
        generation = ColumnGeneration(
            self.pool,
            self.pricing,
            master,
            cost_of=lambda roster: 1.0,
            pricing_costs=lambda cardinality_dual: RosterCosts(),
        )
        generation.add_rosters(self.single_tour_rosters())
        self.seed_count = len(self.pool.rosters)

        def on_round(report: RoundReport) -> None:
            self.lower_bound = max(
                self.lower_bound, math.ceil(report.lower_bound - BOUND_TOLERANCE)
            )
            self.report("lower bound")

        _, values, bound, exact = generation.solve_lp(self.deadline, on_round)
        self.lower_bound = max(self.lower_bound, math.ceil(bound - BOUND_TOLERANCE))
        chosen = list(zip(generation.columns, column_counts(values)))
        self.best_drivers = sum(int(count) for _, count in chosen)
        self.report("lower bound")
        if not exact:
            self.stopped_by_time = True
            return (
                [(roster, int(count)) for roster, count in chosen if count],
                bound,
                exact,
            )

        dived = generation.dive(self.deadline, round_up_at_deadline=True)
        if self.time_left() <= 0:
            self.stopped_by_time = True
        if dived is not None and int(dived.sum()) <= self.best_drivers:
            chosen = list(zip(generation.columns, dived.astype(np.int64)))
            self.best_drivers = int(dived.sum())
        self.report("dive")

        if not self.head_count_settled() and self.time_left() > 0:
            chosen = self.polish_head_count(chosen)
        return [(roster, int(count)) for roster, count in chosen if count], bound, exact

    def polish_head_count(
        self, chosen: list[tuple[PooledRoster, int]]
    ) -> list[tuple[PooledRoster, int]]:
        """Let the Pyomo model pick the fewest drivers from all generated rosters."""
        from solver.model import build_selection_model, solve_selection

        rosters = self.pool.rosters
        model = build_selection_model(
            self.pool_columns(rosters), self.demand, "drivers"
        )
        result = solve_selection(model, self.time_left(), self.seed)
        if result is None or not result.proven:
            self.stopped_by_time = True
        if result is not None and sum(result.counts) < (self.best_drivers or math.inf):
            self.best_drivers = sum(result.counts)
            chosen = list(zip(rosters, result.counts))
        self.report("head count model")
        return chosen

    def settle_exact_cover(
        self, chosen: list[tuple[PooledRoster, int]]
    ) -> list[tuple[PooledRoster, int]]:
        """Trim surplus tours and return the plan as pooled rosters covering exactly.

        Trimming keeps the head count unless a surplus tour sits in the middle
        of a triple whose outer tours form no double: then a tour moves to a
        roster of its own, one driver more than the covering plan.
        """
        drafts = trim_surplus(
            draft_rosters(self.week_blocks, chosen),
            self.demand,
            self.forecast,
            self.rules,
        )
        counts: dict[tuple[tuple[int, int], ...], int] = {}
        for draft in drafts:
            blocks = tuple(
                (day - 1, self.week_blocks[day - 1].index_of(tuple(draft.days[day])))
                for day in sorted(draft.days)
            )
            counts[blocks] = counts.get(blocks, 0) + 1
        exact = [
            (self.pool.get_or_add(blocks), count) for blocks, count in counts.items()
        ]
        self.best_drivers = sum(count for _, count in exact)
        return exact

    def exact_cover_stage(
        self, chosen: list[tuple[PooledRoster, int]]
    ) -> list[tuple[PooledRoster, int]]:
        """Close a remaining gap with the exact-cover LP, its dive and its model.

        The covering LP lets a plan hold a tour twice, so its bound can sit
        below the best exact plan, and its plans may need trimming that costs a
        driver. Column generation on the exact-cover LP (every template held
        exactly `count` times) gives a bound at least as strong, and its dive
        and a Pyomo model started from the current plan look for fewer drivers.
        """
        from solver.model import build_selection_model, solve_selection

        master = RestrictedMaster(self.demand, exact_cover=True)
        generation = ColumnGeneration(
            self.pool,
            self.pricing,
            master,
            cost_of=lambda roster: 1.0,
            pricing_costs=lambda cardinality_dual: RosterCosts(),
        )
        generation.add_rosters(list(self.pool.rosters))
        _, _, bound, exact = generation.solve_lp(self.deadline)
        self.lower_bound = max(self.lower_bound, math.ceil(bound - BOUND_TOLERANCE))
        self.report("exact cover")
        if self.head_count_settled():
            return chosen
        if not exact:
            self.stopped_by_time = True
            return chosen

        dived = generation.dive(self.deadline)
        if dived is not None and int(dived.sum()) < self.best_drivers:
            self.best_drivers = int(dived.sum())
            chosen = [
                (roster, int(count))
                for roster, count in zip(generation.columns, dived)
                if count
            ]
        self.report("exact cover dive")
        if self.head_count_settled():
            return chosen
        if self.time_left() <= 0:
            self.stopped_by_time = True
            return chosen

        rosters = list(self.pool.rosters)
        start = {id(roster): count for roster, count in chosen}
        model = build_selection_model(
            self.pool_columns(rosters), self.demand, "drivers", exact_cover=True
        )
        result = solve_selection(
            model,
            self.time_left(),
            self.seed,
            start_counts=[start.get(id(roster), 0) for roster in rosters],
        )
        if result is None or not result.proven:
            self.stopped_by_time = True
        if result is not None and sum(result.counts) < self.best_drivers:
            self.best_drivers = sum(result.counts)
            chosen = [(roster, n) for roster, n in zip(rosters, result.counts) if n]
        self.report("exact cover model")
        return chosen

    def rebalance_part_time(
        self, chosen: list[tuple[PooledRoster, int]]
    ) -> list[tuple[PooledRoster, int]]:
        """Move day blocks from long weeks to part-time rosters (solver.rebalance)."""
        rebalancer = PartTimeRebalancer(self.week_blocks, self.rules)
        rosters = [
            dict(roster.blocks) for roster, count in chosen for _ in range(count)
        ]
        counts: dict[tuple[tuple[int, int], ...], int] = {}
        for roster in rebalancer.improve(rosters):
            if not roster:
                continue
            blocks = tuple(sorted(roster.items()))
            counts[blocks] = counts.get(blocks, 0) + 1
        self.best_drivers = sum(counts.values())
        self.report("part-time moves")
        return [
            (self.pool.get_or_add(blocks), count) for blocks, count in counts.items()
        ]

    def run(self) -> _Outcome:
        """Run the stages in order; each keeps what the one before achieved."""
        if not any(self.demand):
            return _Outcome([], 0.0, True, None)
        chosen, lp_bound, exact = self.head_count_stage()
        chosen = self.settle_exact_cover(chosen)
        if not self.head_count_settled() and self.time_left() > 0:
            chosen = self.exact_cover_stage(chosen)
        chosen = self.rebalance_part_time(chosen)
        part_time_bound = None
        if not part_time_rosters(chosen):
            part_time_bound = 0
        elif self.time_left() > 0 and not self.stopped_by_time:
            chosen, part_time_bound = self.part_time_stage(
                chosen, sum(count for _, count in chosen)
            )
            chosen = self.rebalance_part_time(chosen)
        return _Outcome(chosen, lp_bound, exact, part_time_bound)

    def assemble(self, chosen: Sequence[tuple[PooledRoster, int]]) -> Plan:
        return assemble_plan(
            self.forecast,
            self.tours,
            self.week_blocks,
            chosen,
            self.demand,
            self.rules,
            uncovered=[item.tour for item in self.uncoverable],
        )

    def result(self, outcome: _Outcome) -> SolveResult:
        """Assemble and validate the plan, and state how good it is."""
        plan = self.assemble(outcome.chosen)
        checks = tuple(validate_plan(plan, self.tours, self.rules))
        if self.uncoverable:
            status = SolveStatus.NO_FEASIBLE_PLAN
        elif plan.driver_count <= self.lower_bound:
            status = SolveStatus.OPTIMAL
        elif self.stopped_by_time:
            status = SolveStatus.TIME_LIMIT
        else:
            status = SolveStatus.FEASIBLE
        result = SolveResult(
            plan=plan,
            status=status,
            lower_bound=self.lower_bound,
            lp_bound=outcome.lp_bound,
            bound_is_exact=outcome.exact,
            part_time_lower_bound=outcome.part_time_bound,
            seconds=time.monotonic() - self.started,
            checks=checks,
            uncoverable=tuple(self.uncoverable),
        )
        logger.info(
            "forecast %s planned: %d drivers, lower bound %d, status %s",
            self.forecast.sha256[:12],
            result.drivers,
            result.lower_bound,
            status.value,
        )
        return result

    def trade_off_row(self, max_drivers: int, outcome: _Outcome) -> PartTimeTradeOff:
        plan = self.assemble(outcome.chosen)
        checks = validate_plan(plan, self.tours, self.rules)
        return PartTimeTradeOff(
            max_drivers=max_drivers,
            drivers=plan.driver_count,
            part_time_rosters=sum(
                count for roster, count in outcome.chosen if roster.is_part_time
            ),
            part_time_lower_bound=outcome.part_time_bound,
            violations=sum(len(check.violations) for check in checks),
        )

    def pool_columns(self, rosters: Sequence[PooledRoster]) -> list[PoolColumn]:
        from solver.model import PoolColumn

        return [
            PoolColumn(
                roster.templates, roster.is_part_time, roster.split_or_single_blocks
            )
            for roster in rosters
        ]

    def part_time_stage(
        self, chosen: list[tuple[PooledRoster, int]], max_drivers: int
    ) -> tuple[list[tuple[PooledRoster, int]], int | None]:
        """Stage 3: fewest part-time rosters with at most `max_drivers` drivers.

        Split or single blocks break ties. Returns the plan and the proven
        lower bound on part-time rosters, or None when the LP was not proven.
        """
        from solver.model import (
            build_selection_model,
            solve_selection,
            split_or_single_weight,
        )

        stage_deadline = min(self.deadline, time.monotonic() + self.part_time_seconds)
        tie_break = split_or_single_weight(max_drivers)
        # The LP covers each template at least `count` times: any exact plan is
        # such a cover, so its value still bounds the part-time rosters, and it
        # converges far faster than the exact-cover LP.
        master = RestrictedMaster(self.demand, cardinality_limit=max_drivers)
        generation = ColumnGeneration(
            self.pool,
            self.pricing,
            master,
            cost_of=lambda roster: part_time_cost(roster, tie_break),
            pricing_costs=lambda cardinality_dual: RosterCosts(
                per_roster=-cardinality_dual,
                per_part_time=1.0,
                per_split_or_single=tie_break,
            ),
        )
        # Start from the current plan and the single-tour rosters: a master
        # holding the whole pool solves far slower than the columns it needs.
        seeds = {id(roster): roster for roster, _ in chosen}
        seeds.update(
            (id(roster), roster) for roster in self.pool.rosters[: self.seed_count]
        )
        generation.add_rosters(list(seeds.values()))
        lp_value, _, _, exact = generation.solve_lp(
            stage_deadline,
            lambda report: self.report("part-time"),
            max_rounds=PART_TIME_MAX_ROUNDS,
        )
        part_time_bound = None
        if exact:
            # Any plan pays at most tie_break * 7 * max_drivers (< 1) for blocks, so
            # the LP value less that amount bounds its part-time rosters.
            max_block_cost = tie_break * 7 * max_drivers
            part_time_bound = max(
                math.ceil(lp_value - max_block_cost - BOUND_TOLERANCE), 0
            )
        self.report("part-time")
        if time.monotonic() >= stage_deadline:
            return chosen, part_time_bound

        current = sum(
            part_time_cost(roster, tie_break) * count for roster, count in chosen
        )
        rosters = generation.columns
        model = build_selection_model(
            self.pool_columns(rosters),
            self.demand,
            "part_time",
            max_drivers,
            exact_cover=True,
        )
        start = {id(roster): count for roster, count in chosen}
        result = solve_selection(
            model,
            stage_deadline - time.monotonic(),
            self.seed,
            start_counts=[start.get(id(roster), 0) for roster in rosters],
            max_nodes=PART_TIME_MAX_NODES,
        )
        if result is not None:
            logger.info(
                "part-time model: cost %.4f against %.4f", result.objective, current
            )
        if result is not None and result.objective < current - BOUND_TOLERANCE:
            chosen = [
                (roster, count)
                for roster, count in zip(rosters, result.counts)
                if count
            ]
        self.report("part-time")
        return chosen, part_time_bound


def plan_forecast(
    forecast: Forecast,
    rules: RuleSettings | None = None,
    *,
    time_limit_seconds: float = 120.0,
    part_time_seconds: float = 20.0,
    seed: int = 0,
    on_progress: Callable[[Progress], None] | None = None,
    gap_target: float = 0.0,
) -> SolveResult:
    """Staff every tour of the forecast with as few drivers as the search can prove.

    Args:
        forecast: the canonical forecast to plan.
        rules: the plan rules; the product defaults when None.
        time_limit_seconds: wall time for the whole search; when it runs out
            the best plan so far is returned with status TIME_LIMIT.
        part_time_seconds: at most this much of the time limit goes to
            reducing part-time rosters once the head count is settled.
        seed: passed to HiGHS; the same forecast, rules and seed give the
            same plan.
        on_progress: called after each step with the bound, the best head
            count, the gap and the elapsed time.
        gap_target: the head count search stops once the gap to the lower
            bound is at most this fraction (0.01 for 1 %). The default 0 keeps
            searching until the plan is proven optimal or time runs out. A
            plan stopped by the target has status FEASIBLE and its gap.
    """
    if not 0 <= gap_target < 1:
        raise ValueError(f"gap_target must lie in [0, 1), got {gap_target}")
    search = _Search.start(
        forecast,
        rules,
        time_limit_seconds,
        seed,
        on_progress,
        part_time_seconds,
        gap_target,
    )

    return search.result(search.run())


@dataclass(frozen=True)
class PartTimeTradeOff:
    """The fewest part-time rosters found when up to `max_drivers` may work.

    `part_time_lower_bound` is proven for every plan of at most `max_drivers`
    drivers, or None when its LP was not proven in time. `violations` counts
    the validator's findings on the plan behind the row.
    """

    max_drivers: int
    drivers: int
    part_time_rosters: int
    part_time_lower_bound: int | None
    violations: int

    @property
    def is_proven(self) -> bool:
        return self.part_time_lower_bound == self.part_time_rosters


def part_time_trade_off(
    forecast: Forecast,
    rules: RuleSettings | None = None,
    *,
    extra_drivers: int = 3,
    time_limit_seconds: float = 120.0,
    part_time_seconds: float = 20.0,
    seed: int = 0,
) -> tuple[SolveResult, list[PartTimeTradeOff]]:
    """Plan the forecast, then show what more drivers would save in part-time rosters.

    The first row is the plan of plan_forecast; the next `extra_drivers` rows
    allow one driver more each. A row proven to need no more part-time rosters
    than it has settles every row after it, since more drivers allowed never
    force more part-time rosters. Other rows run the part-time stage with the
    larger cap, starting from the row before.
    """
    search = _Search.start(
        forecast, rules, time_limit_seconds, seed, None, part_time_seconds
    )
    outcome = search.run()
    result = search.result(outcome)
    rows = [search.trade_off_row(result.drivers, outcome)]
    for max_drivers in range(result.drivers + 1, result.drivers + 1 + extra_drivers):
        if rows[-1].is_proven or not outcome.chosen or search.time_left() <= 0:
            rows.append(replace(rows[-1], max_drivers=max_drivers))
            continue
        chosen, bound = search.part_time_stage(outcome.chosen, max_drivers)
        outcome = replace(
            outcome,
            chosen=search.rebalance_part_time(chosen),
            part_time_bound=bound,
        )
        rows.append(search.trade_off_row(max_drivers, outcome))
    return result, rows
