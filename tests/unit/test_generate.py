import csv
import io
import random
from collections import Counter
from dataclasses import replace

import pytest

from solver.drivers import DriverPreferences
from solver.generate import format_tidy_csv, generate_driver_pool, generate_forecast
from solver.rules import RuleSettings
from solver.solve import plan_forecast
from solver.tours import Forecast, TourTemplate, expand

WEEK_TOURS = 1385


def tours_per_day(forecast: Forecast) -> Counter:
    counts: Counter = Counter()
    for template in forecast.templates:
        counts[template.day] += template.count
    return counts


def parse_clock(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@pytest.mark.parametrize("tour_count", [0, 1, 2, 7, 13, 100, WEEK_TOURS, 5000])
def test_tour_count_is_exact(tour_count):
    forecast = generate_forecast(tour_count, seed=4)

    assert forecast.tour_count == tour_count
    assert len(expand(forecast)) == tour_count


def test_same_seed_gives_equal_forecast():
    first = generate_forecast(WEEK_TOURS, seed=11)
    second = generate_forecast(WEEK_TOURS, seed=11)

    assert first == second
    assert first.sha256 == second.sha256


def test_different_seeds_give_different_forecasts():
    first = generate_forecast(WEEK_TOURS, seed=11)
    second = generate_forecast(WEEK_TOURS, seed=12)

    assert first.sha256 != second.sha256


def test_generation_leaves_global_random_alone():
    random.seed(99)
    expected_next = random.random()
    random.seed(99)

    generate_forecast(200, seed=1)

    assert random.random() == expected_next


@pytest.mark.parametrize("duration_range", [(180, 600), (240, 300), (200, 230)])
def test_durations_lie_within_range_in_quarter_hours(duration_range):
    shortest, longest = duration_range

    forecast = generate_forecast(
        WEEK_TOURS, seed=2, duration_range_minutes=duration_range
    )

    durations = {template.duration_minutes for template in forecast.templates}
    assert min(durations) >= shortest
    assert max(durations) <= longest
    assert all(duration % 15 == 0 for duration in durations)


def test_most_tours_last_four_to_five_hours():
    tours = expand(generate_forecast(WEEK_TOURS, seed=3))

    typical = [tour for tour in tours if 240 <= tour.duration_minutes <= 300]

    assert len(typical) > len(tours) / 2


def test_starts_lie_on_quarter_hours():
    forecast = generate_forecast(WEEK_TOURS, seed=5)

    starts = {template.start_minute for template in forecast.templates}

    assert all(start % 15 == 0 for start in starts)


def test_starts_form_early_and_midday_waves():
    tours = [
        tour
        for tour in expand(generate_forecast(WEEK_TOURS, seed=6))
        if tour.end_minute > tour.start_minute
    ]

    early = [tour for tour in tours if tour.start_minute < 9 * 60]
    midday = [tour for tour in tours if 10 * 60 <= tour.start_minute <= 14 * 60 + 30]

    assert len(early) > len(tours) / 2
    assert len(midday) > len(tours) / 5
    assert len(early) + len(midday) == len(tours)


def test_night_tours_cross_midnight():
    forecast = generate_forecast(WEEK_TOURS, seed=7)

    night = [template for template in forecast.templates if template.crosses_midnight]

    assert night
    assert all(template.start_minute >= 20 * 60 for template in night)
    assert all(0 < template.end_minute < template.start_minute for template in night)


def test_night_share_is_kept_on_average():
    forecast = generate_forecast(WEEK_TOURS, seed=7, night_share=0.2)

    night_tours = sum(
        template.count for template in forecast.templates if template.crosses_midnight
    )

    assert 0.15 * WEEK_TOURS < night_tours < 0.25 * WEEK_TOURS


def test_night_share_zero_gives_none():
    forecast = generate_forecast(WEEK_TOURS, seed=7, night_share=0)

    night = [template for template in forecast.templates if template.crosses_midnight]

    assert night == []


def test_sunday_has_fewest_tours():
    per_day = tours_per_day(generate_forecast(WEEK_TOURS, seed=8))

    assert per_day[7] > 0
    assert all(per_day[7] < per_day[day] for day in range(1, 7))


def test_sunday_off_leaves_sunday_empty():
    per_day = tours_per_day(generate_forecast(WEEK_TOURS, seed=8, sunday=False))

    assert per_day[7] == 0
    assert sum(per_day.values()) == WEEK_TOURS


def test_peak_days_carry_more_tours():
    per_day = tours_per_day(generate_forecast(WEEK_TOURS, seed=9, peak_days=(2, 4)))

    ordinary = [per_day[day] for day in (1, 3, 5, 6)]

    assert per_day[2] > max(ordinary)
    assert per_day[4] > max(ordinary)


def test_qualified_tours_need_adr_or_kuehl():
    tours = expand(generate_forecast(WEEK_TOURS, seed=10))

    qualifications = Counter(tour.qualification for tour in tours)

    assert set(qualifications) == {"", "ADR", "KUEHL"}
    qualified = qualifications["ADR"] + qualifications["KUEHL"]
    assert 0.10 * WEEK_TOURS < qualified < 0.20 * WEEK_TOURS


def test_qualified_share_zero_gives_none():
    forecast = generate_forecast(WEEK_TOURS, seed=10, qualified_share=0)

    qualifications = {template.qualification for template in forecast.templates}

    assert qualifications == {""}


def test_every_depot_gets_tours():
    forecast = generate_forecast(WEEK_TOURS, seed=13, depots=("Nord", "Süd", "Ost"))

    depots = {template.depot for template in forecast.templates}

    assert depots == {"Nord", "Süd", "Ost"}


def test_no_depots_gives_blank_depot():
    forecast = generate_forecast(100, seed=13, depots=())

    depots = {template.depot for template in forecast.templates}

    assert depots == {""}


def test_templates_bundle_identical_tours():
    forecast = generate_forecast(WEEK_TOURS, seed=14)

    bundled = [template for template in forecast.templates if template.count > 1]

    assert len(bundled) > len(forecast.templates) / 2
    assert len(forecast.templates) < WEEK_TOURS / 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"tour_count": -1}, "tour_count"),
        ({"tour_count": 2.5}, "tour_count"),
        ({"tour_count": True}, "tour_count"),
        ({"depots": "Nord"}, "single string"),
        ({"depots": ("Nord", " ")}, "depot names"),
        ({"qualified_share": 1.5}, "qualified_share"),
        ({"night_share": -0.1}, "night_share"),
        ({"peak_days": (0,)}, "peak day"),
        ({"peak_days": (8,)}, "peak day"),
        ({"peak_factor": 0}, "peak_factor"),
        ({"peak_factor": float("inf")}, "peak_factor"),
        ({"duration_range_minutes": (600, 180)}, "shortest"),
        ({"duration_range_minutes": (181, 194)}, "no multiple"),
        ({"duration_range_minutes": (180.0, 600)}, "whole minutes"),
    ],
)
def test_invalid_argument_is_rejected(arguments, message):
    keyword_arguments = {"tour_count": 100, **arguments}

    with pytest.raises(ValueError, match=message):
        generate_forecast(**keyword_arguments)


def test_tidy_csv_lines_per_template():
    forecast = generate_forecast(300, seed=15)

    text = format_tidy_csv(forecast)

    lines = text.split("\n")
    assert lines[0] == "day,start,end,count,depot,qualification"
    assert lines[-1] == ""
    assert len(lines) == len(forecast.templates) + 2


def test_tidy_csv_reads_back_into_same_forecast():
    forecast = generate_forecast(WEEK_TOURS, seed=16)

    text = format_tidy_csv(forecast)

    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    templates = [
        TourTemplate(
            day=int(row["day"]),
            start_minute=parse_clock(row["start"]),
            end_minute=parse_clock(row["end"]),
            count=int(row["count"]),
            depot=row["depot"],
            qualification=row["qualification"],
        )
        for row in rows
    ]
    assert tuple(templates) == forecast.templates
    assert Forecast.from_templates(templates).sha256 == forecast.sha256


def test_tidy_csv_writes_fixed_templates_exactly():
    forecast = Forecast.from_templates(
        [
            TourTemplate(4, 22 * 60, 6 * 60, 2, "Süd", "ADR"),
            TourTemplate(1, 5 * 60 + 30, 10 * 60, 12),
            TourTemplate(7, 20 * 60, 0, 1, "Nord"),
        ]
    )

    text = format_tidy_csv(forecast)

    assert text == (
        "day,start,end,count,depot,qualification\n"
        "1,05:30,10:00,12,,\n"
        "4,22:00,06:00,2,Süd,ADR\n"
        "7,20:00,00:00,1,Nord,\n"
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_week_passes_checks(seed):
    forecast = generate_forecast(200, seed=seed)

    result = plan_forecast(forecast, time_limit_seconds=60, part_time_seconds=5)

    assert result.plan.uncovered == ()
    failed = [check.rule for check in result.checks if not check.passed]
    assert failed == []
    assert result.drivers >= result.lower_bound


def test_weekly_limit_kept_to_minute():
    # A 20 h week with tours of 3 to 10 h in quarter hours: the limit binds,
    # so the plan needs more drivers, and no roster may pass 1200 minutes.
    forecast = generate_forecast(120, seed=5)
    tight = RuleSettings(max_weekly_minutes=20 * 60)

    default_result = plan_forecast(forecast, time_limit_seconds=60)
    tight_result = plan_forecast(forecast, tight, time_limit_seconds=60)

    weeks = [
        sum(tour.duration_minutes for tour in roster.tours)
        for roster in tight_result.plan.rosters
    ]
    assert max(weeks) <= 20 * 60
    assert max(weeks) > 20 * 60 - 15
    assert tight_result.lower_bound > default_result.lower_bound
    assert all(check.passed for check in tight_result.checks)


def test_pool_preference_share_is_kept():
    pool = generate_driver_pool(400, seed=3)

    wishful = sum(not driver.preferences.is_empty for driver in pool)
    assert 160 <= wishful <= 240


@pytest.mark.parametrize(("share", "wishful"), [(0.0, 0), (1.0, 50)])
def test_pool_preference_share_extremes(share, wishful):
    pool = generate_driver_pool(50, seed=3, preference_share=share)

    assert sum(not driver.preferences.is_empty for driver in pool) == wishful


def test_pool_wishes_are_seeded():
    first = generate_driver_pool(50, seed=8)
    second = generate_driver_pool(50, seed=8)
    other = generate_driver_pool(50, seed=9)

    assert first == second
    assert [driver.preferences for driver in first] != [
        driver.preferences for driver in other
    ]


def test_pool_wishes_leave_other_fields_alone():
    plain = generate_driver_pool(50, seed=8, preference_share=0.0)
    wishful = generate_driver_pool(50, seed=8, preference_share=1.0)

    assert [replace(driver, preferences=DriverPreferences()) for driver in wishful] == (
        plain
    )


def test_pool_wishes_have_weights():
    pool = generate_driver_pool(200, seed=4, preference_share=1.0)

    kinds = Counter()
    for driver in pool:
        wishes = driver.preferences
        if wishes.start:
            assert 1 <= wishes.start_weight <= 10
            kinds["start"] += 1
        if wishes.days_off:
            assert len(wishes.days_off) in (1, 2)
            assert 1 <= wishes.days_off_weight <= 10
            kinds["days_off"] += 1
        if wishes.max_days_in_row:
            assert wishes.max_days_in_row in (4, 5)
            assert 1 <= wishes.max_days_in_row_weight <= 10
            kinds["max_days_in_row"] += 1
    assert set(kinds) == {"start", "days_off", "max_days_in_row"}


def test_pool_rejects_bad_preference_share():
    with pytest.raises(ValueError, match="preference_share"):
        generate_driver_pool(5, preference_share=1.5)
