"""A plain first-fit roster builder, kept as the baseline the optimiser must beat.

Tours are taken in week order (start, then end, then id). Each goes to the
first driver whose week stays valid with it, or to a new driver. A week is
valid under the same rules as everywhere else: blocks of one to three tours
with their gap and span limits, rest between consecutive days, the weekly
limit and no triple after a triple. This is how rostering by hand, and the
earlier system's first version, worked; it proves nothing about optimality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from solver.blocks import classify_block
from solver.plan import Block, BlockKind, Plan, Roster
from solver.rules import RuleSettings
from solver.tours import Forecast, Tour, expand


@dataclass
class _Week:
    """One driver's tours by weekday, with the week's minutes."""

    days: dict[int, list[Tour]] = field(default_factory=dict)
    minutes: int = 0


def block_kind(tours: list[Tour], rules: RuleSettings) -> BlockKind | None:
    """Return the kind of a block of tours in start order, or None if invalid."""
    return classify_block([(tour.week_start, tour.week_end) for tour in tours], rules)


def _fits(week: _Week, tour: Tour, rules: RuleSettings) -> bool:
    """Tell whether the week stays valid with the tour added."""
    if week.minutes + tour.duration_minutes > rules.max_weekly_minutes:
        return False
    block = sorted([*week.days.get(tour.day, []), tour])
    kind = block_kind(block, rules)
    if kind is None:
        return False
    before = week.days.get(tour.day - 1)
    after = week.days.get(tour.day + 1)
    if before and block[0].week_start - before[-1].week_end < rules.min_rest_minutes:
        return False
    if after and after[0].week_start - block[-1].week_end < rules.min_rest_minutes:
        return False
    if rules.forbid_triple_after_triple and kind is BlockKind.TRIPLE_CHAINED:
        for neighbour in (before, after):
            if neighbour and block_kind(neighbour, rules) is BlockKind.TRIPLE_CHAINED:
                return False
    return True


def first_fit_plan(forecast: Forecast, rules: RuleSettings | None = None) -> Plan:
    """Build a plan by giving each tour, in week order, to the first driver it fits."""
    rules = rules or RuleSettings()
    weeks: list[_Week] = []
    uncovered = []
    for tour in sorted(
        expand(forecast),
        key=lambda tour: (tour.week_start, tour.week_end, tour.tour_id),
    ):
        if tour.duration_minutes > rules.max_weekly_minutes:
            uncovered.append(tour)
            continue
        week = next((week for week in weeks if _fits(week, tour, rules)), None)
        if week is None:
            week = _Week()
            weeks.append(week)
        week.days.setdefault(tour.day, []).append(tour)
        week.days[tour.day].sort()
        week.minutes += tour.duration_minutes

    rosters = []
    for number, week in enumerate(weeks, start=1):
        blocks = tuple(
            Block(day=day, kind=block_kind(tours, rules), tours=tuple(tours))
            for day, tours in sorted(week.days.items())
        )
        rosters.append(Roster(driver=f"G{number:03d}", blocks=blocks))
    return Plan(rosters=tuple(rosters), uncovered=tuple(uncovered))
