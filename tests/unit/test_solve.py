"""Specification of plan_forecast on forecasts whose optimum is known.

Small cases are worked out by hand. For tiny random forecasts from fixed seeds,
the fewest drivers come from a brute force over every partition of the tours
into rosters, each checked against the plan rules. Every plan must also pass
every check of the independent validator.
"""

import random
from itertools import pairwise

import pytest

from solver.generate import generate_forecast
from solver.plan import Plan
from solver.rules import RuleSettings
from solver.solve import (
    Progress,
    SolveResult,
    SolveStatus,
    part_time_trade_off,
    plan_forecast,
)
from solver.tours import MINUTES_PER_DAY, Forecast, Tour, TourTemplate, expand
from solver.validate import RULE_IDS

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY = 1, 2, 3, 4, 5, 6

TIME_LIMIT_SECONDS = 30.0
PART_TIME_SECONDS = 5.0


def minutes_of(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def make_template(day: int, clock_range: str, count: int = 1) -> TourTemplate:
    """Build a template from a range such as "06:00-10:00".

    An end at or before the start falls on the next day.
    """
    start, end = clock_range.split("-")
    return TourTemplate(day, minutes_of(start), minutes_of(end), count)


def solve_templates(
    *templates: TourTemplate, rules: RuleSettings | None = None
) -> SolveResult:
    return plan_forecast(
        Forecast.from_templates(templates),
        rules,
        time_limit_seconds=TIME_LIMIT_SECONDS,
        part_time_seconds=PART_TIME_SECONDS,
    )


def failed_checks(result: SolveResult) -> dict[str, list[str]]:
    """Return the messages of every failed validator check, by rule."""
    return {
        check.rule: [violation.message for violation in check.violations]
        for check in result.checks
        if not check.passed
    }


def assert_checks_pass(result: SolveResult) -> None:
    assert [check.rule for check in result.checks] == list(RULE_IDS)
    assert failed_checks(result) == {}


def tour_ids_by_driver(plan: Plan) -> dict[str, tuple[str, ...]]:
    return {
        roster.driver: tuple(tour.tour_id for tour in roster.tours)
        for roster in plan.rosters
    }


def assigned_tour_ids(plan: Plan) -> list[str]:
    return sorted(tour.tour_id for roster in plan.rosters for tour in roster.tours)


def all_tour_ids(forecast: Forecast) -> list[str]:
    return sorted(tour.tour_id for tour in expand(forecast))


class TestHandMadeOptimum:
    def test_one_tour_needs_one_driver(self):
        result = solve_templates(make_template(MONDAY, "06:00-10:30"))

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 1
        assert result.lower_bound == 1
        assert result.gap == 0.0
        assert result.uncoverable == ()
        assert_checks_pass(result)

    def test_empty_forecast_needs_no_driver(self):
        result = solve_templates()

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 0
        assert result.lower_bound == 0
        assert_checks_pass(result)

    def test_overlapping_tours_need_two_drivers(self):
        result = solve_templates(
            make_template(MONDAY, "06:00-10:30"), make_template(MONDAY, "09:00-13:30")
        )

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 2
        assert result.lower_bound == 2
        assert_checks_pass(result)

    def test_chained_tours_share_one_driver(self):
        result = solve_templates(
            make_template(MONDAY, "06:00-10:30"), make_template(MONDAY, "11:00-15:30")
        )

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 1
        assert_checks_pass(result)

    def test_exact_cover_bound_proves_shared_middle_tour(self):
        # Three drivers are needed: the middle tour exists once, and the outer
        # tours are 8 h apart, so they form no double. A covering LP that lets
        # two triples share the middle tour bounds this by 2; the exact-cover
        # LP raises the bound to 3.
        result = solve_templates(
            make_template(MONDAY, "05:00-12:00", count=2),
            make_template(MONDAY, "12:30-19:30"),
            make_template(MONDAY, "20:00-21:00", count=2),
        )

        assert result.drivers == 3
        assert result.lower_bound == 3
        assert result.status is SolveStatus.OPTIMAL
        assert_checks_pass(result)

    def test_surplus_middle_tour_costs_no_extra_driver(self):
        # The covering plan takes the Monday triple twice, holding 10:15 twice.
        # Its outer tours are 405 min apart and form no double, so trimming
        # alone would add a driver. The optimum is 3: the triple, Monday 05:00
        # with Tuesday 07:00, and Monday 16:15 alone.
        result = solve_templates(
            make_template(MONDAY, "05:00-09:30", count=2),
            make_template(MONDAY, "10:15-15:15"),
            make_template(MONDAY, "16:15-20:15", count=2),
            make_template(TUESDAY, "07:00-09:00"),
        )

        assert result.drivers == 3
        assert result.status is SolveStatus.OPTIMAL
        assert_checks_pass(result)

    def test_template_count_needs_one_driver_per_tour(self):
        result = solve_templates(make_template(MONDAY, "06:00-10:30", count=3))

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 3
        assert_checks_pass(result)


class TestRestAfterNightTour:
    def test_friday_06_00_start_needs_second_driver(self):
        # The Thursday tour ends Friday 06:00, so one driver would rest 0 h.
        result = solve_templates(
            make_template(THURSDAY, "22:00-06:00"), make_template(FRIDAY, "06:00-10:00")
        )

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 2
        assert result.lower_bound == 2
        assert_checks_pass(result)

    def test_friday_17_00_start_shares_one_driver(self):
        # From Friday 06:00 to 17:00 the driver rests exactly 11 h.
        result = solve_templates(
            make_template(THURSDAY, "22:00-06:00"), make_template(FRIDAY, "17:00-21:00")
        )

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 1
        assert [block.day for block in result.plan.rosters[0].blocks] == [
            THURSDAY,
            FRIDAY,
        ]
        assert_checks_pass(result)

    def test_friday_16_45_start_needs_second_driver(self):
        result = solve_templates(
            make_template(THURSDAY, "22:00-06:00"), make_template(FRIDAY, "16:45-20:45")
        )

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 2
        assert_checks_pass(result)


class TestWeeklyLimit:
    def test_six_10_hour_days_need_two_drivers(self):
        # 60 h of tours exceed the 55 h weekly limit of one driver.
        templates = [
            make_template(day, "06:00-16:00") for day in range(MONDAY, SATURDAY + 1)
        ]

        result = solve_templates(*templates)

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 2
        assert result.lower_bound == 2
        assert_checks_pass(result)

    def test_six_9_hour_days_fit_one_driver(self):
        templates = [
            make_template(day, "06:00-15:00") for day in range(MONDAY, SATURDAY + 1)
        ]

        result = solve_templates(*templates)

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 1
        assert result.plan.rosters[0].work_minutes == 54 * 60
        assert_checks_pass(result)

    def test_lower_custom_limit_needs_more_drivers(self):
        templates = [
            make_template(day, "06:00-15:00") for day in range(MONDAY, SATURDAY + 1)
        ]
        rules = RuleSettings(max_weekly_minutes=20 * 60)

        result = solve_templates(*templates, rules=rules)

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 3
        assert_checks_pass(result)


def chained_triple(day: int) -> list[TourTemplate]:
    """Return three tours 06:00-19:00 with 30 min gaps, 12 h of tour time."""
    return [
        make_template(day, "06:00-10:00"),
        make_template(day, "10:30-14:30"),
        make_template(day, "15:00-19:00"),
    ]


class TestFatigue:
    def test_triples_monday_and_tuesday_need_two_drivers(self):
        result = solve_templates(*chained_triple(MONDAY), *chained_triple(TUESDAY))

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 2
        assert result.lower_bound == 2
        assert_checks_pass(result)

    def test_triples_monday_and_wednesday_need_one_driver(self):
        result = solve_templates(*chained_triple(MONDAY), *chained_triple(WEDNESDAY))

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 1
        assert_checks_pass(result)

    def test_fatigue_rule_off_lets_one_driver_work_both(self):
        rules = RuleSettings(forbid_triple_after_triple=False)

        result = solve_templates(
            *chained_triple(MONDAY), *chained_triple(TUESDAY), rules=rules
        )

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 1
        assert_checks_pass(result)


class TestUncoverableTour:
    RULES = RuleSettings(max_weekly_minutes=240)
    TEMPLATES = (
        make_template(MONDAY, "06:00-11:00"),
        make_template(TUESDAY, "06:00-10:00"),
        make_template(WEDNESDAY, "06:00-10:00"),
    )
    LONG_TOUR_ID = "Mo-0600-1100-01"

    def test_status_is_no_feasible_plan(self):
        result = solve_templates(*self.TEMPLATES, rules=self.RULES)

        assert result.status is SolveStatus.NO_FEASIBLE_PLAN
        assert result.describe_status().startswith("no feasible plan")

    def test_uncoverable_tour_names_weekly_hours(self):
        result = solve_templates(*self.TEMPLATES, rules=self.RULES)

        assert len(result.uncoverable) == 1
        uncoverable = result.uncoverable[0]
        assert uncoverable.tour.tour_id == self.LONG_TOUR_ID
        assert uncoverable.rule == "weekly_hours"
        assert self.LONG_TOUR_ID in uncoverable.reason
        assert "300 min" in uncoverable.reason
        assert "240 min" in uncoverable.reason

    def test_coverable_tours_are_still_planned(self):
        result = solve_templates(*self.TEMPLATES, rules=self.RULES)

        # 4 h each, so the 240 min limit allows one tour per driver.
        assert assigned_tour_ids(result.plan) == ["Di-0600-1000-01", "Mi-0600-1000-01"]
        assert result.drivers == 2
        assert [tour.tour_id for tour in result.plan.uncovered] == [self.LONG_TOUR_ID]

    def test_coverage_check_fails_for_uncovered_tour(self):
        result = solve_templates(*self.TEMPLATES, rules=self.RULES)

        failed = failed_checks(result)
        assert list(failed) == ["coverage"]
        assert len(failed["coverage"]) == 1
        assert self.LONG_TOUR_ID in failed["coverage"][0]
        coverage = next(check for check in result.checks if check.rule == "coverage")
        assert coverage.violations[0].tour_ids == (self.LONG_TOUR_ID,)


# Brute force: the fewest drivers over every partition of the tours.


def week_times(tour: Tour) -> tuple[int, int]:
    return tour.week_start, tour.week_end


def block_is_valid(tours: list[Tour], rules: RuleSettings) -> bool:
    """Check one day's tours, in start order, against the block rules."""
    gaps = [later.week_start - earlier.week_end for earlier, later in pairwise(tours)]
    span = tours[-1].week_end - tours[0].week_start
    if any(gap < 0 for gap in gaps):
        return False
    if len(tours) == 1:
        return True
    if len(tours) == 2:
        regular = (
            rules.min_regular_gap_minutes <= gaps[0] <= rules.max_regular_gap_minutes
            and span <= rules.max_regular_span_minutes
        )
        split = (
            rules.min_split_gap_minutes <= gaps[0] <= rules.max_split_gap_minutes
            and span <= rules.max_split_span_minutes
        )
        return regular or split
    if len(tours) == 3:
        chained = all(
            rules.min_chain_gap_minutes <= gap <= rules.max_chain_gap_minutes
            for gap in gaps
        )
        return chained and span <= rules.max_triple_span_minutes
    return False


def roster_is_valid(tours: list[Tour], rules: RuleSettings) -> bool:
    """Check one driver's week against the block, rest, weekly and fatigue rules."""
    if sum(tour.duration_minutes for tour in tours) > rules.max_weekly_minutes:
        return False
    by_day: dict[int, list[Tour]] = {}
    for tour in sorted(tours, key=week_times):
        by_day.setdefault(tour.day, []).append(tour)
    if not all(block_is_valid(day_tours, rules) for day_tours in by_day.values()):
        return False
    for day, day_tours in by_day.items():
        next_day_tours = by_day.get(day + 1)
        if next_day_tours is None:
            continue
        block_end = max(tour.week_end for tour in day_tours)
        if next_day_tours[0].week_start - block_end < rules.min_rest_minutes:
            return False
        both_triples = len(day_tours) == 3 and len(next_day_tours) == 3
        if rules.forbid_triple_after_triple and both_triples:
            return False
    return True


def brute_force_min_drivers(tours: list[Tour], rules: RuleSettings) -> int:
    """Return the fewest valid rosters that cover every tour exactly once.

    Returns len(tours) + 1 when no partition is valid.
    """
    best = len(tours) + 1

    def place(index: int, rosters: list[list[Tour]]) -> None:
        nonlocal best
        if len(rosters) >= best:
            return
        if index == len(tours):
            if all(roster_is_valid(roster, rules) for roster in rosters):
                best = len(rosters)
            return
        tour = tours[index]
        for roster in rosters:
            roster.append(tour)
            place(index + 1, rosters)
            roster.pop()
        rosters.append([tour])
        place(index + 1, rosters)
        rosters.pop()

    place(0, [])
    return best


GAP_CHOICES = (30, 45, 60, 90, 240, 300, 600, 660)


def tiny_forecast(seed: int, max_count: int = 1) -> Forecast:
    """Draw 4 to 6 tours on 2 or 3 consecutive days from a fixed seed.

    Each template is drawn with a count from 1 to `max_count`, and the draws
    stop at 6 tours. Most tours start a regular, split or rest-sized gap after
    the previous one ends, so blocks, rest and overlap all matter.
    """
    rng = random.Random(seed)
    first_day = rng.randint(MONDAY, FRIDAY)
    days = list(range(first_day, first_day + rng.randint(2, 3)))
    templates = []
    tour_count = rng.randint(4, 6)
    previous_end = rng.randrange(4 * 60, 9 * 60, 15)
    drawn = 0
    while drawn < tour_count:
        count = min(rng.randint(1, max_count), tour_count - drawn)
        drawn += count
        if rng.random() < 0.8:
            start = previous_end + rng.choice(GAP_CHOICES)
        else:
            start = rng.randrange(0, 3 * MINUTES_PER_DAY, 15)
        day = days[min((start // MINUTES_PER_DAY), len(days) - 1)]
        start_minute = start % MINUTES_PER_DAY
        duration = rng.randrange(3 * 60, 10 * 60 + 1, 15)
        end_minute = (start_minute + duration) % MINUTES_PER_DAY
        templates.append(TourTemplate(day, start_minute, end_minute, count))
        previous_end = (day - first_day) * MINUTES_PER_DAY + start_minute + duration
    return Forecast.from_templates(templates)


TINY_RULE_SETS = {
    "default": RuleSettings(),
    "tight-week": RuleSettings(max_weekly_minutes=12 * 60),
}

TINY_SEEDS = range(8)


@pytest.mark.parametrize("rules_name", sorted(TINY_RULE_SETS))
@pytest.mark.parametrize("seed", TINY_SEEDS)
def test_tiny_forecast_matches_brute_force(seed, rules_name):
    rules = TINY_RULE_SETS[rules_name]
    forecast = tiny_forecast(seed)
    tours = expand(forecast)

    result = plan_forecast(
        forecast,
        rules,
        time_limit_seconds=TIME_LIMIT_SECONDS,
        part_time_seconds=PART_TIME_SECONDS,
    )

    assert result.drivers == brute_force_min_drivers(tours, rules)
    assert result.status is SolveStatus.OPTIMAL
    assert result.lower_bound == result.drivers
    assert assigned_tour_ids(result.plan) == all_tour_ids(forecast)
    assert_checks_pass(result)


REPEATED_SEEDS = range(100, 112)


@pytest.mark.parametrize("seed", REPEATED_SEEDS)
def test_tiny_forecast_with_repeated_tours_matches_brute_force(seed):
    rules = RuleSettings()
    forecast = tiny_forecast(seed, max_count=3)
    tours = expand(forecast)

    result = plan_forecast(
        forecast,
        rules,
        time_limit_seconds=TIME_LIMIT_SECONDS,
        part_time_seconds=PART_TIME_SECONDS,
    )

    assert result.drivers == brute_force_min_drivers(tours, rules)
    assert result.status is SolveStatus.OPTIMAL
    assert assigned_tour_ids(result.plan) == all_tour_ids(forecast)
    assert_checks_pass(result)


def test_tiny_forecasts_make_rules_bind():
    # Guards the comparison above against forecasts where every tour needs its
    # own driver, which a plan of single-tour rosters would pass, and against a
    # weekly limit that never changes the optimum.
    min_drivers = {
        (seed, rules_name): brute_force_min_drivers(expand(tiny_forecast(seed)), rules)
        for seed in TINY_SEEDS
        for rules_name, rules in TINY_RULE_SETS.items()
    }

    shared_seeds = [
        seed
        for seed in TINY_SEEDS
        if min_drivers[seed, "default"] < tiny_forecast(seed).tour_count
    ]
    tightened_seeds = [
        seed
        for seed in TINY_SEEDS
        if min_drivers[seed, "tight-week"] > min_drivers[seed, "default"]
    ]

    assert shared_seeds == list(TINY_SEEDS)
    assert tightened_seeds


class TestGeneratedForecast:
    def test_same_forecast_gives_same_rosters(self):
        forecast = generate_forecast(150, seed=3)

        first = plan_forecast(
            forecast,
            time_limit_seconds=TIME_LIMIT_SECONDS,
            part_time_seconds=PART_TIME_SECONDS,
        )
        second = plan_forecast(
            forecast,
            time_limit_seconds=TIME_LIMIT_SECONDS,
            part_time_seconds=PART_TIME_SECONDS,
        )

        assert tour_ids_by_driver(first.plan) == tour_ids_by_driver(second.plan)
        assert first.status is second.status
        assert first.lower_bound == second.lower_bound
        assert_checks_pass(first)
        assert_checks_pass(second)

    def test_tiny_time_limit_still_covers_every_tour(self):
        forecast = generate_forecast(400, seed=3)

        result = plan_forecast(forecast, time_limit_seconds=0.001)

        assert result.status is SolveStatus.TIME_LIMIT
        assert "time limit reached" in result.describe_status()
        assert result.bound_is_exact is False
        assert result.plan.uncovered == ()
        assert assigned_tour_ids(result.plan) == all_tour_ids(forecast)
        assert result.drivers >= result.lower_bound
        assert_checks_pass(result)

    def test_progress_bound_never_decreases(self):
        forecast = generate_forecast(150, seed=3)
        reports: list[Progress] = []

        result = plan_forecast(
            forecast,
            time_limit_seconds=TIME_LIMIT_SECONDS,
            part_time_seconds=PART_TIME_SECONDS,
            on_progress=reports.append,
        )

        assert reports
        assert reports[0].phase == "lower bound"
        lower_bounds = [report.lower_bound for report in reports]
        elapsed = [report.elapsed_seconds for report in reports]
        assert all(bound is not None for bound in lower_bounds)
        assert lower_bounds == sorted(lower_bounds)
        assert lower_bounds[-1] == result.lower_bound
        assert all(seconds >= 0 for seconds in elapsed)
        assert elapsed == sorted(elapsed)
        assert elapsed[-1] <= result.seconds
        assert_checks_pass(result)

    def test_progress_gap_matches_bound_and_head_count(self):
        forecast = generate_forecast(150, seed=3)
        reports: list[Progress] = []

        plan_forecast(
            forecast,
            time_limit_seconds=TIME_LIMIT_SECONDS,
            part_time_seconds=PART_TIME_SECONDS,
            on_progress=reports.append,
        )

        with_head_count = [report for report in reports if report.best_drivers]
        assert with_head_count
        for report in with_head_count:
            assert report.best_drivers >= report.lower_bound
            expected_gap = (
                report.best_drivers - report.lower_bound
            ) / report.best_drivers
            assert report.gap == pytest.approx(expected_gap)


def part_time_count(plan: Plan, rules: RuleSettings) -> int:
    return sum(
        1
        for roster in plan.rosters
        if sum(tour.duration_minutes for tour in roster.tours)
        < rules.part_time_below_minutes
    )


class TestPartTimeRosters:
    def test_overlapping_short_tours_prove_two(self):
        result = solve_templates(make_template(MONDAY, "06:00-10:30", count=2))

        assert result.drivers == 2
        assert part_time_count(result.plan, RuleSettings()) == 2
        assert result.part_time_lower_bound == 2

    def test_moves_leave_none_part_time(self):
        # Two drivers are needed on Monday; eight more single days fill
        # exactly two 40 h weeks once the days are shared out.
        rules = RuleSettings(part_time_below_minutes=18 * 60)
        templates = [
            make_template(MONDAY, "06:00-10:30", count=2),
            *(make_template(day, "06:00-10:30") for day in (TUESDAY, WEDNESDAY)),
            *(make_template(day, "06:00-10:30") for day in (THURSDAY, FRIDAY)),
            make_template(SATURDAY, "06:00-10:30", count=2),
        ]

        result = solve_templates(*templates, rules=rules)

        assert result.status is SolveStatus.OPTIMAL
        assert result.drivers == 2
        assert part_time_count(result.plan, rules) == 0
        assert result.part_time_lower_bound == 0
        assert_checks_pass(result)


class TestPartTimeTradeOff:
    def test_rows_add_one_driver_each(self):
        forecast = generate_forecast(150, seed=3)

        result, rows = part_time_trade_off(
            forecast,
            extra_drivers=3,
            time_limit_seconds=TIME_LIMIT_SECONDS,
            part_time_seconds=PART_TIME_SECONDS,
        )

        assert [row.max_drivers for row in rows] == [
            result.drivers + extra for extra in range(4)
        ]
        assert rows[0].drivers == result.drivers
        assert rows[0].part_time_lower_bound == result.part_time_lower_bound
        found = [row.part_time_rosters for row in rows]
        assert found == sorted(found, reverse=True)
        for row in rows:
            assert row.drivers <= row.max_drivers
            assert row.violations == 0
            if row.part_time_lower_bound is not None:
                assert row.part_time_lower_bound <= row.part_time_rosters

    def test_proven_row_settles_later_rows(self):
        forecast = Forecast.from_templates(
            [make_template(MONDAY, "06:00-10:30", count=2)]
        )

        _, rows = part_time_trade_off(
            forecast, extra_drivers=2, time_limit_seconds=TIME_LIMIT_SECONDS
        )

        assert [(row.max_drivers, row.part_time_rosters) for row in rows] == [
            (2, 2),
            (3, 2),
            (4, 2),
        ]
        assert all(row.is_proven for row in rows)


class TestGapTarget:
    def test_gap_target_out_of_range(self):
        forecast = generate_forecast(20, seed=1)

        for target in (-0.1, 1.0):
            with pytest.raises(ValueError, match="gap_target"):
                plan_forecast(forecast, gap_target=target)

    def test_wide_gap_target_skips_models(self):
        forecast = generate_forecast(150, seed=3)
        reports: list[Progress] = []

        result = plan_forecast(
            forecast,
            time_limit_seconds=TIME_LIMIT_SECONDS,
            part_time_seconds=PART_TIME_SECONDS,
            on_progress=reports.append,
            gap_target=0.5,
        )

        phases = {report.phase for report in reports}
        assert not phases & {"head count model", "exact cover", "exact cover model"}
        assert result.gap <= 0.5
        assert result.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)
        assert_checks_pass(result)
