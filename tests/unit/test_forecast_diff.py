from core.forecast_diff import ForecastDiff, TemplateChange, diff_forecasts
from solver.tours import Forecast, TourTemplate

MONDAY_EARLY = TourTemplate(1, 5 * 60 + 30, 10 * 60, 12)
MONDAY_LATE = TourTemplate(1, 14 * 60, 18 * 60 + 30, 4, depot="Nord")
TUESDAY_NIGHT = TourTemplate(2, 22 * 60, 6 * 60, 2, qualification="ADR")


def forecast(*templates: TourTemplate) -> Forecast:
    return Forecast.from_templates(templates)


def with_fields(template: TourTemplate, **fields: object) -> TourTemplate:
    values = {
        "day": template.day,
        "start_minute": template.start_minute,
        "end_minute": template.end_minute,
        "count": template.count,
        "depot": template.depot,
        "qualification": template.qualification,
    }
    values.update(fields)
    return TourTemplate(**values)


def test_equal_forecasts_give_an_empty_diff():
    before = forecast(MONDAY_EARLY, MONDAY_LATE, TUESDAY_NIGHT)
    after = forecast(TUESDAY_NIGHT, MONDAY_EARLY, MONDAY_LATE)

    diff = diff_forecasts(before, after)

    assert diff.is_empty
    assert diff == ForecastDiff(added=(), removed=(), changed=())
    assert diff.summary == "0 added, 0 removed, 0 changed"


def test_new_template_is_added():
    diff = diff_forecasts(forecast(MONDAY_EARLY), forecast(MONDAY_EARLY, MONDAY_LATE))

    assert diff.added == (MONDAY_LATE,)
    assert diff.removed == ()
    assert diff.changed == ()
    assert not diff.is_empty


def test_missing_template_is_removed():
    diff = diff_forecasts(forecast(MONDAY_EARLY, TUESDAY_NIGHT), forecast(MONDAY_EARLY))

    assert diff.removed == (TUESDAY_NIGHT,)
    assert diff.added == ()
    assert diff.changed == ()


def test_count_change_on_same_key():
    more_early_tours = with_fields(MONDAY_EARLY, count=15)

    diff = diff_forecasts(forecast(MONDAY_EARLY), forecast(more_early_tours))

    assert diff.changed == (TemplateChange(MONDAY_EARLY, more_early_tours, ("count",)),)
    assert diff.added == ()
    assert diff.removed == ()


def test_depot_change_at_same_time():
    moved = with_fields(MONDAY_LATE, depot="Süd")

    diff = diff_forecasts(forecast(MONDAY_LATE), forecast(moved))

    assert diff.changed == (TemplateChange(MONDAY_LATE, moved, ("depot",)),)
    assert diff.added == ()
    assert diff.removed == ()


def test_qualification_change_at_same_time():
    refrigerated = with_fields(TUESDAY_NIGHT, qualification="KUEHL")

    diff = diff_forecasts(forecast(TUESDAY_NIGHT), forecast(refrigerated))

    assert diff.changed == (
        TemplateChange(TUESDAY_NIGHT, refrigerated, ("qualification",)),
    )


def test_depot_and_count_change_together():
    moved_and_grown = with_fields(MONDAY_LATE, depot="", count=6)

    diff = diff_forecasts(forecast(MONDAY_LATE), forecast(moved_and_grown))

    assert diff.changed[0].fields == ("count", "depot")


def test_ambiguous_time_stays_added_and_removed():
    north = with_fields(MONDAY_LATE, depot="Nord")
    south = with_fields(MONDAY_LATE, depot="Süd")
    east = with_fields(MONDAY_LATE, depot="Ost")

    diff = diff_forecasts(forecast(north, south), forecast(east))

    assert diff.changed == ()
    assert diff.removed == (north, south)
    assert diff.added == (east,)


def test_key_match_before_time_pairing():
    north = with_fields(MONDAY_LATE, depot="Nord")
    south = with_fields(MONDAY_LATE, depot="Süd")
    more_north = with_fields(north, count=9)

    diff = diff_forecasts(forecast(north), forecast(more_north, south))

    assert diff.changed == (TemplateChange(north, more_north, ("count",)),)
    assert diff.added == (south,)
    assert diff.removed == ()


def test_other_times_are_never_paired():
    later = with_fields(MONDAY_EARLY, start_minute=6 * 60)

    diff = diff_forecasts(forecast(MONDAY_EARLY), forecast(later))

    assert diff.changed == ()
    assert diff.removed == (MONDAY_EARLY,)
    assert diff.added == (later,)
    assert diff.summary == "1 added, 1 removed, 0 changed"


def test_diff_parts_sorted():
    after = forecast(TUESDAY_NIGHT, MONDAY_LATE, MONDAY_EARLY)

    diff = diff_forecasts(forecast(), after)

    assert diff.added == (MONDAY_EARLY, MONDAY_LATE, TUESDAY_NIGHT)
