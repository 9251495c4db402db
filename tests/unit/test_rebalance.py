"""Specification of the block moves that turn part-time rosters full-time.

Each case is small enough to work out by hand: which block moves, which swap
is taken, and when no move can help because the week holds too few hours.
"""

from solver.blocks import enumerate_week_blocks
from solver.rebalance import PartTimeRebalancer
from solver.rules import RuleSettings
from solver.tours import Forecast, TourTemplate

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(1, 8)
HOUR = 60


class Week:
    """A forecast of single tours, its day blocks, and rosters built from them."""

    def __init__(self, templates: list[TourTemplate], rules: RuleSettings) -> None:
        self.forecast = Forecast.from_templates(templates)
        self.rules = rules
        self.week_blocks = enumerate_week_blocks(self.forecast, rules)
        self.rebalancer = PartTimeRebalancer(self.week_blocks, rules)

    def block(self, template: TourTemplate) -> tuple[int, int]:
        """Return (weekday index, block row) of the single block of this template."""
        index = self.forecast.templates.index(template)
        day_index = template.day - 1
        return day_index, self.week_blocks[day_index].index_of((index,))

    def roster(self, *templates: TourTemplate) -> dict[int, int]:
        return dict(self.block(template) for template in templates)

    def hours(self, roster: dict[int, int]) -> float:
        return self.rebalancer.minutes(roster) / HOUR


def tour(day: int, start_hour: float, hours: float) -> TourTemplate:
    start = round(start_hour * HOUR)
    end = (start + round(hours * HOUR)) % (24 * HOUR)
    return TourTemplate(day, start, end, 1)


def held_blocks(rosters: list[dict[int, int]]) -> list[tuple[int, int]]:
    return sorted(item for roster in rosters for item in roster.items())


def test_long_week_gives_a_day():
    rules = RuleSettings(part_time_below_minutes=9 * HOUR)
    long_week = [tour(day, 6, 4.5) for day in range(MONDAY, SATURDAY + 1)]
    sunday = tour(SUNDAY, 6, 4.5)
    week = Week([*long_week, sunday], rules)
    rosters = [week.roster(*long_week), week.roster(sunday)]

    improved = week.rebalancer.improve(rosters)

    assert [week.hours(roster) for roster in improved] == [22.5, 9.0]
    assert improved[1] == week.roster(long_week[0], sunday)
    assert held_blocks(improved) == held_blocks(rosters)


def test_swap_when_no_day_free():
    rules = RuleSettings(part_time_below_minutes=12 * HOUR)
    long_days = [tour(day, 6, 9) for day in (MONDAY, TUESDAY, WEDNESDAY)]
    short_days = [tour(day, 16, 3) for day in (MONDAY, TUESDAY, WEDNESDAY)]
    week = Week([*long_days, *short_days], rules)
    rosters = [week.roster(*long_days), week.roster(*short_days)]

    improved = week.rebalancer.improve(rosters)

    assert [week.hours(roster) for roster in improved] == [21.0, 15.0]
    assert improved[1] == week.roster(long_days[0], *short_days[1:])
    assert held_blocks(improved) == held_blocks(rosters)


def test_short_week_stays_part_time():
    # 31.5 h cannot make two weeks of at least 18 h each: the moves spread
    # hours until the next move would only pass the shortfall to the donor.
    rules = RuleSettings(part_time_below_minutes=18 * HOUR)
    long_week = [tour(day, 6, 4.5) for day in range(MONDAY, SATURDAY + 1)]
    sunday = tour(SUNDAY, 6, 4.5)
    week = Week([*long_week, sunday], rules)
    rosters = [week.roster(*long_week), week.roster(sunday)]

    improved = week.rebalancer.improve(rosters)

    assert sorted(week.hours(roster) for roster in improved) == [13.5, 18.0]
    assert week.rebalancer.key([week.rebalancer.minutes(r) for r in improved])[0] == 1


def test_rest_blocks_a_move():
    rules = RuleSettings(part_time_below_minutes=9 * HOUR)
    night = tour(TUESDAY, 22, 4.5)
    wednesday_early = tour(WEDNESDAY, 6, 4.5)
    friday = tour(FRIDAY, 6, 4.5)
    saturday = tour(SATURDAY, 6, 4.5)
    week = Week([night, wednesday_early, friday, saturday], rules)
    taker = week.roster(night)

    assert not week.rebalancer.fits(taker, *week.block(wednesday_early))
    assert week.rebalancer.fits(taker, *week.block(friday))

    donor = week.roster(wednesday_early, friday, saturday)
    improved = week.rebalancer.improve([donor, taker])
    assert improved[1] == week.roster(night, friday)


def test_weekly_limit_blocks_a_move():
    rules = RuleSettings(part_time_below_minutes=9 * HOUR, max_weekly_minutes=8 * HOUR)
    days = [tour(day, 6, 4.5) for day in (MONDAY, TUESDAY)]
    sunday = tour(SUNDAY, 6, 4.5)
    week = Week([*days, sunday], rules)
    rosters = [week.roster(days[0]), week.roster(days[1]), week.roster(sunday)]

    assert week.rebalancer.improve(rosters) == rosters


def test_emptied_roster_drops_a_driver():
    rules = RuleSettings(part_time_below_minutes=20 * HOUR)
    monday, tuesday = tour(MONDAY, 6, 4.5), tour(TUESDAY, 6, 4.5)
    week = Week([monday, tuesday], rules)

    improved = week.rebalancer.improve([week.roster(monday), week.roster(tuesday)])

    assert [week.hours(roster) for roster in improved] == [9.0, 0.0]


def test_no_triple_after_triple():
    rules = RuleSettings(part_time_below_minutes=30 * HOUR)
    monday = [tour(MONDAY, start, 4) for start in (5, 9.75, 14.5)]
    tuesday = [tour(TUESDAY, start, 4) for start in (5.5, 10.25, 15)]
    week = Week([*monday, *tuesday], rules)
    forecast = week.forecast
    monday_triple = (
        0,
        week.week_blocks[0].index_of(
            tuple(forecast.templates.index(item) for item in monday)
        ),
    )
    tuesday_triple = (
        1,
        week.week_blocks[1].index_of(
            tuple(forecast.templates.index(item) for item in tuesday)
        ),
    )
    taker = dict([monday_triple])
    assert not week.rebalancer.fits(taker, *tuesday_triple)
    relaxed = PartTimeRebalancer(
        week.week_blocks, RuleSettings(forbid_triple_after_triple=False)
    )
    assert relaxed.fits(taker, *tuesday_triple)
