"""A plan: one roster per driver, each roster at most one block per weekday."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from solver.tours import Tour


class BlockKind(enum.Enum):
    SINGLE = "single"
    DOUBLE_REGULAR = "double_regular"
    DOUBLE_SPLIT = "double_split"
    TRIPLE_CHAINED = "triple_chained"


@dataclass(frozen=True)
class Block:
    """One driver's tours on one weekday, in start order."""

    day: int
    kind: BlockKind
    tours: tuple[Tour, ...]

    @property
    def week_start(self) -> int:
        return self.tours[0].week_start

    @property
    def week_end(self) -> int:
        return self.tours[-1].week_end

    @property
    def work_minutes(self) -> int:
        return sum(tour.duration_minutes for tour in self.tours)

    @property
    def span_minutes(self) -> int:
        return self.week_end - self.week_start


@dataclass(frozen=True)
class Roster:
    """One driver's week; `driver` is a slot id such as D001."""

    driver: str
    blocks: tuple[Block, ...]

    @property
    def work_minutes(self) -> int:
        return sum(block.work_minutes for block in self.blocks)

    @property
    def tours(self) -> tuple[Tour, ...]:
        return tuple(tour for block in self.blocks for tour in block.tours)


@dataclass(frozen=True)
class Plan:
    """Rosters for the tours of one forecast, plus the tours left uncovered."""

    rosters: tuple[Roster, ...]
    uncovered: tuple[Tour, ...] = field(default=())

    @property
    def driver_count(self) -> int:
        return len(self.rosters)
