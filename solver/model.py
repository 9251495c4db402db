"""Pyomo model that picks whole rosters from the generated pool.

Every column is a valid roster: one block per working day, rest, weekly
hours and fatigue are already kept by the pricing step that built it (see
solver.roster_search). What is left for the integer model is:

- cover every tour: for each template, the chosen rosters hold at least
  `count` of its tours (surplus is trimmed from block ends afterwards), or
  exactly `count` in the second stage;
- head count cap: in the second stage, at most the head count of the first
  stage's plan;
- objective, in strict priority across two stages: first the fewest drivers,
  then the fewest part-time rosters, with split and single blocks as a
  tie-break weighted so that all of them together cost less than one
  part-time roster.

A roster may be chosen several times because a template with count 3 can be
worked by three drivers with identical weeks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition
from pyomo.contrib.appsi.solvers.highs import Highs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolColumn:
    """A roster of the pool, reduced to what the integer model needs."""

    templates: tuple[int, ...]
    is_part_time: bool
    split_or_single_blocks: int


@dataclass(frozen=True)
class SelectionResult:
    """Outcome of one integer solve over the pool.

    `counts[i]` is how many drivers work column i; `proven` is true when HiGHS
    closed the gap of this stage, and `objective_bound` is its dual bound.
    """

    counts: tuple[int, ...]
    objective: float
    objective_bound: float | None
    proven: bool
    termination: str


def build_selection_model(
    columns: Sequence[PoolColumn],
    demand: Sequence[int],
    objective: str,
    max_drivers: int | None = None,
    exact_cover: bool = False,
) -> pyo.ConcreteModel:
    """Build the roster selection model.

    Args:
        columns: the roster pool.
        demand: tours per template, indexed like the templates in columns.
        objective: "drivers" for the head count, or "part_time" for part-time
            rosters first and split or single blocks second.
        max_drivers: cap on the head count, used by the second stage.
        exact_cover: hold each template's tours exactly `count` times, so no
            surplus is left to trim.
    """
    model = pyo.ConcreteModel(name="roster_selection")
    model.rosters = pyo.RangeSet(0, len(columns) - 1)
    model.templates = pyo.RangeSet(0, len(demand) - 1)
    model.drivers_on = pyo.Var(model.rosters, domain=pyo.NonNegativeIntegers)

    covering: dict[int, list[int]] = {template: [] for template in range(len(demand))}
    for index, column in enumerate(columns):
        for template in column.templates:
            covering[template].append(index)
    add_cover_every_tour(model, covering, demand, exact_cover)
    if max_drivers is not None:
        add_head_count_cap(model, max_drivers)
    set_objective(model, columns, objective, max_drivers)
    return model


def add_cover_every_tour(
    model: pyo.ConcreteModel,
    covering: dict[int, list[int]],
    demand: Sequence[int],
    exact_cover: bool,
) -> None:
    """Hold each template's tours in at least (or exactly) `count` chosen rosters."""

    def cover_rule(model: pyo.ConcreteModel, template: int) -> pyo.Expression:
        if not covering[template]:
            return (
                pyo.Constraint.Infeasible
                if demand[template] > 0
                else pyo.Constraint.Skip
            )
        held = sum(model.drivers_on[index] for index in covering[template])
        return held == demand[template] if exact_cover else held >= demand[template]

    model.cover_every_tour = pyo.Constraint(model.templates, rule=cover_rule)


def add_head_count_cap(model: pyo.ConcreteModel, max_drivers: int) -> None:
    """At most `max_drivers` rosters in all, so a later stage never adds a driver."""
    model.head_count_cap = pyo.Constraint(
        expr=pyo.quicksum(model.drivers_on[index] for index in model.rosters)
        <= max_drivers
    )


def set_objective(
    model: pyo.ConcreteModel,
    columns: Sequence[PoolColumn],
    objective: str,
    max_drivers: int | None,
) -> None:
    """Minimise drivers, or part-time rosters with split and single blocks second."""
    if objective == "drivers":
        model.objective = pyo.Objective(
            expr=pyo.quicksum(model.drivers_on[index] for index in model.rosters)
        )
        return
    if objective != "part_time" or max_drivers is None:
        raise ValueError(
            f"unknown objective {objective!r};"
            " use 'drivers', or 'part_time' with max_drivers"
        )
    tie_break = split_or_single_weight(max_drivers)
    model.objective = pyo.Objective(
        expr=pyo.quicksum(
            (int(column.is_part_time) + tie_break * column.split_or_single_blocks)
            * model.drivers_on[index]
            for index, column in enumerate(columns)
        )
    )


def split_or_single_weight(max_drivers: int) -> float:
    """Return a weight that keeps all split and single blocks of a plan under 1.

    A plan of at most `max_drivers` rosters has at most seven blocks per
    roster, so the tie-break never outweighs one part-time roster.
    """
    return 1.0 / (7 * max(max_drivers, 1) + 1)


def solve_selection(
    model: pyo.ConcreteModel,
    time_limit_seconds: float,
    seed: int = 0,
    start_counts: Sequence[int] | None = None,
    max_nodes: int | None = None,
) -> SelectionResult | None:
    """Solve the selection model with HiGHS; return None when it found no plan.

    `start_counts` (drivers per column) is handed to HiGHS as a starting plan,
    so a time limit never leaves the model worse off than that plan.
    `max_nodes` caps the branch-and-bound nodes: unlike a time limit, it stops
    the search at the same point on every run, so the plan is reproducible. The
    termination condition is read first: only a proven optimum counts as
    proven, a time limit with an incumbent gives a usable but unproven plan,
    and any other status is logged and treated as no result.
    """
    solver = Highs()
    solver.config.time_limit = max(time_limit_seconds, 0.1)
    solver.config.load_solution = False
    solver.config.log_level = logging.DEBUG
    solver.highs_options = {
        "random_seed": seed,
        "threads": 1,
        "mip_rel_gap": 0.0,
        "mip_abs_gap": 1e-9,
    }
    if max_nodes is not None:
        solver.highs_options["mip_max_nodes"] = max_nodes
    if start_counts is not None:
        for index, count in zip(model.rosters, start_counts):
            model.drivers_on[index].set_value(count)
        solver.config.warmstart = True
    results = solver.solve(model)

    condition = results.termination_condition
    if condition not in (
        TerminationCondition.optimal,
        TerminationCondition.maxTimeLimit,
        TerminationCondition.maxIterations,
    ):
        logger.warning(
            "roster selection ended with unexpected status %s", condition.name
        )
        return None
    if results.best_feasible_objective is None:
        return None

    results.solution_loader.load_vars()
    counts = tuple(
        int(round(pyo.value(model.drivers_on[index]))) for index in model.rosters
    )
    return SelectionResult(
        counts=counts,
        objective=float(results.best_feasible_objective),
        objective_bound=results.best_objective_bound,
        proven=condition == TerminationCondition.optimal,
        termination=condition.name,
    )
