"""The restricted master LP of column generation, driven through highspy.

Rows are the forecast's templates: the rosters chosen must cover each
template's tours at least `count` times (or exactly `count` times). Columns
are rosters, and a roster covers a template at most once.

The LP is re-solved after every pricing round with a few hundred new
columns, so it is kept inside one `highspy.Highs` object and warm-started
from the previous basis with the primal simplex (new columns keep the old
basis primal feasible), or with the dual simplex after a dive raised lower
bounds. Rebuilding it as a Pyomo model each round would
spend far more time in model building than HiGHS spends solving, which is
why this part talks to highspy directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import highspy
import numpy as np

PRIMAL_SIMPLEX = 4
DUAL_SIMPLEX = 1


class MasterLPFailed(RuntimeError):
    """HiGHS ended the restricted master with a status other than optimal."""


class RestrictedMaster:
    """Covering LP over a growing set of roster columns."""

    def __init__(
        self,
        demand: Sequence[int],
        cardinality_limit: float | None = None,
        exact_cover: bool = False,
        capacities: Sequence[float] = (),
    ) -> None:
        """Create the covering rows.

        `cardinality_limit` caps the sum of all columns; with `exact_cover`
        each template is covered exactly `count` times instead of at least.
        Each of `capacities` adds a row capping the columns that name it
        (see `capacity_row`), such as the drivers of one kind.
        """
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("random_seed", 0)
        self.highs.setOptionValue("threads", 1)
        self.highs.setOptionValue("simplex_strategy", PRIMAL_SIMPLEX)
        self.row_count = len(demand)
        self.demand = np.asarray(demand, dtype=np.float64)
        infinity = highspy.kHighsInf
        lower = np.asarray(demand, dtype=np.float64)
        upper = lower.copy() if exact_cover else np.full(self.row_count, infinity)
        self.highs.addRows(
            self.row_count,
            lower,
            upper,
            0,
            np.zeros(0, np.int32),
            np.zeros(0, np.int32),
            np.zeros(0),
        )
        self.cardinality_row: int | None = None
        if cardinality_limit is not None:
            self.highs.addRow(
                -infinity, cardinality_limit, 0, np.zeros(0, np.int32), np.zeros(0)
            )
            self.cardinality_row = self.row_count
        self.first_capacity_row = self.highs.getNumRow()
        for capacity in capacities:
            self.highs.addRow(
                -infinity, float(capacity), 0, np.zeros(0, np.int32), np.zeros(0)
            )
        self.column_count = 0
        self._last_row_duals = np.zeros(0)

    def capacity_row(self, capacity: int) -> int:
        """Return the row number of the capacity with this index."""
        return self.first_capacity_row + capacity

    def add_columns(
        self,
        costs: Sequence[float],
        rows_per_column: Sequence[Sequence[int]],
        capacities: Sequence[int | None] | None = None,
    ) -> None:
        """Add roster columns; each lists the template rows it covers once.

        `capacities`, when given, names for each column the capacity it
        counts against, or None.
        """
        if not len(costs):
            return
        starts, indices = [], []
        for number, rows in enumerate(rows_per_column):
            starts.append(len(indices))
            indices.extend(rows)
            if self.cardinality_row is not None:
                indices.append(self.cardinality_row)
            if capacities is not None and capacities[number] is not None:
                indices.append(self.capacity_row(capacities[number]))
        self.highs.setOptionValue("simplex_strategy", PRIMAL_SIMPLEX)
        self.highs.addCols(
            len(costs),
            np.asarray(costs, dtype=np.float64),
            np.zeros(len(costs)),
            np.full(len(costs), highspy.kHighsInf),
            len(indices),
            np.asarray(starts, dtype=np.int32),
            np.asarray(indices, dtype=np.int32),
            np.ones(len(indices)),
        )
        self.column_count += len(costs)

    def raise_lower_bounds(self, columns: np.ndarray, lower: np.ndarray) -> None:
        """Raise the lower bounds of some columns, as a dive fixes rosters.

        New lower bounds leave the old basis dual feasible but not primal
        feasible, so the next solve uses the dual simplex.
        """
        self.highs.setOptionValue("simplex_strategy", DUAL_SIMPLEX)
        self.highs.changeColsBounds(
            len(columns),
            columns.astype(np.int32),
            lower,
            np.full(len(columns), highspy.kHighsInf),
        )

    def reduced_costs(self) -> np.ndarray:
        """Return the reduced cost of every column at the last solve."""
        return np.asarray(self.highs.getSolution().col_dual)

    def delete_columns(self, columns: np.ndarray) -> None:
        """Delete columns; the remaining ones keep their order and close the gaps."""
        if len(columns):
            self.highs.deleteCols(len(columns), columns.astype(np.int32))
            self.column_count -= len(columns)

    def lower_bounds(self) -> np.ndarray:
        """Return the current lower bound of every column."""
        return np.asarray(self.highs.getLp().col_lower_)

    def solve(self) -> tuple[float, np.ndarray, float, np.ndarray]:
        """Solve the LP; return value, row duals, cardinality dual, column values."""
        self.highs.run()
        status = self.highs.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise MasterLPFailed(
                "restricted master LP ended with status"
                f" {self.highs.modelStatusToString(status)}"
            )
        solution = self.highs.getSolution()
        row_duals = np.asarray(solution.row_dual)
        self._last_row_duals = row_duals
        cardinality_dual = (
            float(row_duals[self.cardinality_row])
            if self.cardinality_row is not None
            else 0.0
        )
        objective = float(self.highs.getInfo().objective_function_value)
        return (
            objective,
            row_duals[: self.row_count],
            cardinality_dual,
            np.asarray(solution.col_value),
        )

    def capacity_duals(self) -> np.ndarray:
        """Return the duals of the capacity rows at the last solve (each 0 or below)."""
        return self._last_row_duals[self.first_capacity_row :]
