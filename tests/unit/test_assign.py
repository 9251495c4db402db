"""Specification of planning with named drivers and of their own checks.

Small weeks are worked out by hand: which driver may take which tour, which
tours stay open and why, and the text of the shortfall. The driver checks are
shown to fail on plans built by hand to break each rule.
"""

import pytest

from solver.assign import (
    DRIVERS_FULLY_USED,
    NO_AVAILABLE_DRIVER,
    NO_QUALIFIED_DRIVER,
    plan_for_drivers,
)
from solver.drivers import DriverProfile, whole_days_off
from solver.generate import generate_driver_pool, generate_forecast
from solver.plan import Block, BlockKind, Plan, Roster
from solver.rules import RuleSettings
from solver.tours import Forecast, TourTemplate, expand
from solver.validate_drivers import DRIVER_RULES, validate_driver_rules

MONDAY, TUESDAY, WEDNESDAY = 1, 2, 3
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
