"""Turn chosen roster columns into a plan of named tours.

The integer model covers each template at least `count` times, so a template
may be held by more rosters than it has tours. Surplus is trimmed from the
end of a block (first or last tour), which always leaves a valid block.
Dropping an end shortens the span: a chained triple becomes a regular double
and a double becomes a single. Less work only lengthens rest and shortens
the week. Among the possible trims the one that keeps full-time
rosters full-time and adds the fewest split or single blocks is taken first.
A surplus that sits only in the middle of triples is trimmed there when the
two remaining tours still form a valid double. Otherwise the last tour of
that triple moves to a roster of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from solver.blocks import DayBlocks, classify_block, template_week_times
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
    return classify_block(times, rules)


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
    """Remove tours held twice until each template is held exactly `count` times.

    Templates are handled one at a time, in forecast order. A draft contains a
    template at most once, so the surplus of one template is trimmed from the
    best-scoring holders at once.
    """
    templates = forecast.templates
    holders: dict[int, list[int]] = {}
    held = [0] * len(templates)
    for number, draft in enumerate(drafts):
        for block in draft.days.values():
            for index in block:
                held[index] += 1
                holders.setdefault(index, []).append(number)
    minutes = [draft.work_minutes(templates) for draft in drafts]

    for index in range(len(templates)):
        extra = held[index] - demand[index]
        while extra > 0:
            candidates = _trim_candidates(
                drafts, holders.get(index, []), index, minutes, forecast, rules
            )
            if not candidates:
                donor, moved_index = _split_off_last_tour(drafts, holders[index], index)
                moved_minutes = templates[moved_index].duration_minutes
                holders.setdefault(moved_index, []).append(len(drafts) - 1)
                minutes[donor] -= moved_minutes
                minutes.append(moved_minutes)
                continue
            for _, number, position in candidates[:extra]:
                day = templates[index].day
                drafts[number].days[day].pop(position)
                if not drafts[number].days[day]:
                    del drafts[number].days[day]
                minutes[number] -= templates[index].duration_minutes
                extra -= 1
    return [draft for draft in drafts if draft.days]


def _trim_candidates(
    drafts: Sequence[DraftRoster],
    holder_numbers: Sequence[int],
    index: int,
    minutes: Sequence[int],
    forecast: Forecast,
    rules: RuleSettings,
) -> list[tuple[tuple, int, int]]:
    """Score every draft that can drop template `index` and keep a valid block.

    A lower score is a better trim: one that keeps a full-time roster
    full-time, adds no split or single block, and takes from a long week.
    """
    template = forecast.templates[index]
    candidates = []
    for number in holder_numbers:
        block = drafts[number].days.get(template.day)
        if block is None or index not in block:
            continue
        position = block.index(index)
        remaining = block[:position] + block[position + 1 :]
        new_kind = kind_of(remaining, forecast, rules) if remaining else None
        if remaining and new_kind is None:
            continue
        after = minutes[number] - template.duration_minutes
        becomes_part_time = (
            minutes[number] >= rules.part_time_below_minutes
            and 0 < after < rules.part_time_below_minutes
        )
        adds_split_or_single = new_kind in (BlockKind.SINGLE, BlockKind.DOUBLE_SPLIT)
        score = (becomes_part_time, adds_split_or_single, -minutes[number], number)
        candidates.append((score, number, position))
    candidates.sort()
    return candidates


def _split_off_last_tour(
    drafts: list[DraftRoster], holder_numbers: Sequence[int], index: int
) -> tuple[int, int]:
    """Move the last tour of a triple whose middle is `index` to a new roster.

    Returns the number of the draft that gave the tour up and the template
    index of the moved tour. The new roster is appended as the last draft.
    """
    for number in holder_numbers:
        for day, block in drafts[number].days.items():
            if len(block) == 3 and block[1] == index:
                last = block.pop()
                drafts.append(DraftRoster({day: [last]}))
                return number, last
    raise RuntimeError("surplus tours left that no block can give up")


def name_tours(
    drafts: Sequence[DraftRoster],
    forecast: Forecast,
    tours: Sequence[Tour],
    rules: RuleSettings,
    uncovered_ids: set[str],
    uncovered: Sequence[Tour],
    driver_ids: Sequence[str] | None = None,
) -> Plan:
    """Give each draft roster real tours and a driver id, in a deterministic order.

    Drivers are numbered D001, D002, ... in the order of their weeks, unless
    `driver_ids` names the driver of each draft.
    """
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

    if driver_ids is None:
        ordered = sorted(drafts, key=sort_key)
        names = [f"D{number:03d}" for number in range(1, len(ordered) + 1)]
    else:
        pairs = sorted(zip(drafts, driver_ids), key=lambda pair: pair[1])
        ordered = [draft for draft, _ in pairs]
        names = [name for _, name in pairs]
    rosters = []
    for draft, name in zip(ordered, names):
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
        rosters.append(Roster(driver=name, blocks=tuple(blocks)))
    return Plan(rosters=tuple(rosters), uncovered=tuple(uncovered))
