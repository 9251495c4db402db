"""Comparison of two to four results: plan versions and scenario runs side by side.

A result is a stored plan version (kind "plan") or a succeeded scenario run
(kind "scenario"). The first result is the reference: every KPI row carries
its values and the difference of each other result against the first, and
the driver diffs list what changes from the first result to each other one.

Drivers are matched by their label. In a plan of named drivers, roles that
read personal fields see names, which core.plan_drivers records as a
`driver.personal_data_read` entry. Exports ask for external references only,
so a file never carries a name.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from core.context import authorize, current_engine, unit_of_work
from core.drivers import record_unreadable_fields
from core.errors import InvalidInput
from core.permissions import Actor, Permission
from core.plan_drivers import driver_labels, external_refs, with_driver_labels
from core.plans import coverage_by_time_of_day, plan_version_view
from core.scenarios import get_scenario_run
from core.tenancy import get_owned
from core.views import RosterRow
from db.models import PlanVersion
from db.repositories import kpi_history
from solver.plan import BlockKind

logger = logging.getLogger(__name__)

PLAN = "plan"
SCENARIO = "scenario"
RESULT_KINDS = (PLAN, SCENARIO)
MIN_RESULTS = 2
MAX_RESULTS = 4
SUCCEEDED = "succeeded"
COVERAGE_STEP_MINUTES = 30
WEEKDAY_COUNT = 7
WEEKDAY_SHORT_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
OFF = "off"

# Key, label and unit of each KPI row, in display order. The unit sets how
# pages and exports format a value: "count", "hours", "fraction" (a
# gap, shown as percent) or "money".
KPI_ROWS: tuple[tuple[str, str, str], ...] = (
    ("drivers", "Drivers", "count"),
    ("lower_bound", "Lower bound", "count"),
    ("gap", "Gap", "fraction"),
    ("part_time_rosters", "Part-time rosters", "count"),
    ("block_single", "Single blocks", "count"),
    ("block_double_regular", "Double regular blocks", "count"),
    ("block_double_split", "Double split blocks", "count"),
    ("block_triple_chained", "Triple chained blocks", "count"),
    ("total_hours", "Total hours", "hours"),
    ("average_hours", "Average weekly hours", "hours"),
    ("open_tours", "Open tours", "count"),
    ("cost", "Cost per week", "money"),
)

Number = int | float | Decimal


@dataclass(frozen=True)
class ResultRef:
    """One result to compare: a plan version id or a scenario run id."""

    kind: str
    id: int

    @property
    def key(self) -> str:
        """Return the reference as text such as "plan:12", for audit entries."""
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class ComparedResult:
    """One result as the comparison reads it.

    `coverage` has one row per weekday and time step, with `day` (1 = Monday),
    `minute` after midnight, `tours` running and `drivers` working.
    """

    ref: ResultRef
    label: str
    week_anchor: date | None
    solve_status: str
    lower_bound: int | None
    gap: float | None
    kpis: dict[str, Any]
    rosters: tuple[RosterRow, ...]
    open_tours: int
    coverage: tuple[dict[str, int], ...]


@dataclass(frozen=True)
class KpiRow:
    """One KPI across the results, with differences against the first result.

    `deltas[0]` is always None, and a delta is None where either value is.
    """

    key: str
    label: str
    unit: str
    values: tuple[Number | None, ...]
    deltas: tuple[Number | None, ...]


@dataclass(frozen=True)
class DriverDiff:
    """One change of a driver's week from the first result to another result.

    `day` is 1 (Monday) to 7, or None for a driver who is in only one of the
    two results. `before` and `after` are a block as "06:00-14:30" or "off",
    or for such a driver "present" and "absent".
    """

    result: str
    driver: str
    day: int | None
    before: str
    after: str

    @property
    def change(self) -> str:
        """Describe the change as text such as "Mon 06:00-14:30 -> off"."""
        if self.day is None:
            return f"{self.before} -> {self.after}"
        return f"{WEEKDAY_SHORT_NAMES[self.day - 1]} {self.before} -> {self.after}"


@dataclass(frozen=True)
class Comparison:
    """Two to four results side by side, the first one being the reference.

    `hours` has the weekly hours of each driver per result. `head_count` has
    the drivers working on each weekday (Monday first) per result.
    `cost_per_driver` is the tenant's cost per driver and week, or None when
    it is not set, in which case every value of the cost row is None.
    """

    results: tuple[ComparedResult, ...]
    cost_per_driver: Decimal | None
    kpi_rows: tuple[KpiRow, ...]
    hours: tuple[tuple[float, ...], ...]
    head_count: tuple[tuple[int, ...], ...]
    driver_diffs: tuple[DriverDiff, ...]
    refs: tuple[ResultRef, ...] = field(default=())

    @property
    def columns(self) -> tuple[str, ...]:
        """Return the label of each result, in the order of the refs."""
        return tuple(result.label for result in self.results)


def compare(actor: Actor, refs: Sequence[ResultRef]) -> Comparison:
    """Compare two to four plan versions or succeeded scenario runs.

    Raises InvalidInput for fewer than 2 or more than 4 refs, an unknown
    kind, a repeated ref or a scenario run that has not succeeded, and
    NotFound for an id that is not the tenant's. Drivers of named plans show
    by name to roles that read personal fields, which is audited.
    """
    return build_comparison(actor, refs, with_names=True)


def build_comparison(
    actor: Actor, refs: Sequence[ResultRef], *, with_names: bool
) -> Comparison:
    """Compare the results as `compare` does, with or without driver names.

    Without names, drivers of named plans show by external reference, and no
    personal field is read.
    """
    authorize(actor, Permission.PLAN_READ)
    checked = checked_refs(refs)
    results = [
        _load_result(actor, ref, f"refs[{index}]", with_names)
        for index, ref in enumerate(checked)
    ]
    with unit_of_work(actor) as session:
        setting = kpi_history.cost_setting(session, actor.tenant_id)
        cost_per_driver = None if setting is None else setting.cost_per_driver_week

    hours = tuple(_weekly_hours(result.rosters) for result in results)
    comparison = Comparison(
        results=tuple(results),
        cost_per_driver=cost_per_driver,
        kpi_rows=_kpi_rows(results, hours, cost_per_driver),
        hours=hours,
        head_count=tuple(_head_count(result.rosters) for result in results),
        driver_diffs=tuple(_driver_diffs(results)),
        refs=tuple(checked),
    )
    logger.info(
        "compared %s for user %s of tenant %s",
        ", ".join(ref.key for ref in checked),
        actor.user_id,
        actor.tenant_id,
    )
    return comparison


def checked_refs(refs: Sequence[ResultRef]) -> list[ResultRef]:
    """Return the refs as a list, or raise InvalidInput naming the bad one."""
    if isinstance(refs, str | bytes) or not isinstance(refs, Sequence):
        raise InvalidInput("refs", "expected a list of 2 to 4 results")
    if not MIN_RESULTS <= len(refs) <= MAX_RESULTS:
        raise InvalidInput(
            "refs",
            f"{len(refs)} results chosen; choose {MIN_RESULTS} to {MAX_RESULTS}",
        )
    seen: set[tuple[str, int]] = set()
    for index, ref in enumerate(refs):
        path = f"refs[{index}]"
        if not isinstance(ref, ResultRef):
            raise InvalidInput(path, f"{ref!r} is not a ResultRef")
        if ref.kind not in RESULT_KINDS:
            raise InvalidInput(
                f"{path}.kind",
                f"unknown kind {ref.kind!r}; use one of {', '.join(RESULT_KINDS)}",
            )
        if isinstance(ref.id, bool) or not isinstance(ref.id, int) or ref.id < 1:
            raise InvalidInput(f"{path}.id", f"{ref.id!r} is not a positive id")
        if (ref.kind, ref.id) in seen:
            raise InvalidInput(path, f"{ref.kind} {ref.id} is chosen twice")
        seen.add((ref.kind, ref.id))
    return list(refs)


def format_value(value: Number | None, unit: str) -> str:
    """Format a KPI value for display: "-" for None, a gap as percent, money
    with 2 decimals, hours with up to 2 decimals."""
    if value is None:
        return "-"
    if unit == "fraction":
        return f"{float(value) * 100:.1f} %"
    if unit == "money":
        return f"{Decimal(value):,.2f}"
    if unit == "hours":
        return f"{float(value):g}"
    return str(value)


def format_delta(value: Number | None, unit: str) -> str:
    """Format a difference with its sign, such as "+2" or "-1.5 %".

    A zero difference has no sign, and None gives "".
    """
    if value is None:
        return ""
    text = format_value(abs(value), unit)
    if value > 0:
        return f"+{text}"
    if value < 0:
        return f"-{text}"
    return text


def _load_result(
    actor: Actor, ref: ResultRef, path: str, with_names: bool
) -> ComparedResult:
    if ref.kind == PLAN:
        return _plan_result(actor, ref, with_names)
    return _scenario_result(actor, ref, path, with_names)


def _plan_result(actor: Actor, ref: ResultRef, with_names: bool) -> ComparedResult:
    unreadable: list[int] = []
    with unit_of_work(actor) as session:
        version = get_owned(session, actor, PlanVersion, ref.id)
        view = plan_version_view(session, version, full=True)
        if with_names:
            view, unreadable = with_driver_labels(session, actor, view)
        elif view.kpis.get("named_drivers"):
            refs = external_refs(
                session, actor.tenant_id, (row.driver for row in view.rosters)
            )
            view = replace(
                view,
                rosters=tuple(
                    replace(row, driver=refs.get(row.driver, row.driver))
                    for row in view.rosters
                ),
            )
    if unreadable:
        record_unreadable_fields(current_engine(), actor, unreadable, ["name"])

    coverage = coverage_by_time_of_day(actor, ref.id, COVERAGE_STEP_MINUTES)
    week = view.week_anchor.isocalendar()
    return ComparedResult(
        ref=ref,
        label=f"Plan v{view.version_number} week {week.week}/{week.year}"
        f" (#{view.plan_version_id})",
        week_anchor=view.week_anchor,
        solve_status=view.solve_status,
        lower_bound=view.lower_bound,
        gap=view.gap,
        kpis=view.kpis,
        rosters=view.rosters,
        open_tours=int(view.kpis.get("tours_uncovered", len(view.uncovered))),
        coverage=tuple(
            {
                "day": row["day"],
                "minute": row["minute"],
                "tours": row["tours_in_demand"],
                "drivers": row["drivers_working"],
            }
            for row in coverage
        ),
    )


def _scenario_result(
    actor: Actor, ref: ResultRef, path: str, with_names: bool
) -> ComparedResult:
    run = get_scenario_run(actor, ref.id)
    if run.status != SUCCEEDED or not run.result:
        raise InvalidInput(
            path,
            f"scenario run {run.run_id} is {run.status}; only succeeded runs can"
            " be compared",
        )
    result = run.result
    kpis = dict(result.get("kpis") or {})
    rosters = tuple(_roster_row(entry) for entry in result.get("rosters") or ())
    if kpis.get("named_drivers"):
        rosters = _labelled_scenario_rosters(actor, rosters, with_names)
    uncovered = result.get("uncovered") or ()
    open_tours = kpis.get("open_tours", kpis.get("tours_uncovered", len(uncovered)))
    return ComparedResult(
        ref=ref,
        label=f"Scenario {run.scenario_name} run {run.run_id}",
        week_anchor=None,
        solve_status=str(result.get("solve_status", "")),
        lower_bound=result.get("lower_bound"),
        gap=result.get("gap"),
        kpis=kpis,
        rosters=rosters,
        open_tours=int(open_tours),
        coverage=tuple(
            {
                "day": int(row["day"]),
                "minute": int(row["minute"]),
                "tours": int(row["tours"]),
                "drivers": int(row["drivers"]),
            }
            for row in result.get("coverage") or ()
        ),
    )


def _roster_row(entry: dict[str, Any]) -> RosterRow:
    return RosterRow(
        driver=str(entry["driver"]),
        day=int(entry["day"]),
        block_kind=str(entry["block_kind"]),
        tour_ids=tuple(entry.get("tour_ids") or ()),
        start=str(entry["start"]),
        end=str(entry["end"]),
        minutes=int(entry["minutes"]),
    )


def _labelled_scenario_rosters(
    actor: Actor, rosters: tuple[RosterRow, ...], with_names: bool
) -> tuple[RosterRow, ...]:
    """Label the stored driver ids of a scenario run on the tenant's drivers."""
    unreadable: list[int] = []
    with unit_of_work(actor) as session:
        if with_names:
            labels = driver_labels(
                session, actor, (row.driver for row in rosters), "scenario drivers"
            )
            by_id = labels.by_id
            unreadable = labels.unreadable
        else:
            by_id = external_refs(
                session, actor.tenant_id, (row.driver for row in rosters)
            )
    if unreadable:
        record_unreadable_fields(current_engine(), actor, unreadable, ["name"])
    return tuple(
        replace(row, driver=by_id.get(row.driver, row.driver), driver_id=row.driver)
        for row in rosters
    )


def _weekly_hours(rosters: Sequence[RosterRow]) -> tuple[float, ...]:
    minutes: dict[str, int] = {}
    for row in rosters:
        minutes[row.driver] = minutes.get(row.driver, 0) + row.minutes
    return tuple(round(value / 60, 2) for value in minutes.values())


def _head_count(rosters: Sequence[RosterRow]) -> tuple[int, ...]:
    drivers_by_day: list[set[str]] = [set() for _ in range(WEEKDAY_COUNT)]
    for row in rosters:
        drivers_by_day[row.day - 1].add(row.driver)
    return tuple(len(drivers) for drivers in drivers_by_day)


def _kpi_rows(
    results: Sequence[ComparedResult],
    hours: Sequence[tuple[float, ...]],
    cost_per_driver: Decimal | None,
) -> tuple[KpiRow, ...]:
    values_by_key: dict[str, list[Number | None]] = {key: [] for key, _, _ in KPI_ROWS}
    for result, weekly_hours in zip(results, hours, strict=True):
        for key, value in _kpi_values(result, weekly_hours, cost_per_driver).items():
            values_by_key[key].append(value)
    rows = []
    for key, label, unit in KPI_ROWS:
        values = tuple(values_by_key[key])
        rows.append(
            KpiRow(
                key=key,
                label=label,
                unit=unit,
                values=values,
                deltas=(None, *(_delta(values[0], value) for value in values[1:])),
            )
        )
    return tuple(rows)


def _kpi_values(
    result: ComparedResult,
    weekly_hours: tuple[float, ...],
    cost_per_driver: Decimal | None,
) -> dict[str, Number | None]:
    kpis = result.kpis
    drivers = kpis.get("drivers")
    if drivers is None:
        drivers = len(weekly_hours)
    block_mix = kpis.get("block_mix") or {}
    values: dict[str, Number | None] = {
        "drivers": int(drivers),
        "lower_bound": result.lower_bound,
        "gap": result.gap,
        "part_time_rosters": kpis.get("part_time_rosters"),
    }
    for kind in BlockKind:
        values[f"block_{kind.value}"] = int(block_mix.get(kind.value, 0))
    values["total_hours"] = round(sum(weekly_hours), 2)
    values["average_hours"] = kpis.get("average_weekly_hours")
    values["open_tours"] = result.open_tours
    values["cost"] = None if cost_per_driver is None else cost_per_driver * int(drivers)
    return values


def _delta(first: Number | None, value: Number | None) -> Number | None:
    """Return value minus first, rounded like the KPIs, or None if either is None."""
    if first is None or value is None:
        return None
    if isinstance(first, Decimal) or isinstance(value, Decimal):
        return Decimal(value) - Decimal(first)
    difference = value - first
    if isinstance(difference, float):
        return round(difference, 4)
    return difference


def _driver_diffs(results: Sequence[ComparedResult]) -> list[DriverDiff]:
    """List each day that changes for a driver from the first result to the others."""
    first = results[0]
    first_weeks = _weeks_by_driver(first.rosters)
    diffs: list[DriverDiff] = []
    for other in results[1:]:
        other_weeks = _weeks_by_driver(other.rosters)
        for driver in sorted(first_weeks.keys() | other_weeks.keys()):
            before = first_weeks.get(driver)
            after = other_weeks.get(driver)
            if before is None:
                diffs.append(DriverDiff(other.label, driver, None, "absent", "present"))
            elif after is None:
                diffs.append(DriverDiff(other.label, driver, None, "present", "absent"))
            else:
                diffs.extend(
                    DriverDiff(
                        other.label,
                        driver,
                        day,
                        before.get(day, OFF),
                        after.get(day, OFF),
                    )
                    for day in range(1, WEEKDAY_COUNT + 1)
                    if before.get(day, OFF) != after.get(day, OFF)
                )
    return diffs


def _weeks_by_driver(rosters: Sequence[RosterRow]) -> dict[str, dict[int, str]]:
    """Map each driver to the block text of each working day."""
    weeks: dict[str, dict[int, str]] = {}
    for row in rosters:
        weeks.setdefault(row.driver, {})[row.day] = f"{row.start}-{row.end}"
    return weeks
