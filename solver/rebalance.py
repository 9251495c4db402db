"""Move whole day blocks between rosters so that fewer rosters are part-time.

A plan with the fewest drivers often still holds a few part-time rosters
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
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from solver.blocks import DayBlocks
from solver.rules import RuleSettings

# A roster's working days: weekday index (0 = Monday) to its block's row in
# that day's DayBlocks.
WeekBlocks = dict[int, int]


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

    def minutes(self, roster: WeekBlocks) -> int:
        return sum(
            int(self.week_blocks[day].work_minutes[block])
            for day, block in roster.items()
        )

    def is_part_time(self, minutes: int) -> bool:
        return 0 < minutes < self.rules.part_time_below_minutes

    def contribution(self, minutes: int) -> tuple[int, int, int]:
        """Return one roster's share of the key: part-time, driver, missing minutes."""
        if not self.is_part_time(minutes):
            return 0, int(minutes > 0), 0
        return 1, 1, self.rules.part_time_below_minutes - minutes

    def key(self, minutes: Sequence[int]) -> tuple[int, int, int]:
        """Return what the search lowers: part-time rosters, drivers, minutes short."""
        shares = [self.contribution(value) for value in minutes]
        return tuple(sum(share[place] for share in shares) for place in range(3))

    def fits(self, roster: WeekBlocks, day: int, block: int) -> bool:
        """Say whether `block` may be worked on `day` next to the roster's other days.

        The roster's own block on `day`, if any, is ignored: the caller
        replaces it.
        """
        blocks = self.week_blocks[day]
        start = int(blocks.week_start[block])
        end = int(blocks.week_end[block])
        is_triple = bool(blocks.is_triple[block])
        for neighbour in (day - 1, day + 1):
            other = roster.get(neighbour)
            if other is None:
                continue
            other_blocks = self.week_blocks[neighbour]
            if neighbour < day:
                rest = start - int(other_blocks.week_end[other])
            else:
                rest = int(other_blocks.week_start[other]) - end
            if rest < self.rules.min_rest_minutes:
                return False
            if (
                self.rules.forbid_triple_after_triple
                and is_triple
                and bool(other_blocks.is_triple[other])
            ):
                return False
        return True

    def improve(self, rosters: Sequence[WeekBlocks]) -> list[WeekBlocks]:
        """Return the rosters after every improving move; rosters left empty go."""
        rosters = [dict(roster) for roster in rosters]
        minutes = [self.minutes(roster) for roster in rosters]
        while True:
            move = self._first_improving_move(rosters, minutes)
            if move is None:
                return [roster for roster in rosters if roster]
            self._apply(move, rosters, minutes)

    def _first_improving_move(
        self, rosters: list[WeekBlocks], minutes: list[int]
    ) -> _Move | None:
        for move in self._candidate_moves(rosters, minutes):
            before = (minutes[move.donor], minutes[move.taker])
            after = self._minutes_after(move, minutes)
            change = [
                sum(self.contribution(value)[place] for value in after)
                - sum(self.contribution(value)[place] for value in before)
                for place in range(3)
            ]
            if change < [0, 0, 0]:
                return move
        return None

    def _candidate_moves(
        self, rosters: list[WeekBlocks], minutes: list[int]
    ) -> Iterator[_Move]:
        """Yield valid moves onto part-time rosters, shortest week first."""
        takers = sorted(
            (
                number
                for number, value in enumerate(minutes)
                if self.is_part_time(value)
            ),
            key=lambda number: (minutes[number], number),
        )
        for taker in takers:
            taker_roster = rosters[taker]
            for donor, donor_roster in enumerate(rosters):
                if donor == taker:
                    continue
                for day, block in sorted(donor_roster.items()):
                    taker_block = taker_roster.get(day)
                    move = _Move(donor, taker, day, block, taker_block)
                    if self._is_valid(move, rosters, minutes):
                        yield move

    def _is_valid(
        self, move: _Move, rosters: list[WeekBlocks], minutes: list[int]
    ) -> bool:
        _, taker_after = self._minutes_after(move, minutes)
        if taker_after <= minutes[move.taker]:
            return False
        if taker_after > self.rules.max_weekly_minutes:
            return False
        if not self.fits(rosters[move.taker], move.day, move.block):
            return False
        if move.taker_block is None:
            return True
        return self.fits(rosters[move.donor], move.day, move.taker_block)

    def _minutes_after(self, move: _Move, minutes: list[int]) -> tuple[int, int]:
        day_minutes = self.week_blocks[move.day].work_minutes
        moved = int(day_minutes[move.block])
        returned = 0 if move.taker_block is None else int(day_minutes[move.taker_block])
        return (
            minutes[move.donor] - moved + returned,
            minutes[move.taker] + moved - returned,
        )

    def _apply(
        self, move: _Move, rosters: list[WeekBlocks], minutes: list[int]
    ) -> None:
        donor_after, taker_after = self._minutes_after(move, minutes)
        if move.taker_block is None:
            del rosters[move.donor][move.day]
        else:
            rosters[move.donor][move.day] = move.taker_block
        rosters[move.taker][move.day] = move.block
        minutes[move.donor] = donor_after
        minutes[move.taker] = taker_after
