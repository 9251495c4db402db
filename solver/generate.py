"""Synthetic weekly forecasts and driver pools that look like real ones.

Both serve tests and benchmarks (generate_driver_pool explains the pools).

All times and durations are whole minutes in 15-minute steps. A forecast of
`tour_count` tours is drawn from one `random.Random(seed)`, so a seed always
gives the same forecast, and it is built in these steps:

- Days: Monday to Saturday weigh 1, Sunday weighs 0.3 (0 when Sunday is off),
  and each peak day's weight is multiplied by the peak factor. The tours are
  shared out over the days by these weights with the largest-remainder
  method, so the days add up to `tour_count` exactly.
- Shifts: on each day, about `night_share` of the tours are night tours that
  start between 20:00 and 23:45 and end after midnight. Of the other tours,
  about 70 % start in the early wave (normal around 05:30, standard deviation
  1 h, kept within 03:00 to 09:00). The other 30 % start in the midday wave
  (normal around 12:00, standard deviation 45 min, kept within 10:00 to
  14:30). A day tour that would run past 23:45 starts earlier, so only night
  tours cross midnight.
- Durations: 80 % of tours are normal around 4.5 h with a standard deviation
  of 30 min, so most last 4 to 5 h. The other 20 % are long tours, uniform
  between 5 and 10 h. Every duration is rounded to 15 min and clamped into
  `duration_range_minutes`.
- Qualifications: about `qualified_share` of the tours need ADR or KUEHL,
  chosen with equal chance for each template.
- Depots: each template goes to one of `depots` with equal chance, or to no
  depot when `depots` is empty.
- Bundles: identical tours form one template with a count, as in real
  forecasts. A count is drawn from 1 to 12 with most counts between 2 and 6.
  Qualified and night bundles are drawn from 1 to 4, because such work comes
  in smaller groups.

"About" a share means that each split of a day's tours is rounded up or down
at random, weighted by the fraction, so the shares hold on average over many
days and seeds. A small forecast can therefore have no night or no qualified
tour at all.
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Sequence

from solver.drivers import (
    MAX_PREFERENCE_WEIGHT,
    START_PREFERENCES,
    DriverPreferences,
    DriverProfile,
    whole_days_off,
)
from solver.tours import MINUTES_PER_DAY, WEEKDAYS, Forecast, TourTemplate, format_clock

STEP_MINUTES = 15
LAST_START_MINUTE = MINUTES_PER_DAY - STEP_MINUTES
QUALIFICATIONS = ("ADR", "KUEHL")
TIDY_CSV_HEADER = ("day", "start", "end", "count", "depot", "qualification")

SUNDAY = 7
WORKDAY_WEIGHT = 1.0
SUNDAY_WEIGHT = 0.3

EARLY_WAVE_SHARE = 0.7
EARLY_WAVE_MEAN_MINUTE = 5 * 60 + 30
EARLY_WAVE_STDDEV_MINUTES = 60
EARLY_WAVE_WINDOW = (3 * 60, 9 * 60)
MIDDAY_WAVE_MEAN_MINUTE = 12 * 60
MIDDAY_WAVE_STDDEV_MINUTES = 45
MIDDAY_WAVE_WINDOW = (10 * 60, 14 * 60 + 30)
MIN_NIGHT_START_MINUTE = 20 * 60

LONG_TOUR_SHARE = 0.2
TYPICAL_DURATION_MEAN_MINUTES = 4 * 60 + 30
TYPICAL_DURATION_STDDEV_MINUTES = 30
LONG_DURATION_RANGE_MINUTES = (5 * 60, 10 * 60)

# Bundle sizes with their relative weights.
DAY_BUNDLE_SIZES = (1, 2, 3, 4, 5, 6, 8, 10, 12)
DAY_BUNDLE_WEIGHTS = (6, 14, 16, 15, 12, 10, 7, 5, 3)
SMALL_BUNDLE_SIZES = (1, 2, 3, 4)
SMALL_BUNDLE_WEIGHTS = (4, 4, 2, 1)


def generate_forecast(
    tour_count: int,
    seed: int = 0,
    *,
    depots: Sequence[str] = ("Nord", "Süd", "West"),
    qualified_share: float = 0.15,
    night_share: float = 0.05,
    sunday: bool = True,
    peak_days: Sequence[int] = (1, 5),
    peak_factor: float = 1.3,
    duration_range_minutes: tuple[int, int] = (180, 600),
) -> Forecast:
    """Generate a realistic forecast of exactly `tour_count` tours for one week.

    Args:
        tour_count: total number of tours over the week, 0 or more.
        seed: seed of the random generator. Equal arguments give equal forecasts.
        depots: depot names. An empty sequence gives templates without depot.
        qualified_share: fraction of tours, 0 to 1, that need ADR or KUEHL.
        night_share: fraction of tours, 0 to 1, that start in the evening and
            end after midnight.
        sunday: whether Sunday carries tours.
        peak_days: weekdays (1 = Monday to 7 = Sunday) with more tours.
        peak_factor: weight of a peak day relative to an ordinary day, above 0.
        duration_range_minutes: shortest and longest tour in minutes. Durations
            are the multiples of 15 within this range, at most 1425 (23:45 h).

    Raises:
        ValueError: an argument is out of its range, named in the message.
    """
    _validate_arguments(
        tour_count, depots, qualified_share, night_share, peak_days, peak_factor
    )
    durations = _allowed_durations(duration_range_minutes)
    rng = random.Random(seed)

    day_weights = [_day_weight(day, sunday, peak_days, peak_factor) for day in WEEKDAYS]
    tours_per_day = _apportion(tour_count, day_weights)

    templates: list[TourTemplate] = []
    for day, day_tours in zip(WEEKDAYS, tours_per_day):
        night_tours = _split_at_random(rng, day_tours, night_share)
        early_tours = _split_at_random(rng, day_tours - night_tours, EARLY_WAVE_SHARE)
        midday_tours = day_tours - night_tours - early_tours
        for shift, shift_tours in (
            ("night", night_tours),
            ("early", early_tours),
            ("midday", midday_tours),
        ):
            qualified_tours = _split_at_random(rng, shift_tours, qualified_share)
            templates += _draw_bundles(
                rng, day, shift, qualified_tours, True, depots, durations
            )
            templates += _draw_bundles(
                rng, day, shift, shift_tours - qualified_tours, False, depots, durations
            )

    return Forecast.from_templates(templates)


def format_tidy_csv(forecast: Forecast) -> str:
    """Format a forecast as tidy CSV text, one line per template in canonical order.

    The columns are day (1 = Monday to 7 = Sunday), start and end as HH:MM,
    count, depot and qualification. A blank depot or qualification is an empty
    cell, and an end at or before the start means the tour ends the next day.
    Lines end with a line feed. Cells are written unchanged, without guarding
    against spreadsheet formulas, so the text reads back into the same forecast.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TIDY_CSV_HEADER)
    for template in forecast.templates:
        writer.writerow(
            [
                template.day,
                format_clock(template.start_minute),
                format_clock(template.end_minute),
                template.count,
                template.depot,
                template.qualification,
            ]
        )
    return buffer.getvalue()


def _validate_arguments(
    tour_count: int,
    depots: Sequence[str],
    qualified_share: float,
    night_share: float,
    peak_days: Sequence[int],
    peak_factor: float,
) -> None:
    is_whole = isinstance(tour_count, int) and not isinstance(tour_count, bool)
    if not is_whole or tour_count < 0:
        raise ValueError(
            f"tour_count must be a whole number of 0 or more, got {tour_count!r}"
        )
    if isinstance(depots, str):
        raise ValueError(
            "depots must be a sequence of depot names, got the single string"
            f" {depots!r}. Write it as ({depots!r},)"
        )
    for depot in depots:
        if not isinstance(depot, str) or not depot.strip():
            raise ValueError(f"depot names must be non-empty text, got {depot!r}")
    shares = (("qualified_share", qualified_share), ("night_share", night_share))
    for name, share in shares:
        if not 0 <= share <= 1:
            raise ValueError(f"{name} must lie between 0 and 1, got {share!r}")
    for day in peak_days:
        if day not in WEEKDAYS:
            raise ValueError(
                f"peak day must be a weekday from 1 (Monday) to 7 (Sunday), got {day!r}"
            )
    if not (isinstance(peak_factor, (int, float)) and math.isfinite(peak_factor)):
        raise ValueError(f"peak_factor must be a finite number, got {peak_factor!r}")
    if peak_factor <= 0:
        raise ValueError(f"peak_factor must be above 0, got {peak_factor!r}")


def _allowed_durations(duration_range_minutes: tuple[int, int]) -> list[int]:
    """List the multiples of 15 minutes in the range that fit a template."""
    shortest, longest = duration_range_minutes
    for minutes in (shortest, longest):
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise ValueError(
                f"duration_range_minutes must hold whole minutes, got"
                f" {duration_range_minutes!r}"
            )
    if shortest > longest:
        raise ValueError(
            f"duration_range_minutes {duration_range_minutes!r} has its shortest"
            " duration after its longest; give (shortest, longest)"
        )
    first = max(STEP_MINUTES, math.ceil(shortest / STEP_MINUTES) * STEP_MINUTES)
    last = min(LAST_START_MINUTE, longest // STEP_MINUTES * STEP_MINUTES)
    if first > last:
        raise ValueError(
            f"duration_range_minutes {duration_range_minutes!r} contains no multiple"
            f" of {STEP_MINUTES} minutes between {STEP_MINUTES} and {LAST_START_MINUTE}"
        )
    return list(range(first, last + 1, STEP_MINUTES))


def _day_weight(
    day: int, sunday: bool, peak_days: Sequence[int], peak_factor: float
) -> float:
    if day == SUNDAY:
        weight = SUNDAY_WEIGHT if sunday else 0.0
    else:
        weight = WORKDAY_WEIGHT
    if day in peak_days:
        weight *= peak_factor
    return weight


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Share `total` out by weight with the largest-remainder method.

    Ties in the remainder go to the earlier position, so the result is
    deterministic. The parts always add up to `total`.
    """
    weight_sum = sum(weights)
    quotas = [total * weight / weight_sum for weight in weights]
    parts = [math.floor(quota) for quota in quotas]
    by_remainder = sorted(
        range(len(weights)), key=lambda index: (parts[index] - quotas[index], index)
    )
    for index in by_remainder[: total - sum(parts)]:
        parts[index] += 1
    return parts


def _split_at_random(rng: random.Random, total: int, share: float) -> int:
    """Return total * share rounded down or up at random, so its mean is exact.

    The result rounds up with a probability equal to the fractional part.
    """
    expected = total * share
    whole = math.floor(expected)
    if rng.random() < expected - whole:
        whole += 1
    return min(whole, total)


def _draw_bundles(
    rng: random.Random,
    day: int,
    shift: str,
    tour_count: int,
    qualified: bool,
    depots: Sequence[str],
    durations: Sequence[int],
) -> list[TourTemplate]:
    """Draw templates of one day, shift and qualification until `tour_count` is met."""
    templates = []
    remaining = tour_count
    while remaining > 0:
        if qualified or shift == "night":
            size = rng.choices(SMALL_BUNDLE_SIZES, SMALL_BUNDLE_WEIGHTS)[0]
        else:
            size = rng.choices(DAY_BUNDLE_SIZES, DAY_BUNDLE_WEIGHTS)[0]
        count = min(size, remaining)
        duration = _draw_duration(rng, durations)
        start = _draw_start(rng, shift, duration)
        templates.append(
            TourTemplate(
                day=day,
                start_minute=start,
                end_minute=(start + duration) % MINUTES_PER_DAY,
                count=count,
                depot=rng.choice(depots) if depots else "",
                qualification=rng.choice(QUALIFICATIONS) if qualified else "",
            )
        )
        remaining -= count
    return templates


def _draw_duration(rng: random.Random, durations: Sequence[int]) -> int:
    if rng.random() < LONG_TOUR_SHARE:
        minutes = rng.uniform(*LONG_DURATION_RANGE_MINUTES)
    else:
        minutes = rng.gauss(
            TYPICAL_DURATION_MEAN_MINUTES, TYPICAL_DURATION_STDDEV_MINUTES
        )
    return _clamp(_round_to_step(minutes), durations[0], durations[-1])


def _draw_start(rng: random.Random, shift: str, duration: int) -> int:
    """Draw a start minute for a tour of `duration` minutes in the given shift.

    A night tour starts late enough to end after midnight. The exception is a
    15-minute night tour, which starts at 23:45 and ends at midnight. A template
    counts that end as the next day too.
    """
    if shift == "night":
        first = max(MIN_NIGHT_START_MINUTE, MINUTES_PER_DAY - duration + STEP_MINUTES)
        first = min(first, LAST_START_MINUTE)
        return rng.randrange(first, LAST_START_MINUTE + 1, STEP_MINUTES)

    if shift == "early":
        minute = rng.gauss(EARLY_WAVE_MEAN_MINUTE, EARLY_WAVE_STDDEV_MINUTES)
        start = _clamp(_round_to_step(minute), *EARLY_WAVE_WINDOW)
    else:
        minute = rng.gauss(MIDDAY_WAVE_MEAN_MINUTE, MIDDAY_WAVE_STDDEV_MINUTES)
        start = _clamp(_round_to_step(minute), *MIDDAY_WAVE_WINDOW)
    # A day tour ends by 23:45 so that it stays on its own day.
    return max(0, min(start, LAST_START_MINUTE - duration))


def _round_to_step(minutes: float) -> int:
    return round(minutes / STEP_MINUTES) * STEP_MINUTES


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


PART_TIME_MAX_WEEKLY_MINUTES = 30 * 60
PART_TIME_MIN_WEEKLY_MINUTES = 20 * 60
FULL_TIME_MIN_WEEKLY_MINUTES = 40 * 60
WISH_CHANCE = 0.5
WISHED_MAX_DAYS_IN_ROW = (4, 5)


def generate_driver_pool(
    driver_count: int,
    seed: int = 0,
    *,
    adr_share: float = 0.10,
    kuehl_share: float = 0.15,
    part_time_share: float = 0.20,
    absent_share: float = 0.05,
    depots: Sequence[str] = (),
    preference_share: float = 0.5,
) -> list[DriverProfile]:
    """Generate a pool of drivers like an operator's, for tests and benchmarks.

    Each driver has ADR with chance `adr_share` and KUEHL with chance
    `kuehl_share`, independently. Part-time drivers (chance `part_time_share`)
    work 20 to 30 h, full-time drivers 40 h up to the plan rules' limit. With
    chance `absent_share` a driver is away one or two whole days from Monday
    to Saturday. With `depots`, each driver gets one as home depot. With
    chance `preference_share` a driver has wishes (random_preferences).
    Wishes come from a random generator of their own, so a pool's other
    fields do not depend on `preference_share`. Ids are P0001, P0002, ...;
    equal arguments give equal pools.
    """
    for name, share in (
        ("adr_share", adr_share),
        ("kuehl_share", kuehl_share),
        ("part_time_share", part_time_share),
        ("absent_share", absent_share),
        ("preference_share", preference_share),
    ):
        if not 0 <= share <= 1:
            raise ValueError(f"{name} must lie in 0..1, got {share}")
    rng = random.Random(seed)
    wish_rng = random.Random(f"preferences-{seed}")
    pool = []
    for number in range(1, driver_count + 1):
        qualifications = set()
        if rng.random() < adr_share:
            qualifications.add("ADR")
        if rng.random() < kuehl_share:
            qualifications.add("KUEHL")
        part_time = rng.random() < part_time_share
        absent_days = ()
        if rng.random() < absent_share:
            absent_days = tuple(rng.sample(range(1, 7), rng.choice((1, 2))))
        pool.append(
            DriverProfile(
                driver_id=f"P{number:04d}",
                qualifications=frozenset(qualifications),
                home_depot=rng.choice(list(depots)) if depots else "",
                max_weekly_minutes=PART_TIME_MAX_WEEKLY_MINUTES if part_time else None,
                min_weekly_minutes=(
                    PART_TIME_MIN_WEEKLY_MINUTES
                    if part_time
                    else FULL_TIME_MIN_WEEKLY_MINUTES
                ),
                unavailable=whole_days_off(absent_days),
                preferences=(
                    random_preferences(wish_rng)
                    if wish_rng.random() < preference_share
                    else DriverPreferences()
                ),
            )
        )
    return pool


def random_preferences(rng: random.Random) -> DriverPreferences:
    """Draw one driver's wishes, at least one of them with a weight of 1 or more.

    Each of the three wishes is drawn with chance WISH_CHANCE: early or late
    starts with equal chance, one or two preferred days off from Monday to
    Sunday, or at most 4 or 5 days in a row. Each drawn wish gets a weight
    from 1 to MAX_PREFERENCE_WEIGHT. When none is drawn, the start wish is.
    """
    wants_start, wants_days_off, wants_run = (
        rng.random() < WISH_CHANCE for _ in range(3)
    )
    if not (wants_start or wants_days_off or wants_run):
        wants_start = True
    options: dict = {}
    if wants_start:
        options["start"] = rng.choice(START_PREFERENCES)
        options["start_weight"] = rng.randint(1, MAX_PREFERENCE_WEIGHT)
    if wants_days_off:
        options["days_off"] = frozenset(rng.sample(range(1, 8), rng.choice((1, 2))))
        options["days_off_weight"] = rng.randint(1, MAX_PREFERENCE_WEIGHT)
    if wants_run:
        options["max_days_in_row"] = rng.choice(WISHED_MAX_DAYS_IN_ROW)
        options["max_days_in_row_weight"] = rng.randint(1, MAX_PREFERENCE_WEIGHT)
    return DriverPreferences(**options)
