from solver.plan import Block, BlockKind, Plan, Roster
from solver.pricing import plan_kpis
from solver.rules import RuleSettings
from solver.tours import MINUTES_PER_DAY, Tour


def make_tour(tour_id: str, day: int, start: str, end: str) -> Tour:
    """Build a tour from HH:MM times. An end at or before the start is next day."""
    start_minute = int(start[:2]) * 60 + int(start[3:])
    end_minute = int(end[:2]) * 60 + int(end[3:])
    duration = (end_minute - start_minute) % MINUTES_PER_DAY
    week_start = (day - 1) * MINUTES_PER_DAY + start_minute
    return Tour(week_start, week_start + duration, tour_id, day)


def make_block(kind: BlockKind, *tours: Tour) -> Block:
    return Block(day=tours[0].day, kind=kind, tours=tours)


def full_time_roster() -> Roster:
    """D001: 5 days, 47.5 h of tours, one block of every kind."""
    return Roster(
        "D001",
        (
            make_block(
                BlockKind.DOUBLE_REGULAR,
                make_tour("Mo-1", 1, "05:00", "09:30"),
                make_tour("Mo-2", 1, "10:00", "14:30"),
            ),
            make_block(
                BlockKind.DOUBLE_SPLIT,
                make_tour("Di-1", 2, "05:00", "09:30"),
                make_tour("Di-2", 2, "14:00", "18:30"),
            ),
            make_block(
                BlockKind.TRIPLE_CHAINED,
                make_tour("Mi-1", 3, "05:00", "09:00"),
                make_tour("Mi-2", 3, "09:30", "13:30"),
                make_tour("Mi-3", 3, "14:00", "18:00"),
            ),
            make_block(
                BlockKind.DOUBLE_REGULAR,
                make_tour("Do-1", 4, "06:00", "10:30"),
                make_tour("Do-2", 4, "11:00", "15:30"),
            ),
            make_block(BlockKind.SINGLE, make_tour("Fr-1", 5, "22:00", "06:30")),
        ),
    )


def part_time_roster() -> Roster:
    """D002: 2 single days, 9 h of tours."""
    return Roster(
        "D002",
        (
            make_block(BlockKind.SINGLE, make_tour("Mo-3", 1, "05:00", "09:30")),
            make_block(BlockKind.SINGLE, make_tour("Sa-1", 6, "12:00", "16:30")),
        ),
    )


def test_kpis_of_two_roster_plan():
    plan = Plan(
        rosters=(full_time_roster(), part_time_roster()),
        uncovered=(make_tour("So-1", 7, "05:00", "09:30"),),
    )

    kpis = plan_kpis(plan, RuleSettings())

    assert kpis["drivers"] == 2
    assert kpis["tours_covered"] == 12
    assert kpis["tours_uncovered"] == 1
    assert kpis["part_time_rosters"] == 1
    assert kpis["block_mix"] == {
        "single": 3,
        "double_regular": 2,
        "double_split": 1,
        "triple_chained": 1,
    }
    assert kpis["split_and_single_blocks"] == 4
    assert kpis["average_weekly_hours"] == 28.25
    assert kpis["min_weekly_hours"] == 9.0
    assert kpis["max_weekly_hours"] == 47.5
    assert kpis["working_days"] == 7


def test_kpis_have_exactly_documented_keys():
    plan = Plan(rosters=(part_time_roster(),))

    kpis = plan_kpis(plan, RuleSettings())

    assert list(kpis) == [
        "drivers",
        "tours_covered",
        "tours_uncovered",
        "part_time_rosters",
        "block_mix",
        "split_and_single_blocks",
        "average_weekly_hours",
        "min_weekly_hours",
        "max_weekly_hours",
        "working_days",
    ]


def test_empty_plan_gives_zero_kpis():
    plan = Plan(rosters=())

    kpis = plan_kpis(plan, RuleSettings())

    assert kpis["drivers"] == 0
    assert kpis["tours_covered"] == 0
    assert kpis["tours_uncovered"] == 0
    assert kpis["part_time_rosters"] == 0
    assert kpis["block_mix"] == {kind.value: 0 for kind in BlockKind}
    assert kpis["split_and_single_blocks"] == 0
    assert kpis["average_weekly_hours"] == 0
    assert kpis["min_weekly_hours"] == 0
    assert kpis["max_weekly_hours"] == 0
    assert kpis["working_days"] == 0


def test_uncovered_only_plan_counts_uncovered():
    plan = Plan(rosters=(), uncovered=(make_tour("Mo-1", 1, "05:00", "09:30"),))

    kpis = plan_kpis(plan, RuleSettings())

    assert kpis["tours_uncovered"] == 1
    assert kpis["tours_covered"] == 0


def test_part_time_limit_follows_rule_settings():
    plan = Plan(rosters=(full_time_roster(), part_time_roster()))

    default_kpis = plan_kpis(plan, RuleSettings())
    strict_kpis = plan_kpis(plan, RuleSettings(part_time_below_minutes=48 * 60))
    loose_kpis = plan_kpis(plan, RuleSettings(part_time_below_minutes=9 * 60))

    assert default_kpis["part_time_rosters"] == 1
    assert strict_kpis["part_time_rosters"] == 2
    assert loose_kpis["part_time_rosters"] == 0


def test_roster_exactly_at_limit_is_full_time():
    plan = Plan(rosters=(full_time_roster(),))

    kpis = plan_kpis(plan, RuleSettings(part_time_below_minutes=47 * 60 + 30))

    assert kpis["part_time_rosters"] == 0


def test_weekly_hours_round_to_two_decimals():
    roster = Roster(
        "D003",
        (make_block(BlockKind.SINGLE, make_tour("Mo-1", 1, "05:00", "05:10")),),
    )
    plan = Plan(rosters=(roster,))

    kpis = plan_kpis(plan, RuleSettings())

    assert kpis["average_weekly_hours"] == 0.17
    assert kpis["min_weekly_hours"] == 0.17
    assert kpis["max_weekly_hours"] == 0.17


def test_roster_without_blocks_counts_as_driver():
    plan = Plan(rosters=(full_time_roster(), Roster("D009", ())))

    kpis = plan_kpis(plan, RuleSettings())

    assert kpis["drivers"] == 2
    assert kpis["min_weekly_hours"] == 0
    assert kpis["average_weekly_hours"] == 23.75
    assert kpis["part_time_rosters"] == 1
