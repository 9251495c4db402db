"""Drivers as the planning engine models them: skills, limits and working times.

The engine gets no names or personal data, only what decides which tours a
driver may take. The service layer builds these profiles from the driver
master data and availability, turning weekly patterns and dated exceptions
into `unavailable` intervals of the planned week.

Times count minutes from Monday 00:00 of the planned week, as tours do. A
driver's last block of the previous week ends at a negative minute (Sunday
22:00 is -120), and the first block of this week must start at least the
rest time after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from solver.tours import MINUTES_PER_DAY


@dataclass(frozen=True)
class DriverProfile:
    """One driver: who may take which tour, and for how long in the week.

    `max_weekly_minutes` of None means the plan rules' limit applies;
    `min_weekly_minutes` is the contract's minimum, a goal and not a rule.
    `unavailable` contains half-open intervals [start, end) of week minutes.
    `previous_week_end` is the end of the driver's last block in the approved
    plan of the previous week, or None when there is none.
    """

    driver_id: str
    qualifications: frozenset[str] = frozenset()
    home_depot: str = ""
    max_weekly_minutes: int | None = None
    min_weekly_minutes: int = 0
    unavailable: tuple[tuple[int, int], ...] = ()
    previous_week_end: int | None = None

    def __post_init__(self) -> None:
        if not self.driver_id:
            raise ValueError("a driver profile needs a driver_id")
        for start, end in self.unavailable:
            if end <= start:
                raise ValueError(
                    f"driver {self.driver_id}: unavailable interval"
                    f" [{start}, {end}) ends before it starts"
                )
        if self.max_weekly_minutes is not None and self.max_weekly_minutes < 0:
            raise ValueError(
                f"driver {self.driver_id}: max_weekly_minutes must not be negative"
            )

    def kind(self) -> tuple:
        """Return everything but the id: drivers of one kind are interchangeable."""
        return (
            self.qualifications,
            self.home_depot,
            self.max_weekly_minutes,
            self.min_weekly_minutes,
            self.unavailable,
            self.previous_week_end,
        )


def whole_days_off(days: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Return the unavailable intervals for whole ISO weekdays (1 = Monday)."""
    return tuple(
        ((day - 1) * MINUTES_PER_DAY, day * MINUTES_PER_DAY) for day in sorted(days)
    )
