"""Move whole day blocks between rosters so that fewer rosters are part-time.

A plan with the fewest drivers often still contains a few part-time rosters
(under `part_time_below_minutes`) beside full-time rosters with hours to
spare. Handing a day's block from a long week to a short one, or swapping
the blocks two drivers work on the same day, fixes many of them without
touching the head count or the cover: every block stays whole, so each tour
keeps its block partners, and block kinds and split or single blocks are
unchanged.

A move is taken only when it keeps both rosters valid (rest to the blocks of
the neighbouring days, no triple after a triple, the weekly limit) and
strictly lowers the key (part-time rosters, drivers, hours missing to full
time over the part-time rosters). The key cannot fall forever, so the search
ends, and the first improving move in a fixed order is taken, so the same
plan always gives the same result.

This is a local search: when it leaves part-time rosters, they are not
proven necessary. The caller proves a bound separately (solver.solve).

For named drivers (solver.assign) each roster brings its own limits: the
contract's minimum hours take the place of the part-time threshold, its
maximum that of the weekly limit, and blocks the driver may not work are
never moved to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from solver.blocks import DayBlocks
from solver.rules import RuleSettings

# A roster's working days: weekday index (0 = Monday) to its block's row in
# that day's DayBlocks.
WeekBlocks = dict[int, int]


@dataclass(frozen=True)
class RosterLimits:
    """One roster's own bounds, for a named driver.

    Below `minimum` minutes the roster counts as short: part-time for
    anonymous rosters, under the contract's hours for a named driver. It may
    not pass `maximum`, and `blocked` masks, per weekday, the blocks its
    driver may not work.
    """

    minimum: int
    maximum: int
    blocked: Sequence[np.ndarray] | None = None


@dataclass(frozen=True)
class _Move:
    """Block `block` of day `day` goes from roster `donor` to `taker`.

    For a swap, `taker_block` is the block the taker hands back on that day.
    """

    donor: int
    taker: int
    day: int
    block: int
    taker_block: int | None


class PartTimeRebalancer:
    """Block moves and swaps for one set of day blocks and rules."""

    def __init__(self, week_blocks: Sequence[DayBlocks], rules: RuleSettings) -> None:
        self.week_blocks = list(week_blocks)
        self.rules = rules
        # Plain lists: the search reads single entries millions of times.
        self.block_minutes = [blocks.work_minutes.tolist() for blocks in week_blocks]
        self.block_start = [blocks.week_start.tolist() for blocks in week_blocks]
        self.block_end = [blocks.week_end.tolist() for blocks in week_blocks]
        self.block_is_triple = [blocks.is_triple.tolist() for blocks in week_blocks]

    def minutes(self, roster: WeekBlocks) -> int:
        return sum(self.block_minutes[day][block] for day, block in roster.items())

    def default_limits(self) -> RosterLimits:
        return RosterLimits(
            self.rules.part_time_below_minutes, self.rules.max_weekly_minutes
        )

    def is_short(self, minutes: int, limits: RosterLimits) -> bool:
        return 0 < minutes < limits.minimum

    def contribution(self, minutes: int, limits: RosterLimits) -> tuple[int, int, int]:
        """Return one roster's share of the key: short, driver, minutes short."""
        if not self.is_short(minutes, limits):
            return 0, int(minutes > 0), 0
        return 1, 1, limits.minimum - minutes

    def key(
        self, minutes: Sequence[int], limits: Sequence[RosterLimits] | None = None
    ) -> tuple[int, int, int]:
        """Return what the search lowers: short rosters, drivers, minutes short."""
        limits = limits or [self.default_limits()] * len(minutes)
        shares = [self.contribution(value, own) for value, own in zip(minutes, limits)]
        return tuple(sum(share[place] for share in shares) for place in range(3))

    def fits(self, roster: WeekBlocks, day: int, block: int) -> bool:
        """Say whether `block` may be worked on `day` next to the roster's other days.

        The roster's own block on `day`, if any, is ignored: the caller
        replaces it.
        """
        start = self.block_start[day][block]
        end = self.block_end[day][block]
        is_triple = self.block_is_triple[day][block]
        before = roster.get(day - 1)
        if before is not None:
            if start - self.block_end[day - 1][before] < self.rules.min_rest_minutes:
                return False
            if self._triple_after_triple(
                is_triple, self.block_is_triple[day - 1][before]
            ):
                return False
        after = roster.get(day + 1)
        if after is not None:
            if self.block_start[day + 1][after] - end < self.rules.min_rest_minutes:
                return False
            if self._triple_after_triple(
                is_triple, self.block_is_triple[day + 1][after]
            ):
                return False
        return True

    def _triple_after_triple(self, is_triple: bool, neighbour_is_triple: bool) -> bool:
        return bool(
            self.rules.forbid_triple_after_triple and is_triple and neighbour_is_triple
        )

    def improve(
        self,
        rosters: Sequence[WeekBlocks],
        limits: Sequence[RosterLimits] | None = None,
    ) -> list[WeekBlocks]:
        """Return the rosters after every improving move, in the same order.

        Short rosters take moves one at a time, shortest week first, each
        until no move helps it; passes repeat until one makes no move. A
        roster left with no block is returned empty: its driver is not needed.
        `limits` gives each roster its own bounds; by default a roster is
        short under the part-time threshold and capped by the weekly limit.
        """
        rosters = [dict(roster) for roster in rosters]
        limits = list(limits or [self.default_limits()] * len(rosters))
        minutes = [self.minutes(roster) for roster in rosters]
        moved = True
        while moved:
            moved = False
            takers = sorted(
                (
                    number
                    for number, value in enumerate(minutes)
                    if self.is_short(value, limits[number])
                ),
                key=lambda number: (minutes[number], number),
            )
            for taker in takers:
                while self.is_short(minutes[taker], limits[taker]):
                    move = self._first_move_for(taker, rosters, minutes, limits)
                    if move is None:
                        break
                    self._apply(move, rosters, minutes)
                    moved = True
        return rosters

    def _first_move_for(
        self,
        taker: int,
        rosters: list[WeekBlocks],
        minutes: list[int],
        limits: list[RosterLimits],
    ) -> _Move | None:
        """Return the first valid move onto `taker` that lowers the key, or None.

        Donors are taken in roster order and their days from Monday. The
        cheap tests on minutes come before the rest and fatigue checks.
        """
        taker_roster = rosters[taker]
        taker_minutes = minutes[taker]
        taker_limits = limits[taker]
        for donor, donor_roster in enumerate(rosters):
            if donor == taker:
                continue
            donor_minutes = minutes[donor]
            for day, block in sorted(donor_roster.items()):
                moved = self.block_minutes[day][block]
                taker_block = taker_roster.get(day)
                returned = (
                    0 if taker_block is None else self.block_minutes[day][taker_block]
                )
                taker_after = taker_minutes + moved - returned
                if moved <= returned or taker_after > taker_limits.maximum:
                    continue
                donor_after = donor_minutes - moved + returned
                if not self.lowers_key(
                    ((donor_minutes, limits[donor]), (taker_minutes, taker_limits)),
                    ((donor_after, limits[donor]), (taker_after, taker_limits)),
                ):
                    continue
                if not self._may_work(taker_limits, day, block):
                    continue
                if not self.fits(taker_roster, day, block):
                    continue
                if taker_block is not None and not (
                    self._may_work(limits[donor], day, taker_block)
                    and self.fits(donor_roster, day, taker_block)
                ):
                    continue
                return _Move(donor, taker, day, block, taker_block)
        return None

    def _may_work(self, limits: RosterLimits, day: int, block: int) -> bool:
        return limits.blocked is None or not limits.blocked[day][block]

    def lowers_key(
        self,
        before: Sequence[tuple[int, RosterLimits]],
        after: Sequence[tuple[int, RosterLimits]],
    ) -> bool:
        """Say whether changing these rosters' minutes lowers the key."""
        change = [0, 0, 0]
        for value, limits in after:
            for place, share in enumerate(self.contribution(value, limits)):
                change[place] += share
        for value, limits in before:
            for place, share in enumerate(self.contribution(value, limits)):
                change[place] -= share
        return change < [0, 0, 0]

    def _apply(
        self, move: _Move, rosters: list[WeekBlocks], minutes: list[int]
    ) -> None:
        moved = self.block_minutes[move.day][move.block]
        returned = 0
        if move.taker_block is None:
            del rosters[move.donor][move.day]
        else:
            returned = self.block_minutes[move.day][move.taker_block]
            rosters[move.donor][move.day] = move.taker_block
        rosters[move.taker][move.day] = move.block
        minutes[move.donor] += returned - moved
        minutes[move.taker] += moved - returned
