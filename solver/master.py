"""The restricted master LP of column generation, driven through highspy.

Rows are the forecast's templates: the rosters chosen must cover each
template's tours at least `count` times (or exactly `count` times). Columns
are rosters, and a roster covers a template at most once.

The LP is re-solved after every pricing round with a few hundred new
columns, so it is kept inside one `highspy.Highs` object and warm-started
from the previous basis with the primal simplex (new columns keep the old
basis primal feasible). Rebuilding it as a Pyomo model each round would
spend far more time in model building than HiGHS spends solving, which is
why this part talks to highspy directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import highspy
import numpy as np


class MasterLPFailed(RuntimeError):
    """HiGHS ended the restricted master with a status other than optimal."""


class RestrictedMaster:
    """Covering LP over a growing set of roster columns."""

    def __init__(
        self,
        demand: Sequence[int],
        cardinality_limit: float | None = None,
        exact_cover: bool = False,
    ) -> None:
        """Create the covering rows.

        `cardinality_limit` caps the sum of all columns; with `exact_cover`
        each template is covered exactly `count` times instead of at least.
        """
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("random_seed", 0)
        self.highs.setOptionValue("threads", 1)
        self.highs.setOptionValue("simplex_strategy", 4)
        self.row_count = len(demand)
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
        self.column_count = 0

    def add_columns(
        self, costs: Sequence[float], rows_per_column: Sequence[Sequence[int]]
    ) -> None:
        """Add roster columns; each lists the template rows it covers once."""
        if not len(costs):
            return
        starts, indices = [], []
        for rows in rows_per_column:
            starts.append(len(indices))
            indices.extend(rows)
            if self.cardinality_row is not None:
                indices.append(self.cardinality_row)
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
