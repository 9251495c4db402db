"""Display helpers that the workbench pages share: error boundary, tables, cards.

Everything here renders result objects from core services. Nothing here calls
a service except `run_service`, which only wraps the call a page makes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any, NoReturn, TypeVar

import pandas as pd
import streamlit as st

from core.errors import SolvereignError
from core.forecast_report import ImportReport, LineStatus
from core.views import (
    ForecastVersionView,
    PlanVersionView,
    RosterRow,
    SolveJobView,
)
from solver.checks import CheckResult

Result = TypeVar("Result")

WEEKDAY_NAMES = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}
LINE_STATUS_COLORS = {
    LineStatus.FAILURE.value: "background-color: #fdd8d8",
    LineStatus.WARNING.value: "background-color: #fff1c2",
}
FAILED_CHECK_COLOR = "background-color: #fdd8d8"


def run_service(function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
    """Call a core service, and show its error and stop the page if it raises one."""
    try:
        return function(*args, **kwargs)
    except SolvereignError as error:
        stop_with_error(error)


def stop_with_error(error: Exception) -> NoReturn:
    st.error(str(error), icon=":material/error:")
    st.stop()


def next_monday(today: date) -> date:
    """Return the first Monday after `today`, a week later if `today` is a Monday."""
    return today + timedelta(days=7 - today.weekday())


def week_label(week_anchor: date) -> str:
    week = week_anchor.isocalendar()
    return f"week {week.week}/{week.year} from {week_anchor:%d.%m.%Y}"


def forecast_version_label(version: ForecastVersionView) -> str:
    return (
        f"{week_label(version.week_anchor)}, version {version.version_number}"
        f" ({version.status}): {version.tour_count} tours from"
        f" {version.source_filename}"
    )


def count_of(count: int, singular: str, plural: str | None = None) -> str:
    """Write a count with its noun in the right number: "1 driver", "2 drivers"."""
    if count == 1:
        return f"1 {singular}"
    return f"{count} {plural or singular + 's'}"


def plan_version_label(plan: PlanVersionView) -> str:
    drivers = plan.kpis.get("drivers")
    status = plan.status
    if plan.approved_at is not None:
        status = "approved, in force" if plan.in_force else "approved, replaced"
    head_count = (
        count_of(drivers, "driver") if isinstance(drivers, int) else "? drivers"
    )
    return (
        f"{week_label(plan.week_anchor)}, plan version {plan.version_number}"
        f" ({status}): {head_count}"
    )


def import_report_table(report: ImportReport) -> None:
    """Show every line of an import report, with failures and warnings shaded."""
    failures = len(report.failures)
    warnings = len(report.warnings)
    summary = (
        f"Format {report.source_format}: {len(report.lines)} lines,"
        f" {failures} failed, {warnings} with warnings."
    )
    if report.ok:
        tours = report.forecast.tour_count if report.forecast else 0
        st.success(f"{summary} The forecast has {tours} tours.")
    else:
        st.error(
            f"{summary} The forecast is rejected. Correct the shaded lines and"
            " import the file again."
        )
    frame = pd.DataFrame(
        {
            "line": [line.line_number for line in report.lines],
            "status": [line.status.value for line in report.lines],
            "reason": [line.reason for line in report.lines],
        }
    )
    st.dataframe(
        frame.style.apply(_shade_by_status, axis=1),
        hide_index=True,
        width="stretch",
    )


def _shade_by_status(row: pd.Series) -> list[str]:
    color = LINE_STATUS_COLORS.get(row["status"], "")
    return [color] * len(row)


def forecast_diff_summary(diff: dict[str, Any] | None) -> None:
    """Show what a forecast version added, removed and changed against the previous.

    `diff` is the record that core.forecasts stores with a version, or None
    for the week's first accepted version and for a rejected import.
    """
    if not diff:
        st.caption("Nothing to compare: no earlier accepted version of this week.")
        return
    st.write(f"Against version {diff['against_version_number']}: {diff['summary']}.")
    for part in ("added", "removed"):
        if diff[part]:
            st.caption(part.capitalize())
            st.dataframe(pd.DataFrame(diff[part]), hide_index=True, width="stretch")
    if diff["changed"]:
        st.caption("Changed")
        st.dataframe(
            pd.DataFrame(
                {
                    "day": [change["before"]["day"] for change in diff["changed"]],
                    "start": [change["before"]["start"] for change in diff["changed"]],
                    "end": [change["before"]["end"] for change in diff["changed"]],
                    "fields": [
                        ", ".join(change["fields"]) for change in diff["changed"]
                    ],
                    "before": [
                        _template_terms(change["before"]) for change in diff["changed"]
                    ],
                    "after": [
                        _template_terms(change["after"]) for change in diff["changed"]
                    ],
                }
            ),
            hide_index=True,
            width="stretch",
        )


def _template_terms(template: dict[str, Any]) -> str:
    terms = [f"count {template['count']}"]
    if template["depot"]:
        terms.append(f"depot {template['depot']}")
    if template["qualification"]:
        terms.append(f"needs {template['qualification']}")
    return ", ".join(terms)


def plan_diff_summary(diff: dict[str, Any]) -> None:
    """Show how a plan version differs from the approved version of its week.

    `diff` is what core.approvals.diff_to_approved returns.
    """
    if diff["approved_version_id"] is None:
        st.caption("No version of this week is approved yet, so there is no change.")
        return
    columns = st.columns(3)
    for column, name, label in (
        (columns[0], "drivers", "Drivers"),
        (columns[1], "lower_bound", "Lower bound"),
    ):
        figures = diff[name]
        column.metric(
            label,
            figures["this"],
            delta=figures["change"],
            delta_color="inverse",
            help=f"approved version: {figures['approved']}",
        )
    columns[2].metric("Tours with another driver", diff["assignment_changes"])
    if diff["changed_tours"]:
        st.dataframe(
            pd.DataFrame(diff["changed_tours"]).rename(
                columns={
                    "tour_id": "tour",
                    "approved_driver": "approved driver",
                    "driver": "driver now",
                }
            ),
            hide_index=True,
            width="stretch",
        )


# Short words for the solver's status codes, which fit a KPI card.
STATUS_WORDS = {
    "optimal": "optimal",
    "feasible": "feasible",
    "time_limit": "time limit",
    "no_feasible_plan": "tours open",
}


def kpi_cards(plan: PlanVersionView) -> None:
    """Show the plan's head count, its proof of quality and its shape as cards."""
    kpis = plan.kpis
    open_tours = len(plan.uncovered)
    gap = f"{plan.gap:.1%}" if plan.gap is not None else "n/a"
    gap_help = "(drivers - lower bound) / drivers"
    if open_tours:
        # The bound and the gap then speak of the covered tours only, so a
        # gap of 0 % would read as a finished plan.
        gap = "n/a"
        gap_help = (
            f"{count_of(open_tours, 'tour')} open: the lower bound counts the"
            " drivers for the tours the plan covers, so no gap is given"
        )
    lower_bound = plan.lower_bound if plan.lower_bound is not None else "n/a"
    first_row = st.columns(4)
    first_row[0].metric("Drivers", kpis.get("drivers", "n/a"))
    first_row[1].metric("Lower bound", lower_bound)
    first_row[2].metric("Gap", gap, help=gap_help)
    first_row[3].metric("Part-time rosters", kpis.get("part_time_rosters", "n/a"))

    block_mix = kpis.get("block_mix", {})
    mix = ", ".join(
        f"{count} {kind.replace('_', ' ')}" for kind, count in block_mix.items()
    )
    second_row = st.columns(4)
    second_row[0].metric("Average hours", kpis.get("average_weekly_hours", "n/a"))
    second_row[1].metric("Min hours", kpis.get("min_weekly_hours", "n/a"))
    second_row[2].metric("Max hours", kpis.get("max_weekly_hours", "n/a"))
    second_row[3].metric(
        "Solve status",
        STATUS_WORDS.get(plan.solve_status, plan.solve_status),
        help=plan.kpis.get("status_text"),
    )
    if kpis.get("named_drivers"):
        named_driver_cards(kpis)
    st.caption(f"Block mix: {mix or 'no blocks'}")


def named_driver_cards(kpis: dict[str, Any]) -> None:
    """Show what only a plan of named drivers has: pool, open tours, wishes, spread."""
    row = st.columns(4)
    row[0].metric("Driver pool", kpis.get("driver_pool", "n/a"))
    row[1].metric("Open tours", kpis.get("open_tours", 0))
    preferences = kpis.get("preferences") or {}
    share = preferences.get("weighted_share")
    honoured = "n/a"
    if not preferences.get("wishes"):
        honoured = "no wishes"
    elif isinstance(share, int | float):
        honoured = f"{share:.0%}"
    row[2].metric(
        "Wishes honoured",
        honoured,
        help="Weighted share of drivers' wishes (start times, days off, days"
        " in a row) that the plan honours",
    )
    row[3].metric(
        "Hours spread",
        kpis.get("weekly_hours_spread", "n/a"),
        help="Largest difference in weekly hours among comparable drivers",
    )


def checks_table(checks: Sequence[CheckResult]) -> None:
    """Show one row per validator rule, shading a failed rule and its first breach."""
    if not checks:
        st.warning("This plan version has no validator checks.")
        return
    failed = [check for check in checks if not check.passed]
    if failed:
        st.error(f"{len(failed)} of {len(checks)} checks failed.")
    else:
        st.success(f"All {len(checks)} checks passed.")
    frame = pd.DataFrame(
        {
            "rule": [check.label for check in checks],
            "result": ["passed" if check.passed else "failed" for check in checks],
            "checked": [check.checked for check in checks],
            "violations": [len(check.violations) for check in checks],
            "first violation": [
                check.violations[0].message if check.violations else ""
                for check in checks
            ],
        }
    )
    st.dataframe(
        frame.style.apply(_shade_failed_check, axis=1),
        hide_index=True,
        width="stretch",
    )


def _shade_failed_check(row: pd.Series) -> list[str]:
    color = FAILED_CHECK_COLOR if row["result"] == "failed" else ""
    return [color] * len(row)


def driver_matrix(rosters: Sequence[RosterRow]) -> None:
    """Show drivers as rows and weekdays as columns, with each block's times."""
    cells: dict[str, dict[str, str]] = {}
    minutes_by_driver: dict[str, int] = {}
    for row in rosters:
        driver_cells = cells.setdefault(row.driver, {})
        block = f"{row.start}-{row.end} {row.block_kind.replace('_', ' ')}"
        weekday = WEEKDAY_NAMES[row.day]
        # Two blocks on one day break the rules. The validator reports it, and
        # the cell shows both.
        driver_cells[weekday] = " / ".join(
            filter(None, [driver_cells.get(weekday), block])
        )
        minutes_by_driver[row.driver] = (
            minutes_by_driver.get(row.driver, 0) + row.minutes
        )
    weekdays = list(WEEKDAY_NAMES.values())
    frame = pd.DataFrame(
        [[cells[driver].get(weekday, "") for weekday in weekdays] for driver in cells],
        index=pd.Index(list(cells), name="driver"),
        columns=weekdays,
    )
    frame["hours"] = [round(minutes_by_driver[driver] / 60, 2) for driver in cells]
    st.dataframe(frame, width="stretch")


def solve_job_progress(job: SolveJobView) -> None:
    """Show a solve job's state and the search figures the worker last wrote."""
    progress = job.progress or {}
    figures = [f"job {job.job_id}: {job.status}"]
    if progress.get("phase"):
        figures.append(f"phase {progress['phase']}")
    if progress.get("lower_bound") is not None:
        figures.append(f"lower bound {progress['lower_bound']}")
    if progress.get("best_drivers") is not None:
        figures.append(f"best plan {progress['best_drivers']} drivers")
    if progress.get("gap") is not None:
        figures.append(f"gap {progress['gap']:.1%}")
    if progress.get("elapsed_seconds") is not None:
        figures.append(f"{progress['elapsed_seconds']:.0f} s")
    if job.error:
        st.error(f"Solve job {job.job_id} failed: {job.error}")
    elif job.finished_at is not None:
        st.success(", ".join(figures), icon=":material/check_circle:")
    elif job.time_limit_seconds and progress.get("elapsed_seconds") is not None:
        share = min(progress["elapsed_seconds"] / job.time_limit_seconds, 1.0)
        limit = f" of {job.time_limit_seconds:.0f} s"
        st.progress(share, text=", ".join(figures) + limit)
    else:
        st.info(", ".join(figures), icon=":material/hourglass_top:")


def solve_jobs_table(jobs: Sequence[SolveJobView]) -> None:
    st.dataframe(
        pd.DataFrame(
            {
                "job": [job.job_id for job in jobs],
                "forecast version": [job.forecast_version_id for job in jobs],
                "status": [job.status for job in jobs],
                "queued": [job.created_at for job in jobs],
                "finished": [job.finished_at for job in jobs],
                "plan version": [job.plan_version_id for job in jobs],
                "error": [job.error or "" for job in jobs],
            }
        ),
        hide_index=True,
        width="stretch",
    )
