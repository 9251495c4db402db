"""Pricing for column generation: find rosters with negative reduced cost.

Given a value for each template (the duals of the covering rows), the best
roster maximises the summed value of its blocks. A roster picks at most one
block per weekday, Monday to Sunday, and must keep:

- at least `min_rest_minutes` between the end of one day's block and the
  start of the next calendar day's block (a block ending after midnight
  counts from its real end);
- at most `max_weekly_minutes` of tour time in the week;
- with `forbid_triple_after_triple`, no triple block on the calendar day after
  a triple block.

Dynamic programming over the seven days solves this exactly. The state after
a day is the block worked that day (or none) and the tour minutes used so
far. Minutes are counted in units of the greatest common divisor of all tour
durations, so the weekly limit is kept to the minute while the table stays
small. The unit is 270 min for a week of 4.5 h tours and 15 min for mixed
lengths in quarter hours.
Rest depends only on the previous day's block end, so the best compatible
predecessor of every block is a prefix maximum over the previous day's blocks
sorted by end time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from solver.blocks import DayBlocks
from solver.rules import RuleSettings

UNREACHABLE = -np.inf
VALUE_TOLERANCE = 1e-7


@dataclass(frozen=True)
class RosterColumn:
    """A roster found by pricing: one (day index, block index) pair per working day."""

    blocks: tuple[tuple[int, int], ...]
    work_minutes: int
    value: float


@dataclass(frozen=True)
class RosterCosts:
    """Objective terms of a roster beyond the covering duals.

    A roster costs `per_roster`, plus `per_part_time` when its tour time is
    under the part-time threshold, plus `per_split_or_single` for every split
    or single block.
    """

    per_roster: float = 1.0
    per_part_time: float = 0.0
    per_split_or_single: float = 0.0


def minute_unit(week_blocks: Sequence[DayBlocks], rules: RuleSettings) -> int:
    """Return the largest unit that divides every block's tour minutes."""
    unit = 0
    for day_blocks in week_blocks:
        for minutes in np.unique(day_blocks.work_minutes):
            unit = math.gcd(unit, int(minutes))
    return max(unit, 1)


class RosterPricing:
    """Exact best-roster search for a fixed set of blocks and rules."""

    def __init__(self, week_blocks: Sequence[DayBlocks], rules: RuleSettings) -> None:
        self.week_blocks = list(week_blocks)
        self.rules = rules
        self.unit = minute_unit(self.week_blocks, rules)
        self.max_units = rules.max_weekly_minutes // self.unit
        self.block_units = [
            (day_blocks.work_minutes // self.unit).astype(np.int64)
            for day_blocks in self.week_blocks
        ]
        self._predecessors = [self._compatible_prefix(day) for day in range(7)]

    def _compatible_prefix(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Sort the previous day's blocks by end; count those each block may follow."""
        blocks = self.week_blocks[day]
        if day == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(len(blocks), dtype=np.int64)
        previous = self.week_blocks[day - 1]
        order = np.argsort(previous.week_end, kind="stable")
        latest_end = blocks.week_start - self.rules.min_rest_minutes
        counts = np.searchsorted(previous.week_end[order], latest_end, side="right")
        return order, counts

    def search(
        self,
        template_values: np.ndarray,
        costs: RosterCosts,
        max_columns: int,
        min_improvement: float = 1e-6,
        *,
        blocked: Sequence[np.ndarray] | None = None,
        max_weekly_minutes: int | None = None,
    ) -> list[RosterColumn]:
        """Return up to `max_columns` rosters whose value beats their cost.

        Args:
            template_values: value of one tour of each template (covering
                duals), one entry per template of the forecast.
            costs: cost terms a roster pays; a roster is returned when its
                block values, less block and part-time costs, exceed
                `costs.per_roster` by more than `min_improvement`.
            max_columns: at most this many rosters, best first; they differ
                in their last block.
            blocked: per weekday, a boolean mask of the blocks this roster
                may not work (one driver's availability and skills).
            max_weekly_minutes: a weekly limit below the rules' limit, for
                one driver's contract.

        Returns:
            The rosters found; an empty list proves that no roster has a
            negative reduced cost.
        """
        padded_values = np.append(template_values.astype(np.float64), 0.0)
        width = self.max_units + 1
        unit_range = np.arange(width)
        empty_roster = np.full(width, UNREACHABLE)
        empty_roster[0] = 0.0

        # One pass over the days. tables[day][block, units] is the best value of a
        # roster whose latest working day is `day`, worked with `block`, using
        # `units` of tour time. work_before[day][units] is the best value of a
        # roster that works only on days before `day`.
        tables: list[np.ndarray] = []
        block_values: list[np.ndarray] = []
        work_before = [empty_roster]
        for day, blocks in enumerate(self.week_blocks):
            values = padded_values[blocks.templates].sum(axis=1)
            values -= costs.per_split_or_single * blocks.is_split_or_single
            if blocked is not None:
                values[blocked[day]] = UNREACHABLE
            block_values.append(values)

            day_before_off = work_before[max(day - 1, 0)]
            best_before = np.broadcast_to(day_before_off, (len(blocks), width)).copy()
            if day > 0 and len(tables[day - 1]) and len(blocks):
                best_before = np.maximum(
                    best_before, self._best_predecessors(tables, day)
                )

            shifted = unit_range[None, :] - self.block_units[day][:, None]
            table = np.where(
                shifted >= 0,
                np.take_along_axis(best_before, np.clip(shifted, 0, None), axis=1),
                UNREACHABLE,
            )
            table += values[:, None]
            tables.append(table)
            if len(table):
                work_before.append(np.maximum(work_before[day], table.max(axis=0)))
            else:
                work_before.append(work_before[day])

        part_time_units = -(-self.rules.part_time_below_minutes // self.unit)
        part_time_cost = np.where(
            unit_range < part_time_units, costs.per_part_time, 0.0
        )
        if max_weekly_minutes is not None:
            # Rosters over the driver's own limit can never end a search.
            over_limit = unit_range > max_weekly_minutes // self.unit
            part_time_cost = np.where(over_limit, np.inf, part_time_cost)
        endings = []
        for day, table in enumerate(tables):
            if not len(table):
                continue
            net = table - part_time_cost[None, :]
            best_units = net.argmax(axis=1)
            best_net = net[np.arange(len(table)), best_units]
            good = np.flatnonzero(best_net > costs.per_roster + min_improvement)
            endings.extend(
                (float(best_net[b]), day, int(b), int(best_units[b])) for b in good
            )
        endings.sort(key=lambda ending: (-ending[0], ending[1], ending[2]))

        return [
            self._trace_back(
                tables, work_before, block_values, day, block, units, value
            )
            for value, day, block, units in endings[:max_columns]
        ]

    def _best_predecessors(self, tables: list[np.ndarray], day: int) -> np.ndarray:
        """Return, per block of `day` and minutes, the best previous-day value."""
        blocks = self.week_blocks[day]
        previous = self.week_blocks[day - 1]
        order, counts = self._predecessors[day]
        width = tables[day - 1].shape[1]
        sorted_table = tables[day - 1][order]
        nothing = np.full((1, width), UNREACHABLE)
        prefix_any = np.vstack([nothing, np.maximum.accumulate(sorted_table)])
        if not self.rules.forbid_triple_after_triple:
            return prefix_any[counts]
        non_triple = np.where(
            previous.is_triple[order][:, None], UNREACHABLE, sorted_table
        )
        prefix_non_triple = np.vstack([nothing, np.maximum.accumulate(non_triple)])
        return np.where(
            blocks.is_triple[:, None], prefix_non_triple[counts], prefix_any[counts]
        )

    def _trace_back(
        self,
        tables: list[np.ndarray],
        work_before: list[np.ndarray],
        block_values: list[np.ndarray],
        day: int,
        block: int,
        units: int,
        value: float,
    ) -> RosterColumn:
        """Rebuild the roster behind one table entry by following equal values back."""
        chosen = []
        total_units = units
        while True:
            chosen.append((day, block))
            target = tables[day][block, units] - block_values[day][block]
            units -= int(self.block_units[day][block])
            previous = self._matching_predecessor(tables, day, block, units, target)
            if previous is not None:
                day, block = day - 1, previous
                continue

            # The day before was off: find the latest earlier working day.
            day -= 1
            found = None
            while day > 0 and found is None:
                earlier = tables[day - 1]
                if len(earlier):
                    matches = np.flatnonzero(
                        np.abs(earlier[:, units] - target) <= VALUE_TOLERANCE
                    )
                    if len(matches):
                        found = int(matches[0])
                        break
                day -= 1
            if found is None:
                if units != 0 or abs(target) > VALUE_TOLERANCE:
                    raise RuntimeError(
                        "roster trace-back found no path; tables disagree"
                    )
                return RosterColumn(
                    tuple(reversed(chosen)), total_units * self.unit, value
                )
            day, block = day - 1, found

    def _matching_predecessor(
        self, tables: list[np.ndarray], day: int, block: int, units: int, target: float
    ) -> int | None:
        """Return a previous-day block that `block` may follow, with value `target`."""
        if day == 0 or not len(tables[day - 1]):
            return None
        order, counts = self._predecessors[day]
        candidates = order[: counts[block]]
        if (
            self.rules.forbid_triple_after_triple
            and self.week_blocks[day].is_triple[block]
        ):
            candidates = candidates[~self.week_blocks[day - 1].is_triple[candidates]]
        matches = candidates[
            np.abs(tables[day - 1][candidates, units] - target) <= VALUE_TOLERANCE
        ]
        return int(matches.min()) if len(matches) else None
