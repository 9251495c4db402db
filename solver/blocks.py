"""Enumerate the valid blocks of each weekday from the forecast's templates.

A block is one, two or three tours of one weekday that one driver works in a
row (see solver.rules for the gap and span limits of each kind). Identical
tours of a template are interchangeable, so blocks are built from templates:
a block names template indices, and a template appears at most once in a
block because two of its tours would overlap.

The optimiser uses these arrays; the plan validator does not, so a fault here
cannot hide itself from the validation.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from solver.plan import BlockKind
from solver.rules import RuleSettings
from solver.tours import MINUTES_PER_DAY, Forecast, TourTemplate

NO_TEMPLATE = -1


@dataclass(frozen=True)
class DayBlocks:
    """The valid blocks of one weekday, as parallel arrays.

    `templates` has one row per block with up to three template indices into
    the forecast, padded with NO_TEMPLATE. `week_start` and `week_end` count
    minutes from Monday 00:00; `work_minutes` sums the tour durations.
    """

    day: int
    templates: np.ndarray
    kinds: tuple[BlockKind, ...]
    week_start: np.ndarray
    week_end: np.ndarray
    work_minutes: np.ndarray
    is_triple: np.ndarray
    is_split_or_single: np.ndarray

    def __len__(self) -> int:
        return len(self.kinds)

    def index_of(self, template_ids: tuple[int, ...]) -> int:
        """Return the row of the block made of these templates, in start order."""
        if not hasattr(self, "_rows"):
            rows = {
                tuple(int(index) for index in row if index >= 0): number
                for number, row in enumerate(self.templates)
            }
            object.__setattr__(self, "_rows", rows)
        return self._rows[template_ids]


def template_week_times(template: TourTemplate) -> tuple[int, int]:
    """Return the template's start and end in minutes from Monday 00:00."""
    week_start = (template.day - 1) * MINUTES_PER_DAY + template.start_minute
    return week_start, week_start + template.duration_minutes


def classify_pair(
    gap_minutes: int, span_minutes: int, rules: RuleSettings
) -> BlockKind | None:
    """Return the kind of a two-tour block, or None if no kind allows it.

    A gap that fits both the regular and the split window (possible only with
    custom settings) counts as regular when the regular span allows it.
    """
    if (
        rules.min_regular_gap_minutes <= gap_minutes <= rules.max_regular_gap_minutes
        and span_minutes <= rules.max_regular_span_minutes
    ):
        return BlockKind.DOUBLE_REGULAR
    if (
        rules.min_split_gap_minutes <= gap_minutes <= rules.max_split_gap_minutes
        and span_minutes <= rules.max_split_span_minutes
    ):
        return BlockKind.DOUBLE_SPLIT
    return None


def classify_block(
    times: Sequence[tuple[int, int]], rules: RuleSettings
) -> BlockKind | None:
    """Return the kind of a block from its tours' (start, end) minutes, in start order.

    Returns None when no kind allows the block: more than three tours, or a
    gap or span outside the limits.
    """
    if len(times) == 1:
        return BlockKind.SINGLE
    gaps = [later[0] - earlier[1] for earlier, later in zip(times, times[1:])]
    span = times[-1][1] - times[0][0]
    if len(times) == 2:
        return classify_pair(gaps[0], span, rules)
    if len(times) == 3:
        chained = all(
            rules.min_chain_gap_minutes <= gap <= rules.max_chain_gap_minutes
            for gap in gaps
        )
        if chained and span <= rules.max_triple_span_minutes:
            return BlockKind.TRIPLE_CHAINED
    return None


def enumerate_day_blocks(
    forecast: Forecast, day: int, rules: RuleSettings, template_ids: list[int]
) -> DayBlocks:
    """List every valid block of one weekday.

    Args:
        forecast: the canonical forecast whose templates are indexed.
        day: ISO weekday, 1 = Monday.
        rules: gap and span limits.
        template_ids: indices of the forecast templates that may be worked on
            this day, which lets a caller leave out tours no driver can take.
    """
    times = {
        index: template_week_times(forecast.templates[index]) for index in template_ids
    }
    ordered = sorted(template_ids, key=lambda index: times[index])
    starts = [times[index][0] for index in ordered]

    def followers(index: int, min_gap: int, max_gap: int) -> list[int]:
        end = times[index][1]
        low = bisect.bisect_left(starts, end + min_gap)
        high = bisect.bisect_right(starts, end + max_gap)
        return ordered[low:high]

    rows: list[tuple[int, ...]] = []
    kinds: list[BlockKind] = []
    widest_pair_gap = max(rules.max_regular_gap_minutes, rules.max_split_gap_minutes)
    narrowest_pair_gap = min(rules.min_regular_gap_minutes, rules.min_split_gap_minutes)
    for first in ordered:
        rows.append((first,))
        kinds.append(BlockKind.SINGLE)
        first_start = times[first][0]
        for second in followers(first, narrowest_pair_gap, widest_pair_gap):
            gap = times[second][0] - times[first][1]
            kind = classify_pair(gap, times[second][1] - first_start, rules)
            if kind is not None:
                rows.append((first, second))
                kinds.append(kind)
        for second in followers(
            first, rules.min_chain_gap_minutes, rules.max_chain_gap_minutes
        ):
            for third in followers(
                second, rules.min_chain_gap_minutes, rules.max_chain_gap_minutes
            ):
                if times[third][1] - first_start <= rules.max_triple_span_minutes:
                    rows.append((first, second, third))
                    kinds.append(BlockKind.TRIPLE_CHAINED)

    template_matrix = np.full((len(rows), 3), NO_TEMPLATE, dtype=np.int64)
    for row_number, row in enumerate(rows):
        template_matrix[row_number, : len(row)] = row
    durations = np.array(
        [
            forecast.templates[index].duration_minutes
            for index in range(len(forecast.templates))
        ]
        + [0],
        dtype=np.int64,
    )
    week_start = np.array([times[row[0]][0] for row in rows], dtype=np.int64)
    week_end = np.array([times[row[-1]][1] for row in rows], dtype=np.int64)
    return DayBlocks(
        day=day,
        templates=template_matrix,
        kinds=tuple(kinds),
        week_start=week_start,
        week_end=week_end,
        work_minutes=durations[template_matrix].sum(axis=1),
        is_triple=np.array(
            [kind is BlockKind.TRIPLE_CHAINED for kind in kinds], dtype=bool
        ),
        is_split_or_single=np.array(
            [kind in (BlockKind.DOUBLE_SPLIT, BlockKind.SINGLE) for kind in kinds],
            dtype=bool,
        ),
    )


def enumerate_week_blocks(
    forecast: Forecast, rules: RuleSettings, coverable: set[int] | None = None
) -> list[DayBlocks]:
    """List the valid blocks of every weekday, Monday first.

    Templates outside `coverable` (when given) are left out of every block.
    """
    by_day: dict[int, list[int]] = {day: [] for day in range(1, 8)}
    for index, template in enumerate(forecast.templates):
        if coverable is None or index in coverable:
            by_day[template.day].append(index)
    return [
        enumerate_day_blocks(forecast, day, rules, by_day[day]) for day in range(1, 8)
    ]
