"""Specification of the pricing step: the best roster for given template values.

The reference is a brute force over every choice of at most one block per day
that keeps the roster rules: rest between consecutive calendar days, weekly
tour minutes and no triple after a triple. It reads block times from the
templates, not from the arrays the search uses. Random instances come from
random.Random with fixed seeds.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pytest

from solver.blocks import NO_TEMPLATE, DayBlocks, enumerate_week_blocks
from solver.plan import BlockKind
from solver.roster_search import RosterColumn, RosterCosts, RosterPricing
from solver.rules import RuleSettings
from solver.tours import MINUTES_PER_DAY, Forecast, TourTemplate

MONDAY, TUESDAY, WEDNESDAY = 1, 2, 3

DEFAULT_RULES = RuleSettings()
DEFAULT_COSTS = RosterCosts()
# Default margin by which RosterPricing.search requires a roster to beat its cost.
MIN_IMPROVEMENT = 1e-6
ALL_COLUMNS = 10_000


def minutes_of(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def make_template(day: int, clock_range: str) -> TourTemplate:
    """Build a template from a range such as "06:00-10:00".

    An end at or before the start falls on the next day.
    """
    start, end = clock_range.split("-")
    return TourTemplate(day, minutes_of(start), minutes_of(end), 1)


@dataclass(frozen=True)
class BlockFacts:
    """One enumerated block, with times read from its templates."""

    day_index: int
    row: int
    templates: tuple[int, ...]
    week_start: int
    week_end: int
    work_minutes: int
    is_triple: bool
    is_split_or_single: bool


def week_times(template: TourTemplate) -> tuple[int, int]:
    start = (template.day - 1) * MINUTES_PER_DAY + template.start_minute
    end = start + (template.end_minute - template.start_minute) % MINUTES_PER_DAY
    return start, end


def block_facts(
    forecast: Forecast, week_blocks: list[DayBlocks]
) -> list[list[BlockFacts]]:
    """Return the facts of every block, one list per day index 0 (Monday) to 6."""
    facts = []
    for day_index, day_blocks in enumerate(week_blocks):
        day_facts = []
        for row, template_row in enumerate(day_blocks.templates):
            templates = tuple(
                int(index) for index in template_row if index != NO_TEMPLATE
            )
            times = [week_times(forecast.templates[index]) for index in templates]
            is_split = day_blocks.kinds[row] is BlockKind.DOUBLE_SPLIT
            day_facts.append(
                BlockFacts(
                    day_index=day_index,
                    row=row,
                    templates=templates,
                    week_start=min(start for start, _ in times),
                    week_end=max(end for _, end in times),
                    work_minutes=sum(end - start for start, end in times),
                    is_triple=len(templates) == 3,
                    is_split_or_single=len(templates) == 1 or is_split,
                )
            )
        facts.append(day_facts)
    return facts


def roster_is_valid(blocks: list[BlockFacts], rules: RuleSettings) -> bool:
    """Check the roster rules on blocks given in day order."""
    days = [block.day_index for block in blocks]
    if len(set(days)) != len(days) or days != sorted(days):
        return False
    if sum(block.work_minutes for block in blocks) > rules.max_weekly_minutes:
        return False
    for earlier, later in pairwise(blocks):
        if later.day_index != earlier.day_index + 1:
            continue
        if later.week_start - earlier.week_end < rules.min_rest_minutes:
            return False
        if rules.forbid_triple_after_triple and earlier.is_triple and later.is_triple:
            return False
    return True


def roster_net_value(
    blocks: list[BlockFacts],
    values: np.ndarray,
    costs: RosterCosts,
    rules: RuleSettings,
) -> float:
    """Sum the template values of the roster less its part-time and block costs."""
    value = sum(values[index] for block in blocks for index in block.templates)
    value -= costs.per_split_or_single * sum(
        block.is_split_or_single for block in blocks
    )
    if sum(block.work_minutes for block in blocks) < rules.part_time_below_minutes:
        value -= costs.per_part_time
    return float(value)


def brute_force_best_by_last_block(
    facts: list[list[BlockFacts]],
    values: np.ndarray,
    costs: RosterCosts,
    rules: RuleSettings,
) -> dict[tuple[int, int], float]:
    """Return the best net value of a valid roster for each possible last block."""
    best: dict[tuple[int, int], float] = {}

    def extend(day_index: int, chosen: list[BlockFacts]) -> None:
        if day_index == 7:
            if chosen:
                last = (chosen[-1].day_index, chosen[-1].row)
                value = roster_net_value(chosen, values, costs, rules)
                best[last] = max(best.get(last, -np.inf), value)
            return
        extend(day_index + 1, chosen)
        for block in facts[day_index]:
            candidate = chosen + [block]
            # Weekly minutes only grow, and rest and fatigue look at two
            # consecutive days, so a prefix that breaks a rule stays invalid.
            if roster_is_valid(candidate, rules):
                extend(day_index + 1, candidate)

    extend(0, [])
    return best


def column_blocks(
    column: RosterColumn, facts: list[list[BlockFacts]]
) -> list[BlockFacts]:
    return [facts[day_index][row] for day_index, row in column.blocks]


# Random instances: 3 to 5 templates on each of 2 to 4 days.

GAP_CHOICES = (30, 45, 60, 90, 240, 300)


def random_instance(seed: int) -> tuple[Forecast, np.ndarray]:
    """Draw a small forecast and a value in [0.25, 0.75) for each of its templates.

    Days are consecutive from a random weekday, so the rest rule applies. Half
    of the templates follow the previous one after a regular or split gap,
    which yields doubles and triples. The others start at any quarter hour.
    """
    rng = random.Random(seed)
    day_count = rng.randint(2, 4)
    first_day = rng.randint(1, 8 - day_count)
    templates = []
    for day in range(first_day, first_day + day_count):
        previous_end = rng.randrange(4 * 60, 10 * 60, 15)
        for _ in range(rng.randint(3, 5)):
            if rng.random() < 0.5:
                start = (previous_end + rng.choice(GAP_CHOICES)) % MINUTES_PER_DAY
            else:
                start = rng.randrange(0, MINUTES_PER_DAY, 15)
            duration = rng.randrange(3 * 60, 9 * 60 + 1, 15)
            templates.append(
                TourTemplate(day, start, (start + duration) % MINUTES_PER_DAY, 1)
            )
            previous_end = start + duration
    forecast = Forecast.from_templates(templates)
    values = np.array([rng.uniform(0.25, 0.75) for _ in forecast.templates])
    return forecast, values


SCENARIOS = {
    "default": (DEFAULT_RULES, DEFAULT_COSTS),
    "tight-week": (RuleSettings(max_weekly_minutes=20 * 60), DEFAULT_COSTS),
    "fatigue-off": (RuleSettings(forbid_triple_after_triple=False), DEFAULT_COSTS),
    "long-rest": (RuleSettings(min_rest_minutes=14 * 60), DEFAULT_COSTS),
    "part-time-and-block-costs": (
        RuleSettings(part_time_below_minutes=24 * 60, max_weekly_minutes=30 * 60),
        RosterCosts(per_roster=0.5, per_part_time=0.4, per_split_or_single=0.05),
    ),
}

SEEDS = range(10)


@dataclass(frozen=True)
class PricingInstance:
    """A random forecast with its values, ready for the search and the brute force."""

    rules: RuleSettings
    costs: RosterCosts
    values: np.ndarray
    facts: list[list[BlockFacts]]
    pricing: RosterPricing

    def search(self, max_columns: int = ALL_COLUMNS) -> list[RosterColumn]:
        return self.pricing.search(self.values, self.costs, max_columns)

    def brute_force(self) -> dict[tuple[int, int], float]:
        return brute_force_best_by_last_block(
            self.facts, self.values, self.costs, self.rules
        )


def build_instance(seed: int, scenario: str) -> PricingInstance:
    rules, costs = SCENARIOS[scenario]
    forecast, values = random_instance(seed)
    week_blocks = enumerate_week_blocks(forecast, rules)
    return PricingInstance(
        rules=rules,
        costs=costs,
        values=values,
        facts=block_facts(forecast, week_blocks),
        pricing=RosterPricing(week_blocks, rules),
    )


class TestExactness:
    @pytest.mark.parametrize("scenario", sorted(SCENARIOS))
    @pytest.mark.parametrize("seed", SEEDS)
    def test_best_value_matches_brute_force(self, seed, scenario):
        instance = build_instance(seed, scenario)

        columns = instance.search()

        best = max(instance.brute_force().values())
        assert best > instance.costs.per_roster + 0.01, "instance too weak to test"
        assert columns, "search found no roster although one beats its cost"
        assert columns[0].value == pytest.approx(best, abs=1e-9)

    @pytest.mark.parametrize("scenario", sorted(SCENARIOS))
    @pytest.mark.parametrize("seed", SEEDS)
    def test_columns_are_best_roster_per_last_block(self, seed, scenario):
        instance = build_instance(seed, scenario)

        columns = instance.search()

        expected = {
            last: value
            for last, value in instance.brute_force().items()
            if value > instance.costs.per_roster + MIN_IMPROVEMENT
        }
        found = {column.blocks[-1]: column.value for column in columns}
        assert len(found) == len(columns), "two columns share their last block"
        assert found.keys() == expected.keys()
        for last, value in found.items():
            assert value == pytest.approx(expected[last], abs=1e-9), last

    @pytest.mark.parametrize("scenario", sorted(SCENARIOS))
    @pytest.mark.parametrize("seed", SEEDS)
    def test_returned_rosters_are_valid(self, seed, scenario):
        instance = build_instance(seed, scenario)

        columns = instance.search()

        for column in columns:
            blocks = column_blocks(column, instance.facts)
            assert roster_is_valid(blocks, instance.rules), column.blocks
            assert column.work_minutes == sum(block.work_minutes for block in blocks)
            net_value = roster_net_value(
                blocks, instance.values, instance.costs, instance.rules
            )
            assert column.value == pytest.approx(net_value, abs=1e-9)

    @pytest.mark.parametrize(
        ("binding_rules", "loosened_rules"),
        [
            pytest.param(DEFAULT_RULES, RuleSettings(min_rest_minutes=0), id="rest"),
            pytest.param(
                SCENARIOS["tight-week"][0], DEFAULT_RULES, id="weekly-minutes"
            ),
        ],
    )
    def test_random_instances_make_rules_bind(self, binding_rules, loosened_rules):
        # Guards the comparisons above against instances where a rule never matters.
        raised_seeds = []
        for seed in SEEDS:
            forecast, values = random_instance(seed)
            best_values = []
            for rules in (binding_rules, loosened_rules):
                facts = block_facts(forecast, enumerate_week_blocks(forecast, rules))
                best = brute_force_best_by_last_block(
                    facts, values, DEFAULT_COSTS, rules
                )
                best_values.append(max(best.values()))
            if best_values[1] > best_values[0] + 1e-9:
                raised_seeds.append(seed)

        assert raised_seeds

    def test_columns_come_best_first_and_capped(self):
        instance = build_instance(6, "default")

        all_columns = instance.search()
        top_columns = instance.search(max_columns=3)

        values = [column.value for column in all_columns]
        assert len(all_columns) > 3
        assert values == sorted(values, reverse=True)
        assert top_columns == all_columns[:3]

    @pytest.mark.parametrize("seed", SEEDS)
    def test_tiny_values_give_no_roster(self, seed):
        instance = build_instance(seed, "default")
        tiny_values = instance.values * 1e-3

        columns = instance.pricing.search(tiny_values, instance.costs, ALL_COLUMNS)

        assert columns == []

    def test_zero_values_give_no_roster(self):
        instance = build_instance(0, "default")
        zero_values = np.zeros_like(instance.values)

        columns = instance.pricing.search(zero_values, instance.costs, ALL_COLUMNS)

        assert columns == []


def search_templates(
    templates: Sequence[TourTemplate],
    values: Sequence[float],
    rules: RuleSettings = DEFAULT_RULES,
    costs: RosterCosts = DEFAULT_COSTS,
) -> list[RosterColumn]:
    """Search the best rosters of a hand-made forecast.

    `values` lists one value per template, in the canonical template order.
    """
    forecast = Forecast.from_templates(templates)
    assert forecast.templates == tuple(templates), "list templates in canonical order"
    pricing = RosterPricing(enumerate_week_blocks(forecast, rules), rules)
    return pricing.search(np.array(values), costs, ALL_COLUMNS)


def worked_days(column: RosterColumn) -> list[int]:
    return [day_index + 1 for day_index, _ in column.blocks]


class TestWeeklyLimit:
    # Four 10 h tours, Monday to Thursday at 06:00, each worth 0.5.
    TEMPLATES = tuple(make_template(day, "06:00-16:00") for day in range(1, 5))
    VALUES = (0.5,) * 4

    def test_default_limit_allows_all_four_days(self):
        columns = search_templates(self.TEMPLATES, self.VALUES)

        assert columns[0].value == pytest.approx(2.0)
        assert columns[0].work_minutes == 40 * 60

    def test_tighter_limit_drops_one_day(self):
        rules = RuleSettings(max_weekly_minutes=35 * 60)

        columns = search_templates(self.TEMPLATES, self.VALUES, rules)

        assert columns[0].value == pytest.approx(1.5)
        assert columns[0].work_minutes == 30 * 60
        assert all(column.work_minutes <= 35 * 60 for column in columns)

    def test_limit_is_kept_to_the_minute(self):
        rules = RuleSettings(max_weekly_minutes=40 * 60 - 1)

        columns = search_templates(self.TEMPLATES, self.VALUES, rules)

        assert columns[0].value == pytest.approx(1.5)
        assert columns[0].work_minutes == 30 * 60


class TestRest:
    def test_block_ending_23_00_blocks_next_06_00(self):
        templates = [
            make_template(MONDAY, "15:00-23:00"),
            make_template(TUESDAY, "06:00-14:00"),
        ]

        columns = search_templates(templates, [0.6, 0.6])

        # Together they would be worth 1.2, but they leave only 7 h of rest.
        assert columns == []

    def test_eleven_hours_of_rest_combine(self):
        templates = [
            make_template(MONDAY, "15:00-23:00"),
            make_template(TUESDAY, "10:00-18:00"),
        ]

        columns = search_templates(templates, [0.6, 0.6])

        assert len(columns) == 1
        assert worked_days(columns[0]) == [MONDAY, TUESDAY]
        assert columns[0].value == pytest.approx(1.2)

    def test_rest_counts_from_real_end_after_midnight(self):
        # The Monday tour ends Tuesday 02:00, so a start at 12:45 is 15 min short.
        templates = [
            make_template(MONDAY, "20:00-02:00"),
            make_template(TUESDAY, "12:45-16:45"),
        ]

        columns = search_templates(templates, [0.6, 0.6])

        assert columns == []

    def test_rest_after_midnight_end_exactly_met(self):
        templates = [
            make_template(MONDAY, "20:00-02:00"),
            make_template(TUESDAY, "13:00-17:00"),
        ]

        columns = search_templates(templates, [0.6, 0.6])

        assert len(columns) == 1
        assert worked_days(columns[0]) == [MONDAY, TUESDAY]

    def test_rest_rule_skips_a_day_off(self):
        templates = [
            make_template(MONDAY, "15:00-23:00"),
            make_template(WEDNESDAY, "06:00-14:00"),
        ]

        columns = search_templates(templates, [0.6, 0.6])

        assert len(columns) == 1
        assert worked_days(columns[0]) == [MONDAY, WEDNESDAY]


def chained_triple(day: int) -> list[TourTemplate]:
    """Return three tours 06:00-19:00 with 30 min gaps, 12 h of tour time."""
    return [
        make_template(day, "06:00-10:00"),
        make_template(day, "10:30-14:30"),
        make_template(day, "15:00-19:00"),
    ]


class TestFatigue:
    # Each tour is worth 0.2, and a roster must beat the cost 0.5.
    COSTS = RosterCosts(per_roster=0.5)

    def test_triple_after_triple_is_not_chosen(self):
        templates = chained_triple(MONDAY) + chained_triple(TUESDAY)

        columns = search_templates(templates, [0.2] * 6, costs=self.COSTS)

        # The best is a triple and a double (1.0), never both triples (1.2).
        assert columns[0].value == pytest.approx(1.0)
        assert worked_days(columns[0]) == [MONDAY, TUESDAY]

    def test_triples_with_day_between_combine(self):
        templates = chained_triple(MONDAY) + chained_triple(WEDNESDAY)

        columns = search_templates(templates, [0.2] * 6, costs=self.COSTS)

        assert columns[0].value == pytest.approx(1.2)
        assert worked_days(columns[0]) == [MONDAY, WEDNESDAY]

    def test_fatigue_rule_switched_off_allows_triples(self):
        templates = chained_triple(MONDAY) + chained_triple(TUESDAY)
        rules = RuleSettings(forbid_triple_after_triple=False)

        columns = search_templates(templates, [0.2] * 6, rules, self.COSTS)

        assert columns[0].value == pytest.approx(1.2)
