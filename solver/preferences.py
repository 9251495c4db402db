"""Score named drivers' weeks against their wishes, and match rosters to drivers.

A driver's wishes (solver.drivers.DriverPreferences) are soft. The planner
honours them after cover, head count and contract hours. Each wish with a
weight above 0 counts once per driver of the pool, and it is honoured as
follows:

- start: every block of the week starts in the wished window. An early
  start begins before EARLY_START_BEFORE_MINUTE (08:00), and a late start
  begins at or after LATE_START_FROM_MINUTE (12:00). A block starts with
  its first tour.
- day off: one wish per preferred ISO weekday, honoured when the driver
  has no block that weekday.
- max days in a row: the longest run of consecutive working weekdays
  within the planned week is at most the wished number. Days worked in the
  previous week are not counted, because a driver profile stores only the
  end of the previous week's last block.

A driver without a roster honours every wish. The score of a plan is the
sum of the weights of honoured wishes over the whole pool, and the weighted
share is that score over the sum of all weights.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from solver.drivers import EARLY_START, DriverPreferences, DriverProfile
from solver.plan import Plan
from solver.rebalance import PartTimeRebalancer, RosterLimits, WeekBlocks
from solver.tours import MINUTES_PER_DAY, format_clock

EARLY_START_BEFORE_MINUTE = 8 * 60
LATE_START_FROM_MINUTE = 12 * 60
WEEKDAY_NAMES = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)

START_WISH = "start"
DAY_OFF_WISH = "day_off"
DAYS_IN_ROW_WISH = "max_days_in_row"

# A driver's week for scoring: ISO weekday (1 = Monday) to the minute of the
# day at which that day's block starts.
WeekStarts = Mapping[int, int]


@dataclass(frozen=True)
class WishOutcome:
    """One wish of one driver, its weight, and whether the week honours it.

    `message` describes an unmet wish in plain words and is empty when the
    wish is honoured.
    """

    wish: str
    weight: int
    honoured: bool
    message: str = ""


@dataclass(frozen=True)
class PreferenceReport:
    """Counts of the wishes of a pool of drivers that a plan honours.

    `wishes` and `honoured` count wishes with a weight above 0, and
    `weight_total` and `weight_honoured` sum their weights. `unmet` maps each
    driver with an unmet wish to those wishes in plain words.
    `weighted_share` is the honoured weight over the total weight, 1.0
    without wishes. It is a field, so `dataclasses.asdict` includes it.
    """

    wishes: int
    honoured: int
    weight_total: int
    weight_honoured: int
    unmet: dict[str, tuple[str, ...]] = field(default_factory=dict)
    weighted_share: float = field(init=False)

    def __post_init__(self) -> None:
        share = self.weight_honoured / self.weight_total if self.weight_total else 1.0
        object.__setattr__(self, "weighted_share", share)


def is_in_start_window(start: str, minute_of_day: int) -> bool:
    """Tell whether a block starting at `minute_of_day` is an early or late start."""
    if start == EARLY_START:
        return minute_of_day < EARLY_START_BEFORE_MINUTE
    return minute_of_day >= LATE_START_FROM_MINUTE


def longest_run(days: Sequence[int] | set[int]) -> int:
    """Return the longest run of consecutive ISO weekdays among `days`."""
    longest = current = 0
    for day in range(1, 8):
        current = current + 1 if day in days else 0
        longest = max(longest, current)
    return longest


def evaluate_wishes(
    preferences: DriverPreferences, starts: WeekStarts
) -> list[WishOutcome]:
    """Return the outcome of each weighted wish for one driver's week."""
    outcomes = []
    if preferences.start and preferences.start_weight:
        outside = sorted(
            (day, minute)
            for day, minute in starts.items()
            if not is_in_start_window(preferences.start, minute)
        )
        message = ""
        if outside:
            window = (
                f"before {format_clock(EARLY_START_BEFORE_MINUTE)}"
                if preferences.start == EARLY_START
                else f"at or after {format_clock(LATE_START_FROM_MINUTE)}"
            )
            when = ", ".join(
                f"{format_clock(minute)} on {WEEKDAY_NAMES[day - 1]}"
                for day, minute in outside
            )
            message = f"wished {preferences.start} starts ({window}) but starts {when}"
        outcomes.append(
            WishOutcome(START_WISH, preferences.start_weight, not outside, message)
        )
    if preferences.days_off_weight:
        for day in sorted(preferences.days_off):
            works = day in starts
            message = (
                f"wished {WEEKDAY_NAMES[day - 1]} off but works at"
                f" {format_clock(starts[day])} that day"
                if works
                else ""
            )
            outcomes.append(
                WishOutcome(
                    DAY_OFF_WISH, preferences.days_off_weight, not works, message
                )
            )
    if preferences.max_days_in_row and preferences.max_days_in_row_weight:
        run = longest_run(set(starts))
        honoured = run <= preferences.max_days_in_row
        message = (
            ""
            if honoured
            else f"wished at most {preferences.max_days_in_row} days in a row"
            f" but works {run} in a row"
        )
        outcomes.append(
            WishOutcome(
                DAYS_IN_ROW_WISH,
                preferences.max_days_in_row_weight,
                honoured,
                message,
            )
        )
    return outcomes


def honoured_weight(preferences: DriverPreferences, starts: WeekStarts) -> int:
    """Return the sum of the weights of the wishes this week honours."""
    return sum(
        outcome.weight
        for outcome in evaluate_wishes(preferences, starts)
        if outcome.honoured
    )


def starts_outside_window(preferences: DriverPreferences, starts: WeekStarts) -> int:
    """Count the blocks that start outside the wished window (0 without the wish).

    A week that misses the start wish by one block is closer to it than one
    that misses it on every day, so the planner lowers this count among
    weeks of equal score.
    """
    if not (preferences.start and preferences.start_weight):
        return 0
    return sum(
        not is_in_start_window(preferences.start, minute) for minute in starts.values()
    )


def plan_week_starts(plan: Plan) -> dict[str, dict[int, int]]:
    """Return each driver's block start per ISO weekday, read from the plan."""
    return {
        roster.driver: {
            block.day: block.week_start % MINUTES_PER_DAY for block in roster.blocks
        }
        for roster in plan.rosters
    }


def report_preferences(
    plan: Plan, drivers: Sequence[DriverProfile]
) -> PreferenceReport:
    """Count the wishes of every driver of the pool that the plan honours.

    The plan is read as it is, so the report is also right for a plan that
    the planner did not make. Drivers without a roster honour every wish.
    """
    weeks = plan_week_starts(plan)
    wishes = honoured = weight_total = weight_honoured = 0
    unmet: dict[str, tuple[str, ...]] = {}
    for driver in sorted(drivers, key=lambda profile: profile.driver_id):
        outcomes = evaluate_wishes(driver.preferences, weeks.get(driver.driver_id, {}))
        for outcome in outcomes:
            wishes += 1
            weight_total += outcome.weight
            if outcome.honoured:
                honoured += 1
                weight_honoured += outcome.weight
        messages = tuple(
            outcome.message for outcome in outcomes if not outcome.honoured
        )
        if messages:
            unmet[driver.driver_id] = messages
    return PreferenceReport(wishes, honoured, weight_total, weight_honoured, unmet)


def min_cost_assignment(cost: np.ndarray) -> list[int]:
    """Return the column of each row in a cheapest perfect matching.

    `cost` is a square matrix. This is the Hungarian method with shortest
    augmenting paths and row and column potentials, O(n^3), so the result is
    optimal. Ties are broken towards lower column numbers, so equal input
    gives equal output. Costs are compared as float64, which is exact for
    whole numbers up to 2^53.
    """
    cost = np.asarray(cost, dtype=np.float64)
    size = cost.shape[0]
    if cost.shape != (size, size):
        raise ValueError(f"cost matrix must be square, got shape {cost.shape}")
    # Index 0 is a virtual column; rows and columns count from 1 below.
    row_potential = np.zeros(size + 1)
    column_potential = np.zeros(size + 1)
    row_of_column = np.zeros(size + 1, dtype=np.int64)
    previous_column = np.zeros(size + 1, dtype=np.int64)
    for row in range(1, size + 1):
        row_of_column[0] = row
        column = 0
        slack = np.full(size + 1, np.inf)
        visited = np.zeros(size + 1, dtype=bool)
        while True:
            visited[column] = True
            current_row = row_of_column[column]
            reduced = (
                cost[current_row - 1]
                - row_potential[current_row]
                - column_potential[1:]
            )
            open_columns = ~visited[1:]
            tighter = open_columns & (reduced < slack[1:])
            slack[1:][tighter] = reduced[tighter]
            previous_column[1:][tighter] = column
            candidates = np.flatnonzero(open_columns)
            next_column = int(candidates[np.argmin(slack[1:][candidates])]) + 1
            delta = slack[next_column]
            visited_columns = np.flatnonzero(visited)
            row_potential[row_of_column[visited_columns]] += delta
            column_potential[visited_columns] -= delta
            slack[1:][open_columns] -= delta
            column = next_column
            if row_of_column[column] == 0:
                break
        # Flip the augmenting path back to the virtual column.
        while column:
            before = previous_column[column]
            row_of_column[column] = row_of_column[before]
            column = before
    assignment = [0] * size
    for column in range(1, size + 1):
        assignment[row_of_column[column] - 1] = column - 1
    return assignment


class KindBlockSwaps:
    """Block swaps and moves between drivers of one kind, for wishes and fairness.

    Two drivers of one kind may exchange the blocks they work on one day, or
    one may hand a day's block to the other when the other is free that day.
    A change is taken only when both weeks stay valid and no roster empties.
    Valid means rest to the blocks of the neighbouring days, no triple after
    a triple, and the kind's weekly maximum and blocked blocks. The
    contract-hours key of solver.rebalance must not rise. A change must also
    improve, in this order: the two drivers' honoured wish weight, then
    their blocks outside a wished start window, then the gap between their
    weekly minutes (the sum of squares of the two weeks falls). Every change
    improves the kind's total of that key, so the search ends. It takes the
    first such change in a fixed order and repeats until none is left, so
    it is deterministic. Only weekly minutes are evened out here. Split or
    single blocks and weekend days move with the blocks and are not
    balanced on purpose.
    """

    def __init__(self, rebalancer: PartTimeRebalancer, start_minute: Sequence) -> None:
        """`start_minute[day][block]` is the minute of the day the block starts."""
        self.rebalancer = rebalancer
        self.start_minute = start_minute

    def week_starts(self, roster: WeekBlocks) -> dict[int, int]:
        """Return the ISO weekday to start minute map of a roster."""
        return {day + 1: self.start_minute[day][block] for day, block in roster.items()}

    def wish_key(self, preferences: DriverPreferences, roster: WeekBlocks) -> tuple:
        """Return what the search raises first: honoured weight, then fewer misses."""
        if preferences.is_empty:
            return (0, 0)
        starts = self.week_starts(roster)
        return (
            honoured_weight(preferences, starts),
            -starts_outside_window(preferences, starts),
        )

    def improve(
        self,
        rosters: list[WeekBlocks],
        limits: Sequence[RosterLimits],
        preferences: Sequence[DriverPreferences],
        deadline: float | None = None,
    ) -> int:
        """Apply improving changes to `rosters` of one kind in place; count them.

        The search stops early once `time.monotonic()` passes `deadline`,
        leaving every change made so far, each of them valid.
        """
        state = _KindState(
            rosters,
            limits,
            preferences,
            [self.wish_key(wish, roster) for wish, roster in zip(preferences, rosters)],
            [self.rebalancer.minutes(roster) for roster in rosters],
        )
        changes = 0
        changed = True
        while changed:
            changed = False
            for giver in range(len(rosters)):
                if deadline is not None and time.monotonic() >= deadline:
                    return changes
                for taker in range(len(rosters)):
                    if giver == taker:
                        continue
                    for day in range(7):
                        if self._try(state, giver, taker, day):
                            changes += 1
                            changed = True
        return changes

    def _try(self, state: _KindState, giver: int, taker: int, day: int) -> bool:
        """Move or swap the giver's block of `day` to the taker if that helps."""
        rosters, limits, minutes = state.rosters, state.limits, state.minutes
        giver_roster, taker_roster = rosters[giver], rosters[taker]
        block = giver_roster.get(day)
        if block is None:
            return False
        returned = taker_roster.get(day)
        if returned is None and len(giver_roster) == 1:
            return False

        # Cheap tests on minutes come before the wish scores and the rest checks.
        block_minutes = self.rebalancer.block_minutes[day]
        returned_minutes = 0 if returned is None else block_minutes[returned]
        giver_after = minutes[giver] - block_minutes[block] + returned_minutes
        taker_after = minutes[taker] + block_minutes[block] - returned_minutes
        if giver_after > limits[giver].maximum or taker_after > limits[taker].maximum:
            return False
        evens_out = (
            giver_after**2 + taker_after**2 < minutes[giver] ** 2 + minutes[taker] ** 2
        )
        wishful = not (
            state.preferences[giver].is_empty and state.preferences[taker].is_empty
        )
        if not (evens_out or wishful):
            return False
        hours_before = self._hours_key(
            (minutes[giver], limits[giver]), (minutes[taker], limits[taker])
        )
        hours_after = self._hours_key(
            (giver_after, limits[giver]), (taker_after, limits[taker])
        )
        if hours_after > hours_before:
            return False

        new_giver = dict(giver_roster)
        new_taker = dict(taker_roster)
        new_taker[day] = block
        if returned is None:
            del new_giver[day]
        else:
            new_giver[day] = returned
        new_keys = (
            self.wish_key(state.preferences[giver], new_giver),
            self.wish_key(state.preferences[taker], new_taker),
        )
        wishes_before = _add_keys(state.keys[giver], state.keys[taker])
        wishes_after = _add_keys(*new_keys)
        if wishes_after < wishes_before:
            return False
        if wishes_after == wishes_before and not evens_out:
            return False

        if not self._block_fits(limits[taker], taker_roster, day, block):
            return False
        if returned is not None and not self._block_fits(
            limits[giver], giver_roster, day, returned
        ):
            return False
        rosters[giver], rosters[taker] = new_giver, new_taker
        state.keys[giver], state.keys[taker] = new_keys
        minutes[giver], minutes[taker] = giver_after, taker_after
        return True

    def _block_fits(
        self, limits: RosterLimits, roster: WeekBlocks, day: int, block: int
    ) -> bool:
        """Say whether the roster's driver may work `block` on `day` beside its days."""
        may_work = limits.blocked is None or not limits.blocked[day][block]
        return may_work and self.rebalancer.fits(roster, day, block)

    def _hours_key(self, *weeks: tuple[int, RosterLimits]) -> tuple:
        """Return the contract-hours key (short, drivers, minutes short) of weeks."""
        shares = [self.rebalancer.contribution(value, own) for value, own in weeks]
        return _add_keys(*shares)


@dataclass
class _KindState:
    """The rosters of one kind during the search, with cached keys and minutes."""

    rosters: list[WeekBlocks]
    limits: Sequence[RosterLimits]
    preferences: Sequence[DriverPreferences]
    keys: list[tuple]
    minutes: list[int]


def _add_keys(*keys: tuple) -> tuple:
    return tuple(sum(places) for places in zip(*keys))
