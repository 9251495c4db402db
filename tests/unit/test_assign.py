"""Specification of planning with named drivers and of their own checks.

Small weeks are worked out by hand: which driver may take which tour, which
tours stay open and why, the text of the shortfall, and which driver's wishes
win. The driver checks are shown to fail on plans built by hand to break each
rule.
"""

import itertools
from dataclasses import asdict

import numpy as np
import pytest

from solver.assign import (
    DRIVERS_FULLY_USED,
    NO_AVAILABLE_DRIVER,
    NO_QUALIFIED_DRIVER,
    REST_AFTER_PREVIOUS_WEEK,
    WEEKLY_HOURS,
    plan_for_drivers,
)
from solver.blocks import enumerate_week_blocks
from solver.drivers import (
    EARLY_START,
    LATE_START,
    DriverPreferences,
    DriverProfile,
    whole_days_off,
)
from solver.generate import generate_driver_pool, generate_forecast
from solver.plan import Block, BlockKind, Plan, Roster
from solver.preferences import (
    KindBlockSwaps,
    PreferenceReport,
    is_in_start_window,
    longest_run,
    min_cost_assignment,
    report_preferences,
)
from solver.rebalance import PartTimeRebalancer, RosterLimits
from solver.rules import RuleSettings
from solver.tours import Forecast, TourTemplate, expand
from solver.validate_drivers import DRIVER_RULES, validate_driver_rules

MONDAY, TUESDAY, WEDNESDAY, THURSDAY = 1, 2, 3, 4
SUNDAY = 7
HOUR = 60
MORNING = (6 * HOUR, 10 * HOUR + 30)


def morning(day: int, count: int = 1, qualification: str = "") -> TourTemplate:
    return TourTemplate(day, *MORNING, count, qualification=qualification)


def plan(*templates: TourTemplate, drivers, **options):
    return plan_for_drivers(
        Forecast.from_templates(templates), drivers, time_limit_seconds=30, **options
    )


def tours_of(result) -> dict[str, list[str]]:
    return {
        roster.driver: [tour.tour_id for tour in roster.tours]
        for roster in result.plan.rosters
    }


def failed_rules(result) -> list[str]:
    return [check.rule for check in result.checks if not check.passed]


def test_adr_tour_goes_to_adr_driver():
    drivers = [DriverProfile("A"), DriverProfile("B", frozenset({"ADR"}))]

    result = plan(morning(MONDAY, qualification="ADR"), drivers=drivers)

    assert list(tours_of(result)) == ["B"]
    assert result.open_tours == ()
    assert failed_rules(result) == []


def test_tour_without_qualified_driver_stays_open():
    result = plan(
        morning(MONDAY, qualification="ADR"),
        morning(TUESDAY),
        drivers=[DriverProfile("A")],
    )

    assert [item.reason for item in result.open_tours] == [NO_QUALIFIED_DRIVER]
    assert "needs ADR" in result.open_tours[0].message
    assert result.shortfall == (
        "1 more driver with ADR on Monday 06:00-10:30 would take the 1 open tour there",
    )
    assert tours_of(result) == {"A": ["Di-0600-1030-01"]}
    assert "coverage" in failed_rules(result)


def test_unavailable_day_moves_the_tour():
    drivers = [
        DriverProfile("A", unavailable=whole_days_off([MONDAY])),
        DriverProfile("B", unavailable=whole_days_off([TUESDAY])),
    ]

    result = plan(morning(MONDAY), morning(TUESDAY), drivers=drivers)

    assert tours_of(result) == {"A": ["Di-0600-1030-01"], "B": ["Mo-0600-1030-01"]}
    assert failed_rules(result) == []


def test_absent_pool_leaves_tour_open():
    drivers = [DriverProfile("A", unavailable=whole_days_off([MONDAY]))]

    result = plan(morning(MONDAY), drivers=drivers)

    assert [item.reason for item in result.open_tours] == [NO_AVAILABLE_DRIVER]


def test_resting_pool_names_rest():
    drivers = [DriverProfile("A", previous_week_end=-1 * HOUR)]

    result = plan(morning(MONDAY), drivers=drivers)

    [open_tour] = result.open_tours
    assert open_tour.reason == REST_AFTER_PREVIOUS_WEEK
    assert "1 still resting after the previous week" in open_tour.message


def test_short_weekly_limit_names_hours():
    drivers = [DriverProfile("A", max_weekly_minutes=4 * HOUR)]

    result = plan(morning(MONDAY), drivers=drivers)

    [open_tour] = result.open_tours
    assert open_tour.reason == WEEKLY_HOURS
    assert "1 with a weekly limit below the tour" in open_tour.message


def test_mixed_causes_listed_together():
    drivers = [
        DriverProfile("A", unavailable=whole_days_off([MONDAY])),
        DriverProfile("B", previous_week_end=-1 * HOUR),
    ]

    result = plan(morning(MONDAY), drivers=drivers)

    [open_tour] = result.open_tours
    assert open_tour.reason == REST_AFTER_PREVIOUS_WEEK
    assert "of the 2 qualified drivers, 1 unavailable at that time" in (
        open_tour.message
    )
    assert "1 still resting after the previous week" in open_tour.message


def test_one_driver_for_two_overlapping_tours():
    result = plan(morning(MONDAY, count=2), drivers=[DriverProfile("A")])

    assert [item.reason for item in result.open_tours] == [DRIVERS_FULLY_USED]
    assert result.shortfall == (
        "1 more driver on Monday 06:00-10:30 would take the 1 open tour there",
    )


def test_personal_weekly_limit_splits_the_week():
    drivers = [
        DriverProfile("A", max_weekly_minutes=9 * HOUR),
        DriverProfile("B", max_weekly_minutes=9 * HOUR),
    ]

    result = plan(
        morning(MONDAY), morning(TUESDAY), morning(WEDNESDAY), drivers=drivers
    )

    weeks = sorted(len(tours) for tours in tours_of(result).values())
    assert weeks == [1, 2]
    assert result.open_tours == ()
    assert failed_rules(result) == []


def test_fewest_drivers_used_from_a_larger_pool():
    drivers = [DriverProfile(f"D{number}") for number in range(5)]

    result = plan(
        morning(MONDAY), morning(TUESDAY), morning(WEDNESDAY), drivers=drivers
    )

    assert result.drivers_used == 1
    assert result.lower_bound == 1
    assert result.bound_is_exact


def test_last_week_late_block_blocks_monday_morning():
    drivers = [
        DriverProfile("A", previous_week_end=-1 * HOUR),
        DriverProfile("B"),
    ]

    result = plan(morning(MONDAY), drivers=drivers)

    assert list(tours_of(result)) == ["B"]
    assert failed_rules(result) == []


def test_home_depot_rule_keeps_drivers_at_their_depot():
    template = TourTemplate(MONDAY, *MORNING, 1, depot="Nord")
    drivers = [
        DriverProfile("A", home_depot="Süd"),
        DriverProfile("B", home_depot="Nord"),
    ]

    kept = plan(template, drivers=drivers, stay_at_home_depot=True)
    free = plan(template, drivers=[drivers[0]])

    assert list(tours_of(kept)) == ["B"]
    assert list(tours_of(free)) == ["A"]


def test_duplicate_driver_ids_are_rejected():
    with pytest.raises(ValueError, match="unique"):
        plan(morning(MONDAY), drivers=[DriverProfile("A"), DriverProfile("A")])


def test_generated_pool_covers_generated_week():
    forecast = generate_forecast(200, seed=2)
    pool = generate_driver_pool(60, seed=2)

    result = plan_for_drivers(forecast, pool, time_limit_seconds=60)

    assert failed_rules(result) == []
    assert result.open_tours == ()
    assert result.drivers_used >= result.lower_bound


# The driver checks, each on a plan built by hand to break one rule.


def hand_plan(driver: str, *templates: TourTemplate) -> Plan:
    tours = expand(Forecast.from_templates(templates))
    blocks = tuple(
        Block(day=tour.day, kind=BlockKind.SINGLE, tours=(tour,)) for tour in tours
    )
    return Plan(rosters=(Roster(driver=driver, blocks=blocks),))


def broken(plan_: Plan, drivers, stay_at_home_depot: bool = False) -> dict[str, int]:
    checks = validate_driver_rules(plan_, drivers, RuleSettings(), stay_at_home_depot)
    assert [check.rule for check in checks] == list(DRIVER_RULES)
    return {check.rule: len(check.violations) for check in checks if not check.passed}


def test_check_unknown_driver():
    assert broken(hand_plan("X", morning(MONDAY)), [DriverProfile("A")]) == {
        "driver": 1
    }


def test_check_missing_qualification():
    plan_ = hand_plan("A", morning(MONDAY, qualification="KUEHL"))

    assert broken(plan_, [DriverProfile("A")]) == {"qualification": 1}
    assert broken(plan_, [DriverProfile("A", frozenset({"KUEHL"}))]) == {}


def test_check_other_depot():
    plan_ = hand_plan("A", TourTemplate(MONDAY, *MORNING, 1, depot="Nord"))
    drivers = [DriverProfile("A", home_depot="Süd")]

    assert broken(plan_, drivers, stay_at_home_depot=True) == {"qualification": 1}
    assert broken(plan_, drivers) == {}


def test_check_unavailable_time():
    plan_ = hand_plan("A", morning(MONDAY))
    nine_to_noon = ((9 * HOUR, 12 * HOUR),)

    checks = validate_driver_rules(
        plan_, [DriverProfile("A", unavailable=nine_to_noon)], RuleSettings()
    )

    availability = checks[DRIVER_RULES.index("availability")]
    assert [item.amount_minutes for item in availability.violations] == [90]
    assert (
        broken(plan_, [DriverProfile("A", unavailable=((11 * HOUR, 12 * HOUR),))]) == {}
    )


def test_check_personal_weekly_limit():
    plan_ = hand_plan("A", morning(MONDAY), morning(TUESDAY))

    assert broken(plan_, [DriverProfile("A", max_weekly_minutes=8 * HOUR)]) == {
        "personal_weekly_hours": 1
    }
    assert broken(plan_, [DriverProfile("A", max_weekly_minutes=9 * HOUR)]) == {}


def test_check_cross_week_rest():
    plan_ = hand_plan("A", morning(MONDAY))

    # Monday 06:00 is 11 h after Sunday 19:00 (-5 h) but not after 19:01.
    assert broken(plan_, [DriverProfile("A", previous_week_end=-5 * HOUR)]) == {}
    assert broken(plan_, [DriverProfile("A", previous_week_end=-5 * HOUR + 1)]) == {
        "cross_week_rest": 1
    }


def test_contract_minimum_hours_are_filled_where_possible():
    drivers = [
        DriverProfile("A", min_weekly_minutes=9 * HOUR),
        DriverProfile("B", min_weekly_minutes=9 * HOUR),
    ]
    templates = [morning(MONDAY, count=2), morning(TUESDAY), morning(WEDNESDAY)]
    templates.append(TourTemplate(4, *MORNING, 1))

    result = plan(*templates, drivers=drivers)

    hours = sorted(
        sum(tour.duration_minutes for tour in roster.tours) / HOUR
        for roster in result.plan.rosters
    )
    assert hours == [9.0, 13.5]
    assert failed_rules(result) == []
    assert result.spreads["weekly_hours"] == 4.5


def test_spreads_compare_drivers_of_one_kind():
    drivers = [DriverProfile("A"), DriverProfile("B")]

    result = plan(morning(MONDAY, count=2), morning(TUESDAY), drivers=drivers)

    assert result.spreads["weekly_hours"] == 4.5
    assert result.spreads["weekend_days"] == 0.0


# Wishes: who works which roster once cover and head count are settled.


def days_off(*days: int, weight: int = 5) -> DriverPreferences:
    return DriverPreferences(days_off=frozenset(days), days_off_weight=weight)


def starts(start: str, weight: int = 3) -> DriverPreferences:
    return DriverPreferences(start=start, start_weight=weight)


def days_of(result) -> dict[str, list[int]]:
    return {
        roster.driver: [block.day for block in roster.blocks]
        for roster in result.plan.rosters
    }


def drivers_with(wishes: dict[str, DriverPreferences], names: str = "AB"):
    return [
        DriverProfile(name, preferences=wishes.get(name, DriverPreferences()))
        for name in names
    ]


@pytest.mark.parametrize("wishing", ["A", "B"])
def test_wished_day_off_gets_week_without_it(wishing):
    drivers = drivers_with({wishing: days_off(MONDAY)})

    result = plan(
        morning(MONDAY),
        morning(TUESDAY, count=2),
        morning(WEDNESDAY, count=2),
        drivers=drivers,
    )

    assert result.drivers_used == 2
    assert MONDAY not in days_of(result)[wishing]
    assert result.preferences.wishes == 1
    assert result.preferences.honoured == 1
    assert result.preferences.weighted_share == 1.0
    assert result.preferences.unmet == {}
    assert failed_rules(result) == []


def test_idle_driver_keeps_wished_day_off():
    drivers = drivers_with({"A": days_off(MONDAY)})

    result = plan(morning(MONDAY), drivers=drivers)

    assert list(days_of(result)) == ["B"]
    assert result.preferences.honoured == 1
    assert failed_rules(result) == []


@pytest.mark.parametrize(
    ("weight_a", "weight_b", "works_monday"), [(2, 7, "A"), (7, 2, "B")]
)
def test_heavier_wish_wins(weight_a, weight_b, works_monday):
    drivers = drivers_with(
        {"A": days_off(MONDAY, weight=weight_a), "B": days_off(MONDAY, weight=weight_b)}
    )

    result = plan(morning(MONDAY), morning(TUESDAY, count=2), drivers=drivers)

    off = "B" if works_monday == "A" else "A"
    assert MONDAY in days_of(result)[works_monday]
    assert MONDAY not in days_of(result)[off]
    report = result.preferences
    assert (report.wishes, report.honoured) == (2, 1)
    assert (report.weight_total, report.weight_honoured) == (9, 7)
    assert report.weighted_share == pytest.approx(7 / 9)
    assert report.unmet == {
        works_monday: ("wished Monday off but works at 06:00 that day",)
    }
    assert failed_rules(result) == []


def test_start_wishes_pick_early_and_late_tours():
    early = TourTemplate(MONDAY, 6 * HOUR, 14 * HOUR, 1)
    late = TourTemplate(MONDAY, 12 * HOUR, 16 * HOUR + 30, 1)
    drivers = drivers_with({"A": starts(LATE_START), "B": starts(EARLY_START)})

    result = plan(early, late, drivers=drivers)

    assert tours_of(result) == {"A": ["Mo-1200-1630-01"], "B": ["Mo-0600-1400-01"]}
    assert result.preferences.honoured == 2
    assert failed_rules(result) == []


def test_wishes_cost_no_driver_and_no_tour():
    forecast = generate_forecast(200, seed=2)
    plain = generate_driver_pool(60, seed=2, preference_share=0.0)
    wishful = generate_driver_pool(60, seed=2, preference_share=1.0)

    without = plan_for_drivers(forecast, plain, time_limit_seconds=60)
    honoured = plan_for_drivers(forecast, wishful, time_limit_seconds=60)

    assert honoured.drivers_used == without.drivers_used
    assert honoured.open_tours == without.open_tours == ()
    assert under_contract(honoured, wishful) == under_contract(without, plain)
    assert failed_rules(honoured) == []
    assert failed_rules(without) == []
    # The plan made without wishes, scored against them, honours less weight.
    ignored = report_preferences(without.plan, wishful)
    assert honoured.preferences.weight_honoured > ignored.weight_honoured
    assert honoured.preferences.wishes == ignored.wishes


def under_contract(result, drivers) -> int:
    minimum = {driver.driver_id: driver.min_weekly_minutes for driver in drivers}
    return sum(
        minimum[roster.driver] - roster.work_minutes
        for roster in result.plan.rosters
        if roster.work_minutes < minimum[roster.driver]
    )


def test_report_counts_every_wish_of_the_pool():
    week = hand_plan(
        "A",
        morning(MONDAY),
        morning(TUESDAY),
        TourTemplate(WEDNESDAY, 13 * HOUR, 17 * HOUR, 1),
    )
    busy = DriverPreferences(
        start=EARLY_START,
        start_weight=2,
        days_off=frozenset({MONDAY, WEDNESDAY, SUNDAY}),
        days_off_weight=4,
        max_days_in_row=2,
        max_days_in_row_weight=1,
    )
    idle = DriverPreferences(
        start=LATE_START,
        start_weight=5,
        days_off=frozenset({SUNDAY}),
        days_off_weight=1,
    )
    drivers = [
        DriverProfile("A", preferences=busy),
        DriverProfile("B", preferences=idle),
        DriverProfile("C"),
    ]

    report = report_preferences(week, drivers)

    assert report.wishes == 7
    assert report.honoured == 3
    assert report.weight_total == 2 + 3 * 4 + 1 + 5 + 1
    assert report.weight_honoured == 4 + 5 + 1
    assert report.unmet == {
        "A": (
            "wished early starts (before 08:00) but starts 13:00 on Wednesday",
            "wished Monday off but works at 06:00 that day",
            "wished Wednesday off but works at 13:00 that day",
            "wished at most 2 days in a row but works 3 in a row",
        )
    }


def test_report_without_wishes_is_whole():
    report = report_preferences(hand_plan("A", morning(MONDAY)), [DriverProfile("A")])

    assert report.wishes == 0
    assert report.weighted_share == 1.0


def test_report_is_plain_data():
    report = PreferenceReport(wishes=2, honoured=1, weight_total=8, weight_honoured=2)

    assert asdict(report)["weighted_share"] == 0.25


def test_zero_weight_wish_is_not_counted():
    drivers = [DriverProfile("A", preferences=days_off(MONDAY, weight=0))]

    report = report_preferences(hand_plan("A", morning(MONDAY)), drivers)

    assert report.wishes == 0


@pytest.mark.parametrize(
    ("start", "minute", "inside"),
    [
        (EARLY_START, 7 * HOUR + 59, True),
        (EARLY_START, 8 * HOUR, False),
        (LATE_START, 11 * HOUR + 59, False),
        (LATE_START, 12 * HOUR, True),
    ],
)
def test_start_window_edges(start, minute, inside):
    assert is_in_start_window(start, minute) is inside


def test_longest_run_within_week():
    assert longest_run({1, 2, 3, 5, 6}) == 3
    assert longest_run({7, 1}) == 1
    assert longest_run(set()) == 0


def test_assignment_matches_brute_force():
    rng = np.random.default_rng(3)
    for size in range(1, 7):
        for _ in range(20):
            cost = rng.integers(-20, 20, size=(size, size))

            columns = min_cost_assignment(cost)

            best = min(
                sum(cost[row, order[row]] for row in range(size))
                for order in itertools.permutations(range(size))
            )
            assert sorted(columns) == list(range(size))
            assert sum(cost[row, columns[row]] for row in range(size)) == best


def test_assignment_rejects_non_square_cost():
    with pytest.raises(ValueError, match="square"):
        min_cost_assignment(np.zeros((2, 3)))


def swap_setup(*templates: TourTemplate):
    forecast = Forecast.from_templates(templates)
    rules = RuleSettings()
    week_blocks = enumerate_week_blocks(forecast, rules)
    swaps = KindBlockSwaps(
        PartTimeRebalancer(week_blocks, rules),
        [(blocks.week_start % (24 * HOUR)).tolist() for blocks in week_blocks],
    )

    def block(template: TourTemplate) -> int:
        index = forecast.templates.index(template)
        return week_blocks[template.day - 1].index_of((index,))

    limits = [RosterLimits(0, rules.max_weekly_minutes)] * 2
    return swaps, block, limits


def test_block_swap_gives_each_driver_wished_starts():
    early_monday = TourTemplate(MONDAY, 6 * HOUR, 14 * HOUR, 1)
    late_monday = TourTemplate(MONDAY, 12 * HOUR, 16 * HOUR + 30, 1)
    early_tuesday = TourTemplate(TUESDAY, 6 * HOUR, 14 * HOUR, 1)
    late_tuesday = TourTemplate(TUESDAY, 12 * HOUR, 16 * HOUR + 30, 1)
    swaps, block, limits = swap_setup(
        early_monday, late_monday, early_tuesday, late_tuesday
    )
    rosters = [
        {0: block(early_monday), 1: block(late_tuesday)},
        {0: block(late_monday), 1: block(early_tuesday)},
    ]

    changes = swaps.improve(rosters, limits, [starts(EARLY_START), starts(LATE_START)])

    assert changes == 1
    assert rosters == [
        {0: block(early_monday), 1: block(early_tuesday)},
        {0: block(late_monday), 1: block(late_tuesday)},
    ]


def test_block_swap_keeps_rest():
    evening_monday = TourTemplate(MONDAY, 15 * HOUR, 23 * HOUR, 1)
    early_monday = TourTemplate(MONDAY, 6 * HOUR, 10 * HOUR, 1)
    noon_tuesday = TourTemplate(TUESDAY, 12 * HOUR, 16 * HOUR, 1)
    early_tuesday = TourTemplate(TUESDAY, 6 * HOUR, 10 * HOUR, 1)
    swaps, block, limits = swap_setup(
        evening_monday, early_monday, noon_tuesday, early_tuesday
    )
    rosters = [
        {0: block(evening_monday), 1: block(noon_tuesday)},
        {0: block(early_monday), 1: block(early_tuesday)},
    ]
    before = [dict(roster) for roster in rosters]

    changes = swaps.improve(rosters, limits, [starts(EARLY_START), DriverPreferences()])

    # Either swap would leave 7 h between Monday 23:00 and Tuesday 06:00.
    assert changes == 0
    assert rosters == before


def test_block_move_evens_out_hours():
    week = [morning(day) for day in (MONDAY, TUESDAY, WEDNESDAY, THURSDAY)]
    second_monday = TourTemplate(MONDAY, 7 * HOUR, 11 * HOUR + 30, 1)
    swaps, block, limits = swap_setup(*week, second_monday)
    rosters = [{day - 1: block(week[day - 1]) for day in range(1, 5)}]
    rosters.append({0: block(second_monday)})

    changes = swaps.improve(rosters, limits, [DriverPreferences()] * 2)

    # 18 h and 4.5 h become 13.5 h and 9 h. One more move would only swap them.
    assert changes == 1
    assert sorted(rosters[1]) == [0, 1]
    assert sorted(rosters[0]) == [0, 2, 3]


def test_block_move_keeps_wished_day_off():
    week = [morning(day) for day in (MONDAY, TUESDAY, WEDNESDAY, THURSDAY)]
    second_monday = TourTemplate(MONDAY, 7 * HOUR, 11 * HOUR + 30, 1)
    swaps, block, limits = swap_setup(*week, second_monday)
    rosters = [{day - 1: block(week[day - 1]) for day in range(1, 5)}]
    rosters.append({0: block(second_monday)})

    changes = swaps.improve(
        rosters, limits, [DriverPreferences(), days_off(TUESDAY, weight=1)]
    )

    assert changes == 1
    assert sorted(rosters[1]) == [0, 2]
    assert sorted(rosters[0]) == [0, 1, 3]


def test_shortfall_total_counts_one_moment():
    adr = TourTemplate(MONDAY, *MORNING, 2, qualification="ADR")
    tuesday = TourTemplate(TUESDAY, *MORNING, 1)

    result = plan(adr, tuesday, drivers=[])

    assert result.shortfall == (
        "1 more driver on Tuesday 06:00-10:30 would take the 1 open tour there",
        "2 more drivers with ADR on Monday 06:00-10:30 would take the 2 open"
        " tours there",
        "In all at least 2 more drivers, the most tours open at one moment; one"
        " driver may serve lines of different days",
    )
