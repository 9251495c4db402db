"""Specification of the independent plan validator, one rule at a time.

Each plan is built by hand from a few tours. Unless a test passes its own
forecast, the forecast is exactly the tours that the plan assigns or leaves
uncovered, so a test of one rule does not trip the coverage or counts checks.
"""

from dataclasses import dataclass

from solver.checks import CheckResult
from solver.plan import Block, BlockKind, Plan, Roster
from solver.rules import RuleSettings
from solver.tours import MINUTES_PER_DAY, Tour
from solver.validate import RULE_IDS, summarize_checks, validate_plan

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY = 1, 2, 3, 4, 5

SINGLE = BlockKind.SINGLE
REGULAR = BlockKind.DOUBLE_REGULAR
SPLIT = BlockKind.DOUBLE_SPLIT
TRIPLE = BlockKind.TRIPLE_CHAINED

DEFAULT_RULES = RuleSettings()


def minutes_of(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def make_tour(tour_id: str, day: int, start: str, end: str) -> Tour:
    """Build a tour on `day` from HH:MM clock times.

    An end at or before the start falls on the next day.
    """
    week_start = (day - 1) * MINUTES_PER_DAY + minutes_of(start)
    duration = (minutes_of(end) - minutes_of(start)) % MINUTES_PER_DAY
    return Tour(
        week_start=week_start,
        week_end=week_start + duration,
        tour_id=tour_id,
        day=day,
    )


def make_block(kind: BlockKind, *tours: Tour, day: int | None = None) -> Block:
    """Build a block on its first tour's day unless `day` is given."""
    return Block(day=tours[0].day if day is None else day, kind=kind, tours=tours)


def make_roster(driver: str, *blocks: Block) -> Roster:
    return Roster(driver=driver, blocks=blocks)


def make_plan(*rosters: Roster, uncovered: tuple[Tour, ...] = ()) -> Plan:
    return Plan(rosters=rosters, uncovered=uncovered)


def forecast_of(plan: Plan) -> list[Tour]:
    """Return every tour the plan assigns or leaves uncovered, each id once."""
    tours_by_id = {}
    for roster in plan.rosters:
        for tour in roster.tours:
            tours_by_id.setdefault(tour.tour_id, tour)
    for tour in plan.uncovered:
        tours_by_id.setdefault(tour.tour_id, tour)
    return list(tours_by_id.values())


def run_check(
    plan: Plan,
    rule: str,
    rules: RuleSettings = DEFAULT_RULES,
    forecast: list[Tour] | None = None,
) -> CheckResult:
    """Validate the plan and return the result of one rule."""
    tours = forecast_of(plan) if forecast is None else forecast
    checks = validate_plan(plan, tours, rules)
    return next(check for check in checks if check.rule == rule)


def make_triple(day: int, prefix: str) -> Block:
    """Build a chained triple from 05:00 to 18:00 with 30 min gaps."""
    return make_block(
        TRIPLE,
        make_tour(f"{prefix}-1", day, "05:00", "09:00"),
        make_tour(f"{prefix}-2", day, "09:30", "13:30"),
        make_tour(f"{prefix}-3", day, "14:00", "18:00"),
    )


class TestCoverage:
    def test_each_tour_once_passes(self):
        morning = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        evening = make_tour("Mo-b", MONDAY, "15:00", "19:30")
        plan = make_plan(
            make_roster("D001", make_block(SINGLE, morning)),
            make_roster("D002", make_block(SINGLE, evening)),
        )

        result = run_check(plan, "coverage")

        assert result.passed
        assert result.checked == 2

    def test_missing_tour_fails(self):
        assigned = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        missing = make_tour("Mo-b", MONDAY, "15:00", "19:30")
        plan = make_plan(make_roster("D001", make_block(SINGLE, assigned)))

        result = run_check(plan, "coverage", forecast=[assigned, missing])

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.tour_ids == ("Mo-b",)
        assert violation.day == MONDAY
        assert violation.driver == ""
        assert violation.message == (
            "tour Mo-b (Monday 15:00-19:30) is missing from the plan"
        )

    def test_tour_in_two_rosters_names_both_drivers(self):
        shared = make_tour("Tu-a", TUESDAY, "06:00", "10:30")
        plan = make_plan(
            make_roster("D001", make_block(SINGLE, shared)),
            make_roster("D002", make_block(SINGLE, shared)),
        )

        result = run_check(plan, "coverage")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.driver == "D001, D002"
        assert violation.day == TUESDAY
        assert violation.tour_ids == ("Tu-a",)
        assert "assigned 2 times, to drivers D001, D002" in violation.message

    def test_uncovered_tour_fails_as_not_covered(self):
        assigned = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        left_open = make_tour("Mo-b", MONDAY, "15:00", "19:30")
        plan = make_plan(
            make_roster("D001", make_block(SINGLE, assigned)), uncovered=(left_open,)
        )

        result = run_check(plan, "coverage")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.tour_ids == ("Mo-b",)
        assert violation.message == "tour Mo-b (Monday 15:00-19:30) is not covered"

    def test_tour_not_in_forecast_fails(self):
        known = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        unknown = make_tour("Mo-x", MONDAY, "15:00", "19:30")
        plan = make_plan(make_roster("D001", make_block(REGULAR, known, unknown)))

        result = run_check(plan, "coverage", forecast=[known])

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.driver == "D001"
        assert violation.tour_ids == ("Mo-x",)
        assert "not in the forecast" in violation.message

    def test_tour_with_changed_times_fails(self):
        in_forecast = make_tour("We-a", WEDNESDAY, "06:00", "10:30")
        in_plan = make_tour("We-a", WEDNESDAY, "06:00", "11:00")
        plan = make_plan(make_roster("D003", make_block(SINGLE, in_plan)))

        result = run_check(plan, "coverage", forecast=[in_forecast])

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.driver == "D003"
        assert violation.day == WEDNESDAY
        assert violation.message == (
            "driver D003 has tour We-a as Wednesday 06:00-11:00,"
            " but the forecast has Wednesday 06:00-10:30"
        )

    def test_repeated_forecast_tour_id_fails(self):
        tour = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        plan = make_plan(make_roster("D001", make_block(SINGLE, tour)))

        result = run_check(plan, "coverage", forecast=[tour, tour])

        assert len(result.violations) == 1
        assert result.violations[0].tour_ids == ("Mo-a",)
        assert "lists tour id Mo-a 2 times" in result.violations[0].message


class TestOverlap:
    def test_night_tour_before_evening_tour_passes(self):
        night = make_tour("Mo-night", MONDAY, "22:00", "06:00")
        evening = make_tour("Tu-evening", TUESDAY, "17:00", "21:30")
        plan = make_plan(
            make_roster("D001", make_block(SINGLE, night), make_block(SINGLE, evening))
        )

        result = run_check(plan, "overlap")

        assert result.passed
        assert result.checked == 1

    def test_night_tour_overlapping_next_morning_fails(self):
        night = make_tour("Mo-night", MONDAY, "22:00", "06:00")
        morning = make_tour("Tu-early", TUESDAY, "05:00", "09:30")
        plan = make_plan(
            make_roster("D004", make_block(SINGLE, night), make_block(SINGLE, morning))
        )

        result = run_check(plan, "overlap")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.driver == "D004"
        assert violation.day == TUESDAY
        assert violation.tour_ids == ("Mo-night", "Tu-early")
        assert violation.amount_minutes == 60

    def test_same_times_for_two_drivers_pass(self):
        first = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        second = make_tour("Mo-b", MONDAY, "06:00", "10:30")
        plan = make_plan(
            make_roster("D001", make_block(SINGLE, first)),
            make_roster("D002", make_block(SINGLE, second)),
        )

        result = run_check(plan, "overlap")

        assert result.passed

    def test_forecast_times_override_plan_times(self):
        night = make_tour("Mo-night", MONDAY, "22:00", "06:00")
        shortened_night = make_tour("Mo-night", MONDAY, "22:00", "04:00")
        morning = make_tour("Tu-early", TUESDAY, "05:00", "09:30")
        plan = make_plan(
            make_roster(
                "D001",
                make_block(SINGLE, shortened_night),
                make_block(SINGLE, morning),
            )
        )

        result = run_check(plan, "overlap", forecast=[night, morning])

        assert len(result.violations) == 1
        assert result.violations[0].amount_minutes == 60


class TestBlockKind:
    def test_single_tour_is_valid(self):
        tour = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        plan = make_plan(make_roster("D001", make_block(SINGLE, tour)))

        result = run_check(plan, "block_kind")

        assert result.passed
        assert result.checked == 1

    def test_regular_double_with_45_minute_gap_is_valid(self):
        first = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        second = make_tour("Mo-b", MONDAY, "11:15", "15:45")
        plan = make_plan(make_roster("D001", make_block(REGULAR, first, second)))

        result = run_check(plan, "block_kind")

        assert result.passed

    def test_double_with_90_minute_gap_is_invalid(self):
        first = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        second = make_tour("Mo-b", MONDAY, "12:00", "16:30")
        plan = make_plan(make_roster("D002", make_block(REGULAR, first, second)))

        result = run_check(plan, "block_kind")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.driver == "D002"
        assert violation.day == MONDAY
        assert violation.tour_ids == ("Mo-a", "Mo-b")
        assert violation.amount_minutes == 30
        assert violation.message == (
            "driver D002's Monday block has a 90 min gap between tours Mo-a and"
            " Mo-b; a double block needs 30 to 60 min (regular) or 240 to 360 min"
            " (split) between tours"
        )

    def test_split_double_with_300_minute_gap_is_valid(self):
        first = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        second = make_tour("Mo-b", MONDAY, "15:30", "20:00")
        plan = make_plan(make_roster("D001", make_block(SPLIT, first, second)))

        result = run_check(plan, "block_kind")

        assert result.passed

    def test_triple_with_30_minute_gaps_is_valid(self):
        plan = make_plan(make_roster("D001", make_triple(MONDAY, "Mo")))

        result = run_check(plan, "block_kind")

        assert result.passed

    def test_triple_with_90_minute_gap_names_that_gap(self):
        first = make_tour("Th-a", THURSDAY, "05:00", "09:00")
        second = make_tour("Th-b", THURSDAY, "09:30", "13:30")
        third = make_tour("Th-c", THURSDAY, "15:00", "19:00")
        plan = make_plan(make_roster("D005", make_block(TRIPLE, first, second, third)))

        result = run_check(plan, "block_kind")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.driver == "D005"
        assert violation.day == THURSDAY
        assert violation.tour_ids == ("Th-b", "Th-c")
        assert violation.amount_minutes == 30
        assert "a 90 min gap between tours Th-b and Th-c" in violation.message

    def test_overlapping_tours_in_block_are_invalid(self):
        first = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        second = make_tour("Mo-b", MONDAY, "10:00", "14:30")
        plan = make_plan(make_roster("D001", make_block(REGULAR, first, second)))

        result = run_check(plan, "block_kind")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.tour_ids == ("Mo-a", "Mo-b")
        assert violation.amount_minutes == 60
        assert "tours Mo-a and Mo-b overlap by 30 min" in violation.message

    def test_four_tours_on_one_day_are_invalid(self):
        tours = [
            make_tour("Fr-a", FRIDAY, "04:00", "07:00"),
            make_tour("Fr-b", FRIDAY, "07:30", "10:30"),
            make_tour("Fr-c", FRIDAY, "11:00", "14:00"),
            make_tour("Fr-d", FRIDAY, "14:30", "17:30"),
        ]
        plan = make_plan(make_roster("D001", make_block(TRIPLE, *tours)))

        result = run_check(plan, "block_kind")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.day == FRIDAY
        assert violation.tour_ids == ("Fr-a", "Fr-b", "Fr-c", "Fr-d")
        assert "has 4 tours on Friday" in violation.message

    def test_declared_kind_mismatch_fails(self):
        first = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        second = make_tour("Mo-b", MONDAY, "15:30", "20:00")
        plan = make_plan(make_roster("D006", make_block(REGULAR, first, second)))

        result = run_check(plan, "block_kind")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.driver == "D006"
        assert violation.day == MONDAY
        assert violation.tour_ids == ("Mo-a", "Mo-b")
        assert violation.message == (
            "driver D006's Monday block is declared regular double,"
            " but its tours form a split double block"
        )

    def test_two_blocks_on_one_day_fail(self):
        first = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        second = make_tour("Mo-b", MONDAY, "11:00", "15:30")
        plan = make_plan(
            make_roster("D001", make_block(SINGLE, first), make_block(SINGLE, second))
        )

        result = run_check(plan, "block_kind")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.day == MONDAY
        assert violation.tour_ids == ("Mo-a", "Mo-b")
        assert "has 2 blocks on Monday" in violation.message

    def test_block_on_other_day_than_tour_fails(self):
        tour = make_tour("Tu-a", TUESDAY, "06:00", "10:30")
        plan = make_plan(make_roster("D001", make_block(SINGLE, tour, day=MONDAY)))

        result = run_check(plan, "block_kind")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.day == MONDAY
        assert violation.tour_ids == ("Tu-a",)
        assert "Monday block contains tour Tu-a" in violation.message
        assert "which starts on Tuesday" in violation.message

    def test_night_tour_belongs_to_start_day(self):
        night = make_tour("Mo-night", MONDAY, "22:00", "06:00")
        evening = make_tour("Tu-evening", TUESDAY, "17:00", "21:30")
        on_start_day = make_plan(
            make_roster("D001", make_block(SINGLE, night), make_block(SINGLE, evening))
        )
        on_end_day = make_plan(
            make_roster("D001", make_block(REGULAR, night, evening, day=TUESDAY))
        )

        passing = run_check(on_start_day, "block_kind")
        failing = run_check(on_end_day, "block_kind")

        assert passing.passed
        assert [violation.tour_ids for violation in failing.violations] == [
            ("Mo-night",)
        ]

    def test_empty_block_fails(self):
        tour = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        empty = Block(day=TUESDAY, kind=SINGLE, tours=())
        plan = make_plan(make_roster("D001", make_block(SINGLE, tour), empty))

        result = run_check(plan, "block_kind")

        assert len(result.violations) == 1
        assert result.violations[0].day == TUESDAY
        assert "empty block on Tuesday" in result.violations[0].message

    def test_custom_gap_range_accepts_90_minutes(self):
        first = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        second = make_tour("Mo-b", MONDAY, "12:00", "16:30")
        plan = make_plan(make_roster("D001", make_block(REGULAR, first, second)))
        rules = RuleSettings(max_regular_gap_minutes=90)

        result = run_check(plan, "block_kind", rules=rules)

        assert result.passed


class TestSpan:
    def test_regular_double_of_14_hours_passes(self):
        first = make_tour("Mo-a", MONDAY, "06:00", "12:30")
        second = make_tour("Mo-b", MONDAY, "13:00", "20:00")
        plan = make_plan(make_roster("D001", make_block(REGULAR, first, second)))

        result = run_check(plan, "span")

        assert result.passed
        assert result.checked == 1

    def test_regular_double_of_14_hours_5_fails(self):
        first = make_tour("Mo-a", MONDAY, "06:00", "12:35")
        second = make_tour("Mo-b", MONDAY, "13:05", "20:05")
        plan = make_plan(make_roster("D001", make_block(REGULAR, first, second)))

        result = run_check(plan, "span")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.driver == "D001"
        assert violation.day == MONDAY
        assert violation.tour_ids == ("Mo-a", "Mo-b")
        assert violation.amount_minutes == 5

    def test_split_double_of_16_hours_passes(self):
        first = make_tour("Tu-a", TUESDAY, "04:00", "10:00")
        second = make_tour("Tu-b", TUESDAY, "15:00", "20:00")
        plan = make_plan(make_roster("D001", make_block(SPLIT, first, second)))

        result = run_check(plan, "span")

        assert result.passed

    def test_split_double_of_16_hours_30_fails(self):
        first = make_tour("Tu-a", TUESDAY, "04:00", "10:00")
        second = make_tour("Tu-b", TUESDAY, "15:00", "20:30")
        plan = make_plan(make_roster("D001", make_block(SPLIT, first, second)))

        result = run_check(plan, "span")

        assert len(result.violations) == 1
        assert result.violations[0].day == TUESDAY
        assert result.violations[0].amount_minutes == 30

    def test_triple_of_16_hours_passes(self):
        tours = [
            make_tour("We-a", WEDNESDAY, "05:00", "10:00"),
            make_tour("We-b", WEDNESDAY, "10:30", "15:30"),
            make_tour("We-c", WEDNESDAY, "16:00", "21:00"),
        ]
        plan = make_plan(make_roster("D008", make_block(TRIPLE, *tours)))

        result = run_check(plan, "span")

        assert result.passed

    def test_triple_of_16_hours_10_fails(self):
        tours = [
            make_tour("We-a", WEDNESDAY, "05:00", "10:00"),
            make_tour("We-b", WEDNESDAY, "10:30", "15:30"),
            make_tour("We-c", WEDNESDAY, "16:00", "21:10"),
        ]
        plan = make_plan(make_roster("D008", make_block(TRIPLE, *tours)))

        result = run_check(plan, "span")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.driver == "D008"
        assert violation.day == WEDNESDAY
        assert violation.tour_ids == ("We-a", "We-b", "We-c")
        assert violation.amount_minutes == 10
        assert violation.message == (
            "driver D008's Wednesday chained triple spans 16 h 10 min;"
            " at most 16 h allowed (10 min over)"
        )


class TestRest:
    def test_rest_of_exactly_11_hours_passes(self):
        monday = make_tour("Mo-a", MONDAY, "14:00", "18:30")
        tuesday = make_tour("Tu-a", TUESDAY, "05:30", "10:00")
        plan = make_plan(
            make_roster("D007", make_block(SINGLE, monday), make_block(SINGLE, tuesday))
        )

        result = run_check(plan, "rest")

        assert result.passed
        assert result.checked == 1

    def test_rest_of_9_hours_30_fails(self):
        monday = make_tour("Mo-a", MONDAY, "15:30", "20:00")
        tuesday = make_tour("Tu-a", TUESDAY, "05:30", "10:00")
        plan = make_plan(
            make_roster("D007", make_block(SINGLE, monday), make_block(SINGLE, tuesday))
        )

        result = run_check(plan, "rest")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.driver == "D007"
        assert violation.day == TUESDAY
        assert violation.tour_ids == ("Mo-a", "Tu-a")
        assert violation.amount_minutes == 90
        assert violation.message == (
            "driver D007 rests 9 h 30 min before Tuesday's block;"
            " 11 h required (90 min short)"
        )

    def test_rest_after_midnight_block_counts_from_real_end(self):
        late = make_tour("Mo-late", MONDAY, "20:00", "00:30")
        too_early = make_tour("Tu-a", TUESDAY, "10:00", "14:30")
        in_time = make_tour("Tu-a", TUESDAY, "11:30", "16:00")
        short_rest = make_plan(
            make_roster("D001", make_block(SINGLE, late), make_block(SINGLE, too_early))
        )
        full_rest = make_plan(
            make_roster("D001", make_block(SINGLE, late), make_block(SINGLE, in_time))
        )

        failing = run_check(short_rest, "rest")
        passing = run_check(full_rest, "rest")

        assert [violation.amount_minutes for violation in failing.violations] == [90]
        assert failing.violations[0].day == TUESDAY
        assert passing.passed

    def test_custom_min_rest_accepts_9_hours_30(self):
        monday = make_tour("Mo-a", MONDAY, "15:30", "20:00")
        tuesday = make_tour("Tu-a", TUESDAY, "05:30", "10:00")
        plan = make_plan(
            make_roster("D007", make_block(SINGLE, monday), make_block(SINGLE, tuesday))
        )
        rules = RuleSettings(min_rest_minutes=9 * 60)

        default_result = run_check(plan, "rest")
        custom_result = run_check(plan, "rest", rules=rules)

        assert not default_result.passed
        assert custom_result.passed

    def test_days_with_gap_day_are_not_compared(self):
        monday = make_tour("Mo-a", MONDAY, "15:30", "20:00")
        wednesday = make_tour("We-a", WEDNESDAY, "05:30", "10:00")
        plan = make_plan(
            make_roster(
                "D001", make_block(SINGLE, monday), make_block(SINGLE, wednesday)
            )
        )

        result = run_check(plan, "rest")

        assert result.passed
        assert result.checked == 0

    def test_overlapping_days_report_negative_rest(self):
        night = make_tour("Mo-night", MONDAY, "22:00", "06:00")
        morning = make_tour("Tu-early", TUESDAY, "05:00", "09:30")
        plan = make_plan(
            make_roster("D004", make_block(SINGLE, night), make_block(SINGLE, morning))
        )

        result = run_check(plan, "rest")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.amount_minutes == 11 * 60 + 60
        assert violation.message == (
            "driver D004's Tuesday block starts 1 h before the Monday block ends;"
            " 11 h rest required (720 min short)"
        )


def make_week_of_long_tours(last_end: str) -> Plan:
    """Build a roster of five tours from 06:00, Monday to Friday.

    Each tour ends at 17:00 except Friday's, which ends at `last_end`.
    """
    blocks = [
        make_block(SINGLE, make_tour(f"day{day}", day, "06:00", "17:00"))
        for day in (MONDAY, TUESDAY, WEDNESDAY, THURSDAY)
    ]
    blocks.append(make_block(SINGLE, make_tour("day5", FRIDAY, "06:00", last_end)))
    return make_plan(make_roster("D009", *blocks))


class TestWeeklyHours:
    def test_exactly_55_hours_passes(self):
        plan = make_week_of_long_tours(last_end="17:00")

        result = run_check(plan, "weekly_hours")

        assert result.passed
        assert result.checked == 1

    def test_55_hours_15_fails(self):
        plan = make_week_of_long_tours(last_end="17:15")

        result = run_check(plan, "weekly_hours")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.driver == "D009"
        assert violation.amount_minutes == 15
        assert violation.tour_ids == ("day1", "day2", "day3", "day4", "day5")
        assert violation.message == (
            "driver D009 works 55 h 15 min this week; at most 55 h allowed"
            " (15 min over)"
        )

    def test_custom_weekly_limit_applies(self):
        plan = make_week_of_long_tours(last_end="17:00")
        rules = RuleSettings(max_weekly_minutes=50 * 60)

        result = run_check(plan, "weekly_hours", rules=rules)

        assert [violation.amount_minutes for violation in result.violations] == [300]


class TestFatigue:
    def test_triple_monday_and_tuesday_fails(self):
        plan = make_plan(
            make_roster("D010", make_triple(MONDAY, "Mo"), make_triple(TUESDAY, "Tu"))
        )

        result = run_check(plan, "fatigue")

        assert len(result.violations) == 1
        violation = result.violations[0]
        assert violation.driver == "D010"
        assert violation.day == TUESDAY
        assert violation.tour_ids == ("Mo-1", "Mo-2", "Mo-3", "Tu-1", "Tu-2", "Tu-3")
        assert "triple block on Monday and again on Tuesday" in violation.message

    def test_triple_monday_and_wednesday_passes(self):
        plan = make_plan(
            make_roster("D010", make_triple(MONDAY, "Mo"), make_triple(WEDNESDAY, "We"))
        )

        result = run_check(plan, "fatigue")

        assert result.passed
        assert result.checked == 1

    def test_rule_switched_off_passes(self):
        plan = make_plan(
            make_roster("D010", make_triple(MONDAY, "Mo"), make_triple(TUESDAY, "Tu"))
        )
        rules = RuleSettings(forbid_triple_after_triple=False)

        result = run_check(plan, "fatigue", rules=rules)

        assert result.passed
        assert result.checked == 0


@dataclass(frozen=True)
class StoredPlan(Plan):
    """A plan whose driver count was stored apart from its rosters."""

    stored_driver_count: int = 0

    @property
    def driver_count(self) -> int:
        return self.stored_driver_count


class TestCounts:
    def test_consistent_plan_passes(self):
        assigned = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        left_open = make_tour("Mo-b", MONDAY, "15:00", "19:30")
        plan = make_plan(
            make_roster("D001", make_block(SINGLE, assigned)), uncovered=(left_open,)
        )

        result = run_check(plan, "counts")

        assert result.passed
        assert result.checked == 1

    def test_repeated_driver_id_fails(self):
        first = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        second = make_tour("Mo-b", MONDAY, "15:00", "19:30")
        plan = make_plan(
            make_roster("D001", make_block(SINGLE, first)),
            make_roster("D001", make_block(SINGLE, second)),
        )

        result = run_check(plan, "counts")

        assert len(result.violations) == 1
        assert result.violations[0].driver == "D001"
        assert "used by 2 rosters" in result.violations[0].message

    def test_empty_driver_id_fails(self):
        tour = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        plan = make_plan(make_roster(" ", make_block(SINGLE, tour)))

        result = run_check(plan, "counts")

        assert [violation.message for violation in result.violations] == [
            "a roster has an empty driver id"
        ]

    def test_roster_without_blocks_fails(self):
        tour = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        plan = make_plan(
            make_roster("D001", make_block(SINGLE, tour)), make_roster("D002")
        )

        result = run_check(plan, "counts")

        assert len(result.violations) == 1
        assert result.violations[0].driver == "D002"
        assert "has no blocks" in result.violations[0].message

    def test_stored_driver_count_mismatch_fails(self):
        tour = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        plan = StoredPlan(
            rosters=(make_roster("D001", make_block(SINGLE, tour)),),
            stored_driver_count=2,
        )

        result = run_check(plan, "counts")

        assert [violation.message for violation in result.violations] == [
            "the plan states 2 drivers but has 1 roster"
        ]

    def test_tour_total_below_forecast_fails(self):
        assigned = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        missing = make_tour("Mo-b", MONDAY, "15:00", "19:30")
        plan = make_plan(make_roster("D001", make_block(SINGLE, assigned)))

        result = run_check(plan, "counts", forecast=[assigned, missing])

        assert [violation.message for violation in result.violations] == [
            "the plan assigns 1 tour and leaves 0 uncovered, 1 in all,"
            " but the forecast has 2 tours"
        ]


def make_valid_week() -> Plan:
    """Build a two-driver plan that keeps every rule."""
    return make_plan(
        make_roster(
            "D001",
            make_triple(MONDAY, "Mo"),
            make_block(
                SPLIT,
                make_tour("Tu-a", TUESDAY, "06:00", "10:30"),
                make_tour("Tu-b", TUESDAY, "15:30", "18:00"),
            ),
            make_triple(WEDNESDAY, "We"),
        ),
        make_roster(
            "D002",
            make_block(SINGLE, make_tour("Mo-night", MONDAY, "22:00", "06:00")),
            make_block(
                REGULAR,
                make_tour("Tu-c", TUESDAY, "17:00", "21:30"),
                make_tour("Tu-d", TUESDAY, "22:00", "02:30"),
            ),
        ),
    )


class TestValidatePlan:
    def test_one_result_per_rule_in_fixed_order(self):
        checks = validate_plan(make_plan(), [], DEFAULT_RULES)

        assert [check.rule for check in checks] == [
            "coverage",
            "overlap",
            "block_kind",
            "span",
            "rest",
            "weekly_hours",
            "fatigue",
            "counts",
        ]
        assert [check.rule for check in checks] == list(RULE_IDS)
        assert all(check.label for check in checks)

    def test_valid_week_passes_every_rule(self):
        plan = make_valid_week()

        checks = validate_plan(plan, forecast_of(plan), DEFAULT_RULES)

        assert [check.rule for check in checks if not check.passed] == []

    def test_wrong_declared_kind_fails_only_block_kind(self):
        first = make_tour("Mo-a", MONDAY, "06:00", "10:30")
        second = make_tour("Mo-b", MONDAY, "11:00", "15:30")
        plan = make_plan(make_roster("D001", make_block(SPLIT, first, second)))

        checks = validate_plan(plan, forecast_of(plan), DEFAULT_RULES)

        assert [check.rule for check in checks if not check.passed] == ["block_kind"]


class TestSummarizeChecks:
    def test_one_line_per_rule_with_verdict(self):
        monday = make_tour("Mo-a", MONDAY, "15:30", "20:00")
        tuesday = make_tour("Tu-a", TUESDAY, "05:30", "10:00")
        plan = make_plan(
            make_roster("D007", make_block(SINGLE, monday), make_block(SINGLE, tuesday))
        )
        checks = validate_plan(plan, forecast_of(plan), DEFAULT_RULES)

        lines = summarize_checks(checks).splitlines()

        assert len(lines) == len(RULE_IDS)
        assert lines[0] == (
            "PASS coverage: Every tour covered exactly once (0 violations, 2 checked)"
        )
        assert lines[4] == (
            "FAIL rest: Rest between consecutive days (1 violation, 1 checked):"
            " driver D007 rests 9 h 30 min before Tuesday's block;"
            " 11 h required (90 min short)"
        )

    def test_lists_first_violations_only(self):
        tours = [
            make_tour(f"Mo-{letter}", MONDAY, "06:00", "10:30") for letter in "abcd"
        ]
        plan = make_plan(make_roster("D001", make_block(SINGLE, tours[0])))
        checks = validate_plan(plan, tours, DEFAULT_RULES)

        coverage_line = summarize_checks(checks, max_listed=2).splitlines()[0]

        assert coverage_line.startswith("FAIL coverage:")
        assert "Mo-b" in coverage_line
        assert "Mo-c" in coverage_line
        assert "Mo-d" not in coverage_line
        assert coverage_line.endswith(" | and 1 more")
