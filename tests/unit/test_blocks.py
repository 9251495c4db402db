"""Specification of block enumeration: which tours one driver may work in a day.

Most cases build a Monday from clock ranges and read the enumerated blocks back
as clock ranges, so a failure shows the tours at fault. A brute force over all
ordered tuples of templates checks the whole enumeration on random forecasts
drawn from fixed seeds.
"""

import itertools
import random
from itertools import pairwise

import numpy as np
import pytest

from solver.blocks import NO_TEMPLATE, DayBlocks, enumerate_week_blocks
from solver.plan import BlockKind
from solver.rules import RuleSettings
from solver.tours import MINUTES_PER_DAY, Forecast, TourTemplate, format_clock

MONDAY, TUESDAY, WEDNESDAY = 1, 2, 3

SINGLE = BlockKind.SINGLE
REGULAR = BlockKind.DOUBLE_REGULAR
SPLIT = BlockKind.DOUBLE_SPLIT
TRIPLE = BlockKind.TRIPLE_CHAINED

DEFAULT_RULES = RuleSettings()


def minutes_of(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def make_template(day: int, clock_range: str, count: int = 1) -> TourTemplate:
    """Build a template from a range such as "06:00-10:00".

    An end at or before the start falls on the next day.
    """
    start, end = clock_range.split("-")
    return TourTemplate(day, minutes_of(start), minutes_of(end), count)


def clock_range_of(template: TourTemplate) -> str:
    return f"{format_clock(template.start_minute)}-{format_clock(template.end_minute)}"


def block_rows(day_blocks: DayBlocks) -> list[tuple[int, ...]]:
    """Return each block as its template indices, without padding."""
    return [
        tuple(int(index) for index in row if index != NO_TEMPLATE)
        for row in day_blocks.templates
    ]


def day_blocks_by_clock(
    day: int, *clock_ranges: str, rules: RuleSettings = DEFAULT_RULES
) -> dict[tuple[str, ...], BlockKind]:
    """Enumerate the blocks of one day's tours, keyed by their clock ranges."""
    forecast = Forecast.from_templates(
        make_template(day, clock_range) for clock_range in clock_ranges
    )
    day_blocks = enumerate_week_blocks(forecast, rules)[day - 1]
    return {
        tuple(clock_range_of(forecast.templates[index]) for index in row): kind
        for row, kind in zip(block_rows(day_blocks), day_blocks.kinds)
    }


def monday_blocks(
    *clock_ranges: str, rules: RuleSettings = DEFAULT_RULES
) -> dict[tuple[str, ...], BlockKind]:
    return day_blocks_by_clock(MONDAY, *clock_ranges, rules=rules)


def tour_starting_after(
    first_range: str, gap_minutes: int, duration_minutes: int
) -> str:
    """Return the range of a tour starting `gap_minutes` after `first_range` ends."""
    end = minutes_of(first_range.split("-")[1])
    start = end + gap_minutes
    return f"{format_clock(start)}-{format_clock(start + duration_minutes)}"


class TestPairs:
    @pytest.mark.parametrize(
        ("gap_minutes", "expected_kind"),
        [
            pytest.param(29, None, id="29-min-gap-no-double"),
            pytest.param(30, REGULAR, id="30-min-gap-regular"),
            pytest.param(45, REGULAR, id="45-min-gap-regular"),
            pytest.param(60, REGULAR, id="60-min-gap-regular"),
            pytest.param(61, None, id="61-min-gap-no-double"),
            pytest.param(90, None, id="90-min-gap-no-double"),
            pytest.param(239, None, id="239-min-gap-no-double"),
            pytest.param(240, SPLIT, id="240-min-gap-split"),
            pytest.param(300, SPLIT, id="300-min-gap-split"),
            pytest.param(360, SPLIT, id="360-min-gap-split"),
            pytest.param(361, None, id="361-min-gap-no-double"),
        ],
    )
    def test_gap_decides_double_kind(self, gap_minutes, expected_kind):
        first = "06:00-10:00"
        second = tour_starting_after(first, gap_minutes, 4 * 60)

        blocks = monday_blocks(first, second)

        assert blocks.get((first, second)) == expected_kind
        assert blocks[(first,)] == SINGLE
        assert blocks[(second,)] == SINGLE
        assert (second, first) not in blocks

    def test_90_minute_gap_leaves_only_singles(self):
        blocks = monday_blocks("06:00-10:00", "11:30-15:30")

        assert blocks == {("06:00-10:00",): SINGLE, ("11:30-15:30",): SINGLE}

    def test_regular_span_over_14_hours_rejected(self):
        # Two 7 h tours with a 30 min gap span 14 h 30 min.
        blocks = monday_blocks("05:00-12:00", "12:30-19:30")

        assert ("05:00-12:00", "12:30-19:30") not in blocks
        assert len(blocks) == 2

    def test_regular_span_of_14_hours_accepted(self):
        blocks = monday_blocks("05:00-11:45", "12:15-19:00")

        assert blocks[("05:00-11:45", "12:15-19:00")] == REGULAR

    def test_split_span_over_16_hours_rejected(self):
        # A 300 min gap fits the split window, but 05:00 to 21:15 is 16 h 15 min.
        blocks = monday_blocks("05:00-10:45", "15:45-21:15")

        assert ("05:00-10:45", "15:45-21:15") not in blocks

    def test_split_span_of_16_hours_accepted(self):
        blocks = monday_blocks("05:00-10:30", "15:30-21:00")

        assert blocks[("05:00-10:30", "15:30-21:00")] == SPLIT

    def test_overlapping_tours_form_no_double(self):
        blocks = monday_blocks("06:00-10:00", "09:00-13:00")

        assert blocks == {("06:00-10:00",): SINGLE, ("09:00-13:00",): SINGLE}

    def test_double_may_end_after_midnight(self):
        forecast = Forecast.from_templates(
            [make_template(MONDAY, "17:00-22:00"), make_template(MONDAY, "22:30-03:00")]
        )

        monday = enumerate_week_blocks(forecast, DEFAULT_RULES)[0]

        row = monday.index_of((0, 1))
        assert monday.kinds[row] == REGULAR
        assert monday.week_start[row] == 17 * 60
        assert monday.week_end[row] == MINUTES_PER_DAY + 3 * 60
        assert monday.work_minutes[row] == 5 * 60 + 4 * 60 + 30

    def test_tours_of_two_weekdays_never_share_block(self):
        # Monday 23:00 and Tuesday 00:00 are 60 min apart, but a block is one weekday.
        forecast = Forecast.from_templates(
            [
                make_template(MONDAY, "18:00-23:00"),
                make_template(TUESDAY, "00:00-04:00"),
            ]
        )

        week_blocks = enumerate_week_blocks(forecast, DEFAULT_RULES)

        assert block_rows(week_blocks[0]) == [(0,)]
        assert block_rows(week_blocks[1]) == [(1,)]


class TestTriples:
    def test_chained_triple_of_16_hours_accepted(self):
        blocks = monday_blocks("05:00-10:00", "10:30-15:30", "16:00-21:00")

        assert blocks[("05:00-10:00", "10:30-15:30", "16:00-21:00")] == TRIPLE

    def test_chained_triple_of_16_hours_15_rejected(self):
        blocks = monday_blocks("05:00-10:00", "10:30-15:30", "16:00-21:15")

        assert ("05:00-10:00", "10:30-15:30", "16:00-21:15") not in blocks
        assert blocks[("05:00-10:00", "10:30-15:30")] == REGULAR
        assert blocks[("10:30-15:30", "16:00-21:15")] == REGULAR

    def test_triple_with_90_minute_gap_rejected(self):
        blocks = monday_blocks("05:00-09:00", "09:30-13:30", "15:00-19:00")

        assert ("05:00-09:00", "09:30-13:30", "15:00-19:00") not in blocks
        assert blocks[("05:00-09:00", "09:30-13:30")] == REGULAR

    def test_triple_with_split_gap_rejected(self):
        blocks = monday_blocks("05:00-08:00", "08:30-11:30", "15:30-18:30")

        assert ("05:00-08:00", "08:30-11:30", "15:30-18:30") not in blocks
        assert blocks[("08:30-11:30", "15:30-18:30")] == SPLIT

    def test_four_chained_tours_give_no_block_of_four(self):
        blocks = monday_blocks(
            "05:00-08:00", "08:30-11:30", "12:00-15:00", "15:30-18:30"
        )

        assert max(len(tours) for tours in blocks) == 3
        assert sum(kind is TRIPLE for kind in blocks.values()) == 2


class TestCustomRules:
    def test_wider_regular_gap_accepts_90_minutes(self):
        rules = RuleSettings(max_regular_gap_minutes=90)

        blocks = monday_blocks("06:00-10:00", "11:30-15:30", rules=rules)

        assert blocks[("06:00-10:00", "11:30-15:30")] == REGULAR

    def test_longer_regular_span_accepts_14_hours_30(self):
        rules = RuleSettings(max_regular_span_minutes=14 * 60 + 30)

        blocks = monday_blocks("05:00-12:00", "12:30-19:30", rules=rules)

        assert blocks[("05:00-12:00", "12:30-19:30")] == REGULAR

    def test_longer_triple_span_accepts_16_hours_15(self):
        rules = RuleSettings(max_triple_span_minutes=16 * 60 + 15)

        blocks = monday_blocks("05:00-10:00", "10:30-15:30", "16:00-21:15", rules=rules)

        assert blocks[("05:00-10:00", "10:30-15:30", "16:00-21:15")] == TRIPLE

    def test_narrower_split_gap_rejects_300_minutes(self):
        rules = RuleSettings(min_split_gap_minutes=320)

        blocks = monday_blocks("06:00-10:00", "15:00-19:00", rules=rules)

        assert ("06:00-10:00", "15:00-19:00") not in blocks

    def test_overlapping_gap_windows_prefer_regular(self):
        rules = RuleSettings(max_regular_gap_minutes=300)

        blocks = monday_blocks("06:00-10:00", "14:00-18:00", rules=rules)

        assert blocks[("06:00-10:00", "14:00-18:00")] == REGULAR

    def test_overlapping_gap_windows_fall_back_to_split(self):
        # The 240 min gap fits both windows, but 15 h exceeds the regular span.
        rules = RuleSettings(max_regular_gap_minutes=300)

        blocks = monday_blocks("04:00-09:30", "13:30-19:00", rules=rules)

        assert blocks[("04:00-09:30", "13:30-19:00")] == SPLIT


class TestWeekBlocks:
    def test_week_has_seven_days_monday_first(self):
        forecast = Forecast.from_templates([make_template(WEDNESDAY, "06:00-10:00")])

        week_blocks = enumerate_week_blocks(forecast, DEFAULT_RULES)

        assert [day_blocks.day for day_blocks in week_blocks] == [1, 2, 3, 4, 5, 6, 7]
        assert [len(day_blocks) for day_blocks in week_blocks] == [0, 0, 1, 0, 0, 0, 0]

    def test_templates_outside_coverable_are_left_out(self):
        forecast = Forecast.from_templates(
            [
                make_template(MONDAY, "05:00-09:00"),
                make_template(MONDAY, "09:30-13:30"),
                make_template(MONDAY, "14:00-18:00"),
            ]
        )

        monday = enumerate_week_blocks(forecast, DEFAULT_RULES, coverable={0, 2})[0]

        # Without the middle tour the chained triple and both regular doubles go,
        # and the outer tours remain a split double with a 300 min gap.
        assert block_rows(monday) == [(0,), (0, 2), (2,)]

    def test_index_of_finds_each_row(self):
        forecast = Forecast.from_templates(
            [
                make_template(MONDAY, "05:00-09:00"),
                make_template(MONDAY, "09:30-13:30"),
                make_template(MONDAY, "14:00-18:00"),
            ]
        )

        monday = enumerate_week_blocks(forecast, DEFAULT_RULES)[0]

        for row_number, row in enumerate(block_rows(monday)):
            assert monday.index_of(row) == row_number

    def test_template_count_yields_one_block_row(self):
        forecast = Forecast.from_templates(
            [
                make_template(MONDAY, "05:00-09:00", count=4),
                make_template(MONDAY, "09:30-13:30"),
            ]
        )

        monday = enumerate_week_blocks(forecast, DEFAULT_RULES)[0]

        assert block_rows(monday) == [(0,), (0, 1), (1,)]


# Brute force over ordered template tuples.

BRUTE_FORCE_SEEDS = range(12)
GAP_CHOICES = (0, 29, 30, 45, 60, 61, 90, 239, 240, 300, 360, 361)

RULE_SETS = {
    "default": DEFAULT_RULES,
    "custom": RuleSettings(
        min_regular_gap_minutes=15,
        max_regular_gap_minutes=90,
        max_regular_span_minutes=12 * 60,
        min_split_gap_minutes=180,
        max_split_gap_minutes=300,
        max_split_span_minutes=15 * 60,
        min_chain_gap_minutes=0,
        max_chain_gap_minutes=45,
        max_triple_span_minutes=13 * 60,
    ),
    "overlapping-gap-windows": RuleSettings(
        max_regular_gap_minutes=300, max_regular_span_minutes=12 * 60
    ),
}


def random_forecast(seed: int) -> Forecast:
    """Draw 5 to 7 templates on each of three days from a fixed seed.

    Most templates start a gap from GAP_CHOICES after the previous one ends,
    so the gaps sit on and around the limits. The others start anywhere.
    """
    rng = random.Random(seed)
    templates = []
    for day in (MONDAY, TUESDAY, WEDNESDAY):
        previous_end = rng.randrange(3 * 60, 8 * 60)
        for _ in range(rng.randint(5, 7)):
            if rng.random() < 0.75:
                start = (previous_end + rng.choice(GAP_CHOICES)) % MINUTES_PER_DAY
            else:
                start = rng.randrange(MINUTES_PER_DAY)
            duration = rng.randrange(60, 8 * 60)
            end = (start + duration) % MINUTES_PER_DAY
            templates.append(TourTemplate(day, start, end, rng.randint(1, 3)))
            previous_end = start + duration
    return Forecast.from_templates(templates)


def week_times(template: TourTemplate) -> tuple[int, int]:
    start = (template.day - 1) * MINUTES_PER_DAY + template.start_minute
    end = start + (template.end_minute - template.start_minute) % MINUTES_PER_DAY
    return start, end


def expected_kind(
    times: list[tuple[int, int]], rules: RuleSettings
) -> BlockKind | None:
    """Classify tours in the given order straight from the plan rules."""
    gaps = [later[0] - earlier[1] for earlier, later in pairwise(times)]
    if any(gap < 0 for gap in gaps):
        return None
    span = times[-1][1] - times[0][0]
    if len(times) == 1:
        return SINGLE
    if len(times) == 2:
        gap = gaps[0]
        fits_regular = (
            rules.min_regular_gap_minutes <= gap <= rules.max_regular_gap_minutes
            and span <= rules.max_regular_span_minutes
        )
        fits_split = (
            rules.min_split_gap_minutes <= gap <= rules.max_split_gap_minutes
            and span <= rules.max_split_span_minutes
        )
        if fits_regular:
            return REGULAR
        if fits_split:
            return SPLIT
        return None
    chained = all(
        rules.min_chain_gap_minutes <= gap <= rules.max_chain_gap_minutes
        for gap in gaps
    )
    if chained and span <= rules.max_triple_span_minutes:
        return TRIPLE
    return None


def brute_force_blocks(
    forecast: Forecast, rules: RuleSettings
) -> set[tuple[int, tuple[int, ...], BlockKind]]:
    """Return (day, template indices, kind) for every valid ordered tuple."""
    valid = set()
    for day in range(1, 8):
        indices = [
            index
            for index, template in enumerate(forecast.templates)
            if template.day == day
        ]
        for size in (1, 2, 3):
            for ordered in itertools.permutations(indices, size):
                times = [week_times(forecast.templates[index]) for index in ordered]
                kind = expected_kind(times, rules)
                if kind is not None:
                    valid.add((day, ordered, kind))
    return valid


def enumerated_blocks(
    forecast: Forecast, rules: RuleSettings
) -> list[tuple[int, tuple[int, ...], BlockKind]]:
    return [
        (day_blocks.day, row, kind)
        for day_blocks in enumerate_week_blocks(forecast, rules)
        for row, kind in zip(block_rows(day_blocks), day_blocks.kinds)
    ]


@pytest.mark.parametrize("rules_name", sorted(RULE_SETS))
@pytest.mark.parametrize("seed", BRUTE_FORCE_SEEDS)
def test_enumeration_matches_brute_force(seed, rules_name):
    rules = RULE_SETS[rules_name]
    forecast = random_forecast(seed)

    enumerated = enumerated_blocks(forecast, rules)

    assert len(enumerated) == len(set(enumerated)), "a block is listed twice"
    assert set(enumerated) == brute_force_blocks(forecast, rules)


@pytest.mark.parametrize("rules_name", sorted(RULE_SETS))
def test_brute_force_seeds_reach_every_kind(rules_name):
    # Guards the comparison above against random forecasts with only singles.
    rules = RULE_SETS[rules_name]

    kinds = {
        kind
        for seed in BRUTE_FORCE_SEEDS
        for _, _, kind in brute_force_blocks(random_forecast(seed), rules)
    }

    assert kinds == {SINGLE, REGULAR, SPLIT, TRIPLE}


@pytest.mark.parametrize("seed", range(4))
def test_block_arrays_match_templates(seed):
    forecast = random_forecast(seed)

    week_blocks = enumerate_week_blocks(forecast, DEFAULT_RULES)

    for day_blocks in week_blocks:
        for number, row in enumerate(block_rows(day_blocks)):
            times = [week_times(forecast.templates[index]) for index in row]
            minutes = sum(end - start for start, end in times)
            kind = day_blocks.kinds[number]
            assert day_blocks.week_start[number] == times[0][0]
            assert day_blocks.week_end[number] == times[-1][1]
            assert day_blocks.work_minutes[number] == minutes
            assert day_blocks.is_triple[number] == (kind is TRIPLE)
            assert day_blocks.is_split_or_single[number] == (kind in (SINGLE, SPLIT))
        assert day_blocks.templates.shape == (len(day_blocks), 3)
        assert day_blocks.templates.dtype == np.int64
