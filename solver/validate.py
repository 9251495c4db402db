"""Independent re-check of a plan against the plan rules.

The validator trusts nothing the optimiser stored about a plan. It rebuilds each
driver's blocks from the tours' own weekdays and times and checks every rule
again, without sharing code with the optimiser, so a fault in block enumeration
or in the model shows up here as a failed check. The rules, with the defaults of
RuleSettings:

- coverage: every forecast tour is in exactly one roster, with the forecast's
  day and times. A tour listed as uncovered counts as not covered.
- overlap: no two tours of one driver overlap in time, also across midnight.
- block_kind: the tours of a roster that start on one weekday form one block of
  1 to 3 tours. A double has a gap of 30 to 60 min (regular) or 240 to 360 min
  (split), and a triple has both gaps of 30 to 60 min (chained). The declared
  kind matches these gaps, a roster has at most one block per day, and a
  block's day is the day its tours start on.
- span: first start to last end is at most 14 h for a regular double and 16 h
  for a split double or a chained triple.
- rest: at least 11 h from the real end of one day's block to the start of the
  next calendar day's block.
- weekly_hours: the tour durations of a roster add up to at most 55 h.
- fatigue: no triple block on the calendar day after a triple block.
- counts: driver ids are unique and not empty, every roster has tours, the
  driver count equals the number of rosters, and assigned plus uncovered tours
  equal the number of forecast tours.

A tour belongs to the weekday it starts on (`Tour.day`), even when it ends after
midnight. Where a plan's tour has the id of a forecast tour, the other rules
use the forecast's day and times, because those are the hours the driver will
work. All amounts are whole minutes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from solver.checks import CheckResult, Violation
from solver.plan import Block, BlockKind, Plan, Roster
from solver.rules import RuleSettings
from solver.tours import MINUTES_PER_DAY, Tour, format_clock

RULE_IDS = (
    "coverage",
    "overlap",
    "block_kind",
    "span",
    "rest",
    "weekly_hours",
    "fatigue",
    "counts",
)

RULE_LABELS = {
    "coverage": "Every tour covered exactly once",
    "overlap": "No overlapping tours per driver",
    "block_kind": "Valid blocks of 1 to 3 tours",
    "span": "Block span within limit",
    "rest": "Rest between consecutive days",
    "weekly_hours": "Weekly working time within limit",
    "fatigue": "No triple block after a triple block",
    "counts": "Driver and tour counts consistent",
}

WEEKDAY_NAMES = {
    1: "Monday",
    2: "Tuesday",
    3: "Wednesday",
    4: "Thursday",
    5: "Friday",
    6: "Saturday",
    7: "Sunday",
}

_KIND_NAMES = {
    BlockKind.SINGLE: "single",
    BlockKind.DOUBLE_REGULAR: "regular double",
    BlockKind.DOUBLE_SPLIT: "split double",
    BlockKind.TRIPLE_CHAINED: "chained triple",
}

MAX_TOURS_PER_BLOCK = 3


@dataclass(frozen=True)
class _DayBlock:
    """Tours of one roster that start on one weekday, in start order."""

    driver: str
    day: int
    tours: tuple[Tour, ...]

    @property
    def week_start(self) -> int:
        return self.tours[0].week_start

    @property
    def week_end(self) -> int:
        """Real end of the block: the latest tour end, past midnight if need be."""
        return max(tour.week_end for tour in self.tours)

    @property
    def tour_ids(self) -> tuple[str, ...]:
        return tuple(tour.tour_id for tour in self.tours)


@dataclass(frozen=True)
class _RosterTours:
    """A roster with its tours resolved against the forecast and grouped by day."""

    roster: Roster
    tours: tuple[Tour, ...]
    day_blocks: tuple[_DayBlock, ...]

    @property
    def driver(self) -> str:
        return self.roster.driver


def validate_plan(
    plan: Plan, tours: Sequence[Tour], rules: RuleSettings
) -> list[CheckResult]:
    """Check the plan against every plan rule, one result per rule in RULE_IDS order.

    `tours` are the forecast's tours. For coverage, `checked` counts forecast
    tours, and for block_kind it counts declared blocks. For span it counts
    blocks of 2 or 3 tours with valid gaps, and for rest the pairs of blocks on
    consecutive days. For the other rules it counts rosters, except that fatigue
    reports 0 when the rule is switched off.
    """
    forecast_by_id: dict[str, Tour] = {}
    for tour in tours:
        forecast_by_id.setdefault(tour.tour_id, tour)
    rosters = [_resolve_roster(roster, forecast_by_id) for roster in plan.rosters]

    return [
        _check_coverage(plan, tours, forecast_by_id),
        _check_overlap(rosters),
        _check_block_kind(rosters, forecast_by_id, rules),
        _check_span(rosters, rules),
        _check_rest(rosters, rules),
        _check_weekly_hours(rosters, rules),
        _check_fatigue(rosters, rules),
        _check_counts(plan, tours),
    ]


def summarize_checks(checks: Sequence[CheckResult], max_listed: int = 3) -> str:
    """Format one line per check: verdict, rule, label, counts, first violations."""
    lines = []
    for check in checks:
        verdict = "PASS" if check.passed else "FAIL"
        count = len(check.violations)
        noun = "violation" if count == 1 else "violations"
        line = (
            f"{verdict} {check.rule}: {check.label}"
            f" ({count} {noun}, {check.checked} checked)"
        )
        if check.violations:
            messages = [violation.message for violation in check.violations]
            line += ": " + " | ".join(messages[:max_listed])
            if count > max_listed:
                line += f" | and {count - max_listed} more"
        lines.append(line)
    return "\n".join(lines)


# Formatting for messages


def _day_name(day: int) -> str:
    return WEEKDAY_NAMES.get(day, f"day {day}")


def _format_duration(minutes: int) -> str:
    """Format minutes as '9 h 30 min', '11 h' or '45 min'."""
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(minutes), 60)
    if not hours:
        return f"{sign}{rest} min"
    if not rest:
        return f"{sign}{hours} h"
    return f"{sign}{hours} h {rest} min"


def _describe_tour(tour: Tour) -> str:
    """Describe a tour for a dispatcher, e.g. 'Mo-0600-1030-01 (Monday 06:00-10:30)'."""
    return f"{tour.tour_id} ({_describe_times(tour)})"


def _describe_times(tour: Tour) -> str:
    text = (
        f"{_day_name(tour.day)} {format_clock(tour.start_minute)}"
        f"-{format_clock(tour.end_minute)}"
    )
    if tour.depot:
        text += f" depot {tour.depot}"
    if tour.qualification:
        text += f" needs {tour.qualification}"
    return text


def _count(number: int, noun: str) -> str:
    """Format a count with its noun, e.g. '1 roster' or '2 rosters'."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _kind_name(kind: object) -> str:
    if isinstance(kind, BlockKind):
        return _KIND_NAMES[kind]
    return str(kind)


def _result(rule: str, violations: list[Violation], checked: int) -> CheckResult:
    return CheckResult(
        rule=rule,
        label=RULE_LABELS[rule],
        violations=tuple(violations),
        checked=checked,
    )


# Rebuilding blocks from tour times


def _start_order(tour: Tour) -> tuple[int, int, str]:
    return (tour.week_start, tour.week_end, tour.tour_id)


def _resolve_roster(roster: Roster, forecast_by_id: dict[str, Tour]) -> _RosterTours:
    """Resolve a roster's tours against the forecast and group them by weekday.

    A tour listed twice in one roster is kept once here, because the driver can
    drive it only once. The coverage check reports the repetition.
    """
    tours_by_id: dict[str, Tour] = {}
    for tour in roster.tours:
        tours_by_id.setdefault(tour.tour_id, forecast_by_id.get(tour.tour_id, tour))
    tours = tuple(sorted(tours_by_id.values(), key=_start_order))

    tours_by_day: dict[int, list[Tour]] = defaultdict(list)
    for tour in tours:
        tours_by_day[tour.day].append(tour)
    day_blocks = tuple(
        _DayBlock(roster.driver, day, tuple(day_tours))
        for day, day_tours in sorted(tours_by_day.items())
    )
    return _RosterTours(roster=roster, tours=tours, day_blocks=day_blocks)


def _gaps(tours: Sequence[Tour]) -> list[int]:
    """Return the minutes between consecutive tours, negative where they overlap."""
    return [later.week_start - earlier.week_end for earlier, later in pairwise(tours)]


def _allowed_gaps(tour_count: int, rules: RuleSettings) -> list[tuple[str, int, int]]:
    """Named gap ranges, in minutes, that make a valid block of `tour_count` tours."""
    if tour_count == 2:
        return [
            ("regular", rules.min_regular_gap_minutes, rules.max_regular_gap_minutes),
            ("split", rules.min_split_gap_minutes, rules.max_split_gap_minutes),
        ]
    if tour_count == 3:
        return [("chained", rules.min_chain_gap_minutes, rules.max_chain_gap_minutes)]
    return []


def _fits(gap: int, low: int, high: int) -> bool:
    return low <= gap <= high


def _block_kinds(tours: Sequence[Tour], rules: RuleSettings) -> tuple[BlockKind, ...]:
    """Return the block kinds the gaps of these tours (in start order) allow.

    The result is empty when the tours form no valid block. It contains two
    kinds only when custom settings let the regular and split gap ranges overlap.
    """
    gaps = _gaps(tours)
    if len(tours) == 1:
        return (BlockKind.SINGLE,)
    if len(tours) == 2:
        kinds = []
        if _fits(gaps[0], rules.min_regular_gap_minutes, rules.max_regular_gap_minutes):
            kinds.append(BlockKind.DOUBLE_REGULAR)
        if _fits(gaps[0], rules.min_split_gap_minutes, rules.max_split_gap_minutes):
            kinds.append(BlockKind.DOUBLE_SPLIT)
        return tuple(kinds)
    if len(tours) == 3:
        low, high = rules.min_chain_gap_minutes, rules.max_chain_gap_minutes
        if all(_fits(gap, low, high) for gap in gaps):
            return (BlockKind.TRIPLE_CHAINED,)
    return ()


def _span_limit(
    tours: Sequence[Tour], rules: RuleSettings
) -> tuple[int, BlockKind] | None:
    """Return the maximum span in minutes for these tours and the kind that sets it.

    A single tour and tours that form no valid block have no span limit, so the
    result is None. Where custom gap ranges allow two kinds, the more lenient
    limit applies, because the block is valid as that kind.
    """
    max_spans = {
        BlockKind.DOUBLE_REGULAR: rules.max_regular_span_minutes,
        BlockKind.DOUBLE_SPLIT: rules.max_split_span_minutes,
        BlockKind.TRIPLE_CHAINED: rules.max_triple_span_minutes,
    }
    limits = [
        (max_spans[kind], kind)
        for kind in _block_kinds(tours, rules)
        if kind in max_spans
    ]
    if not limits:
        return None
    return max(limits, key=lambda limit: limit[0])


# coverage


def _check_coverage(
    plan: Plan, tours: Sequence[Tour], forecast_by_id: dict[str, Tour]
) -> CheckResult:
    violations = _forecast_defects(tours)

    drivers_by_tour: dict[str, list[str]] = defaultdict(list)
    for roster in plan.rosters:
        for tour in roster.tours:
            drivers_by_tour[tour.tour_id].append(roster.driver)
            violations += _mismatch_with_forecast(tour, roster.driver, forecast_by_id)
    uncovered_ids = {tour.tour_id for tour in plan.uncovered}
    for tour in plan.uncovered:
        violations += _mismatch_with_forecast(tour, "", forecast_by_id)

    for tour_id, tour in forecast_by_id.items():
        drivers = drivers_by_tour.get(tour_id, [])
        violations += _assignment_faults(tour, drivers, tour_id in uncovered_ids)

    return _result("coverage", violations, checked=len(tours))


def _forecast_defects(tours: Sequence[Tour]) -> list[Violation]:
    """Report forecast tours with a repeated id, or a day their start contradicts."""
    violations = []
    for tour_id, count in Counter(tour.tour_id for tour in tours).items():
        if count > 1:
            violations.append(
                Violation(
                    message=(
                        f"the forecast lists tour id {tour_id} {count} times;"
                        " tour ids must be unique"
                    ),
                    tour_ids=(tour_id,),
                )
            )
    for tour in tours:
        start_day = tour.week_start // MINUTES_PER_DAY + 1
        if start_day != tour.day:
            message = (
                f"forecast tour {tour.tour_id} is marked {_day_name(tour.day)}"
                f" but starts on {_day_name(start_day)}"
                f" at {format_clock(tour.start_minute)}"
            )
        elif tour.week_end <= tour.week_start:
            message = (
                f"forecast tour {_describe_tour(tour)} does not end after its start"
            )
        else:
            continue
        violations.append(
            Violation(message=message, day=tour.day, tour_ids=(tour.tour_id,))
        )
    return violations


def _mismatch_with_forecast(
    tour: Tour, driver: str, forecast_by_id: dict[str, Tour]
) -> list[Violation]:
    """Report a plan tour that is not in the forecast or differs from it."""
    holder = f"driver {driver} has" if driver else "the plan leaves uncovered"
    expected = forecast_by_id.get(tour.tour_id)
    if expected is None:
        message = f"{holder} tour {_describe_tour(tour)}, which is not in the forecast"
    elif tour != expected:
        message = (
            f"{holder} tour {tour.tour_id} as {_describe_times(tour)},"
            f" but the forecast has {_describe_times(expected)}"
        )
    else:
        return []
    return [
        Violation(
            message=message, driver=driver, day=tour.day, tour_ids=(tour.tour_id,)
        )
    ]


def _assignment_faults(
    tour: Tour, drivers: list[str], uncovered: bool
) -> list[Violation]:
    """Report a forecast tour that is not assigned exactly once."""
    described = _describe_tour(tour)
    names = ", ".join(drivers)
    if not drivers and uncovered:
        message = f"tour {described} is not covered"
    elif not drivers:
        message = f"tour {described} is missing from the plan"
    elif len(drivers) > 1:
        message = (
            f"tour {described} is assigned {len(drivers)} times,"
            f" to drivers {names}; each tour needs exactly one driver"
        )
    elif uncovered:
        message = (
            f"tour {described} is assigned to driver {names}"
            " but also listed as not covered"
        )
    else:
        return []
    return [
        Violation(message=message, driver=names, day=tour.day, tour_ids=(tour.tour_id,))
    ]


# overlap


def _check_overlap(rosters: Sequence[_RosterTours]) -> CheckResult:
    violations = []
    for roster in rosters:
        tours = roster.tours
        for index, earlier in enumerate(tours):
            for later in tours[index + 1 :]:
                if later.week_start >= earlier.week_end:
                    break
                overlap = min(earlier.week_end, later.week_end) - later.week_start
                violations.append(
                    Violation(
                        message=(
                            f"driver {roster.driver} has tours"
                            f" {_describe_tour(earlier)} and {_describe_tour(later)}"
                            f" overlapping by {overlap} min"
                        ),
                        driver=roster.driver,
                        day=later.day,
                        tour_ids=(earlier.tour_id, later.tour_id),
                        amount_minutes=overlap,
                    )
                )
    return _result("overlap", violations, checked=len(rosters))


# block_kind


def _check_block_kind(
    rosters: Sequence[_RosterTours],
    forecast_by_id: dict[str, Tour],
    rules: RuleSettings,
) -> CheckResult:
    violations = []
    declared_blocks = 0
    for roster in rosters:
        declared_blocks += len(roster.roster.blocks)
        violations += _declared_block_faults(roster.roster, forecast_by_id, rules)
        for day_block in roster.day_blocks:
            violations += _day_block_faults(day_block, rules)
    return _result("block_kind", violations, checked=declared_blocks)


def _day_block_faults(day_block: _DayBlock, rules: RuleSettings) -> list[Violation]:
    """Report a day's tours that are too many or have a gap no block kind allows."""
    driver, day, tours = day_block.driver, day_block.day, day_block.tours
    if len(tours) > MAX_TOURS_PER_BLOCK:
        return [
            Violation(
                message=(
                    f"driver {driver} has {len(tours)} tours on {_day_name(day)};"
                    f" a block has 1 to {MAX_TOURS_PER_BLOCK} tours"
                ),
                driver=driver,
                day=day,
                tour_ids=day_block.tour_ids,
            )
        ]

    allowed = _allowed_gaps(len(tours), rules)
    allowed_text = " or ".join(
        f"{low} to {high} min ({name})" for name, low, high in allowed
    )
    block_text = "a double block" if len(tours) == 2 else "a triple block"
    violations = []
    for (earlier, later), gap in zip(pairwise(tours), _gaps(tours), strict=True):
        if any(_fits(gap, low, high) for _, low, high in allowed):
            continue
        if gap < 0:
            fault = f"tours {earlier.tour_id} and {later.tour_id} overlap by {-gap} min"
        else:
            fault = (
                f"a {gap} min gap between tours {earlier.tour_id} and {later.tour_id}"
            )
        # The amount is the distance to the nearest gap that the block kind allows.
        amount = min(max(low - gap, gap - high) for _, low, high in allowed)
        violations.append(
            Violation(
                message=(
                    f"driver {driver}'s {_day_name(day)} block has {fault};"
                    f" {block_text} needs {allowed_text} between tours"
                ),
                driver=driver,
                day=day,
                tour_ids=(earlier.tour_id, later.tour_id),
                amount_minutes=amount,
            )
        )
    return violations


def _declared_block_faults(
    roster: Roster, forecast_by_id: dict[str, Tour], rules: RuleSettings
) -> list[Violation]:
    """Report declared blocks that are empty, share a day or sit on another day than
    their tours, and declared kinds that the tours' gaps contradict.
    """
    driver = roster.driver
    violations = []

    blocks_by_day: dict[int, list[Block]] = defaultdict(list)
    for block in roster.blocks:
        blocks_by_day[block.day].append(block)
    for day, blocks in sorted(blocks_by_day.items()):
        if len(blocks) > 1:
            violations.append(
                Violation(
                    message=(
                        f"driver {driver} has {len(blocks)} blocks on {_day_name(day)};"
                        " a roster has at most one block per day"
                    ),
                    driver=driver,
                    day=day,
                    tour_ids=tuple(
                        tour.tour_id for block in blocks for tour in block.tours
                    ),
                )
            )

    for block in roster.blocks:
        tours = sorted(
            (forecast_by_id.get(tour.tour_id, tour) for tour in block.tours),
            key=_start_order,
        )
        violations += _block_day_faults(driver, block, tours)
        if not tours or len(tours) > MAX_TOURS_PER_BLOCK:
            continue
        kinds = _block_kinds(tours, rules)
        if kinds and block.kind not in kinds:
            violations.append(
                Violation(
                    message=(
                        f"driver {driver}'s {_day_name(block.day)} block is declared"
                        f" {_kind_name(block.kind)}, but its tours form a"
                        f" {_kind_name(kinds[0])} block"
                    ),
                    driver=driver,
                    day=block.day,
                    tour_ids=tuple(tour.tour_id for tour in tours),
                )
            )
    return violations


def _block_day_faults(driver: str, block: Block, tours: list[Tour]) -> list[Violation]:
    """Report an empty block and tours that start on another day than their block."""
    if not tours:
        return [
            Violation(
                message=(
                    f"driver {driver} has an empty block on {_day_name(block.day)};"
                    f" a block has 1 to {MAX_TOURS_PER_BLOCK} tours"
                ),
                driver=driver,
                day=block.day,
            )
        ]
    return [
        Violation(
            message=(
                f"driver {driver}'s {_day_name(block.day)} block contains tour"
                f" {_describe_tour(tour)}, which starts on {_day_name(tour.day)}"
            ),
            driver=driver,
            day=block.day,
            tour_ids=(tour.tour_id,),
        )
        for tour in tours
        if tour.day != block.day
    ]


# span


def _check_span(rosters: Sequence[_RosterTours], rules: RuleSettings) -> CheckResult:
    violations = []
    checked = 0
    for roster in rosters:
        for day_block in roster.day_blocks:
            span_limit = _span_limit(day_block.tours, rules)
            if span_limit is None:
                continue
            checked += 1
            max_span, kind = span_limit
            span = day_block.week_end - day_block.week_start
            if span <= max_span:
                continue
            violations.append(
                Violation(
                    message=(
                        f"driver {roster.driver}'s {_day_name(day_block.day)}"
                        f" {_kind_name(kind)} spans {_format_duration(span)};"
                        f" at most {_format_duration(max_span)} allowed"
                        f" ({span - max_span} min over)"
                    ),
                    driver=roster.driver,
                    day=day_block.day,
                    tour_ids=day_block.tour_ids,
                    amount_minutes=span - max_span,
                )
            )
    return _result("span", violations, checked=checked)


# rest


def _check_rest(rosters: Sequence[_RosterTours], rules: RuleSettings) -> CheckResult:
    violations = []
    checked = 0
    for roster in rosters:
        blocks_by_day = {day_block.day: day_block for day_block in roster.day_blocks}
        for earlier in roster.day_blocks:
            later = blocks_by_day.get(earlier.day + 1)
            if later is None:
                continue
            checked += 1
            # week_end is the real end, so a block ending after midnight leaves
            # less rest than its clock time suggests.
            rest = later.week_start - earlier.week_end
            if rest >= rules.min_rest_minutes:
                continue
            violations.append(
                _rest_violation(roster.driver, earlier, later, rest, rules)
            )
    # NOTE: rest from Sunday into the next week's Monday is not checked, because a
    # plan covers a single week.
    return _result("rest", violations, checked=checked)


def _rest_violation(
    driver: str, earlier: _DayBlock, later: _DayBlock, rest: int, rules: RuleSettings
) -> Violation:
    required = _format_duration(rules.min_rest_minutes)
    short = rules.min_rest_minutes - rest
    if rest >= 0:
        message = (
            f"driver {driver} rests {_format_duration(rest)} before"
            f" {_day_name(later.day)}'s block; {required} required ({short} min short)"
        )
    else:
        message = (
            f"driver {driver}'s {_day_name(later.day)} block starts"
            f" {_format_duration(-rest)} before the {_day_name(earlier.day)} block"
            f" ends; {required} rest required ({short} min short)"
        )
    last_tour = max(earlier.tours, key=lambda tour: tour.week_end)
    return Violation(
        message=message,
        driver=driver,
        day=later.day,
        tour_ids=(last_tour.tour_id, later.tours[0].tour_id),
        amount_minutes=short,
    )


# weekly_hours


def _check_weekly_hours(
    rosters: Sequence[_RosterTours], rules: RuleSettings
) -> CheckResult:
    violations = []
    for roster in rosters:
        work_minutes = sum(tour.duration_minutes for tour in roster.tours)
        over = work_minutes - rules.max_weekly_minutes
        if over <= 0:
            continue
        violations.append(
            Violation(
                message=(
                    f"driver {roster.driver} works {_format_duration(work_minutes)}"
                    f" this week; at most {_format_duration(rules.max_weekly_minutes)}"
                    f" allowed ({over} min over)"
                ),
                driver=roster.driver,
                tour_ids=tuple(tour.tour_id for tour in roster.tours),
                amount_minutes=over,
            )
        )
    return _result("weekly_hours", violations, checked=len(rosters))


# fatigue


def _check_fatigue(rosters: Sequence[_RosterTours], rules: RuleSettings) -> CheckResult:
    if not rules.forbid_triple_after_triple:
        return _result("fatigue", [], checked=0)

    violations = []
    for roster in rosters:
        # A triple is any day with three tours, whatever its gaps, because the
        # block_kind check reports invalid gaps separately.
        triples = {
            day_block.day: day_block
            for day_block in roster.day_blocks
            if len(day_block.tours) == 3
        }
        for day, second in sorted(triples.items()):
            first = triples.get(day - 1)
            if first is None:
                continue
            violations.append(
                Violation(
                    message=(
                        f"driver {roster.driver} has a triple block on"
                        f" {_day_name(first.day)} and again on {_day_name(day)};"
                        " a triple block may not follow a triple block"
                        " on the next day"
                    ),
                    driver=roster.driver,
                    day=day,
                    tour_ids=first.tour_ids + second.tour_ids,
                )
            )
    return _result("fatigue", violations, checked=len(rosters))


# counts


def _check_counts(plan: Plan, tours: Sequence[Tour]) -> CheckResult:
    violations = []

    for driver, count in Counter(roster.driver for roster in plan.rosters).items():
        if count > 1 and driver.strip():
            violations.append(
                Violation(
                    message=f"driver id {driver} is used by {count} rosters",
                    driver=driver,
                )
            )
    for roster in plan.rosters:
        if not roster.driver.strip():
            violations.append(Violation(message="a roster has an empty driver id"))
        if not roster.blocks:
            message = f"the roster of driver {roster.driver} has no blocks"
        elif not roster.tours:
            message = f"the roster of driver {roster.driver} has no tours"
        else:
            continue
        violations.append(Violation(message=message, driver=roster.driver))

    if plan.driver_count != len(plan.rosters):
        violations.append(
            Violation(
                message=(
                    f"the plan states {_count(plan.driver_count, 'driver')}"
                    f" but has {_count(len(plan.rosters), 'roster')}"
                )
            )
        )

    assigned = sum(len(roster.tours) for roster in plan.rosters)
    uncovered = len(plan.uncovered)
    if assigned + uncovered != len(tours):
        violations.append(
            Violation(
                message=(
                    f"the plan assigns {_count(assigned, 'tour')} and leaves"
                    f" {uncovered} uncovered, {assigned + uncovered} in all,"
                    f" but the forecast has {_count(len(tours), 'tour')}"
                ),
            )
        )
    return _result("counts", violations, checked=len(plan.rosters))
