"""Plan: start a solve of a forecast version, follow it, and inspect the plan."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages._charts import coverage_chart, week_timeline
from app_pages._display import (
    checks_table,
    count_of,
    driver_matrix,
    forecast_version_label,
    kpi_cards,
    plan_version_label,
    run_service,
    solve_job_progress,
    solve_jobs_table,
)
from app_pages._session import require_actor
from core.forecasts import list_forecast_versions
from core.permissions import Permission, has_permission
from core.plans import (
    MAX_TIME_LIMIT_SECONDS,
    MIN_TIME_LIMIT_SECONDS,
    coverage_by_time_of_day,
    get_plan_version,
    get_solve_job,
    list_plan_versions,
    list_solve_jobs,
    request_solve,
)
from core.views import PlanVersionView
from solver.assign import WEEKDAY_NAMES

PROGRESS_POLL_SECONDS = 2
DEFAULT_TIME_LIMIT_SECONDS = 60
VIEWS = ["Checks", "Driver matrix", "Timeline", "Coverage"]


@st.fragment(run_every=PROGRESS_POLL_SECONDS)
def follow_solve_jobs(job_ids: tuple[int, ...]) -> None:
    """Show the progress of unfinished jobs, and rerun the page once all finished."""
    actor = require_actor()
    jobs = [run_service(get_solve_job, actor, job_id) for job_id in job_ids]
    for job in jobs:
        solve_job_progress(job)
    if all(job.finished_at is not None for job in jobs):
        st.rerun()


def open_tours_section(plan: PlanVersionView) -> None:
    """List the tours the plan leaves open, with reasons and the shortfall."""
    if not plan.uncovered:
        return
    count = len(plan.uncovered)
    if plan.kpis.get("named_drivers"):
        noun = "tour stays" if count == 1 else "tours stay"
        st.warning(f"{count} {noun} open: the driver pool cannot cover them.")
    else:
        noun = "tour cannot" if count == 1 else "tours cannot"
        st.warning(f"{count} {noun} be covered.")
    table = pd.DataFrame(
        {
            "Tour": [entry["tour_id"] for entry in plan.uncovered],
            "Day": [WEEKDAY_NAMES[entry["day"] - 1] for entry in plan.uncovered],
            "Reason": [entry["reason"] for entry in plan.uncovered],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")
    shortfall = plan.kpis.get("shortfall") or []
    if shortfall:
        st.markdown("**What would close the gap**")
        st.markdown("\n".join(f"- {line}" for line in shortfall))


def contract_minimum_note(plan: PlanVersionView) -> None:
    """Name the planned drivers whose week is shorter than their contract's minimum."""
    under = plan.kpis.get("under_contract_minimum") or []
    if not under:
        return
    labels = {row.driver_id: row.driver for row in plan.rosters}
    names = ", ".join(labels.get(driver_id, driver_id) for driver_id in under)
    st.info(
        f"{count_of(len(under), 'driver works', 'drivers work')} less than their"
        f" contract's minimum hours: {names}. The minimum is filled where the"
        " tours allow once every tour is covered with the fewest drivers; a"
        " smaller pool or part-time contracts close the difference."
    )


actor = require_actor()
st.title("Plan")

if has_permission(actor, Permission.PLAN_SOLVE):
    forecasts = [
        version
        for version in run_service(list_forecast_versions, actor)
        if version.can_be_solved
    ]
    if not forecasts:
        st.info("No forecast to solve yet. Import one on the Forecast page.")
    else:
        with st.form("solve"):
            forecast = st.selectbox(
                "Forecast version", forecasts, format_func=forecast_version_label
            )
            time_limit_seconds = st.number_input(
                "Time limit (seconds)",
                min_value=int(MIN_TIME_LIMIT_SECONDS),
                max_value=int(MAX_TIME_LIMIT_SECONDS),
                value=DEFAULT_TIME_LIMIT_SECONDS,
                step=5,
                help="Maximum time the optimiser searches before it returns its"
                " best plan",
            )
            if st.form_submit_button("Start solve", type="primary"):
                job = run_service(
                    request_solve,
                    actor,
                    forecast.forecast_version_id,
                    time_limit_seconds=float(time_limit_seconds),
                )
                st.toast(f"Solve job {job.job_id} queued.")

jobs = run_service(list_solve_jobs, actor)
unfinished = tuple(job.job_id for job in jobs if job.finished_at is None)
if unfinished:
    follow_solve_jobs(unfinished)
elif jobs and jobs[0].error:
    solve_job_progress(jobs[0])
if jobs:
    with st.expander("Solve jobs"):
        solve_jobs_table(jobs)

plans = run_service(list_plan_versions, actor)
if not plans:
    st.info("No plan yet. Start a solve of an imported forecast version.")
    st.stop()

st.header("Plan version")
chosen = st.selectbox("Plan version", plans, format_func=plan_version_label)
plan = run_service(get_plan_version, actor, chosen.plan_version_id)
kpi_cards(plan)
open_tours_section(plan)
contract_minimum_note(plan)

view = st.segmented_control("Show", VIEWS, default=VIEWS[0]) or VIEWS[0]
if view == "Checks":
    checks_table(plan.checks)
elif not plan.rosters:
    st.info("This plan version has no rosters: it covers no tour.")
elif view == "Driver matrix":
    driver_matrix(plan.rosters)
elif view == "Timeline":
    st.plotly_chart(week_timeline(plan.rosters, plan.week_anchor), width="stretch")
elif view == "Coverage":
    coverage = run_service(coverage_by_time_of_day, actor, plan.plan_version_id)
    st.plotly_chart(coverage_chart(coverage), width="stretch")
