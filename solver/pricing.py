"""KPIs of a plan, in the priority order of the objective.

The objective covers every tour first, then uses the fewest drivers, then the
fewest part-time rosters (work under `RuleSettings.part_time_below_minutes`,
40 h by default), then the fewest split and single blocks. Weekly hours are
the sum of tour durations of a roster, without the gaps inside a block.
"""

from __future__ import annotations

from typing import Any

from solver.plan import BlockKind, Plan
from solver.rules import RuleSettings

MINUTES_PER_HOUR = 60
LOOSE_BLOCK_KINDS = (BlockKind.SINGLE, BlockKind.DOUBLE_SPLIT)


def plan_kpis(plan: Plan, rules: RuleSettings) -> dict[str, Any]:
    """Compute the KPIs of a plan as plain data for display and kpis.json.

    Keys:
        drivers: rosters in the plan, including rosters without blocks.
        tours_covered: tours placed in a block.
        tours_uncovered: tours the plan lists as uncovered.
        part_time_rosters: rosters whose work is under the part-time limit.
        block_mix: blocks per `BlockKind` value, with 0 for kinds not used.
        split_and_single_blocks: double split plus single blocks.
        average_weekly_hours, min_weekly_hours, max_weekly_hours: work per
            roster in hours, rounded to 2 decimals, and 0 for a plan without
            rosters.
        working_days: blocks over all rosters, since a roster has at most one
            block per day.
    """
    weekly_minutes = [roster.work_minutes for roster in plan.rosters]
    blocks = [block for roster in plan.rosters for block in roster.blocks]

    block_mix = {kind.value: 0 for kind in BlockKind}
    for block in blocks:
        block_mix[block.kind.value] += 1

    part_time_rosters = sum(
        1 for minutes in weekly_minutes if minutes < rules.part_time_below_minutes
    )
    split_and_single_blocks = sum(block_mix[kind.value] for kind in LOOSE_BLOCK_KINDS)
    if weekly_minutes:
        average_minutes = sum(weekly_minutes) / len(weekly_minutes)
        min_minutes = min(weekly_minutes)
        max_minutes = max(weekly_minutes)
    else:
        average_minutes = min_minutes = max_minutes = 0

    return {
        "drivers": plan.driver_count,
        "tours_covered": sum(len(roster.tours) for roster in plan.rosters),
        "tours_uncovered": len(plan.uncovered),
        "part_time_rosters": part_time_rosters,
        "block_mix": block_mix,
        "split_and_single_blocks": split_and_single_blocks,
        "average_weekly_hours": _to_hours(average_minutes),
        "min_weekly_hours": _to_hours(min_minutes),
        "max_weekly_hours": _to_hours(max_minutes),
        "working_days": len(blocks),
    }


def _to_hours(minutes: float) -> float:
    return round(minutes / MINUTES_PER_HOUR, 2)
