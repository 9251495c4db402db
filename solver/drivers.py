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

EARLY_START = "early"
LATE_START = "late"
START_PREFERENCES = (EARLY_START, LATE_START)
MAX_PREFERENCE_WEIGHT = 10


@dataclass(frozen=True)
class DriverPreferences:
    """A driver's wishes, which the engine honours after cover and head count.

    Each wish has a weight from 0 (ignored) to MAX_PREFERENCE_WEIGHT.
    `start` is EARLY_START, LATE_START or None; `days_off` contains ISO
    weekdays (1 = Monday) the driver would rather not work; and
    `max_days_in_row` is the longest run of working days the driver wishes.
    """

    start: str | None = None
    start_weight: int = 0
    days_off: frozenset[int] = frozenset()
    days_off_weight: int = 0
    max_days_in_row: int | None = None
    max_days_in_row_weight: int = 0

    def __post_init__(self) -> None:
        if self.start is not None and self.start not in START_PREFERENCES:
            raise ValueError(
                f"start preference must be one of {', '.join(START_PREFERENCES)},"
                f" got {self.start!r}"
            )
        for day in self.days_off:
            if not 1 <= day <= 7:
                raise ValueError(f"preferred day off must be 1 to 7, got {day}")
        if self.max_days_in_row is not None and not 1 <= self.max_days_in_row <= 7:
            raise ValueError(
                f"max_days_in_row must be 1 to 7, got {self.max_days_in_row}"
            )
        for name in ("start_weight", "days_off_weight", "max_days_in_row_weight"):
            weight = getattr(self, name)
            if not 0 <= weight <= MAX_PREFERENCE_WEIGHT:
                raise ValueError(
                    f"{name} must be 0 to {MAX_PREFERENCE_WEIGHT}, got {weight}"
                )

    @property
    def is_empty(self) -> bool:
        """Tell whether no wish carries any weight."""
        return not (
            (self.start and self.start_weight)
            or (self.days_off and self.days_off_weight)
            or (self.max_days_in_row and self.max_days_in_row_weight)
        )


@dataclass(frozen=True)
class DriverProfile:
    """One driver: who may take which tour, and for how long in the week.

    `max_weekly_minutes` of None means the plan rules' limit applies;
    `min_weekly_minutes` is the contract's minimum, a goal and not a rule.
    `unavailable` contains half-open intervals [start, end) of week minutes.
    `previous_week_end` is the end of the driver's last block in the approved
    plan of the previous week, or None when there is none. `preferences`
    are soft and so not part of `kind`.
    """

    driver_id: str
    qualifications: frozenset[str] = frozenset()
    home_depot: str = ""
    max_weekly_minutes: int | None = None
    min_weekly_minutes: int = 0
    unavailable: tuple[tuple[int, int], ...] = ()
    previous_week_end: int | None = None
    preferences: DriverPreferences = DriverPreferences()

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
