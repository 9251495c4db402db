"""Turn chosen roster columns into a plan of named tours.

The integer model covers each template at least `count` times, so a template
may be held by more rosters than it has tours. Surplus is trimmed from the
end of a block (first or last tour), which always leaves a valid block:
dropping an end shortens the span, a chained triple becomes a regular
double, a double becomes a single, and less work only lengthens rest and
shortens the week. Among the possible trims the one that keeps full-time
rosters full-time and adds the fewest split or single blocks is taken first.
A surplus that sits only in the middle of triples is trimmed there when the
two remaining tours still form a valid double; otherwise the last tour of
that triple moves to a roster of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from solver.blocks import DayBlocks, classify_pair, template_week_times
from solver.column_generation import PooledRoster
from solver.plan import Block, BlockKind, Plan, Roster
from solver.rules import RuleSettings
from solver.tours import Forecast, Tour, TourTemplate


@dataclass
class DraftRoster:
    """A roster as template indices per ISO weekday, before tours get names."""

    days: dict[int, list[int]]

    def work_minutes(self, templates: Sequence[TourTemplate]) -> int:
        return sum(
            templates[index].duration_minutes
            for day in self.days.values()
            for index in day
        )


def kind_of(
    template_ids: Sequence[int], forecast: Forecast, rules: RuleSettings
) -> BlockKind | None:
    """Return the kind of a block of templates in start order, or None if invalid."""
    times = [template_week_times(forecast.templates[index]) for index in template_ids]
    if len(times) == 1:
        return BlockKind.SINGLE
    if len(times) == 2:
        return classify_pair(
            times[1][0] - times[0][1], times[1][1] - times[0][0], rules
        )
    if len(times) == 3:
        gaps = [times[1][0] - times[0][1], times[2][0] - times[1][1]]
        chained = all(
            rules.min_chain_gap_minutes <= gap <= rules.max_chain_gap_minutes
            for gap in gaps
        )
        if chained and times[2][1] - times[0][0] <= rules.max_triple_span_minutes:
            return BlockKind.TRIPLE_CHAINED
    return None


def assemble_plan(
    forecast: Forecast,
    tours: Sequence[Tour],
    week_blocks: Sequence[DayBlocks],
    chosen: Sequence[tuple[PooledRoster, int]],
    demand: Sequence[int],
    rules: RuleSettings,
    uncovered: Sequence[Tour] = (),
) -> Plan:
    """Build the plan from roster columns and how many drivers work each.

    `demand` gives the tours to cover per template (0 for templates no
    roster may take), and `uncovered` lists those tours for the plan.
    """
    drafts = trim_surplus(draft_rosters(week_blocks, chosen), demand, forecast, rules)
    uncovered_ids = {tour.tour_id for tour in uncovered}
    return name_tours(drafts, forecast, tours, rules, uncovered_ids, uncovered)


def draft_rosters(
    week_blocks: Sequence[DayBlocks], chosen: Sequence[tuple[PooledRoster, int]]
) -> list[DraftRoster]:
    """Copy each chosen roster once per driver who works it."""
    drafts = []
    for roster, copies in chosen:
        for _ in range(copies):
            days = {
                week_blocks[day].day: [
                    int(index)
                    for index in week_blocks[day].templates[block]
                    if index >= 0
                ]
                for day, block in roster.blocks
            }
            drafts.append(DraftRoster(days))
    return drafts


def trim_surplus(
    drafts: list[DraftRoster],
    demand: Sequence[int],
    forecast: Forecast,
    rules: RuleSettings,
) -> list[DraftRoster]:
    """Remove tours held twice until each template is held exactly `count` times."""
    templates = forecast.templates
    held = [0] * len(templates)
    for draft in drafts:
        for day in draft.days.values():
            for index in day:
                held[index] += 1
    surplus = {index: held[index] - demand[index] for index in range(len(templates))}
    surplus = {index: extra for index, extra in surplus.items() if extra > 0}

    while surplus:
        best = None
        for number, draft in enumerate(drafts):
            minutes = draft.work_minutes(templates)
            for day, block in draft.days.items():
                for position, index in enumerate(block):
                    if index not in surplus:
                        continue
                    remaining = block[:position] + block[position + 1 :]
                    if remaining and kind_of(remaining, forecast, rules) is None:
                        continue
                    after = minutes - templates[index].duration_minutes
                    becomes_part_time = (
                        minutes >= rules.part_time_below_minutes
                        and 0 < after < rules.part_time_below_minutes
                    )
                    new_kind = (
                        kind_of(remaining, forecast, rules) if remaining else None
                    )
                    adds_split_or_single = int(
                        new_kind in (BlockKind.SINGLE, BlockKind.DOUBLE_SPLIT)
                    )
                    score = (
                        becomes_part_time,
                        adds_split_or_single,
                        -minutes,
                        number,
                        day,
                    )
                    if best is None or score < best[0]:
                        best = (score, number, day, position)
        if best is None:
            drafts = _split_off_last_tour(drafts, surplus)
            continue
        _, number, day, position = best
        index = drafts[number].days[day].pop(position)
        if not drafts[number].days[day]:
            del drafts[number].days[day]
        surplus[index] -= 1
        if not surplus[index]:
            del surplus[index]
    return [draft for draft in drafts if draft.days]


def _split_off_last_tour(
    drafts: list[DraftRoster], surplus: dict[int, int]
) -> list[DraftRoster]:
    """Move the last tour of a triple with a surplus middle tour to a new roster."""
    for draft in drafts:
        for day, block in draft.days.items():
            if len(block) == 3 and block[1] in surplus:
                last = block.pop()
                drafts.append(DraftRoster({day: [last]}))
                return drafts
    raise RuntimeError("surplus tours left that no block can give up")


def name_tours(
    drafts: Sequence[DraftRoster],
    forecast: Forecast,
    tours: Sequence[Tour],
    rules: RuleSettings,
    uncovered_ids: set[str],
    uncovered: Sequence[Tour],
) -> Plan:
    """Give each draft roster real tours and a driver id, in a deterministic order."""
    free: dict[tuple, list[Tour]] = {}
    for tour in tours:
        if tour.tour_id not in uncovered_ids:
            key = (
                tour.day,
                tour.week_start,
                tour.week_end,
                tour.depot,
                tour.qualification,
            )
            free.setdefault(key, []).append(tour)
    for queue in free.values():
        queue.reverse()

    def sort_key(draft: DraftRoster) -> tuple:
        return tuple(
            (day, template_week_times(forecast.templates[index]))
            for day in sorted(draft.days)
            for index in draft.days[day]
        )

    rosters = []
    for number, draft in enumerate(sorted(drafts, key=sort_key), start=1):
        blocks = []
        for day in sorted(draft.days):
            block_tours = []
            for index in draft.days[day]:
                template = forecast.templates[index]
                start, end = template_week_times(template)
                key = (template.day, start, end, template.depot, template.qualification)
                block_tours.append(free[key].pop())
            kind = kind_of(draft.days[day], forecast, rules)
            if kind is None:
                raise RuntimeError(f"assembled an invalid block on weekday {day}")
            blocks.append(Block(day=day, kind=kind, tours=tuple(block_tours)))
        rosters.append(Roster(driver=f"D{number:03d}", blocks=tuple(blocks)))
    return Plan(rosters=tuple(rosters), uncovered=tuple(uncovered))
