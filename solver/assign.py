"""Staff the week with named drivers: every roster goes to one real person.

Drivers with the same skills, depot, limits and availability are
interchangeable, so they form one kind (`DriverProfile.kind`). Column
generation then works as for anonymous rosters (solver.column_generation),
with three changes:

- Each kind prices its own rosters: blocks a driver of that kind may not
  work are masked in the pricing step. A block is masked when one of its
  tours needs a qualification the kind lacks, or lies at another depot while
  drivers stay at their home depot. It is also masked when it overlaps an
  unavailable interval, or when it is on Monday and starts less than the
  rest time after the driver's last block of the previous week. The kind's
  own weekly limit caps the roster's minutes.
- A capacity row per kind caps its rosters at the number of such drivers.
- Every template has an open-tour column that covers one tour at a cost of
  more than all drivers together, so the LP always has a solution and a
  tour is left open only when no driver can take it.

The objective is open tours first, then drivers used. A dive makes the LP
integral; rosters of a kind then go to its drivers in id order, and surplus
tours are trimmed from block ends as in solver.assemble. Each open tour gets
the reason it stayed open, and the open tours together give the shortfall:
how many more drivers of which qualification on which day and hours.

After the head count, day blocks move to drivers still under their
contract's minimum hours (solver.rebalance, with each driver's own limits).
Then drivers' wishes (early or late starts, days off, days in a row, scored
as solver.preferences defines) decide who works which roster. Rosters of a
kind are matched to its drivers exactly as an assignment problem. Then
drivers of one kind swap or hand over day blocks where that honours more
wish weight, or keeps it and evens out weekly hours, without breaking a
rule or the contract hours. The matching runs once more. None of these
steps changes cover or head count. The plan reports the wishes honoured.

The spread of hours, split or single blocks and weekend days among drivers
of one kind is reported. NOTE: only weekly hours are evened out, by a local
search. Split or single blocks and weekend days are reported, not balanced.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from solver.assemble import DraftRoster, name_tours, trim_surplus
from solver.blocks import DayBlocks, enumerate_week_blocks
from solver.checks import CheckResult
from solver.drivers import DriverProfile
from solver.master import MasterLPFailed, RestrictedMaster
from solver.plan import BlockKind, Plan
from solver.preferences import (
    KindBlockSwaps,
    PreferenceReport,
    honoured_weight,
    min_cost_assignment,
    report_preferences,
    starts_outside_window,
)
from solver.rebalance import PartTimeRebalancer, RosterLimits, WeekBlocks
from solver.roster_search import RosterCosts, RosterPricing
from solver.rules import RuleSettings
from solver.tours import MINUTES_PER_DAY, Forecast, Tour, expand, format_clock
from solver.validate import validate_plan
from solver.validate_drivers import validate_driver_rules

BOUND_TOLERANCE = 1e-6
COLUMNS_PER_KIND = 30
DIVE_ROUNDS = 3
DIVE_ROUND_UP_FRACTION = 0.9
WEEKDAY_NAMES = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)

SATURDAY = 6

# Reasons a tour stays open, in the order they are tested.
NO_QUALIFIED_DRIVER = "no_qualified_driver"
NO_AVAILABLE_DRIVER = "no_available_driver"
REST_AFTER_PREVIOUS_WEEK = "rest_after_previous_week"
WEEKLY_HOURS = "weekly_hours"
DRIVERS_FULLY_USED = "drivers_fully_used"


@dataclass(frozen=True)
class OpenTour:
    """A tour no driver of the pool takes, with the reason."""

    tour: Tour
    reason: str
    message: str


@dataclass(frozen=True)
class NamedPlanResult:
    """A plan of named drivers with its bound, open tours and checks.

    `spreads` gives, among drivers of one kind, the largest difference in
    weekly hours, split or single blocks and weekend days worked.
    `preferences` counts the wishes of the whole pool that the plan honours.
    `lower_bound` bounds the drivers of any plan that leaves no more tours
    open than the LP relaxation (none, when the pool can cover the week), when
    `bound_is_exact`.
    """

    plan: Plan
    open_tours: tuple[OpenTour, ...]
    shortfall: tuple[str, ...]
    lower_bound: int
    bound_is_exact: bool
    checks: tuple[CheckResult, ...]
    seconds: float
    weekly_hours_spread: float
    spreads: dict[str, float]
    preferences: PreferenceReport

    @property
    def drivers_used(self) -> int:
        return self.plan.driver_count

    @property
    def violations(self) -> int:
        return sum(len(check.violations) for check in self.checks)


@dataclass
class _Kind:
    """Interchangeable drivers and the blocks they may not work."""

    drivers: list[DriverProfile]
    blocked: list[np.ndarray]
    max_weekly_minutes: int


@dataclass(frozen=True)
class _Column:
    kind: int
    blocks: tuple[tuple[int, int], ...]
    templates: tuple[int, ...]


class _NamedSearch:
    def __init__(
        self,
        forecast: Forecast,
        rules: RuleSettings,
        drivers: Sequence[DriverProfile],
        stay_at_home_depot: bool,
        deadline: float,
    ) -> None:
        self.forecast = forecast
        self.rules = rules
        self.deadline = deadline
        self.stay_at_home_depot = stay_at_home_depot
        self.demand = [template.count for template in forecast.templates]
        self.week_blocks = enumerate_week_blocks(forecast, rules)
        self.pricing = RosterPricing(self.week_blocks, rules)
        self.kinds = self._group_kinds(drivers)
        # An open tour costs more than every driver together.
        self.open_cost = float(len(drivers) + 1)
        self.master = RestrictedMaster(
            self.demand, capacities=[len(kind.drivers) for kind in self.kinds]
        )
        self.columns: list[_Column | None] = []
        self._known: set[tuple[int, tuple[tuple[int, int], ...]]] = set()
        self._add_open_tour_columns()

    def _group_kinds(self, drivers: Sequence[DriverProfile]) -> list[_Kind]:
        by_kind: dict[tuple, list[DriverProfile]] = {}
        for driver in sorted(drivers, key=lambda profile: profile.driver_id):
            by_kind.setdefault(driver.kind(), []).append(driver)
        return [
            _Kind(
                drivers=members,
                blocked=[
                    self._blocked_blocks(members[0], day_blocks)
                    for day_blocks in self.week_blocks
                ],
                max_weekly_minutes=min(
                    members[0].max_weekly_minutes or self.rules.max_weekly_minutes,
                    self.rules.max_weekly_minutes,
                ),
            )
            for members in by_kind.values()
        ]

    def _blocked_blocks(self, driver: DriverProfile, blocks: DayBlocks) -> np.ndarray:
        """Mark the blocks of one day that this driver may not work."""
        templates = self.forecast.templates
        allowed_template = np.array(
            [
                (
                    not template.qualification
                    or template.qualification in driver.qualifications
                )
                and (
                    not self.stay_at_home_depot
                    or not template.depot
                    or template.depot == driver.home_depot
                )
                for template in templates
            ]
            + [True]
        )
        blocked = ~allowed_template[blocks.templates].all(axis=1)
        for start, end in driver.unavailable:
            blocked |= (blocks.week_start < end) & (blocks.week_end > start)
        if driver.previous_week_end is not None:
            earliest = driver.previous_week_end + self.rules.min_rest_minutes
            blocked |= blocks.week_start < earliest
        return blocked

    def _add_open_tour_columns(self) -> None:
        rows = [(index,) for index, count in enumerate(self.demand) if count]
        self.master.add_columns(
            [self.open_cost] * len(rows), rows, capacities=[None] * len(rows)
        )
        self.columns.extend([None] * len(rows))

    def price(self, duals: np.ndarray) -> list[_Column]:
        """Find rosters of every kind that improve the LP at these duals."""
        capacity_duals = self.master.capacity_duals()
        found = []
        for number, kind in enumerate(self.kinds):
            costs = RosterCosts(per_roster=1.0 - float(capacity_duals[number]))
            for column in self.pricing.search(
                duals,
                costs,
                COLUMNS_PER_KIND,
                blocked=kind.blocked,
                max_weekly_minutes=kind.max_weekly_minutes,
            ):
                key = (number, column.blocks)
                if key in self._known:
                    continue
                self._known.add(key)
                templates = tuple(
                    int(index)
                    for day, block in column.blocks
                    for index in self.week_blocks[day].templates[block]
                    if index >= 0
                )
                found.append(_Column(number, column.blocks, templates))
        return found

    def add(self, columns: list[_Column]) -> None:
        self.master.add_columns(
            [1.0] * len(columns),
            [column.templates for column in columns],
            capacities=[column.kind for column in columns],
        )
        self.columns.extend(columns)

    def solve_lp(self, max_rounds: int | None = None) -> tuple[float, np.ndarray, bool]:
        """Price until no roster improves the LP; return value, values, proven."""
        rounds = 0
        while True:
            value, duals, _, values = self.master.solve()
            found = self.price(duals)
            if not found:
                return value, values, True
            self.add(found)
            rounds += 1
            if time.monotonic() >= self.deadline or (
                max_rounds is not None and rounds >= max_rounds
            ):
                value, _, _, values = self.master.solve()
                return value, values, False

    def dive(self) -> np.ndarray:
        """Fix roster columns step by step until every one is whole.

        Each step prices a few rounds, then rounds up the columns within 0.1
        of the next whole number (or else the most fractional one) whose
        kind has a driver left. A whole solution is priced to the end once
        more, because rosters for the drivers left may still close open
        tours, and the dive goes on if that makes it fractional again.
        """
        rounds: int | None = DIVE_ROUNDS
        is_roster = np.zeros(0, dtype=bool)
        values = np.zeros(0)
        while True:
            try:
                _, values, proven = self.solve_lp(rounds)
            except MasterLPFailed:
                break
            is_roster = np.array([column is not None for column in self.columns])
            fraction = values - np.floor(values + BOUND_TOLERANCE)
            fractional = (
                is_roster
                & (fraction > BOUND_TOLERANCE)
                & (fraction < 1 - BOUND_TOLERANCE)
            )
            if time.monotonic() >= self.deadline:
                break
            if not fractional.any():
                if proven:
                    break
                rounds = None
                continue
            rounds = DIVE_ROUNDS
            if not self._round_up(values, fraction, fractional, is_roster):
                break
        return np.where(is_roster, np.floor(values + BOUND_TOLERANCE), values)

    def _round_up(
        self,
        values: np.ndarray,
        fraction: np.ndarray,
        fractional: np.ndarray,
        is_roster: np.ndarray,
    ) -> bool:
        """Raise the lower bounds of the columns to round up; False if none can be."""
        lower = self.master.lower_bounds()
        fixed = np.where(
            is_roster, np.maximum(lower, np.floor(values + BOUND_TOLERANCE)), lower
        )
        used = self._used_per_kind(fixed)
        candidates = np.flatnonzero(fractional)
        order = candidates[np.argsort(-fraction[candidates], kind="stable")]
        rounded = 0
        for number in order:
            if fraction[number] < DIVE_ROUND_UP_FRACTION and rounded:
                break
            kind = self.columns[number].kind
            if used[kind] < len(self.kinds[kind].drivers):
                fixed[number] += 1
                used[kind] += 1
                rounded += 1
        changed = np.flatnonzero(fixed > lower)
        if not len(changed):
            return False
        self.master.raise_lower_bounds(changed, fixed[changed])
        return True

    def _used_per_kind(self, counts: np.ndarray) -> list[int]:
        used = [0] * len(self.kinds)
        for column, count in zip(self.columns, counts):
            if column is not None:
                used[column.kind] += int(round(count))
        return used


def plan_for_drivers(
    forecast: Forecast,
    drivers: Sequence[DriverProfile],
    rules: RuleSettings | None = None,
    *,
    stay_at_home_depot: bool = False,
    time_limit_seconds: float = 60.0,
) -> NamedPlanResult:
    """Assign the forecast's tours to these drivers; leave open what none can take.

    Args:
        forecast: the canonical forecast to staff.
        drivers: the active drivers of the tenant, each with a unique id.
        rules: the plan rules; the product defaults when None.
        stay_at_home_depot: drivers take only tours of their home depot (and
            tours without a depot).
        time_limit_seconds: wall time for the search.
    """
    rules = rules or RuleSettings()
    started = time.monotonic()
    ids = [driver.driver_id for driver in drivers]
    if len(set(ids)) != len(ids):
        raise ValueError("driver ids must be unique")
    search = _NamedSearch(
        forecast, rules, drivers, stay_at_home_depot, started + time_limit_seconds
    )
    tours = expand(forecast)
    lp_value, lp_values, exact = search.solve_lp()
    lp_open = sum(
        value for column, value in zip(search.columns, lp_values) if column is None
    )
    counts = search.dive()

    drafts, driver_ids, open_counts = _drafts_for_drivers(search, counts)
    drafts, driver_ids, split_off = _trim(drafts, driver_ids, search, forecast, rules)
    split_off = _place_split_off(search, drafts, driver_ids, split_off)
    drafts, driver_ids = _fill_contract_hours(search, drafts, driver_ids)
    driver_ids = _match_rosters_to_wishes(search, drafts, driver_ids)
    drafts = _swap_blocks_within_kinds(search, drafts, driver_ids)
    driver_ids = _match_rosters_to_wishes(search, drafts, driver_ids)
    open_tours = _open_tours(search, tours, open_counts, split_off)
    open_ids = {item.tour.tour_id for item in open_tours}
    plan = name_tours(
        drafts,
        forecast,
        tours,
        rules,
        open_ids,
        [item.tour for item in open_tours],
        driver_ids=driver_ids,
    )
    checks = tuple(validate_plan(plan, tours, rules)) + tuple(
        validate_driver_rules(plan, drivers, rules, stay_at_home_depot)
    )
    # A plan leaving no more tours open than the LP pays open_cost for each,
    # so the LP value less that amount bounds its drivers.
    lower_bound = max(
        math.ceil(lp_value - search.open_cost * lp_open - BOUND_TOLERANCE), 0
    )
    return NamedPlanResult(
        plan=plan,
        open_tours=tuple(open_tours),
        shortfall=tuple(describe_shortfall(open_tours)),
        lower_bound=lower_bound,
        bound_is_exact=exact,
        checks=checks,
        seconds=time.monotonic() - started,
        weekly_hours_spread=_hours_spread(plan),
        spreads=_spreads_among_comparable(search, plan),
        preferences=report_preferences(plan, drivers),
    )


def _drafts_for_drivers(
    search: _NamedSearch, counts: np.ndarray
) -> tuple[list[DraftRoster], list[str], dict[int, int]]:
    """Give each chosen roster to a driver of its kind; count open tours."""
    drafts: list[DraftRoster] = []
    driver_ids: list[str] = []
    open_counts: dict[int, int] = {}
    next_driver = [0] * len(search.kinds)
    for column, count in zip(search.columns, counts):
        copies = int(round(count))
        if not copies:
            continue
        if column is None:
            continue
        for _ in range(copies):
            kind = search.kinds[column.kind]
            driver = kind.drivers[next_driver[column.kind]]
            next_driver[column.kind] += 1
            days = {
                search.week_blocks[day].day: [
                    int(index)
                    for index in search.week_blocks[day].templates[block]
                    if index >= 0
                ]
                for day, block in column.blocks
            }
            drafts.append(DraftRoster(days))
            driver_ids.append(driver.driver_id)
    held = [0] * len(search.demand)
    for draft in drafts:
        for block in draft.days.values():
            for index in block:
                held[index] += 1
    for index, count in enumerate(search.demand):
        if held[index] < count:
            open_counts[index] = count - held[index]
    return drafts, driver_ids, open_counts


def _trim(
    drafts: list[DraftRoster],
    driver_ids: list[str],
    search: _NamedSearch,
    forecast: Forecast,
    rules: RuleSettings,
) -> tuple[list[DraftRoster], list[str], list[int]]:
    """Trim tours held twice; a tour split off a triple becomes an open tour.

    Returns the drafts with their drivers and the templates of split-off tours.
    """
    owner = {id(draft): name for draft, name in zip(drafts, driver_ids)}
    held = Counter(
        index for draft in drafts for block in draft.days.values() for index in block
    )
    held_demand = [min(count, held[index]) for index, count in enumerate(search.demand)]
    trimmed = trim_surplus(drafts, held_demand, forecast, rules)
    kept, names, split_off = [], [], []
    for draft in trimmed:
        if id(draft) in owner:
            kept.append(draft)
            names.append(owner[id(draft)])
        else:
            split_off.extend(index for block in draft.days.values() for index in block)
    return kept, names, split_off


def _fill_contract_hours(
    search: _NamedSearch, drafts: list[DraftRoster], driver_ids: list[str]
) -> tuple[list[DraftRoster], list[str]]:
    """Move day blocks to drivers under their contract's minimum hours.

    solver.rebalance does the moves, with each driver's own minimum,
    maximum and blocked blocks, so no move breaks a driver's limits. A
    driver whose week empties is dropped from the plan.
    """
    kind_of = {
        driver.driver_id: kind for kind in search.kinds for driver in kind.drivers
    }
    profile = {
        driver.driver_id: driver for kind in search.kinds for driver in kind.drivers
    }
    rosters = [_week_blocks_of(search, draft) for draft in drafts]
    limits = [
        RosterLimits(
            minimum=profile[name].min_weekly_minutes,
            maximum=kind_of[name].max_weekly_minutes,
            blocked=kind_of[name].blocked,
        )
        for name in driver_ids
    ]
    improved = PartTimeRebalancer(search.week_blocks, search.rules).improve(
        rosters, limits
    )
    kept, names = [], []
    for roster, name in zip(improved, driver_ids):
        if not roster:
            continue
        kept.append(_draft_of(search, roster))
        names.append(name)
    return kept, names


def _match_rosters_to_wishes(
    search: _NamedSearch, drafts: Sequence[DraftRoster], driver_ids: Sequence[str]
) -> list[str]:
    """Return the driver of each draft after matching each kind's rosters to wishes.

    Drivers of one kind may swap whole rosters without breaking a rule, so
    each kind is an assignment problem: its rosters, plus one empty roster
    per driver left without work, against its drivers. The matching is
    exact (solver.preferences.min_cost_assignment). It maximises the
    honoured wish weight, then lowers the blocks outside a wished start
    window, then keeps as many drivers as possible on their roster so far.
    Head count, cover, contract hours and the spreads within a kind stay
    as they were, because the kind's set of rosters does not change.
    """
    kind_number = {
        driver.driver_id: number
        for number, kind in enumerate(search.kinds)
        for driver in kind.drivers
    }
    positions_by_kind: dict[int, list[int]] = {}
    for position, name in enumerate(driver_ids):
        positions_by_kind.setdefault(kind_number[name], []).append(position)
    matched = list(driver_ids)
    templates = search.forecast.templates
    for number, positions in sorted(positions_by_kind.items()):
        members = search.kinds[number].drivers
        if all(driver.preferences.is_empty for driver in members):
            continue
        weeks = [
            {
                day: min(templates[index].start_minute for index in block)
                for day, block in drafts[position].days.items()
            }
            for position in positions
        ]
        weeks += [{}] * (len(members) - len(positions))
        current = {driver_ids[position]: row for row, position in enumerate(positions)}
        size = len(members)
        # Whole-number weights make the three goals lexicographic: keeping
        # at most `size` rosters never outweighs one block outside a wished
        # window, and at most 7 * size such blocks never outweigh one unit
        # of wish weight.
        keep_unit = 1
        outside_unit = size + 1
        weight_unit = outside_unit * (7 * size + 1)
        cost = np.zeros((size, size))
        for column, driver in enumerate(members):
            own_row = current.get(driver.driver_id)
            for row, week in enumerate(weeks):
                keeps = row == own_row or (own_row is None and row >= len(positions))
                cost[row, column] = (
                    -weight_unit * honoured_weight(driver.preferences, week)
                    + outside_unit * starts_outside_window(driver.preferences, week)
                    - keep_unit * keeps
                )
        for row, column in enumerate(min_cost_assignment(cost)):
            if row < len(positions):
                matched[positions[row]] = members[column].driver_id
    return matched


def _swap_blocks_within_kinds(
    search: _NamedSearch, drafts: Sequence[DraftRoster], driver_ids: Sequence[str]
) -> list[DraftRoster]:
    """Return the drafts after block swaps and moves for wishes, then even hours.

    Only drivers of one kind exchange blocks (solver.preferences.KindBlockSwaps),
    so each block stays with a driver who may work it and each roster keeps
    its driver. NOTE: the search stops at the planning time limit, so a
    search that used up its time limit in the LP gets no swaps.
    """
    kind_number = {
        driver.driver_id: number
        for number, kind in enumerate(search.kinds)
        for driver in kind.drivers
    }
    profile = {
        driver.driver_id: driver for kind in search.kinds for driver in kind.drivers
    }
    rosters = [_week_blocks_of(search, draft) for draft in drafts]
    swaps = KindBlockSwaps(
        PartTimeRebalancer(search.week_blocks, search.rules),
        [
            (blocks.week_start % MINUTES_PER_DAY).tolist()
            for blocks in search.week_blocks
        ],
    )
    positions_by_kind: dict[int, list[int]] = {}
    for position, name in enumerate(driver_ids):
        positions_by_kind.setdefault(kind_number[name], []).append(position)
    for number, positions in sorted(positions_by_kind.items()):
        kind = search.kinds[number]
        if len(positions) < 2:
            continue
        wishes = [profile[driver_ids[position]].preferences for position in positions]
        limits = [
            RosterLimits(
                minimum=profile[driver_ids[position]].min_weekly_minutes,
                maximum=kind.max_weekly_minutes,
                blocked=kind.blocked,
            )
            for position in positions
        ]
        kind_rosters = [rosters[position] for position in positions]
        swaps.improve(kind_rosters, limits, wishes, deadline=search.deadline)
        for position, roster in zip(positions, kind_rosters):
            rosters[position] = roster
    return [_draft_of(search, roster) for roster in rosters]


def _week_blocks_of(search: _NamedSearch, draft: DraftRoster) -> WeekBlocks:
    """Return a draft as weekday index (0 = Monday) to block row."""
    return {
        day - 1: search.week_blocks[day - 1].index_of(tuple(templates))
        for day, templates in draft.days.items()
    }


def _draft_of(search: _NamedSearch, roster: WeekBlocks) -> DraftRoster:
    """Return the draft of a roster given as weekday index to block row."""
    return DraftRoster(
        {
            day + 1: [
                int(index)
                for index in search.week_blocks[day].templates[block]
                if index >= 0
            ]
            for day, block in sorted(roster.items())
        }
    )


def _place_split_off(
    search: _NamedSearch,
    drafts: list[DraftRoster],
    driver_ids: list[str],
    templates: Sequence[int],
) -> list[int]:
    """Place each tour split off a triple as a single block, else leave it open.

    A driver already in the plan takes it on a free day when their kind may
    work that block and rest and weekly minutes allow. Otherwise an unused
    driver takes it alone. Appends to `drafts` and `driver_ids`; returns the
    templates of the tours nobody can take.
    """
    kind_of = {
        driver.driver_id: kind for kind in search.kinds for driver in kind.drivers
    }
    left = []
    for index in templates:
        template = search.forecast.templates[index]
        day = template.day - 1
        block = search.week_blocks[day].index_of((index,))
        placed = False
        for draft, name in zip(drafts, driver_ids):
            if _may_add_single(search, kind_of[name], draft, day, block):
                draft.days[template.day] = [index]
                placed = True
                break
        if not placed:
            placed = _give_to_free_driver(search, drafts, driver_ids, index)
        if not placed:
            left.append(index)
    return left


def _may_add_single(
    search: _NamedSearch, kind: _Kind, draft: DraftRoster, day: int, block: int
) -> bool:
    """Say whether a driver of `kind` with this week may also work `block` on `day`."""
    blocks = search.week_blocks[day]
    if day + 1 in draft.days or kind.blocked[day][block]:
        return False
    templates = search.forecast.templates
    minutes = draft.work_minutes(templates) + int(blocks.work_minutes[block])
    if minutes > kind.max_weekly_minutes:
        return False
    rest = search.rules.min_rest_minutes
    start, end = int(blocks.week_start[block]), int(blocks.week_end[block])
    for neighbour in (day, day + 2):
        other = draft.days.get(neighbour)
        if not other:
            continue
        other_blocks = search.week_blocks[neighbour - 1]
        other_block = other_blocks.index_of(tuple(other))
        if neighbour == day and start - other_blocks.week_end[other_block] < rest:
            return False
        if neighbour == day + 2 and other_blocks.week_start[other_block] - end < rest:
            return False
    return True


def _give_to_free_driver(
    search: _NamedSearch,
    drafts: list[DraftRoster],
    driver_ids: list[str],
    index: int,
) -> bool:
    """Give a single tour to an unused driver who may take it; True if one did."""
    template = search.forecast.templates[index]
    day = template.day - 1
    block = search.week_blocks[day].index_of((index,))
    busy = set(driver_ids)
    for kind in search.kinds:
        if kind.blocked[day][block]:
            continue
        if template.duration_minutes > kind.max_weekly_minutes:
            continue
        for driver in kind.drivers:
            if driver.driver_id not in busy:
                drafts.append(DraftRoster({template.day: [index]}))
                driver_ids.append(driver.driver_id)
                return True
    return False


def _open_tours(
    search: _NamedSearch,
    tours: Sequence[Tour],
    open_counts: dict[int, int],
    split_off: Sequence[int],
) -> list[OpenTour]:
    """Name the open tours of each template (its last ones) and why each stayed open."""
    by_template: dict[tuple, list[Tour]] = {}
    for tour in sorted(tours, key=lambda item: item.tour_id):
        key = (tour.day, tour.week_start, tour.week_end, tour.depot, tour.qualification)
        by_template.setdefault(key, []).append(tour)
    missing = Counter(open_counts)
    missing.update(split_off)
    drivers = [driver for kind in search.kinds for driver in kind.drivers]
    open_tours = []
    for index in sorted(missing):
        template = search.forecast.templates[index]
        start = (template.day - 1) * MINUTES_PER_DAY + template.start_minute
        key = (
            template.day,
            start,
            start + template.duration_minutes,
            template.depot,
            template.qualification,
        )
        for tour in by_template[key][-missing[index] :]:
            reason, message = _open_reason(tour, drivers, search)
            open_tours.append(OpenTour(tour, reason, message))
    return open_tours


def _open_reason(
    tour: Tour, drivers: Sequence[DriverProfile], search: _NamedSearch
) -> tuple[str, str]:
    qualified = [
        driver
        for driver in drivers
        if (not tour.qualification or tour.qualification in driver.qualifications)
        and (
            not search.stay_at_home_depot
            or not tour.depot
            or tour.depot == driver.home_depot
        )
    ]
    needs = tour.qualification or "no qualification"
    if not qualified:
        where = (
            f" at depot {tour.depot}"
            if search.stay_at_home_depot and tour.depot
            else ""
        )
        return NO_QUALIFIED_DRIVER, (
            f"tour {tour.tour_id} needs {needs}{where}: no driver of the pool holds it"
        )
    rest = search.rules.min_rest_minutes
    unavailable = resting = short_of_hours = 0
    for driver in qualified:
        if any(
            tour.week_start < end and tour.week_end > start
            for start, end in driver.unavailable
        ):
            unavailable += 1
        elif (
            driver.previous_week_end is not None
            and tour.week_start < driver.previous_week_end + rest
        ):
            resting += 1
        elif tour.duration_minutes > (
            driver.max_weekly_minutes or search.rules.max_weekly_minutes
        ):
            short_of_hours += 1
    available = len(qualified) - unavailable - resting - short_of_hours
    if not available:
        if unavailable == len(qualified):
            code = NO_AVAILABLE_DRIVER
        elif resting and not short_of_hours:
            code = REST_AFTER_PREVIOUS_WEEK
        else:
            code = WEEKLY_HOURS
        causes = [
            f"{count} {cause}"
            for count, cause in (
                (unavailable, "unavailable at that time"),
                (resting, "still resting after the previous week"),
                (short_of_hours, "with a weekly limit below the tour"),
            )
            if count
        ]
        return code, (
            f"tour {tour.tour_id} ({needs}): of the {len(qualified)} qualified"
            f" drivers, {', '.join(causes)}"
        )
    return DRIVERS_FULLY_USED, (
        f"tour {tour.tour_id} ({needs}): all {available} qualified, available"
        " drivers are held by other tours, rest or their weekly hours"
    )


def describe_shortfall(open_tours: Sequence[OpenTour]) -> list[str]:
    """Say how many more drivers, of which skill, when, would close the gap.

    Open tours are grouped by qualification, depot and weekday. The maximum
    number of a group's tours open at one moment is the minimum number of
    drivers that group needs. With several groups, a last line gives the
    least number of drivers in all: the most open tours at one moment.
    """
    groups: dict[tuple[str, str, int], list[OpenTour]] = {}
    for item in open_tours:
        tour = item.tour
        groups.setdefault((tour.qualification, tour.depot, tour.day), []).append(item)
    lines = []
    for (qualification, depot, day), items in sorted(groups.items()):
        peak = _max_at_once(items)
        first = min(item.tour.week_start for item in items)
        last = max(item.tour.week_end for item in items)
        skill = f" with {qualification}" if qualification else ""
        place = f" at depot {depot}" if depot else ""
        drivers = "driver" if peak == 1 else "drivers"
        tours = "tour" if len(items) == 1 else "tours"
        hours = (
            f"{format_clock(first % MINUTES_PER_DAY)}"
            f"-{format_clock(last % MINUTES_PER_DAY)}"
        )
        lines.append(
            f"{peak} more {drivers}{skill}{place} on {WEEKDAY_NAMES[day - 1]}"
            f" {hours} would take the {len(items)} open {tours} there"
        )
    if len(lines) > 1:
        # One added driver may serve lines of different days, so the lines do
        # not add up. The open tours at one moment need a driver each.
        at_once = _max_at_once(open_tours)
        drivers = "driver" if at_once == 1 else "drivers"
        lines.append(
            f"In all at least {at_once} more {drivers}, the most tours open at one"
            " moment; one driver may serve lines of different days"
        )
    return lines


def _max_at_once(items: Sequence[OpenTour]) -> int:
    """Return the maximum number of these tours that run at one moment."""
    events = sorted(
        [(item.tour.week_start, 1) for item in items]
        + [(item.tour.week_end, -1) for item in items]
    )
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def _hours_spread(plan: Plan) -> float:
    """Return the difference in weekly hours between the longest and shortest week."""
    weeks = [
        sum(tour.duration_minutes for tour in roster.tours) for roster in plan.rosters
    ]
    return (max(weeks) - min(weeks)) / 60 if weeks else 0.0


def _spreads_among_comparable(search: _NamedSearch, plan: Plan) -> dict[str, float]:
    """Return the largest spread, within one kind of driver, of three loads."""
    kind_number = {
        driver.driver_id: number
        for number, kind in enumerate(search.kinds)
        for driver in kind.drivers
    }
    loads: dict[int, list[tuple[float, int, int]]] = {}
    for roster in plan.rosters:
        hours = sum(tour.duration_minutes for tour in roster.tours) / 60
        split_or_single = sum(
            block.kind in (BlockKind.SINGLE, BlockKind.DOUBLE_SPLIT)
            for block in roster.blocks
        )
        weekend = sum(block.day >= SATURDAY for block in roster.blocks)
        loads.setdefault(kind_number[roster.driver], []).append(
            (hours, split_or_single, weekend)
        )
    spreads = {"weekly_hours": 0.0, "split_or_single_blocks": 0.0, "weekend_days": 0.0}
    for members in loads.values():
        for place, name in enumerate(spreads):
            values = [member[place] for member in members]
            spreads[name] = max(spreads[name], float(max(values) - min(values)))
    return spreads
